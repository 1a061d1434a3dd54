// Server: a listener on an EventLoop (TCP or Unix, see listener.ts), its
// connections, and a protocol; an EventEmitter with node:net's server events.
//
// Accepting a connection allocates the Connection and nothing else: its
// reads, writes and protocol calls are driven by the server's one
// ConnectionDriver (connection-driver.ts), by fd, as connect()'s outbound
// connections are by theirs.
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
// The server's own timers (the sweep, the driver's bound on each lingering
// connection, the accept back-off in accept-guard.ts, the shutdown deadline) are the loop's handle-free
// timeouts: a number each, a shared callback, no object or closure per
// timer. All but the back-off are unref'd: the sockets hold the process,
// not the timers that watch them; a paused listener is not registered, so
// its back-off timer holds the process in its place.
import { EventEmitter } from 'node:events';

import { Connection, type CloseReason, type ConnectionContext } from './connection.js';
import { ConnectionDriver, NO_TIMER, UNREF } from './connection-driver.js';
import { assertInteger, assertObject, assertOneOf, assertFunction, assertBoolean, WasmloopError } from '../errors.js';
import type { EventLoop } from '../loop/event-loop.js';
import { AcceptGuard } from './accept-guard.js';
import { acceptErrors, Listening, listenTarget, type ListenAddress } from './listener.js';
import type { ProtocolFactory } from './protocol.js';
import {
  connectionBuffers,
  RESERVED_FDS,
  defaultMaxConnections,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_MS,
  type ServerOptions,
  type ServerEvents,
  type ServerStats,
} from './server-options.js';
import { DEFAULT_BACKLOG, sockets, writeUnchecked } from './sockets.js';

export * from './server-options.js';
export type { ListenAddress } from './listener.js';

/**
 * Refused clients lingering at once, at most: past it a refusal closes at
 * once (its client may then miss the message to a reset), so a flood of
 * clients past maxConnections cannot hold more than this many fds.
 */
const REFUSALS_LINGERING_MAX = RESERVED_FDS / 2;
/**
 * Epochs per idle timeout: the idle clock ticks this often per timeout, and a
 * close comes at most three epochs (3/16 of the timeout) late.
 */
const IDLE_EPOCHS = 16;

export class Server extends EventEmitter<ServerEvents> {
  readonly loop: EventLoop;
  /** The host option (a name stays a name; see address()), '' for a Unix socket. */
  readonly host: string;
  readonly #factory: ProtocolFactory;
  readonly #options: Required<Omit<ServerOptions, 'onError' | 'host' | 'port' | 'path' | 'idleTimeoutMs' | 'fdExhaustion' | 'maxConnections'>>;
  readonly #maxConnections: number;
  readonly #driver: ConnectionDriver;
  /** What every connection of this server is served with. */
  readonly #connectionContext: ConnectionContext;
  /** The driver's connections by fd (refused clients among them). */
  readonly #connections: (Connection | undefined)[];
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
  /** Whether each fd is a refused client, lingering until it is closed. */
  readonly #refusal: boolean[] = [];
  #refusalsLingering = 0;
  readonly #guard: AcceptGuard;
  readonly #listening: Listening;
  #closeEmitted = false;
  #shutdown: { promise: Promise<void>; resolve(): void; deadline: number } | undefined;

  constructor(loop: EventLoop, protocol: ProtocolFactory, options: ServerOptions = {}) {
    super();
    assertFunction('protocol', protocol);
    assertObject('options', options);
    const target = listenTarget(options.host, options.port, options.path);
    const { highWaterMark, lowWaterMark, readBufferSize } = connectionBuffers(options);
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
    this.#guard = new AcceptGuard(loop, fdExhaustion, this.#stats, acceptErrors(options.onError, this), this.#accept);
    this.#maxConnections = maxConnections;
    this.host = 'host' in target ? target.host : '';
    this.#factory = protocol;
    this.#options = { backlog, reusePort, trigger, highWaterMark, lowWaterMark, readBufferSize };
    this.#driver = new ConnectionDriver(loop, this.#driverOwner, { readBufferSize, level: trigger === 'level', epochMs: this.#epochMs });
    this.#connectionContext = { loop, limits: this.#options, events: this.#driver.events };
    this.#connections = this.#driver.connections;
    this.#listening = new Listening(target, { loop, guard: this.#guard, accept: this.#accept, events: this, options: { backlog, reusePort } });
  }

  /** Opens the listener and starts accepting: returns the port, or 0 for a path or a host name (see Listening.listen). */
  listen(callback?: () => void): number {
    const port = this.#listening.listen(callback);
    this.#closeEmitted = false;
    return port;
  }

  /** As node:net's: `{ address, family, port }` or a Unix socket's path; null unless listening. */
  address(): ListenAddress | string | null {
    return this.#listening.address();
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

  /** The port listened on (0 before listen(), and for a Unix socket); kept after close(). */
  get port(): number {
    return this.#listening.port;
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
   * discarded. A pending shutdown() resolves. 'close' follows, and
   * `callback`, if given, is its listener.
   */
  close(callback?: () => void): void {
    if (callback !== undefined) this.once('close', callback);
    this.#stopAccepting();
    for (const connection of this.#connections) connection?.close('server');
    this.#stopSweeping();
    if (this.#stats.active === 0) this.#emitClose();
  }

  /** 'close' on the next tick (as node:net), once per listen(), when closed and every connection is gone. */
  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    process.nextTick(() => this.emit('close'));
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
    this.#emitClose();
  }

  #stopAccepting(): void {
    this.#listening.stop(this.#shutdown !== undefined);
    this.#guard.stop();
  }

  // ---- loop handlers ---------------------------------------------------------

  readonly #accept = (fd: number): void => {
    this.loop.addClientSocket(fd, this.#driver.handlers, { readable: true, writable: false, trigger: this.#options.trigger });
    const connection = new Connection(fd, this.#connectionContext);
    if (this.#stats.active >= this.#maxConnections) {
      this.#refuse(connection);
      return;
    }
    this.#stats.accepted++;
    this.#stats.active++;
    this.#guard.accepted();
    if (this.#idleTimeoutMs > 0) this.#watchIdle();
    this.#driver.add(connection, this.#factory);
    this.emit('connection', connection);
  };

  /** What the driver tells the server; internal, so not methods of the public Server. */
  readonly #driverOwner = {
    closed: (connection: Connection, reason: CloseReason) => this.#closed(connection, reason),
    protocolFailed: () => {
      this.#stats.protocolErrors++;
    },
  };

  /** From the driver: a connection closed; resume accepting if fds ran out. */
  #closed(connection: Connection, reason: CloseReason): void {
    const fd = connection.fd;
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
    this.#driver.add(connection);
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

  #watchIdle(): void {
    if (this.#sweepTimer === NO_TIMER) this.#sweepTimer = this.loop.timeout(this.#sweepIdle, this.#epochMs, undefined, UNREF);
  }

  #stopSweeping(): void {
    this.#clear(this.#sweepTimer);
    this.#sweepTimer = NO_TIMER;
  }

  /**
   * Once an epoch: closes the connections silent for longer than the
   * timeout. A connection last active in epoch lastActive (or the one after:
   * see the driver's activeEpoch()) has been silent for more than (epoch - lastActive - 2)
   * whole epochs: it is closed only when that alone covers the timeout, so
   * never early, and at most three epochs (3/16 of the timeout) late.
   */
  readonly #sweepIdle = (): void => {
    const now = this.loop.now();
    const epoch = Math.floor(now / this.#epochMs);
    // The next sweep at the next epoch's start: one sweep per epoch, however late this one ran.
    this.#sweepTimer = this.loop.timeout(this.#sweepIdle, (epoch + 1) * this.#epochMs - now, undefined, UNREF);
    const connections = this.#connections;
    const lastActive = this.#driver.lastActive;
    for (let fd = 0; fd < connections.length; fd++) {
      const connection = connections[fd];
      if (connection === undefined || connection.isLingering) continue;
      if (epoch - lastActive[fd]! > IDLE_EPOCHS + 1) connection.close('idle');
    }
  };
}
