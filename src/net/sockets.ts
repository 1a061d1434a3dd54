// The socket calls a server on the loop needs, as plain functions: they hold
// no state, so there is nothing to construct. Every socket they create is
// non-blocking and close-on-exec.
//
// Would-block is an answer, not an error: `accept`, `read`, `write` and
// `writev` return null for EAGAIN, so a drain loop never pays for a throw.
// Any other failure throws a SystemError with `code`, `errno` and `syscall`.
//
// Checked doors, unchecked rooms: the public calls (the `sockets` namespace
// the package exports) check every argument before the native call; the
// library's own hot paths (a connection's reads and writes, whose fd and
// buffers it made itself) call the *Unchecked functions, which trust their
// caller, as libuv's uv__ functions do behind its uv_ ones.
import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';
import { constants as osConstants } from 'node:os';

import { assertBoolean, assertBytes, assertFd, assertInteger, assertObject, assertOneOf, assertString, check, systemError, type SystemError } from '../errors.js';
import { native } from '../kernel/native.js';

const { EAGAIN } = osConstants.errno;

export interface ListenOptions {
  /** The kernel's accept queue length. Default 511, as Node and Redis use. */
  backlog?: number;
  /** SO_REUSEPORT, so each thread can own a listener on the same port. Default false. */
  reusePort?: boolean;
}

export interface AcceptOptions {
  /** Set TCP_NODELAY on the new socket. Default true. */
  noDelay?: boolean;
}

export type ShutdownHow = 'read' | 'write' | 'both';
const SHUTDOWN_HOW: Record<ShutdownHow, number> = { read: 0, write: 1, both: 2 };

export const DEFAULT_BACKLOG = 511;

function assertHost(host: unknown): asserts host is string {
  assertString('host', host);
  if (isIP(host) === 0) {
    const error = new TypeError(`host must be a numeric IPv4 or IPv6 address, got '${host}'`) as TypeError & { code: string };
    error.code = 'ERR_INVALID_ARG_VALUE';
    throw error;
  }
}

/** sun_path's 108 bytes less the NUL that ends the path. */
export const UNIX_PATH_MAX = 107;

/**
 * A Unix socket path the kernel takes as given: not empty, no NUL (an
 * abstract address is not offered), at most UNIX_PATH_MAX bytes. Node 20
 * cuts a longer path short and binds the wrong file; it is refused here.
 */
export function assertUnixPath(path: unknown): asserts path is string {
  assertString('path', path);
  const bytes = Buffer.byteLength(path);
  let problem: string | undefined;
  if (bytes === 0) problem = 'path must not be empty';
  else if (path.includes('\0')) problem = 'path must not contain NUL bytes';
  else if (bytes > UNIX_PATH_MAX) problem = `path must be at most ${UNIX_PATH_MAX} bytes (sun_path), got ${bytes}: '${path}'`;
  if (problem === undefined) return;
  const error = new RangeError(problem) as RangeError & { code: string };
  error.code = 'ERR_INVALID_ARG_VALUE';
  throw error;
}

function assertPort(port: unknown): asserts port is number {
  assertInteger('port', port, 0, 65535);
}

/** Checks [offset, offset + length) lies inside `bytes`; returns length. */
function byteRange(bytes: unknown, offset: unknown, length: unknown): number {
  assertBytes('buffer', bytes);
  assertInteger('offset', offset, 0, bytes.length);
  const size = length === undefined ? bytes.length - offset : length;
  assertInteger('length', size, 0, bytes.length - offset);
  return size;
}

/** Null for EAGAIN, the count for success; throws anything else. */
function transferred(result: number, syscall: string, fd: number): number | null {
  if (result >= 0) return result;
  if (result === -EAGAIN) return null;
  throw systemError(result, syscall, { fd });
}

/** Opens a TCP listening socket on a numeric address. Returns its fd. */
export function listen(host: string, port: number, options: ListenOptions = {}): number {
  assertHost(host);
  assertPort(port);
  const backlog = checkedBacklog(options);
  const reusePort = options.reusePort ?? false;
  assertBoolean('options.reusePort', reusePort);
  const flags = reusePort ? native.LISTEN_REUSEPORT : 0;
  return check(native.listen(host, port, backlog, flags), 'listen', { info: `${host}:${port}` });
}

/**
 * Opens a Unix domain (AF_UNIX) listening socket, creating the socket file
 * at `path`. Returns its fd. EADDRINUSE when the path exists, even a stale
 * socket nobody listens on (as node:net: removing it is the caller's call).
 * Closing the fd leaves the file; Server removes it when it stops listening.
 * `options.reusePort` does not apply and is ignored.
 */
export function listenUnix(path: string, options: ListenOptions = {}): number {
  assertUnixPath(path);
  return check(native.listenUnix(path, checkedBacklog(options)), 'listen', { info: path });
}

function checkedBacklog(options: ListenOptions): number {
  assertObject('options', options);
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  assertInteger('options.backlog', backlog, 1, 65535);
  return backlog;
}

/**
 * Starts a TCP connection and returns its fd at once. The socket turns
 * writable when connected, or reports the failure (ECONNREFUSED...) as an
 * error event.
 */
export function connect(host: string, port: number): number {
  assertHost(host);
  assertPort(port);
  return check(native.connect(host, port), 'connect', { info: `${host}:${port}` });
}

/**
 * Starts a connection to the Unix domain socket at `path` and returns its fd
 * (a path the kernel cannot take is refused as listenUnix() refuses it). It
 * connects at once or fails at once, and is then read as connect()'s:
 * writable when connected, the failure in SO_ERROR.
 */
export function connectUnix(path: string): number {
  assertUnixPath(path);
  return check(native.connectUnix(path), 'connect', { info: path });
}

/** Accepts one pending connection; null when none is pending. */
export function accept(fd: number, options: AcceptOptions = {}): number | null {
  assertFd(fd);
  assertObject('options', options);
  const noDelay = options.noDelay ?? true;
  assertBoolean('options.noDelay', noDelay);
  return transferred(native.accept(fd, noDelay ? native.ACCEPT_NODELAY : 0), 'accept4', fd);
}

/**
 * Reads into `buffer[offset, offset + length)`. Returns the bytes read, 0 at
 * end of stream, or null when nothing is available yet.
 */
export function read(fd: number, buffer: Uint8Array, offset = 0, length?: number): number | null {
  assertFd(fd);
  return readUnchecked(fd, buffer, offset, byteRange(buffer, offset, length));
}

/** Writes from `buffer[offset, offset + length)`. Returns the bytes written (maybe fewer), or null when the socket buffer is full. */
export function write(fd: number, buffer: Uint8Array, offset = 0, length?: number): number | null {
  assertFd(fd);
  return writeUnchecked(fd, buffer, offset, byteRange(buffer, offset, length));
}

/**
 * Writes several buffers with one system call (at most `WRITEV_MAX` of
 * them; the rest wait for the next call). Returns the bytes written, or
 * null when the socket buffer is full.
 */
export function writev(fd: number, buffers: readonly Uint8Array[]): number | null {
  assertFd(fd);
  if (!Array.isArray(buffers)) throw new TypeError('buffers must be an array of Uint8Array');
  for (const buffer of buffers) assertBytes('buffers[i]', buffer);
  return writevUnchecked(fd, buffers);
}

export function shutdown(fd: number, how: ShutdownHow = 'write'): void {
  assertFd(fd);
  assertOneOf('how', how, Object.keys(SHUTDOWN_HOW) as ShutdownHow[]);
  check(native.shutdown(fd, SHUTDOWN_HOW[how]), 'shutdown', { fd });
}

export function close(fd: number): void {
  assertFd(fd);
  check(native.close(fd), 'close', { fd });
}

/** The local port a socket is bound to (the one picked for port 0). */
export function localPort(fd: number): number {
  assertFd(fd);
  return check(native.localPort(fd), 'getsockname', { fd });
}

/** A socket's address: node:net's names, as `socket.address()` gives them. */
export interface SocketAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** The address the socket is bound to (getsockname); null for a Unix domain socket, which node:net gives none for. */
export function address(fd: number): SocketAddress | null {
  assertFd(fd);
  return addressUnchecked(fd, false);
}

/** The address of the socket's peer (getpeername; ENOTCONN once it is gone); null for a Unix domain socket. */
export function peerAddress(fd: number): SocketAddress | null {
  assertFd(fd);
  return addressUnchecked(fd, true);
}

/** TCP_NODELAY: send small writes at once rather than coalescing them (Nagle's algorithm off). */
export function setNoDelay(fd: number, noDelay = true): void {
  assertFd(fd);
  assertBoolean('noDelay', noDelay);
  check(native.setNoDelay(fd, noDelay ? 1 : 0), 'setsockopt', { fd });
}

/**
 * SO_KEEPALIVE, and with it TCP_KEEPIDLE: the idle time before the first
 * probe, in whole seconds of `initialDelayMs` (0 keeps the system's), as
 * node:net's setKeepAlive() takes it.
 */
export function setKeepAlive(fd: number, enable = false, initialDelayMs = 0): void {
  assertFd(fd);
  assertBoolean('enable', enable);
  assertInteger('initialDelayMs', initialDelayMs, 0, 0x7fffffff);
  check(native.setKeepAlive(fd, enable ? 1 : 0, Math.floor(initialDelayMs / 1000)), 'setsockopt', { fd });
}

/** What setNoDelay() and setKeepAlive() set, read back (getsockopt). */
export function tcpOptions(fd: number): { noDelay: boolean; keepAlive: boolean; keepAliveIdleSeconds: number } {
  assertFd(fd);
  const result = native.tcpOptions(fd);
  if (typeof result === 'number') throw systemError(result, 'getsockopt', { fd });
  return { noDelay: result[0] !== 0, keepAlive: result[1] !== 0, keepAliveIdleSeconds: result[2] };
}

/** The socket's pending error (SO_ERROR), or null when there is none. Reading it clears it. */
export function socketError(fd: number): SystemError | null {
  assertFd(fd);
  const error = check(native.socketError(fd), 'getsockopt', { fd });
  return error === 0 ? null : systemError(-error, 'getsockopt', { fd });
}

/** The checked socket calls, as the package exports them: `sockets.listen(...)`. */
export const sockets = Object.freeze({
  listen,
  listenUnix,
  connect,
  connectUnix,
  accept,
  read,
  write,
  writev,
  shutdown,
  close,
  localPort,
  socketError,
  address,
  peerAddress,
  setNoDelay,
  setKeepAlive,
  tcpOptions,
});
export type Sockets = typeof sockets;

// ---- the unchecked rooms: for the library's own hot paths ----------------------------

/** read() for a caller that knows fd is a socket and the range lies inside `buffer`. */
export function readUnchecked(fd: number, buffer: Uint8Array, offset: number, length: number): number | null {
  return transferred(native.read(fd, buffer, offset, length), 'read', fd);
}

/** write() for a caller that knows fd is a socket and the range lies inside `buffer`. */
export function writeUnchecked(fd: number, buffer: Uint8Array, offset: number, length: number): number | null {
  return transferred(native.write(fd, buffer, offset, length), 'write', fd);
}

/** writev() for a caller that knows fd is a socket and `buffers` an array of Uint8Arrays. */
export function writevUnchecked(fd: number, buffers: readonly Uint8Array[]): number | null {
  return transferred(native.writev(fd, buffers), 'writev', fd);
}

/** address() or peerAddress() for a caller that knows fd is a socket; throws what getsockname/getpeername say. */
export function addressUnchecked(fd: number, peer: boolean): SocketAddress | null {
  const result = native.address(fd, peer ? 1 : 0);
  if (typeof result === 'number') throw systemError(result, peer ? 'getpeername' : 'getsockname', { fd });
  const [address, port, family] = result;
  if (family === native.AF_INET) return { address, port, family: 'IPv4' };
  if (family === native.AF_INET6) return { address, port, family: 'IPv6' };
  return null;
}

// ---- what this module was ------------------------------------------------------------

/**
 * @deprecated Use `sockets`, the same calls as plain functions:
 * `sockets.read(fd, buffer)` for `new SocketManager().read(fd, buffer)`.
 * SocketManager held no state; an instance's methods are those functions.
 */
export class SocketManager {}
// Its methods' types, declared by merging with the class.
export interface SocketManager extends Sockets {}
Object.assign(SocketManager.prototype, sockets);

/** How many buffers one `writev` call takes. */
export const WRITEV_MAX: number = native.WRITEV_MAX;
