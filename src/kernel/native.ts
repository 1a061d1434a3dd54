// The native addon's surface, typed. Every function returns a result >= 0 or
// -errno; turning that into an error is the caller's job (see errors.ts).
import { createRequire } from 'node:module';

/** An opaque handle from startAttach: start()'s libuv handles. Safe to keep after startDetach: every call with it then answers -EINVAL. */
export type StartHandle = { readonly __start: unique symbol };

export interface NativeAddon {
  backendCreate(name: string, memory: ArrayBuffer, eventsOffset: number, maxEvents: number): number;
  backendAdd(id: number, fd: number, events: number, generation: number): number;
  backendModify(id: number, fd: number, events: number, generation: number): number;
  backendRemove(id: number, fd: number): number;
  /** Waits; while run() is active, also brings libuv's cached clock up to date once the wait returns. */
  backendWait(id: number, timeoutMs: number): number;
  backendFree(id: number): number;
  /** The backend's own pollable fd (epoll's); -ENOTSUP for poll and select. */
  backendFd(id: number): number;
  /** Calls fn.call(recv, ...args) in its own callback scope: ticks and microtasks run after it when it is the outermost. */
  invoke(recv: unknown, fn: (...args: never[]) => unknown, ...args: unknown[]): unknown;
  /** Hands `error` to Node's uncaught-exception handling ('uncaughtException', or the process ends), as if it escaped one of Node's callbacks. */
  uncaught(error: unknown): void;
  // run(): a libuv prepare handle on Node's loop calls `turn` where Node would block; one per thread (-EBUSY).
  runAttach(turn: (first: boolean) => boolean): number;
  runDetach(): number;
  runRef(ref: boolean): number;
  /** Node's libuv backend fd (its epoll fd), for the loop's own set. */
  runNodeFd(): number;
  /** Milliseconds until Node's loop needs the thread (uv_backend_timeout, clock updated first): -1 never, 0 now. */
  runNodeTimeout(): number;
  // start(): libuv watches `fd` (readable) and a timer; wake(status) on each wakeup: 0 readable, 1 timer, < 0 a poll error.
  startAttach(fd: number, wake: (status: number) => void): StartHandle | number;
  /** Wakes the started loop after `timeoutMs` (rounded up to libuv's whole ms; -1: no timer). */
  startArm(handle: StartHandle, timeoutMs: number): number;
  startRef(handle: StartHandle, ref: boolean): number;
  startDetach(handle: StartHandle): number;
  listen(host: string, port: number, backlog: number, flags: number): number;
  /** An AF_UNIX listener on `path`: -EADDRINUSE if it exists, -ENAMETOOLONG past 107 bytes. */
  listenUnix(path: string, backlog: number): number;
  connect(host: string, port: number): number;
  /** A non-blocking AF_UNIX connect: fd, or -errno (-ENAMETOOLONG past sun_path). */
  connectUnix(path: string): number;
  /** getpeername (peer 1) or getsockname (peer 0): [address, port, AF_* family]; address '' for AF_UNIX. */
  address(fd: number, peer: number): [string, number, number] | number;
  setNoDelay(fd: number, on: number): number;
  /** SO_KEEPALIVE, and TCP_KEEPIDLE when on and idleSeconds > 0. */
  setKeepAlive(fd: number, on: number, idleSeconds: number): number;
  /** [TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE seconds], or -errno. */
  tcpOptions(fd: number): [number, number, number] | number;
  accept(fd: number, flags: number): number;
  read(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  write(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  /** -EINVAL for an element that is no Uint8Array or whose buffer is detached, even by a getter of the array (all are fetched before any is read). */
  writev(fd: number, buffers: readonly Uint8Array[]): number;
  /**
   * One read of up to `slotSize` bytes for each of the first `count` fds in
   * `buffer`'s plan (its first `count` int32s); each becomes its result
   * (bytes, 0 at EOF, -errno). The bytes are packed from `dataOffset` on
   * (count * slotSize room): read i's begin where the positive results
   * before it end. Returns `count`, or -EINVAL.
   */
  readMany(buffer: ArrayBuffer, count: number, dataOffset: number, slotSize: number): number;
  /**
   * One write for each of the first `count` entries of `buffer`'s plan (two
   * int32s each: an fd, skipped when negative, and a length); each length
   * becomes its write's result (bytes taken, -errno). The bytes are packed
   * from `dataOffset` on, each entry's after the last one's. Returns
   * `count`, or -EINVAL (and writes nothing) for a plan that passes the
   * buffer's end or a negative length.
   */
  writeMany(buffer: ArrayBuffer, count: number, dataOffset: number): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  socketError(fd: number): number;
  localPort(fd: number): number;
  /** A non-blocking, close-on-exec pipe: `[readFd, writeFd]`, or -errno. */
  pipe(): [number, number] | number;
  eventfd(initial: number): number;
  /** Adds `n` (an integer in [0, 2^53]) to the counter: 0 or -errno. */
  eventfdWrite(fd: number, n: number): number;
  /** Reads and resets the counter: > 0, or -errno (-EAGAIN when it is zero). */
  eventfdRead(fd: number): number;
  /** First expiry after `ms` (0: at once), then every `intervalMs` (0: once only). */
  timerfd(ms: number, intervalMs: number): number;
  /** Expirations since the last read: > 0, or -errno (-EAGAIN when none). */
  timerfdRead(fd: number): number;
  /** The lowest free fd >= `minFd` naming the same file (close-on-exec). */
  dupFd(fd: number, minFd: number): number;
  /** The soft RLIMIT_NOFILE (2^31 - 1 when unlimited), or -errno. */
  fdLimit(): number;
  readonly EVENT_SIZE: number;
  readonly EVENT_DATA_OFFSET: number;
  readonly LISTEN_REUSEPORT: number;
  readonly ACCEPT_NODELAY: number;
  readonly WRITEV_MAX: number;
  /** select's limit: the select backend refuses fds >= this (-ERANGE). */
  readonly FD_SETSIZE: number;
  readonly AF_INET: number;
  readonly AF_INET6: number;
  /** The kernel's EPOLL* bits (<sys/epoll.h>), unsigned; the core's own must equal them. */
  readonly EPOLLIN: number;
  readonly EPOLLOUT: number;
  readonly EPOLLERR: number;
  readonly EPOLLHUP: number;
  readonly EPOLLRDHUP: number;
  readonly EPOLLONESHOT: number;
  readonly EPOLLET: number;
}

const require = createRequire(import.meta.url);

/**
 * WASMLOOP_ADDON names another build of the addon to load instead, such as
 * the AddressSanitizer build `npm run test:asan` makes.
 */
function load(): NativeAddon {
  const path = process.env['WASMLOOP_ADDON'] || '../../Release/wasmloop.node';
  try {
    return require(path) as NativeAddon;
  } catch (cause) {
    throw new Error('wasmloop: the native addon is not built; run `npm install` (or `npm run build`)', { cause });
  }
}

export const native: NativeAddon = load();
