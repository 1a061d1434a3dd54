// Server: a TCP listener on an EventLoop, its connections, and a protocol.
//
// One handlers object serves every connection (handlers receive the fd), and
// connections are found by fd in an array: accepting a connection allocates
// the Connection and nothing else, and a read allocates one view.
//
// Idle connections are found without a timer per connection or per read.
// Time is cut into epochs (idleTimeoutMs / IDLE_EPOCHS); a read or a write
// that makes progress stores the current epoch for its fd, one array store.
// One interval per server ticks each epoch and sweeps the connections,
// closing those silent for longer than the timeout: O(connections) per epoch
// (10,000 connections every 7.5 s by default), where a timer per connection
// would cost its memory for every idle one, and a refresh on every read
// measured 130-190 ns here (a wheel cancel and insert plus a clock read).
//
// Output is bounded per connection: a protocol stops answering at the high
// watermark (`connection.needsDrain`) and keeps the rest of its input; the
// connection stops reading; once the queue drains below the low watermark the
// server calls the protocol's resume() before anything more is read. A
// protocol's throw (or its data()'s rejected promise) ends that connection
// alone and is reported on the loop's 'error'.
//
// The server's own timers (the sweep, each lingering connection's bound,
// the accept back-off in accept-guard.ts, the shutdown deadline) are the loop's handle-free
// timeouts: a number each, a shared callback, no object or closure per
// timer. All but the back-off are unref'd: the sockets hold the process,
// not the timers that watch them; a paused listener is not registered, so
// its back-off timer holds the process in its place.
import { closeReason, Connection, readOrClose, type CloseReason, type ConnectionEvents } from './connection.js';
import { assertInteger, assertObject, assertOneOf, assertFunction, assertBoolean, WasmloopError, type SystemError } from '../errors.js';
import type { EventLoop } from '../loop/event-loop.js';
import { reportErrorUnchecked } from '../loop/internal.js';
import type { ClientHandlers } from '../loop/registration.js';
import type { Deferred } from '../loop/deferred.js';
import { AcceptGuard } from './accept-guard.js';
import type { Protocol, ProtocolFactory } from './protocol.js';
import {
  DEFAULT_HIGH_WATER_MARK,
  RESERVED_FDS,
  defaultMaxConnections,
  DEFAULT_READ_BUFFER_SIZE,
  READS_PER_EVENT,
  DEFAULT_IDLE_TIMEOUT_MS,
  LINGER_MS,
  DEFAULT_SHUTDOWN_MS,
  type ServerOptions,
  type ServerStats,
} from './server-options.js';
import { DEFAULT_BACKLOG, sockets, writeUnchecked } from './sockets.js';

export * from './server-options.js';

/**
 * Refused clients lingering at once, at most: past it a refusal closes at
 * once (its client may then miss the message to a reset), so a flood of
 * clients past maxConnections cannot hold more than this many fds.
 */
const REFUSALS_LINGERING_MAX = RESERVED_FDS / 2;
/** Resume calls per readiness event, as READS_PER_EVENT bounds reads: the rest waits for a deferred callback. */
const RESUMES_PER_EVENT = 16;
/**
 * Epochs per idle timeout: the idle clock ticks this often per timeout, and a
 * close comes at most three epochs (3/16 of the timeout) late.
 */
const IDLE_EPOCHS = 16;

export class Server {
  readonly loop: EventLoop;
  readonly host: string;
  readonly #factory: ProtocolFactory;
  readonly #options: Required<Omit<ServerOptions, 'onError' | 'host' | 'port' | 'idleTimeoutMs' | 'fdExhaustion' | 'maxConnections'>>;
  readonly #maxConnections: number;
  readonly #connections: (Connection | undefined)[] = [];
  readonly #protocols: (Protocol | undefined)[] = [];
  readonly #readBuffer: Buffer;
  readonly #handlers: ClientHandlers;
  readonly #stats: ServerStats = {
    accepted: 0,
    active: 0,
    resets: 0,
    acceptErrors: 0,
    acceptPauses: 0,
    acceptShed: 0,
    refused: 0,
    protocolErrors: 0,
    idleClosed: 0,
    shutdownForced: 0,
  };
  readonly #idleTimeoutMs: number;
  readonly #epochMs: number;
  /** The idle sweep's timeout handle, NO_TIMER when none. */
  #sweepTimer = NO_TIMER;
  /** The epoch of each connection's last read or write progress, by fd. */
  readonly #lastActive: number[] = [];
  /** Whether each fd's connection drained and its protocol's resume() is due. */
  readonly #resumeDue: boolean[] = [];
  /** Whether each fd's peer ended its input while its protocol still had input kept back at the watermark. */
  readonly #endPending: boolean[] = [];
  /** Whether each fd is a refused client, lingering until it is closed. */
  readonly #refusal: boolean[] = [];
  #refusalsLingering = 0;
  /** A deferred callback that resumes protocols left over by RESUMES_PER_EVENT, while one is queued. */
  #resumeLater: Deferred | undefined;
  /** The linger timeout handle of each connection that lingers, by fd (NO_TIMER: none): numbers only, so nothing is boxed. */
  readonly #lingerTimers: number[] = [];
  readonly #guard: AcceptGuard;
  #requestedPort: number;
  #listenFd = -1;
  #port = 0;
  #shutdown: { promise: Promise<void>; resolve(): void; deadline: number } | undefined;

  constructor(loop: EventLoop, protocol: ProtocolFactory, options: ServerOptions = {}) {
    assertFunction('protocol', protocol);
    assertObject('options', options);
    const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    assertInteger('options.highWaterMark', highWaterMark, 1, 2 ** 31 - 1);
    const lowWaterMark = options.lowWaterMark ?? Math.floor(highWaterMark / 4);
    assertInteger('options.lowWaterMark', lowWaterMark, 0, highWaterMark - 1);
    const readBufferSize = options.readBufferSize ?? DEFAULT_READ_BUFFER_SIZE;
    assertInteger('options.readBufferSize', readBufferSize, 1, 1 << 26);
    const trigger = options.trigger ?? 'level';
    assertOneOf('options.trigger', trigger, ['level', 'edge'] as const);
    const backlog = options.backlog ?? DEFAULT_BACKLOG;
    const reusePort = options.reusePort ?? false;
    assertBoolean('options.reusePort', reusePort);
    const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    assertInteger('options.idleTimeoutMs', idleTimeoutMs, 0, 0x7fffffff);
    const maxConnections = options.maxConnections ?? defaultMaxConnections();
    assertInteger('options.maxConnections', maxConnections, 1, 2 ** 31 - 1);
    const fdExhaustion = options.fdExhaustion ?? 'pause';
    assertOneOf('options.fdExhaustion', fdExhaustion, ['pause', 'shed'] as const);
    if (options.onError !== undefined) assertFunction('options.onError', options.onError);
    this.loop = loop;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#epochMs = Math.max(1, Math.ceil(idleTimeoutMs / IDLE_EPOCHS));
    this.#guard = new AcceptGuard(loop, fdExhaustion, this.#stats, options.onError, this.#accept);
    this.#maxConnections = maxConnections;
    this.host = options.host ?? '127.0.0.1';
    this.#requestedPort = options.port ?? 0;
    this.#factory = protocol;
    this.#options = { backlog, reusePort, trigger, highWaterMark, lowWaterMark, readBufferSize };
    this.#readBuffer = Buffer.allocUnsafe(readBufferSize);
    this.#handlers = { read: this.#read, write: this.#write, hangup: this.#hangup, error: this.#error };
  }

  /** Opens the listener and starts accepting. Returns the port it listens on. */
  listen(): number {
    if (this.#listenFd >= 0) throw new Error('server is already listening');
    if (this.#shutdown !== undefined) throw new WasmloopError('ERR_SERVER_SHUT_DOWN', 'listen: the server is shutting down');
    const fd = sockets.listen(this.host, this.#requestedPort, {
      backlog: this.#options.backlog,
      reusePort: this.#options.reusePort,
    });
    try {
      this.#port = sockets.localPort(fd);
      this.loop.addServerSocket(fd, this.#accept, { onError: this.#guard.failed });
    } catch (error) {
      sockets.close(fd);
      throw error;
    }
    this.#listenFd = fd;
    this.#guard.listening(fd);
    return this.#port;
  }

  /**
   * Serves a socket accepted elsewhere (by another thread's loop, handed over
   * with `remote.sendFd()`, say): it becomes one of this server's
   * connections. The server owns the fd from here on; if adopting fails the
   * fd is closed and the error thrown.
   */
  adopt(fd: number): Connection {
    try {
      if (this.#shutdown !== undefined) throw new WasmloopError('ERR_SERVER_SHUT_DOWN', 'adopt: the server is shutting down');
      this.#accept(fd);
    } catch (error) {
      if (!this.loop.isClosed && this.loop.isRegistered(fd)) this.loop.removeSocket(fd);
      else sockets.close(fd);
      throw error;
    }
    return this.#connections[fd]!;
  }

  /** The port listened on (0 before listen()). */
  get port(): number {
    return this.#port;
  }

  get stats(): Readonly<ServerStats> {
    return { ...this.#stats };
  }

  /** The most connections served at once (the `maxConnections` option or its default). */
  get maxConnections(): number {
    return this.#maxConnections;
  }

  /** Each open connection (a snapshot), refused clients still lingering left out. */
  get connections(): Connection[] {
    return this.#connections.filter((c, fd): c is Connection => c !== undefined && this.#refusal[fd] !== true);
  }

  /** Whether shutdown() was called. */
  get isShuttingDown(): boolean {
    return this.#shutdown !== undefined;
  }

  /**
   * Stops accepting and closes every connection. Queued output is
   * discarded. A pending shutdown() resolves.
   */
  close(): void {
    this.#stopAccepting();
    for (const connection of this.#connections) connection?.close('server');
    this.#stopSweeping();
  }

  /**
   * Graceful close: stops accepting, ends every connection (each closes once
   * its queued output is written; nothing more is read), and after
   * `deadlineMs` closes those still open, discarding their output (counted
   * in `stats.shutdownForced`). Resolves when every connection is closed.
   * The deadline runs on the loop's timers, so the loop must keep turning.
   * Calling it again returns the same promise.
   */
  shutdown(deadlineMs: number = DEFAULT_SHUTDOWN_MS): Promise<void> {
    assertInteger('deadlineMs', deadlineMs, 0, 0x7fffffff);
    if (this.#shutdown !== undefined) return this.#shutdown.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    const shutdown = { promise, resolve, deadline: NO_TIMER };
    this.#shutdown = shutdown;
    this.loop.logger?.info?.({ connections: this.#stats.active, deadlineMs }, 'wasmloop: shutdown: accepting stopped, draining connections');
    this.#stopAccepting();
    for (const connection of this.#connections) connection?.end();
    if (this.#stats.active === 0) this.#finishShutdown();
    else if (!this.loop.isClosed) {
      shutdown.deadline = this.loop.timeout(this.#shutdownDeadline, deadlineMs, undefined, UNREF);
    }
    return promise;
  }

  readonly #shutdownDeadline = (): void => {
    this.#shutdown!.deadline = NO_TIMER;
    this.loop.logger?.warn?.({ connections: this.#stats.active }, 'wasmloop: shutdown: deadline passed, closing the rest');
    for (const connection of this.#connections) {
      if (connection === undefined) continue;
      // A lingering connection has delivered everything: not forced.
      if (!connection.isLingering) this.#stats.shutdownForced++;
      connection.close('server');
    }
  };

  #finishShutdown(): void {
    const shutdown = this.#shutdown!;
    this.#clear(shutdown.deadline);
    shutdown.deadline = NO_TIMER;
    this.#stopSweeping();
    this.loop.logger?.info?.({ forced: this.#stats.shutdownForced }, 'wasmloop: shutdown: every connection closed');
    shutdown.resolve();
  }

  #stopAccepting(): void {
    if (this.#listenFd >= 0) {
      // A registered listener is closed by the loop (by loop.close() already,
      // if that came first); a paused one is not registered, so close it here.
      if (this.#guard.paused) sockets.close(this.#listenFd);
      else if (!this.loop.isClosed) this.loop.removeSocket(this.#listenFd);
      this.#listenFd = -1;
    }
    this.#guard.stop();
  }

  // ---- loop handlers ---------------------------------------------------------

  readonly #accept = (fd: number): void => {
    this.loop.addClientSocket(fd, this.#handlers, { readable: true, writable: false, trigger: this.#options.trigger });
    const connection = new Connection(fd, this.loop, this.#options, this.#connectionEvents);
    if (this.#stats.active >= this.#maxConnections) {
      this.#refuse(connection);
      return;
    }
    this.#connections[fd] = connection;
    this.#stats.accepted++;
    this.#stats.active++;
    this.#guard.accepted();
    if (this.#idleTimeoutMs > 0) this.#watchIdle(connection);
    this.#protocols[fd] = this.#factory(connection);
  };

  readonly #read = (fd: number): void => {
    this.#readSome(fd, this.#options.trigger === 'level', false);
  };

  /**
   * Reads and hands the bytes to the protocol: at most READS_PER_EVENT reads
   * when `bounded`; until the socket is drained, or with `untilEof` until
   * read() says EOF (a short read then does not mean that the next one
   * would be EAGAIN); and never past a pause.
   */
  #readSome(fd: number, bounded: boolean, untilEof: boolean): void {
    const connection = this.#connections[fd]!;
    const protocol = this.#protocols[fd]!;
    const buffer = this.#readBuffer;
    this.#lastActive[fd] = this.#activeEpoch();
    if (connection.isLingering) {
      this.#discard(connection, buffer, bounded);
      return;
    }
    // Everything the protocol writes in reply to this event goes out in one writev.
    connection.cork();
    try {
      for (let reads = 0; !bounded || reads < READS_PER_EVENT; reads++) {
        // Replies may still point into the read buffer, which is about to be reused.
        if (reads > 0) connection.keepBorrowed();
        const count = readOrClose(connection, buffer);
        if (count === null || count < 0) return;
        if (count === 0) {
          this.#peerEnded(connection, protocol);
          return;
        }
        this.#data(connection, protocol, count === buffer.length ? buffer : buffer.subarray(0, count));
        // A short read drained the socket: another read would only say EAGAIN.
        if ((count < buffer.length && !untilEof) || connection.isClosed || !connection.isReading) return;
      }
    } finally {
      connection.uncork();
      if (this.#resumeDue[fd] === true) this.#resume(connection, 'read');
    }
  }

  readonly #write = (fd: number): void => {
    this.#lastActive[fd] = this.#activeEpoch();
    const connection = this.#connections[fd]!;
    connection.flush();
    if (this.#resumeDue[fd] === true) this.#resume(connection, 'write');
  };

  /** Hands a read to the protocol; what it throws or rejects with ends this connection only. */
  #data(connection: Connection, protocol: Protocol, bytes: Uint8Array): void {
    let result: unknown;
    try {
      result = protocol.data(connection, bytes);
    } catch (error) {
      this.#protocolFailed(connection, error, 'read');
      return;
    }
    if (result !== undefined && typeof (result as PromiseLike<void>)?.then === 'function') {
      (result as PromiseLike<void>).then(undefined, (error: unknown) => this.#protocolFailed(connection, error, 'read'));
    }
  }

  /**
   * The protocol threw. Its state is unknown now, so it is given nothing
   * more: the connection ends (what it wrote before is delivered, then it
   * closes) and the error goes to the loop's 'error' like a callback's.
   */
  #protocolFailed(connection: Connection, error: unknown, kind: 'read' | 'write'): void {
    const fd = connection.fd;
    const current = this.#connections[fd] === connection;
    if (current) this.#stats.protocolErrors++;
    if (!this.loop.isClosed) this.loop[reportErrorUnchecked](error, kind, fd);
    if (current) {
      this.#protocols[fd] = FAILED;
      connection.end();
    }
  }

  /**
   * The connection drained below its low watermark: let the protocol answer
   * what it kept back, corked as a read is. A resume that fills the queue
   * only to see it drain at once (a fast reader) goes round again, at most
   * RESUMES_PER_EVENT times; then a deferred callback carries on, so one
   * connection cannot hold the thread.
   */
  #resume(connection: Connection, kind: 'read' | 'write'): void {
    const fd = connection.fd;
    for (let rounds = 0; this.#resumeDue[fd] === true; rounds++) {
      if (rounds === RESUMES_PER_EVENT) {
        this.#resumeLater ??= this.loop.defer(this.#resumeLeftOver, { label: 'resume' });
        return;
      }
      this.#resumeDue[fd] = false;
      const protocol = this.#protocols[fd];
      if (connection.isClosed || protocol?.resume === undefined) break;
      connection.cork();
      try {
        protocol.resume(connection);
      } catch (error) {
        this.#protocolFailed(connection, error, kind);
      } finally {
        connection.uncork();
      }
    }
    // Caught up with the input kept back: now the protocol hears of its end.
    if (this.#endPending[fd] === true && !connection.isClosed && !connection.needsDrain) {
      this.#endPending[fd] = false;
      this.#peerEnded(connection, this.#protocols[fd]!);
    }
  }

  readonly #resumeLeftOver = (): void => {
    this.#resumeLater = undefined;
    const connections = this.#connections;
    for (let fd = 0; fd < this.#resumeDue.length; fd++) {
      if (this.#resumeDue[fd] === true && connections[fd] !== undefined) this.#resume(connections[fd]!, 'write');
    }
  };

  readonly #hangup = (fd: number, final: boolean): void => {
    const connection = this.#connections[fd]!;
    // Gone both ways: nothing queued can be delivered any more.
    if (final) connection.close('end');
    // The peer's FIN may stand behind bytes not read yet: a bounded read
    // left some, or the replies passed the watermark mid-read. The end of
    // input is where read() says so, so read on until then, or until a
    // pause: the loop stops watching for reads after this call, and the
    // connection watches again when it resumes, where the FIN waits still.
    else {
      if (connection.isReading) this.#readSome(fd, false, true);
      // Paused at the watermark, the FIN waits behind the unread bytes;
      // still reading, read() said EAGAIN, not EOF, yet the peer is done.
      if (!connection.isClosed && !connection.isReadPaused && !connection.isPeerEnded) this.#peerEnded(connection, this.#protocols[fd]!);
    }
  };

  readonly #error = (fd: number, error: SystemError): void => {
    this.#connections[fd]!.close(closeReason(error), error);
  };

  /** Reads and drops what a lingering connection's peer still sends, closing at its EOF. */
  #discard(connection: Connection, buffer: Buffer, bounded: boolean): void {
    for (let reads = 0; !bounded || reads < READS_PER_EVENT; reads++) {
      const count = readOrClose(connection, buffer);
      if (count === null || count < 0) return;
      if (count === 0) {
        connection.close('end');
        return;
      }
    }
  }

  #peerEnded(connection: Connection, protocol: Protocol): void {
    if (connection.isLingering) {
      connection.close('end');
      return;
    }
    connection.peerEnded();
    // Input the protocol kept back at the watermark still waits for its
    // answers: the end of input reaches the protocol after them, once a
    // resume() has caught up (#resume).
    if (this.#resumeDue[connection.fd] === true || connection.needsDrain) {
      this.#endPending[connection.fd] = true;
      return;
    }
    if (protocol.end) protocol.end(connection);
    else connection.end();
  }

  /** What each connection tells the server; internal, so not methods of the public Server. */
  readonly #connectionEvents: ConnectionEvents = {
    closed: (connection, reason, error) => this.#closed(connection, reason, error),
    lingering: (connection) => this.#lingering(connection),
    drained: (connection) => {
      this.#resumeDue[connection.fd] = true;
    },
  };

  /** From Connection: forget it, and resume accepting if fds ran out. */
  #closed(connection: Connection, reason: CloseReason, error?: SystemError): void {
    const fd = connection.fd;
    try {
      this.#protocols[fd]?.close?.(connection, reason, error);
    } catch (thrown) {
      if (!this.loop.isClosed) this.loop[reportErrorUnchecked](thrown, 'read', fd);
    }
    this.#connections[fd] = undefined;
    this.#protocols[fd] = undefined;
    this.#resumeDue[fd] = false;
    this.#endPending[fd] = false;
    const lingerTimer = this.#lingerTimers[fd];
    if (lingerTimer !== undefined && lingerTimer !== NO_TIMER) {
      this.#clear(lingerTimer);
      this.#lingerTimers[fd] = NO_TIMER;
    }
    // A refused client was never served: it only gives its fd back.
    const refused = this.#refusal[fd] === true;
    if (refused) {
      this.#refusal[fd] = false;
      this.#refusalsLingering--;
    } else {
      this.#stats.active--;
      if (reason === 'reset') this.#stats.resets++;
      else if (reason === 'idle') this.#stats.idleClosed++;
    }
    this.#guard.connectionClosed();
    if (!refused && this.#shutdown !== undefined && this.#stats.active === 0) this.#finishShutdown();
  }

  /** From Connection: it sent its last byte; bound the wait for the peer's EOF. */
  #lingering(connection: Connection): void {
    const fd = connection.fd;
    const old = this.#lingerTimers[fd];
    if (old !== undefined) this.#clear(old);
    // Filled up to fd, so the array stays dense (and of numbers only).
    while (this.#lingerTimers.length < fd) this.#lingerTimers.push(NO_TIMER);
    this.#lingerTimers[fd] = this.loop.isClosed ? NO_TIMER : this.loop.timeout(this.#lingerExpired, LINGER_MS, fd, UNREF);
  }

  /** A lingering connection's peer did not end its side within LINGER_MS. */
  readonly #lingerExpired = (fd: number): void => {
    this.#lingerTimers[fd] = NO_TIMER;
    this.#connections[fd]?.close('end');
  };

  /** Cancels one of the server's timeouts (NO_TIMER: none). */
  #clear(handle: number): void {
    if (handle !== NO_TIMER) this.loop.clearTimeout(handle);
  }

  /**
   * Turns a client away past maxConnections: the protocol's refusal, written
   * once without waiting (a new socket's send buffer is empty, so it takes a
   * short message whole), then a gentle close as end() does, lingering for
   * the client's EOF so that a reset does not cost it the message. Refused
   * clients are not served and not counted as active.
   */
  #refuse(connection: Connection): void {
    const fd = connection.fd;
    this.#stats.refused++;
    this.#connections[fd] = connection;
    this.#refusal[fd] = true;
    this.#refusalsLingering++;
    this.loop.logger?.info?.({ maxConnections: this.#maxConnections }, 'wasmloop: max connections reached: refusing a client');
    const refusal = this.#factory.refuse?.();
    if (refusal !== undefined && refusal.length > 0) {
      try {
        writeUnchecked(fd, refusal, 0, refusal.length);
      } catch {
        // Gone already (EPIPE, ECONNRESET): closing is all that is left.
        connection.close('reset');
        return;
      }
    }
    if (this.#refusalsLingering > REFUSALS_LINGERING_MAX) connection.close('server');
    else connection.end();
  }

  // ---- idle timeout -------------------------------------------------------------

  #watchIdle(connection: Connection): void {
    if (this.#sweepTimer === NO_TIMER) this.#sweepTimer = this.loop.timeout(this.#sweepIdle, this.#epochMs, undefined, UNREF);
    this.#lastActive[connection.fd] = this.#activeEpoch();
  }

  #stopSweeping(): void {
    this.#clear(this.#sweepTimer);
    this.#sweepTimer = NO_TIMER;
  }

  /**
   * The epoch of an activity happening now, from the loop's time as of its
   * last clock reading (taken every iteration): no clock read per read.
   * That reading is at most a fraction of an iteration old, so the epoch is
   * the true one or, rarely, the one before.
   */
  #activeEpoch(): number {
    return Math.floor(this.loop.iterationTime / this.#epochMs);
  }

  /**
   * Once an epoch: closes the connections silent for longer than the
   * timeout. A connection last active in epoch lastActive (or the one after:
   * see #activeEpoch) has been silent for more than (epoch - lastActive - 2)
   * whole epochs: it is closed only when that alone covers the timeout, so
   * never early, and at most three epochs (3/16 of the timeout) late.
   */
  readonly #sweepIdle = (): void => {
    const now = this.loop.now();
    const epoch = Math.floor(now / this.#epochMs);
    // The next sweep at the next epoch's start: one sweep per epoch, however late this one ran.
    this.#sweepTimer = this.loop.timeout(this.#sweepIdle, (epoch + 1) * this.#epochMs - now, undefined, UNREF);
    const connections = this.#connections;
    for (let fd = 0; fd < connections.length; fd++) {
      const connection = connections[fd];
      if (connection === undefined || connection.isLingering) continue;
      if (epoch - this.#lastActive[fd]! > IDLE_EPOCHS + 1) connection.close('idle');
    }
  };
}

/** A failed connection's protocol: input that arrives while it ends is dropped. */
const FAILED: Protocol = { data() {}, end: (connection) => connection.end() };
/** A timeout handle that names no timeout (handles are >= 0). */
const NO_TIMER = -1;
/** The options of the server's unref'd timeouts, made once. */
const UNREF = Object.freeze({ ref: false });
