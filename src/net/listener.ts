// Where a Server listens, and the listening socket itself: a TCP address
// (numeric, or a host name looked up with node:dns first, as node:net does)
// or a Unix domain socket path, whose file belongs to the listener.
//
// The socket file is node:net's: listening fails with EADDRINUSE while the
// path exists (a stale file from a crashed server too: whether it is safe
// to remove is the user's call), and the file is removed when the listener
// closes. A server that dies without closing leaves it, as node:net does.
//
// Listening is synchronous on a numeric address or a path (listen() returns
// the port and throws what fails, as the library's callers rely on) and
// finishes later for a host name, whose failures become the server's
// 'error', as node:net's listen() reports all of its failures.
import { lookup } from 'node:dns/promises';
import type { EventEmitter } from 'node:events';
import { unlinkSync } from 'node:fs';
import { isIP } from 'node:net';

import { assertFunction, assertString, WasmloopError, type SystemError } from '../errors.js';
import type { EventLoop } from '../loop/event-loop.js';
import { reportErrorUnchecked } from '../loop/internal.js';
import type { AcceptGuard } from './accept-guard.js';
import type { ServerEvents } from './server-options.js';
import { assertUnixPath, sockets } from './sockets.js';

/** What `server.address()` says of a TCP listener, as node:net's `AddressInfo`. */
export interface ListenAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** A TCP address (host maybe a name) or a Unix socket path. */
export type ListenTarget = { readonly host: string; readonly port: number } | { readonly path: string };

/** Validates a server's host, port and path options: `path` excludes the other two. */
export function listenTarget(host: unknown, port: unknown, path: unknown): ListenTarget {
  if (path === undefined) {
    if (host !== undefined) assertString('options.host', host);
    return { host: host ?? '127.0.0.1', port: (port as number | undefined) ?? 0 };
  }
  if (host !== undefined || port !== undefined) {
    const error = new TypeError('options.path excludes options.host and options.port: a server listens on one address') as TypeError & { code: string };
    error.code = 'ERR_INVALID_ARG_VALUE';
    throw error;
  }
  assertUnixPath(path);
  return { path };
}

/** Whether `target` is a host name that must be looked up before listening. */
export function needsLookup(target: ListenTarget): target is { host: string; port: number } {
  return 'host' in target && isIP(target.host) === 0;
}

/**
 * A host's first address from node:dns `lookup()` (the system resolver,
 * /etc/hosts included), as node:net's listen() and the CLI take it. A
 * numeric host is its own address. Rejects with the resolver's error
 * (`code` ENOTFOUND, `syscall` 'getaddrinfo').
 */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  return (await lookup(host)).address;
}

export interface ListenerOptions {
  backlog: number;
  reusePort: boolean;
}

/** An open listening socket: its fd, its address, and for a Unix socket the file to remove. */
export class Listener {
  readonly fd: number;
  readonly address: ListenAddress | string;
  readonly #path: string | undefined;

  /** Binds and listens on a numeric address or a path; throws the SystemError (with `address`, `port`) on failure. */
  constructor(target: ListenTarget, options: ListenerOptions) {
    if ('path' in target) {
      this.fd = withAddress(() => sockets.listenUnix(target.path, { backlog: options.backlog }), target.path);
      this.address = target.path;
      this.#path = target.path;
      return;
    }
    this.fd = withAddress(() => sockets.listen(target.host, target.port, options), target.host, target.port);
    try {
      this.address = tcpAddress(target.host, sockets.localPort(this.fd));
    } catch (error) {
      sockets.close(this.fd);
      throw error;
    }
  }

  get port(): number {
    return typeof this.address === 'string' ? 0 : this.address.port;
  }

  /**
   * Closes the socket and removes its file. A registered listener is
   * closed by the loop (by loop.close() already, if that came first); an
   * unregistered one (paused, or never registered) is closed here.
   */
  close(loop: EventLoop, registered: boolean): void {
    if (!registered) sockets.close(this.fd);
    else if (!loop.isClosed) loop.removeSocket(this.fd);
    if (this.#path === undefined) return;
    try {
      unlinkSync(this.#path);
    } catch {
      // Removed or replaced by someone else already: nothing of ours is left to remove.
    }
  }
}

/** What a server's Listening works with: the server's own parts. */
export interface ListeningParts {
  readonly loop: EventLoop;
  readonly guard: AcceptGuard;
  readonly accept: (fd: number) => void;
  /** The server, which emits 'listening' and 'error'. */
  readonly events: EventEmitter<ServerEvents>;
  readonly options: ListenerOptions;
}

/** A server's listening side: its target, its listener once open, a host name's lookup while one runs. */
export class Listening {
  readonly #target: ListenTarget;
  readonly #parts: ListeningParts;
  #listener: Listener | undefined;
  /** A host name's lookup in flight, while one is: stop() drops it. */
  #lookup: object | undefined;
  #port = 0;
  /** Whether the server shut down: it does not listen again (after close() it may, as node:net's). */
  #stopped = false;

  constructor(target: ListenTarget, parts: ListeningParts) {
    this.#target = target;
    this.#parts = parts;
  }

  /** The port listened on; 0 before listening and for a Unix socket; kept after stop(). */
  get port(): number {
    return this.#port;
  }

  /** The listener's address; null before it is open and after stop(). */
  address(): ListenAddress | string | null {
    return this.#listener?.address ?? null;
  }

  /**
   * Server.listen(): opens the listener and starts accepting; 'listening'
   * follows (on the next tick), and `callback`, if given, is its listener.
   * On a numeric address or a path the listener is open when this returns:
   * it returns the port (0 for a path) and throws what fails. A host name
   * is looked up first: this returns 0 at once, and the lookup's or the
   * bind's failure is emitted as 'error' (see #failed).
   */
  listen(callback: (() => void) | undefined): number {
    if (this.#stopped) throw new WasmloopError('ERR_SERVER_SHUT_DOWN', 'listen: the server is shutting down');
    if (this.#listener !== undefined || this.#lookup !== undefined) throw new WasmloopError('ERR_SERVER_ALREADY_LISTEN', 'listen: the server is already listening');
    if (callback !== undefined) assertFunction('callback', callback);
    const { events } = this.#parts;
    const target = this.#target;
    if (needsLookup(target)) {
      if (callback !== undefined) events.once('listening', callback);
      const lookup = (this.#lookup = {});
      const current = (): boolean => this.#lookup === lookup && (this.#lookup = undefined) === undefined;
      resolveHost(target.host).then(
        (address) => {
          if (!current()) return;
          try {
            this.#open({ host: address, port: target.port });
          } catch (error) {
            this.#failed(error as Error);
            return;
          }
          events.emit('listening');
        },
        (error: Error) => current() && this.#failed(error),
      );
      return 0;
    }
    this.#open(target);
    if (callback !== undefined) events.once('listening', callback);
    process.nextTick(() => this.#listener !== undefined && events.emit('listening'));
    return this.#port;
  }

  /** Closes the listener (removing a Unix socket's file) and drops a lookup in flight; `final` for a shutdown. */
  stop(final: boolean): void {
    this.#stopped ||= final;
    this.#lookup = undefined;
    // A paused listener is not registered with the loop.
    this.#listener?.close(this.#parts.loop, !this.#parts.guard.paused);
    this.#listener = undefined;
  }

  #open(target: ListenTarget): void {
    const { loop, guard, accept, options } = this.#parts;
    const listener = new Listener(target, options);
    try {
      loop.addServerSocket(listener.fd, accept, { onError: guard.failed });
    } catch (error) {
      listener.close(loop, false);
      throw error;
    }
    this.#listener = listener;
    this.#port = listener.port;
    guard.listening(listener.fd);
  }

  /** A later listen's failure: the server's 'error', else the loop's, as a callback's throw; never a crash. */
  #failed(error: Error): void {
    const { events, loop } = this.#parts;
    if (events.listenerCount('error') > 0) events.emit('error', error);
    else if (!loop.isClosed) loop[reportErrorUnchecked](error, 'accept', -1);
    else loop.logger?.error?.({ err: error }, 'wasmloop: listen failed');
  }
}

/**
 * The accept guard's error handler: the server's `onError` option, then its
 * 'error' listeners, if any. An accept failure is logged and the server
 * goes on, so with nobody listening it is no crash (unlike an emitter's
 * 'error' with no listener).
 */
export function acceptErrors(onError: ((error: SystemError) => void) | undefined, events: EventEmitter<ServerEvents>): (error: SystemError) => void {
  return (error) => {
    onError?.(error);
    if (events.listenerCount('error') > 0) events.emit('error', error);
  };
}

/** The address as node:net reports it, IPv6 in its canonical form ('::1' for '0:0::1'). */
function tcpAddress(host: string, port: number): ListenAddress {
  if (isIP(host) === 4) return { address: host, family: 'IPv4', port };
  return { address: new URL(`http://[${host}]/`).hostname.slice(1, -1), family: 'IPv6', port };
}

/** Runs a listen call, giving its error node:net's `address` and `port` properties. */
function withAddress(open: () => number, address: string, port?: number): number {
  try {
    return open();
  } catch (error) {
    const system = error as SystemError & { address?: string; port?: number };
    if (system.syscall !== undefined) {
      system.address = address;
      if (port !== undefined) system.port = port;
    }
    throw error;
  }
}
