// Connection: one accepted socket on the loop, with a write queue.
//
// Writes go straight to the socket while nothing is queued; what the kernel
// does not take is copied into the queue, and only then is write interest
// turned on, so an idle connection costs no epoll_ctl. The queue drains with
// writev. Past the high watermark the connection stops reading (the peer is
// not reading its replies) and `needsDrain` tells the protocol to stop
// producing; below the low watermark it reads again, and the server calls the
// protocol's resume() first, so requests it set aside are answered before
// any new input is read.
//
// While the server handles one readiness event it corks the connection:
// writes are only queued, and uncorking sends them all with one writev. A
// reply produced from the server's read buffer is queued as a view, without
// a copy; the server asks for a copy (`keepBorrowed`) only before it reads
// into that buffer again.
//
// end() closes gently. Closing a socket with unread input makes the kernel
// send a reset, and a reset can make the peer's kernel drop replies it has
// not yet handed to the application: the 400 for a bad request, the tail of
// a drained queue. So once the queue drains, a connection whose peer is
// still sending shuts down its sending side (the peer sees EOF after the
// last byte) and lingers: the server reads and discards until the peer's
// EOF, or closes it after a short bound (nginx's lingering close).
//
// A connection is also what a node:net user knows: events ('close', 'end',
// 'drain', 'error', and 'connect' for an outbound one) from a small emitter
// that costs an idle connection one empty field (emitter.ts), string writes,
// its addresses (read from the kernel on first use, then kept), bytesRead
// and bytesWritten (two numbers each read and write adds to),
// setTimeout() and 'timeout', destroy(), and setNoDelay()/setKeepAlive().
// Anything else a connection seldom needs (setTimeout()'s state among it)
// lives in one object made when first needed, so a served connection that
// never asks stays the size it was.
import { Buffer } from 'node:buffer';
import { constants as osConstants } from 'node:os';

import type { EventLoop } from '../loop/event-loop.js';
import { setInterestUnchecked } from '../loop/internal.js';
import { assertBoolean, assertBytes, assertFunction, assertInteger, systemError, typeError, WasmloopError, type SystemError } from '../errors.js';
import { native } from '../kernel/native.js';
import { Emitter } from './emitter.js';
import { emptyList } from '../loop/lists.js';
import { addressUnchecked, sockets, WRITEV_MAX, writevUnchecked, writeUnchecked, type SocketAddress } from './sockets.js';
import { queueJob } from '../loop/microtask.js';

export interface ConnectionLimits {
  /** Queued bytes at which reading pauses. */
  highWaterMark: number;
  /** Queued bytes at which reading resumes. */
  lowWaterMark: number;
}

/**
 * What a connection is served with and shares with the others of its server:
 * one object per server (per outbound connection for connect()), not three
 * fields per connection (8 bytes each, in every idle connection).
 */
export interface ConnectionContext {
  /** The loop it is served on: protocols keep their own deadlines on its clock and timers. */
  readonly loop: EventLoop;
  readonly limits: ConnectionLimits;
  readonly events: ConnectionEvents;
}

/**
 * Why a connection closed: `'end'` after end() drained or the peer left,
 * `'close'` by close(), `'reset'` on ECONNRESET or EPIPE, `'error'` on
 * another socket error, `'server'` by the server (close(), a shutdown's
 * deadline), `'idle'` by the idle timeout.
 */
export type CloseReason = 'end' | 'close' | 'reset' | 'error' | 'server' | 'idle';

/**
 * What a connection tells its server. Internal: the server constructs each
 * connection with its own private object of these, so they are no methods
 * of the public Server.
 */
export interface ConnectionEvents {
  closed(connection: Connection, reason: CloseReason, error?: SystemError): void;
  /** The connection sent its last byte and now waits for the peer's EOF. */
  lingering(connection: Connection): void;
  /** The queue drained below the low watermark after reaching the high one. */
  drained(connection: Connection): void;
  /** The socket's read interest turned off (paused, held, ending) or back on. */
  readingChanged(connection: Connection, reading: boolean): void;
}

/** A connection's events, with their listeners' arguments. */
export interface ConnectionEventMap {
  /** Closed, once: why, and the error when one closed it. Nothing is emitted after it. */
  close: (reason: CloseReason, error?: SystemError) => void;
  /** The peer finished sending (its EOF); the protocol's end() runs after this. */
  end: () => void;
  /** The queue drained below the low watermark after write() returned false. */
  drain: () => void;
  /** The error a close carries (just before 'close'), or a write after end() or close(). Emitted only when listened to. */
  error: (error: Error & { code?: string }) => void;
  /** An outbound connection (connect()) is established. */
  connect: () => void;
  /** setTimeout()'s time passed without a read or a write; the connection stays open. */
  timeout: () => void;
}

/** What an idle connection does not pay for: made on first use (addresses, options before the socket exists, a protocol's failure). */
interface Extra {
  remote?: SocketAddress | null;
  local?: SocketAddress | null;
  /** setNoDelay() and setKeepAlive() before an outbound connection has its socket. */
  noDelay?: boolean;
  keepAlive?: [enable: boolean, initialDelayMs: number];
  /** Why the connection ends (the protocol threw): what its close reports. */
  failure?: SystemError;
  /** setTimeout()'s inactivity time, ms (the TIMED flag is set while it is on). */
  timeoutMs?: number;
  /** The loop's time of the last read or write while timed. */
  lastActive?: number;
  /** The pending check's loop.timeout() handle; NO_TIMEOUT after it fired, until activity arms it again. */
  timeoutHandle?: number;
}

/** `connection[attach](fd)`: an outbound connection got its socket, registered writable only until connected. Internal. */
export const attach: unique symbol = Symbol('wasmloop.connection.attach');
/** `connection[detach]()`: a connecting socket failed and the next address is tried: no socket until the next attach. Internal. */
export const detach: unique symbol = Symbol('wasmloop.connection.detach');
/** `connection[connected]()`: the socket connected: 'connect', then the queue goes out. Internal. */
export const connected: unique symbol = Symbol('wasmloop.connection.connected');
/** `connection[fail](error)`: ends the connection, its close carrying `error` (the protocol threw). Internal. */
export const fail: unique symbol = Symbol('wasmloop.connection.fail');
/**
 * `connection[receive](buffer)`: one read into `buffer`, counted in
 * bytesRead: the byte count, 0 at EOF, null when there is nothing to read,
 * -1 when the read failed and closed the connection. Internal (the driver's).
 */
export const receive: unique symbol = Symbol('wasmloop.connection.receive');
/**
 * `connection[received](result)`: the same for a read made elsewhere (a
 * batch's, native.readMany), given what read() returned (bytes, -errno).
 * Internal (the driver's).
 */
export const received: unique symbol = Symbol('wasmloop.connection.received');
/**
 * `connection[sendInBatch](region, at, room)`: a corked connection whose
 * every queued byte was written under this cork hands them to a batch's
 * send region (copied to `region` at `at`, if they fit in `room`) and stays
 * corked until `[sentInBatch]`: the bytes it takes, 0 when it keeps them
 * (it then uncorks as before). Internal (the driver's batch writes).
 */
export const sendInBatch: unique symbol = Symbol('wasmloop.connection.sendInBatch');
/**
 * `connection[sentInBatch](result, length, region, at)`: what the batch's
 * write of those `length` bytes returned (bytes taken, -errno); what it did
 * not take goes to the front of the queue, then the connection uncorks.
 * Internal.
 */
export const sentInBatch: unique symbol = Symbol('wasmloop.connection.sentInBatch');
/** `connection[inactivityDue]()`: setTimeout()'s check came due. Internal. */
const inactivityDue: unique symbol = Symbol('wasmloop.connection.inactivityDue');

/** setTimeout()'s check, a handle-free timeout with the connection as its argument. */
function checkInactivity(connection: Connection): void {
  connection[inactivityDue]();
}

// A connection's states, bits of its one `#flags` field.
/** The queue reached the high watermark and has not drained below the low one: reading paused. */
const READ_PAUSED = 1 << 0;
/** end() was called: it closes once the queue drains. */
const ENDING = 1 << 1;
/** The peer's EOF was read (or the loop reported a half-close). */
const PEER_ENDED = 1 << 2;
const CLOSED = 1 << 3;
/** Ended and drained, its sending side shut down: waiting for the peer's EOF. */
const LINGERING = 1 << 4;
// The interest last given to the loop, so unchanged interest costs nothing.
const READING = 1 << 5;
const WRITING = 1 << 6;
const CORKED = 1 << 7;
/** Outbound, not connected yet: writes only queue. */
const CONNECTING = 1 << 8;
/** Reading held off by pauseReading(), whatever the queue. */
const HELD = 1 << 9;
/** setTimeout() is on: reads and writes note the time. */
const TIMED = 1 << 10;
/** Corked with nothing queued: every byte queued since was written under this cork. */
const CORKED_EMPTY = 1 << 11;
/** Its first queued bytes wait in a batch's send region: it stays corked, and what it is given meanwhile is copied behind them. */
const SENDING = 1 << 12;

const { EAGAIN } = osConstants.errno;

/** No inactivity check pending. */
const NO_TIMEOUT = -1;
const UNREF = { ref: false } as const;

/** The queue of every connection that has queued nothing yet: shared, and never written to (#enqueue replaces it). */
const NO_QUEUE: Uint8Array[] = [];

/** setsockopt's answers on a socket that has no such option (a Unix domain socket): nothing to set. */
const NO_SUCH_OPTION = new Set([-osConstants.errno.EOPNOTSUPP, -osConstants.errno.ENOPROTOOPT]);

export class Connection extends Emitter<ConnectionEventMap> {
  #fd: number;
  /** NO_QUEUE until the first write that queues: an idle connection holds no array of its own. */
  #queue: Uint8Array[] = NO_QUEUE;
  #queued = 0;
  /** The connection's states, one bit each (the constants above): one field where ten booleans took 80 bytes. */
  #flags = READING;
  /** Queue entries from this index on are views of someone else's buffer. */
  #borrowedFrom = -1;
  #extra: Extra | undefined;
  #bytesRead = 0;
  #bytesWritten = 0;

  readonly #context: ConnectionContext;

  constructor(
    fd: number,
    context: ConnectionContext,
    /** An outbound connection, connecting: `fd` is -1 until it has its socket. */
    connecting = false,
  ) {
    super();
    this.#fd = fd;
    this.#context = context;
    if (connecting) this.#flags |= CONNECTING;
  }

  /** The loop it is served on: protocols keep their own deadlines on its clock and timers. */
  get loop(): EventLoop {
    return this.#context.loop;
  }

  /** The socket's fd (-1 while an outbound connection resolves its host name). */
  get fd(): number {
    return this.#fd;
  }

  /** Whether an outbound connection is still connecting. */
  get isConnecting(): boolean {
    return (this.#flags & CONNECTING) !== 0;
  }

  /** Bytes waiting for the socket to accept them. */
  get queuedBytes(): number {
    return this.#queued;
  }

  get isClosed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }

  /** Queued bytes at which reading pauses and `needsDrain` turns true. */
  get highWaterMark(): number {
    return this.#context.limits.highWaterMark;
  }

  /**
   * Whether the queue reached the high watermark and has not yet drained
   * below the low one: a protocol stops producing replies, keeps the input
   * it has not handled, and continues in its resume().
   */
  get needsDrain(): boolean {
    return (this.#flags & READ_PAUSED) !== 0;
  }

  /** Whether reading is paused: too much output is queued, or pauseReading() holds it off. */
  get isReadPaused(): boolean {
    return (this.#flags & (READ_PAUSED | HELD)) !== 0;
  }

  /**
   * Stops reading until resumeReading(), whatever the queue: for a protocol
   * whose consumer has not caught up with the input it was given (an HTTP
   * handler that has not read its request's body). Bytes and the peer's EOF
   * wait in the kernel meanwhile.
   */
  pauseReading(): void {
    if ((this.#flags & HELD) !== 0) return;
    this.#flags |= HELD;
    this.#afterQueueChange();
  }

  /** Reads again after pauseReading() (unless the queue still holds reading off). */
  resumeReading(): void {
    if ((this.#flags & HELD) === 0) return;
    this.#flags &= ~HELD;
    this.#afterQueueChange();
  }

  /** Whether the peer finished sending (its EOF was read, or it was gone). */
  get isPeerEnded(): boolean {
    return (this.#flags & PEER_ENDED) !== 0;
  }

  /** Whether end() has sent everything and the connection only waits for the peer's EOF, discarding input. */
  get isLingering(): boolean {
    return (this.#flags & LINGERING) !== 0;
  }

  /** Whether the connection still reads (not paused, not ending, peer not done). */
  get isReading(): boolean {
    return (this.#flags & READING) !== 0;
  }

  /**
   * Sends `data` (a string is encoded with `encoding`, utf8 by default), now
   * if the socket takes it, else from the queue. The bytes are copied when
   * queued, so the caller may reuse its buffer. Returns false once the queue
   * has reached the high watermark (as `needsDrain` says): stop writing
   * until 'drain' (or the protocol's resume()). After end() or close() it
   * returns false and writes nothing, and 'error' reports it.
   */
  write(data: Uint8Array | string, encoding?: BufferEncoding): boolean {
    // The one check: from here on the bytes go to the unchecked socket calls.
    const bytes = typeof data === 'string' ? Buffer.from(data, encoding) : data;
    assertBytes('data', bytes);
    if ((this.#flags & (CLOSED | ENDING)) !== 0) {
      this.#writeRefused();
      return false;
    }
    if (bytes.length === 0) return (this.#flags & READ_PAUSED) === 0;
    if ((this.#flags & CORKED) !== 0 && (this.#flags & CONNECTING) === 0) {
      // Held for a batch, it is flushed after this callback's caller has reused its buffers.
      if ((this.#flags & SENDING) !== 0) this.#enqueue(Uint8Array.prototype.slice.call(bytes));
      else {
        if (this.#borrowedFrom < 0) this.#borrowedFrom = this.#queue.length;
        this.#enqueue(bytes);
      }
      this.#queued += bytes.length;
      // Past the high watermark, stop reading now rather than at uncork.
      if (this.#queued >= this.#context.limits.highWaterMark) this.#afterQueueChange();
      return (this.#flags & READ_PAUSED) === 0;
    }
    let offset = 0;
    if (this.#queued === 0 && (this.#flags & CONNECTING) === 0) {
      let written: number | null;
      try {
        written = writeUnchecked(this.#fd, bytes, 0, bytes.length);
      } catch (error) {
        this.#writeFailed(error);
        return false;
      }
      if (written === bytes.length) {
        this.#bytesWritten += written;
        if ((this.#flags & TIMED) !== 0) this.#active();
        return true;
      }
      offset = written ?? 0;
      this.#bytesWritten += offset;
      if (offset > 0 && (this.#flags & TIMED) !== 0) this.#active();
    }
    this.#enqueue(Uint8Array.prototype.slice.call(bytes, offset));
    this.#queued += bytes.length - offset;
    this.#afterQueueChange();
    return (this.#flags & READ_PAUSED) === 0;
  }

  /** Holds writes in the queue until `uncork()`. */
  cork(): void {
    this.#flags |= this.#queued === 0 ? CORKED | CORKED_EMPTY : CORKED;
  }

  /** Sends what was written while corked, with as few system calls as the kernel allows. */
  uncork(): void {
    // Held for a batch: it uncorks when the batch's writes are done ([sentInBatch]).
    if ((this.#flags & (CORKED | SENDING)) !== CORKED) return;
    this.#flags &= ~(CORKED | CORKED_EMPTY);
    if ((this.#flags & (CLOSED | CONNECTING)) !== 0) return;
    if (this.#queued > 0) this.flush();
    else this.#afterQueueChange();
    this.keepBorrowed();
  }

  /** Copies the queued views of borrowed buffers: their owner is about to reuse them. */
  keepBorrowed(): void {
    const from = this.#borrowedFrom;
    if (from < 0) return;
    this.#borrowedFrom = -1;
    const queue = this.#queue;
    for (let i = from; i < queue.length; i++) queue[i] = Uint8Array.prototype.slice.call(queue[i]!);
  }

  /**
   * Writes `data` if given, then closes once every queued byte is written
   * (after the peer's EOF, if it is still sending). Later writes are
   * refused (ERR_STREAM_WRITE_AFTER_END on 'error').
   */
  end(data?: Uint8Array | string, encoding?: BufferEncoding): void {
    if (data !== undefined) this.write(data, encoding);
    if ((this.#flags & (CLOSED | ENDING)) !== 0) return;
    this.#flags |= ENDING;
    this.#afterQueueChange();
  }

  /**
   * Closes now; queued bytes are discarded. The server (or connect()) and
   * the protocol's close hook hear of it first, then 'error' (when `error`
   * is given and someone listens) and 'close'.
   */
  close(reason: CloseReason = 'close', error?: SystemError): void {
    if ((this.#flags & CLOSED) !== 0) return;
    this.#flags |= CLOSED;
    this.#queue = NO_QUEUE;
    this.#queued = 0;
    this.#borrowedFrom = -1;
    const failure = this.#extra?.failure;
    if (failure !== undefined && error === undefined) {
      error = failure;
      reason = 'error';
    }
    if ((this.#flags & TIMED) !== 0) this.#stopTimeout();
    if (this.#fd >= 0 && !this.loop.isClosed && this.loop.isRegistered(this.#fd)) this.loop.removeSocket(this.#fd);
    this.#context.events.closed(this, reason, error);
    if (error !== undefined) this.emit('error', error);
    this.emit('close', reason, error);
  }

  // ---- what node:net's Socket has besides ---------------------------------------

  /**
   * node:net's destroy(): closes now, the queue discarded, as close() does:
   * reason 'close', or with `error` 'error' then 'close' carrying it.
   * Returns the connection; a no-op once closed.
   */
  destroy(error?: Error): this {
    if (error !== undefined && !(error instanceof Error)) throw typeError('error', 'an Error', error);
    this.close(error === undefined ? 'close' : 'error', error as SystemError | undefined);
    return this;
  }

  /** Closed, by any means (node:net's `destroyed`; also `isClosed`). */
  get destroyed(): boolean {
    return (this.#flags & CLOSED) !== 0;
  }

  /** Bytes read from the socket so far (those discarded while lingering too), as node:net's `bytesRead`. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes the kernel has taken so far; what waits in the queue is `queuedBytes` (node:net's `bytesWritten` counts both). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  [receive](buffer: Buffer): number | null {
    return this[received](native.read(this.#fd, buffer, 0, buffer.length));
  }

  [received](result: number): number | null {
    if (result >= 0) {
      this.#bytesRead += result;
      if ((this.#flags & TIMED) !== 0) this.#active();
      return result;
    }
    if (result === -EAGAIN) return null;
    const error = systemError(result, 'read', { fd: this.#fd });
    this.close(closeReason(error), error);
    return -1;
  }

  /** The peer's address, read from the kernel when first asked for; undefined for a Unix domain socket, or after close if never asked for. */
  get remoteAddress(): string | undefined {
    return this.#address(true)?.address;
  }

  get remotePort(): number | undefined {
    return this.#address(true)?.port;
  }

  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.#address(true)?.family;
  }

  /** The local address, read when first asked for, as remoteAddress is. */
  get localAddress(): string | undefined {
    return this.#address(false)?.address;
  }

  get localPort(): number | undefined {
    return this.#address(false)?.port;
  }

  /** The local address as node:net's `socket.address()` gives it; `{}` when there is none. */
  address(): SocketAddress | Record<string, never> {
    return this.#address(false) ?? {};
  }

  /**
   * node:net's setTimeout(): 'timeout' once `timeoutMs` pass without a read
   * or a write (the connection stays open: close or end it in the listener,
   * as with node:net), again after the next activity and as long again;
   * 0 turns it off. `callback` is added as a once listener of 'timeout'.
   * A no-op on a closed connection.
   */
  setTimeout(timeoutMs: number, callback?: () => void): this {
    assertInteger('timeoutMs', timeoutMs, 0, 0x7fffffff);
    if (callback !== undefined) assertFunction('callback', callback);
    if ((this.#flags & CLOSED) !== 0) return this;
    if (callback !== undefined) this.once('timeout', callback);
    if ((this.#flags & TIMED) !== 0) this.#stopTimeout();
    if (timeoutMs === 0) return this;
    const extra = (this.#extra ??= {});
    extra.timeoutMs = timeoutMs;
    extra.lastActive = this.loop.now();
    extra.timeoutHandle = this.loop.timeout(checkInactivity, timeoutMs, this, UNREF);
    this.#flags |= TIMED;
    return this;
  }

  /** setTimeout()'s time, ms; undefined when it is off (as node:net's `timeout`). */
  get timeout(): number | undefined {
    return (this.#flags & TIMED) !== 0 ? this.#extra!.timeoutMs : undefined;
  }

  /**
   * A read or a write while timed: the time, from the loop's last clock
   * reading; the check armed again if it fired. A loop whose timer table is
   * full (maxTimers) cannot take it now: the read or write goes on, and a
   * later activity tries again.
   */
  #active(): void {
    const extra = this.#extra!;
    extra.lastActive = this.loop.iterationTime;
    if (extra.timeoutHandle !== NO_TIMEOUT) return;
    try {
      extra.timeoutHandle = this.loop.timeout(checkInactivity, extra.timeoutMs!, this, UNREF);
    } catch {
      // The table is full (maxTimers): unarmed until the next activity.
    }
  }

  /** setTimeout()'s check came due: 'timeout' if nothing happened for the whole time, else the check again at the rest of it. */
  [inactivityDue](): void {
    const extra = this.#extra!;
    extra.timeoutHandle = NO_TIMEOUT;
    if ((this.#flags & (TIMED | CLOSED)) !== TIMED) return;
    const left = extra.lastActive! + extra.timeoutMs! - this.loop.now();
    if (left > 0) extra.timeoutHandle = this.loop.timeout(checkInactivity, Math.ceil(left), this, UNREF);
    else this.emit('timeout');
  }

  #stopTimeout(): void {
    const extra = this.#extra!;
    this.#flags &= ~TIMED;
    if (extra.timeoutHandle !== NO_TIMEOUT && !this.loop.isClosed) this.loop.clearTimeout(extra.timeoutHandle!);
    extra.timeoutHandle = NO_TIMEOUT;
  }

  /** TCP_NODELAY on (the default for served and outbound connections) or off. A no-op on a Unix domain socket or a closed connection. */
  setNoDelay(noDelay = true): this {
    assertBoolean('noDelay', noDelay);
    if (this.#fd < 0) (this.#extra ??= {}).noDelay = noDelay;
    else if ((this.#flags & CLOSED) === 0) this.#setOption(native.setNoDelay(this.#fd, noDelay ? 1 : 0));
    return this;
  }

  /** SO_KEEPALIVE, with TCP_KEEPIDLE from `initialDelayMs` (whole seconds; 0 keeps the system's). A no-op where setNoDelay() is one. */
  setKeepAlive(enable = false, initialDelayMs = 0): this {
    assertBoolean('enable', enable);
    assertInteger('initialDelayMs', initialDelayMs, 0, 0x7fffffff);
    if (this.#fd < 0) (this.#extra ??= {}).keepAlive = [enable, initialDelayMs];
    else if ((this.#flags & CLOSED) === 0) this.#setOption(native.setKeepAlive(this.#fd, enable ? 1 : 0, Math.floor(initialDelayMs / 1000)));
    return this;
  }

  /** The socket an outbound connection connects on; registered writable, not readable, until it is connected. */
  [attach](fd: number): void {
    this.#fd = fd;
    this.#flags = (this.#flags & ~READING) | WRITING;
    const extra = this.#extra;
    if (extra?.noDelay !== undefined) this.setNoDelay(extra.noDelay);
    if (extra?.keepAlive !== undefined) this.setKeepAlive(...extra.keepAlive);
  }

  [detach](): void {
    this.#fd = -1;
  }

  [connected](): void {
    this.#flags &= ~CONNECTING;
    this.emit('connect');
    if ((this.#flags & CLOSED) !== 0) return;
    if (this.#queued > 0) this.flush();
    else this.#afterQueueChange();
  }

  [fail](error: SystemError): void {
    (this.#extra ??= {}).failure ??= error;
    this.end();
  }

  /** getpeername or getsockname, once: kept from the first answer. */
  #address(peer: boolean): SocketAddress | null | undefined {
    const extra = this.#extra;
    const known = peer ? extra?.remote : extra?.local;
    if (known !== undefined || (this.#flags & (CLOSED | CONNECTING)) !== 0) return known;
    let found: SocketAddress | null;
    try {
      found = addressUnchecked(this.#fd, peer);
    } catch {
      // ENOTCONN: the peer is gone already; node:net has no address then either.
      return undefined;
    }
    if (peer) (this.#extra ??= {}).remote = found;
    else (this.#extra ??= {}).local = found;
    return found;
  }

  #setOption(result: number): void {
    if (result < 0 && !NO_SUCH_OPTION.has(result)) throw systemError(result, 'setsockopt', { fd: this.#fd });
  }

  /** A write after end() or close(): refused, and reported on 'error' after the call returns, as node:net does. */
  #writeRefused(): void {
    const destroyed = (this.#flags & CLOSED) !== 0;
    queueJob(() => {
      if (this.listenerCount('error') === 0) return;
      const error = destroyed
        ? new WasmloopError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed')
        : new WasmloopError('ERR_STREAM_WRITE_AFTER_END', 'write after end');
      this.emit('error', error);
    });
  }

  [sendInBatch](region: Uint8Array, at: number, room: number): number {
    if ((this.#flags & (CORKED | CORKED_EMPTY | CLOSED | CONNECTING | SENDING)) !== (CORKED | CORKED_EMPTY)) return 0;
    const queued = this.#queued;
    if (queued === 0 || queued > room) return 0;
    const queue = this.#queue;
    for (let i = 0, to = at; i < queue.length; i++) {
      region.set(queue[i]!, to);
      to += queue[i]!.length;
    }
    emptyList(queue);
    this.#borrowedFrom = -1;
    this.#flags |= SENDING;
    return queued;
  }

  [sentInBatch](result: number, length: number, region: Uint8Array, at: number): void {
    this.#flags &= ~SENDING;
    if ((this.#flags & CLOSED) !== 0) return;
    if (result < 0 && result !== -EAGAIN) {
      this.#writeFailed(systemError(result, 'write', { fd: this.#fd }));
      return;
    }
    const written = result > 0 ? result : 0;
    if (written > 0) {
      this.#bytesWritten += written;
      this.#queued -= written;
      if ((this.#flags & TIMED) !== 0) this.#active();
    }
    if (written < length) {
      // What the kernel did not take comes before anything queued since.
      const rest = region.slice(at + written, at + length);
      if (this.#queue === NO_QUEUE) this.#queue = [rest];
      else this.#queue.unshift(rest);
    }
    this.uncork();
  }

  /** The loop says the socket is writable: drain the queue. */
  flush(): void {
    // Its first bytes are in a batch's send region: the batch writes them first, then this queue.
    if ((this.#flags & SENDING) !== 0) return;
    while (this.#queued > 0) {
      const queue = this.#queue;
      let written: number | null;
      try {
        // One buffer (a read's replies, gathered): write() marshals one view, writev() an array of them.
        if (queue.length === 1) written = writeUnchecked(this.#fd, queue[0]!, 0, queue[0]!.length);
        else written = writevUnchecked(this.#fd, queue.length <= WRITEV_MAX ? queue : queue.slice(0, WRITEV_MAX));
      } catch (error) {
        this.#writeFailed(error);
        return;
      }
      if (written === null) break;
      this.#bytesWritten += written;
      if ((this.#flags & TIMED) !== 0) this.#active();
      this.#consume(written);
    }
    this.#afterQueueChange();
  }

  /**
   * The peer finished sending (EOF, or the loop reported a half-close, after
   * which it no longer watches for reads).
   */
  peerEnded(): void {
    if ((this.#flags & PEER_ENDED) !== 0) return;
    this.#flags = (this.#flags | PEER_ENDED) & ~READING;
  }

  #enqueue(bytes: Uint8Array): void {
    if (this.#queue === NO_QUEUE) this.#queue = [bytes];
    else this.#queue.push(bytes);
  }

  #consume(written: number): void {
    this.#queued -= written;
    let dropped = 0;
    while (written > 0) {
      const head = this.#queue[dropped]!;
      if (written >= head.length) {
        written -= head.length;
        dropped++;
      } else {
        this.#queue[dropped] = head.subarray(written);
        written = 0;
      }
    }
    if (dropped > 0) {
      if (dropped === this.#queue.length) emptyList(this.#queue);
      else this.#queue.splice(0, dropped);
      if (this.#borrowedFrom >= 0) this.#borrowedFrom = Math.max(0, this.#borrowedFrom - dropped);
    }
  }

  /** Closes or lingers when ended and drained; else sets read and write interest from the queue. */
  #afterQueueChange(): void {
    if ((this.#flags & CONNECTING) !== 0) {
      // Nothing is sent before the socket connects: only the watermark counts.
      if (this.#queued >= this.#context.limits.highWaterMark) this.#flags |= READ_PAUSED;
      return;
    }
    if ((this.#flags & ENDING) !== 0 && this.#queued === 0) {
      if ((this.#flags & PEER_ENDED) !== 0) this.close('end');
      else if ((this.#flags & LINGERING) === 0) this.#linger();
      return;
    }
    let drained = false;
    if ((this.#flags & READ_PAUSED) === 0 && this.#queued >= this.#context.limits.highWaterMark) this.#flags |= READ_PAUSED;
    else if ((this.#flags & READ_PAUSED) !== 0 && this.#queued <= this.#context.limits.lowWaterMark) {
      this.#flags &= ~READ_PAUSED;
      drained = true;
    }
    // The server resumes the protocol after the call that drained the queue
    // returns, never from inside it: a resume writes, and writes drain.
    if (drained) this.#context.events.drained(this);
    const reading = (this.#flags & (READ_PAUSED | HELD | ENDING | PEER_ENDED)) === 0;
    const writing = this.#queued > 0;
    const interest = (reading ? READING : 0) | (writing ? WRITING : 0);
    const before = this.#flags;
    if (interest === (before & (READING | WRITING))) return;
    this.#flags = (before & ~(READING | WRITING)) | interest;
    this.loop[setInterestUnchecked](this.#fd, reading, writing);
    if (((before ^ interest) & READING) !== 0) this.#context.events.readingChanged(this, reading);
  }

  /** Sends EOF and keeps reading (the server discards it) until the peer's EOF. */
  #linger(): void {
    this.#flags |= LINGERING;
    try {
      sockets.shutdown(this.#fd, 'write');
    } catch (error) {
      // ENOTCONN: the peer is gone already; nothing is left to wait for.
      this.close('end', error as SystemError);
      return;
    }
    this.#flags |= READING;
    this.#flags &= ~WRITING;
    this.loop[setInterestUnchecked](this.#fd, true, false);
    this.#context.events.lingering(this);
  }

  /** A reset or broken pipe closes the connection quietly; anything else is a bug to report. */
  #writeFailed(error: unknown): void {
    if (closeReason(error) !== 'reset') throw error;
    this.close('reset', error as SystemError);
  }
}

/** How a failed socket call ends a connection: a reset or broken pipe is the peer's doing, anything else an error. */
export function closeReason(error: unknown): CloseReason {
  const code = (error as SystemError).code;
  return code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'error';
}
