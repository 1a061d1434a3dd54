// ConnectionDriver: drives connections' reads and their protocols on a loop,
// for a Server's accepted connections and for connect()'s outbound ones.
//
// One handlers object serves every connection it drives (handlers receive
// the fd), and connections and protocols are found by fd in arrays: driving a
// connection allocates nothing per connection, and a read allocates one view.
// Reads go into one buffer per driver; a protocol's replies are corked, so
// everything it writes in reply to one readiness event goes out in one writev.
//
// Output is bounded per connection: a protocol stops answering at the high
// watermark (`connection.needsDrain`) and keeps the rest of its input; the
// connection stops reading; once the queue drains below the low watermark the
// driver calls the protocol's resume() (then the connection's 'drain')
// before anything more is read. The peer's EOF reaches the protocol (and
// 'end') after the input it kept back. A protocol's throw (or its data()'s
// rejected promise) ends that connection alone: the error goes to the loop's
// 'error' and to the connection's 'close'.
//
// A connection that ended lingers: the driver reads and discards until the
// peer's EOF, or closes it after LINGER_MS (see connection.ts). Its owner (a
// Server, or connect()) hears of each close, then the protocol's close hook
// runs, once, and the protocol is given nothing more.
import { attach, closeReason, connected, detach, fail, receive, received, type CloseReason, type Connection, type ConnectionEvents } from './connection.js';
import { BatchReads, NOT_READ } from './batch-reads.js';
import { BatchWrites } from './batch-writes.js';
import { systemError, type SystemError } from '../errors.js';
import type { EventLoop } from '../loop/event-loop.js';
import { reportErrorUnchecked } from '../loop/internal.js';
import type { ClientHandlers } from '../loop/registration.js';
import type { Deferred } from '../loop/deferred.js';
import { native } from '../kernel/native.js';
import type { Protocol } from './protocol.js';
import { LINGER_MS, READS_PER_EVENT } from './server-options.js';
import { Buffer } from 'node:buffer';
import { constants as osConstants } from 'node:os';

/** Resume calls per readiness event, as READS_PER_EVENT bounds reads: the rest waits for a deferred callback. */
const RESUMES_PER_EVENT = 16;

/** What a driver tells whoever owns its connections. */
export interface DriverOwner {
  /** A connection closed; the driver forgot it already, and its protocol's close hook runs next. */
  closed(connection: Connection, reason: CloseReason, error?: SystemError): void;
  /** A protocol threw or rejected (a server counts these). */
  protocolFailed?(connection: Connection): void;
  /** An outbound connection connected. */
  connected?(connection: Connection): void;
  /**
   * An outbound connection's connect failed with `error`: true when the
   * owner tries another address, after the driver let the socket go (see
   * detach()); false to close the connection with the error.
   */
  connectFailed?(connection: Connection, error: SystemError): boolean;
}

export interface DriverOptions {
  readBufferSize: number;
  /** Level-triggered reads are bounded per event (READS_PER_EVENT); edge-triggered ones read until EAGAIN. */
  level: boolean;
  /** The length of an idle epoch: each read or write stores the current one in `lastActive`. */
  epochMs: number;
}

export class ConnectionDriver {
  readonly loop: EventLoop;
  /** Each fd's connection; the owner may read it (a server closes, ends and sweeps them). */
  readonly connections: (Connection | undefined)[] = [];
  /** The epoch of each connection's last read or write progress, by fd (a server's idle sweep reads it). */
  readonly lastActive: number[] = [];
  /** The handlers every driven socket is registered with. */
  readonly handlers: ClientHandlers;
  /** What each driven Connection is constructed with. */
  readonly events: ConnectionEvents;
  readonly #owner: DriverOwner;
  readonly #protocols: (Protocol | undefined)[] = [];
  readonly #readBuffer: Buffer;
  /**
   * The last view of the read buffer handed to a protocol, kept for the next
   * read of the same length (a keep-alive client's requests often are): a
   * view is valid only during its data() call (see Protocol.data), so one
   * object serves every read of its length, and a read makes no view.
   */
  #readView: Buffer;
  /** The batch's reads, made in one crossing (batch-reads.ts). */
  readonly #batch: BatchReads;
  /** The pass's replies, written in one crossing (batch-writes.ts). */
  readonly #sends: BatchWrites;
  /** What the last #next() read: its bytes, whether the socket may hold more, and whether the batch read it. */
  #view: Buffer;
  #full = false;
  #fromBatch = false;
  /** Connections that read again with carried bytes waiting, and the deferred callback that hands them over. */
  #carriedDue: Connection[] = [];
  #deliverLater: Deferred | undefined;
  readonly #level: boolean;
  readonly #epochMs: number;
  /** Whether each fd's connection drained and its protocol's resume() is due. */
  readonly #resumeDue: boolean[] = [];
  /** Whether each fd's peer ended its input while its protocol still had input kept back at the watermark. */
  readonly #endPending: boolean[] = [];
  /** A deferred callback that resumes protocols left over by RESUMES_PER_EVENT, while one is queued. */
  #resumeLater: Deferred | undefined;
  /** The linger timeout handle of each connection that lingers, by fd (NO_TIMER: none): numbers only, so nothing is boxed. */
  readonly #lingerTimers: number[] = [];
  /** Outbound connections that have no socket yet (their host name is being resolved), with their protocols. */
  readonly #unattached = new Map<Connection, Protocol>();

  constructor(loop: EventLoop, owner: DriverOwner, options: DriverOptions) {
    this.loop = loop;
    this.#owner = owner;
    this.#readBuffer = Buffer.allocUnsafe(options.readBufferSize);
    this.#readView = this.#readBuffer;
    this.#level = options.level;
    this.#epochMs = options.epochMs;
    this.handlers = { read: this.#read, write: this.#write, hangup: this.#hangup, error: this.#error };
    this.#batch = new BatchReads(loop, this.handlers, options.readBufferSize);
    this.#sends = new BatchWrites(loop, (connection) => {
      if (this.#resumeDue[connection.fd] === true) this.#resume(connection, 'write');
    });
    this.#view = this.#readBuffer;
    this.events = {
      closed: (connection, reason, error) => this.#closed(connection, reason, error),
      lingering: (connection) => this.#lingering(connection),
      drained: (connection) => {
        this.#resumeDue[connection.fd] = true;
      },
      readingChanged: (connection, reading) => this.#readingChanged(connection, reading),
    };
  }

  /**
   * Drives `connection` (its socket registered with `handlers`) with the
   * protocol `factory` makes for it; with none (a refused client) it only
   * lingers. The connection is driven before the factory runs, so one the
   * factory closes is forgotten at once.
   */
  add(connection: Connection, factory?: (connection: Connection) => Protocol): void {
    const fd = connection.fd;
    this.connections[fd] = connection;
    this.#protocols[fd] = undefined;
    this.lastActive[fd] = this.activeEpoch();
    if (factory === undefined) return;
    const protocol = factory(connection);
    if (this.connections[fd] === connection) this.#protocols[fd] = protocol;
  }

  /** An outbound connection before it has a socket: its protocol is kept until then (or until it closes). */
  addUnattached(connection: Connection, protocol: Protocol): void {
    this.#unattached.set(connection, protocol);
  }

  /**
   * An outbound connection got its socket, connecting: registered for
   * writability only, so its outcome is read from SO_ERROR when the socket
   * turns writable or fails, and no read can run before it is connected.
   * If registering fails, the fd is closed and the error thrown.
   */
  attach(connection: Connection, fd: number): void {
    const protocol = this.#unattached.get(connection)!;
    try {
      this.loop.addClientSocket(fd, this.handlers, { readable: false, writable: true });
    } catch (error) {
      native.close(fd);
      throw error;
    }
    this.#unattached.delete(connection);
    connection[attach](fd);
    this.connections[fd] = connection;
    this.#protocols[fd] = protocol;
    this.lastActive[fd] = this.activeEpoch();
  }

  /**
   * The epoch of an activity happening now, from the loop's time as of its
   * last clock reading (taken every iteration): no clock read per read.
   * That reading is at most a fraction of an iteration old, so the epoch is
   * the true one or, rarely, the one before.
   */
  activeEpoch(): number {
    return Math.floor(this.loop.iterationTime / this.#epochMs);
  }

  // ---- loop handlers ---------------------------------------------------------

  readonly #read = (fd: number): void => {
    this.#readSome(fd, this.#level, false, true);
  };

  /**
   * Reads and hands the bytes to the protocol: at most READS_PER_EVENT reads
   * when `bounded`; until the socket is drained, or with `untilEof` until
   * read() says EOF (a short read then does not mean that the next one
   * would be EAGAIN); and never past a pause. With `batched` (a read
   * callback of the loop's batch), the first read may be the batch's.
   */
  #readSome(fd: number, bounded: boolean, untilEof: boolean, batched: boolean): void {
    const connection = this.connections[fd]!;
    const protocol = this.#protocols[fd]!;
    const buffer = this.#readBuffer;
    this.lastActive[fd] = this.activeEpoch();
    if (connection.isLingering) {
      this.#discard(connection, buffer, bounded);
      return;
    }
    // Everything the protocol writes in reply to this event goes out in one
    // write: the pass's, when the batch read this one with others.
    connection.cork();
    this.#fromBatch = false;
    try {
      for (let reads = 0; !bounded || reads < READS_PER_EVENT; reads++) {
        // Replies may still point into the read buffer, which is about to be reused.
        if (reads > 0) connection.keepBorrowed();
        const count = this.#next(connection, buffer, batched && reads === 0);
        if (count === null || count < 0) return;
        if (count === 0) {
          this.#peerEnded(connection, protocol);
          return;
        }
        this.#data(connection, protocol, this.#view);
        // A short read drained the socket: another read would only say EAGAIN.
        if ((!this.#full && !untilEof) || connection.isClosed || !connection.isReading) return;
      }
    } finally {
      if (!this.#fromBatch || !this.#sends.hold(connection)) connection.uncork();
      if (this.#resumeDue[fd] === true) this.#resume(connection, 'read');
    }
  }

  /**
   * The connection's next read, as connection[receive] gives it (bytes, 0
   * at EOF, null for nothing, -1 for a failure that closed it), the bytes in
   * #view: what the batch read or carried for it, else (with `readAhead`,
   * the batch's upcoming reads in one crossing, this one among them) a
   * read() into `buffer`.
   */
  #next(connection: Connection, buffer: Buffer, readAhead: boolean): number | null {
    const batch = this.#batch;
    const fd = connection.fd;
    let result = batch.take(fd);
    if (result === NOT_READ && readAhead && batch.readAhead()) result = batch.take(fd);
    if (result !== NOT_READ) {
      this.#view = batch.view;
      this.#full = batch.full;
      this.#fromBatch = true;
      return connection[received](result);
    }
    const count = connection[receive](buffer);
    if (count !== null && count > 0) {
      let view = this.#readView;
      if (view.length !== count) this.#readView = view = buffer.subarray(0, count);
      this.#view = view;
      this.#full = count === buffer.length;
    }
    return count;
  }

  /**
   * A connection stopped reading (its bytes read ahead are carried until it
   * reads again) or reads again (carried bytes are handed over by a deferred
   * callback: the kernel may have nothing more to wake it with).
   */
  #readingChanged(connection: Connection, reading: boolean): void {
    const fd = connection.fd;
    if (!reading) this.#batch.carry(fd);
    else if (this.#batch.hasCarried(fd) && !this.loop.isClosed) {
      this.#carriedDue.push(connection);
      this.#deliverLater ??= this.loop.defer(this.#deliverCarried, { label: 'carried' });
    }
  }

  readonly #deliverCarried = (): void => {
    this.#deliverLater = undefined;
    const due = this.#carriedDue;
    this.#carriedDue = [];
    for (const connection of due) {
      const fd = connection.fd;
      // Paused again meanwhile: it is due again when it resumes.
      if (this.connections[fd] !== connection || !connection.isReading || !this.#batch.hasCarried(fd)) continue;
      this.#readSome(fd, this.#level, false, false);
    }
  };

  readonly #write = (fd: number): void => {
    this.lastActive[fd] = this.activeEpoch();
    const connection = this.connections[fd]!;
    if (connection.isConnecting) this.#connectDone(connection);
    else connection.flush();
    if (this.#resumeDue[fd] === true) this.#resume(connection, 'write');
  };

  /** An outbound socket turned writable (or hung up) while connecting: SO_ERROR says whether it connected. */
  #connectDone(connection: Connection): void {
    const soError = native.socketError(connection.fd);
    if (soError !== 0) {
      this.#connectError(connection, systemError(soError > 0 ? -soError : soError, 'connect', { fd: connection.fd }));
      return;
    }
    this.#owner.connected?.(connection);
    connection[connected]();
  }

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
   * more but its close hook: the connection ends (what it wrote before is
   * delivered, then it closes, its 'close' carrying the error) and the error
   * goes to the loop's 'error' like a callback's.
   */
  #protocolFailed(connection: Connection, error: unknown, kind: 'read' | 'write'): void {
    const fd = connection.fd;
    const current = this.connections[fd] === connection;
    if (current) this.#owner.protocolFailed?.(connection);
    if (!this.loop.isClosed) this.loop[reportErrorUnchecked](error, kind, fd);
    if (current) {
      const protocol = this.#protocols[fd];
      this.#protocols[fd] = protocol?.close === undefined ? FAILED : failedWithCloseHook(protocol);
      connection[fail](error as SystemError);
    }
  }

  /**
   * The connection drained below its low watermark: let the protocol answer
   * what it kept back, corked as a read is, then tell the connection's
   * 'drain' listeners. A resume that fills the queue only to see it drain at
   * once (a fast reader) goes round again, at most RESUMES_PER_EVENT times;
   * then a deferred callback carries on, so one connection cannot hold the
   * thread.
   */
  #resume(connection: Connection, kind: 'read' | 'write'): void {
    const fd = connection.fd;
    for (let rounds = 0; this.#resumeDue[fd] === true; rounds++) {
      if (rounds === RESUMES_PER_EVENT) {
        this.#resumeLater ??= this.loop.defer(this.#resumeLeftOver, { label: 'resume' });
        return;
      }
      this.#resumeDue[fd] = false;
      if (connection.isClosed) break;
      const protocol = this.#protocols[fd];
      connection.cork();
      try {
        try {
          protocol?.resume?.(connection);
        } catch (error) {
          this.#protocolFailed(connection, error, kind);
        }
        if (!connection.isClosed && !connection.needsDrain) connection.emit('drain');
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
    const connections = this.connections;
    for (let fd = 0; fd < this.#resumeDue.length; fd++) {
      if (this.#resumeDue[fd] === true && connections[fd] !== undefined) this.#resume(connections[fd]!, 'write');
    }
  };

  readonly #hangup = (fd: number, final: boolean): void => {
    const connection = this.connections[fd]!;
    // Hung up before it connected: the connect failed.
    if (connection.isConnecting) this.#connectFailed(connection);
    // Gone both ways: nothing queued can be delivered any more. A reset the
    // batch read for it while it was paused is why: the kernel said it then.
    else if (final) {
      const carried = this.#batch.take(fd);
      if (carried < 0 && carried !== NOT_READ) connection[received](carried);
      else connection.close('end');
    }
    // The peer's FIN may stand behind bytes not read yet: a bounded read
    // left some, or the replies passed the watermark mid-read. The end of
    // input is where read() says so, so read on until then, or until a
    // pause: the loop stops watching for reads after this call, and the
    // connection watches again when it resumes, where the FIN waits still.
    else {
      if (connection.isReading) this.#readSome(fd, false, true, false);
      // Paused at the watermark, the FIN waits behind the unread bytes;
      // still reading, read() said EAGAIN, not EOF, yet the peer is done.
      if (!connection.isClosed && !connection.isReadPaused && !connection.isPeerEnded) this.#peerEnded(connection, this.#protocols[fd]!);
    }
  };

  /** A connecting socket hung up: its SO_ERROR says why, or (if something read it already) it was refused. */
  #connectFailed(connection: Connection): void {
    const soError = native.socketError(connection.fd);
    const errno = soError > 0 ? -soError : soError < 0 ? soError : -osConstants.errno.ECONNREFUSED;
    this.#connectError(connection, systemError(errno, 'connect', { fd: connection.fd }));
  }

  /** A connect failed: the owner tries the next address (this socket let go first), or the connection closes with the error, for `reason`. */
  #connectError(connection: Connection, error: SystemError, reason: CloseReason = 'error'): void {
    if (this.#owner.connectFailed?.(connection, error) !== true) connection.close(reason, error);
  }

  /**
   * An outbound connection whose connect failed, before another address is
   * tried: its socket unregistered and closed, the connection and its
   * protocol kept as before its first socket (attach() gives it the next).
   */
  detach(connection: Connection): void {
    const fd = connection.fd;
    const protocol = this.#protocols[fd]!;
    this.connections[fd] = undefined;
    this.#protocols[fd] = undefined;
    this.#resumeDue[fd] = false;
    this.#endPending[fd] = false;
    this.#batch.forget(fd);
    this.#sends.forget(fd);
    if (!this.loop.isClosed && this.loop.isRegistered(fd)) this.loop.removeSocket(fd);
    connection[detach]();
    this.#unattached.set(connection, protocol);
  }

  readonly #error = (fd: number, error: SystemError): void => {
    const connection = this.connections[fd]!;
    // A connect refused or unreachable: the next address, if the name had several.
    if (connection.isConnecting) this.#connectError(connection, error, closeReason(error));
    else connection.close(closeReason(error), error);
  };

  /** Reads and drops what a lingering connection's peer still sends, closing at its EOF. */
  #discard(connection: Connection, buffer: Buffer, bounded: boolean): void {
    for (let reads = 0; !bounded || reads < READS_PER_EVENT; reads++) {
      const count = this.#next(connection, buffer, false);
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
    connection.emit('end');
    if (connection.isClosed) return;
    if (protocol.end) protocol.end(connection);
    else connection.end();
  }

  /** From Connection: forget it, tell the owner, then the protocol's close hook, once. */
  #closed(connection: Connection, reason: CloseReason, error: SystemError | undefined): void {
    const fd = connection.fd;
    let protocol: Protocol | undefined;
    if (fd < 0) {
      protocol = this.#unattached.get(connection);
      this.#unattached.delete(connection);
    } else if (this.connections[fd] === connection) {
      protocol = this.#protocols[fd];
      this.connections[fd] = undefined;
      this.#protocols[fd] = undefined;
      this.#resumeDue[fd] = false;
      this.#endPending[fd] = false;
      this.#batch.forget(fd);
      this.#sends.forget(fd);
      const lingerTimer = this.#lingerTimers[fd];
      if (lingerTimer !== undefined && lingerTimer !== NO_TIMER) {
        this.#clear(lingerTimer);
        this.#lingerTimers[fd] = NO_TIMER;
      }
    }
    this.#owner.closed(connection, reason, error);
    if (protocol?.close === undefined) return;
    try {
      protocol.close(connection, reason, error);
    } catch (thrown) {
      if (!this.loop.isClosed) this.loop[reportErrorUnchecked](thrown, 'hangup', fd);
    }
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
    this.connections[fd]?.close('end');
  };

  #clear(handle: number): void {
    if (handle !== NO_TIMER) this.loop.clearTimeout(handle);
  }
}

/** A failed connection's protocol: input that arrives while it ends is dropped. */
const FAILED: Protocol = { data() {}, end: (connection) => connection.end() };

/** FAILED, keeping the failed protocol's close hook: it still hears of the close. */
function failedWithCloseHook(protocol: Protocol): Protocol {
  return { ...FAILED, close: protocol.close!.bind(protocol) };
}

/** A timeout handle that names no timeout (handles are >= 0). */
export const NO_TIMER = -1;
/** The options of unref'd timeouts, made once: the sockets hold the process, not the timers that watch them. */
export const UNREF = Object.freeze({ ref: false });
