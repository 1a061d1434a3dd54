// connect(): an outbound connection on the loop, driven as a served one is.
//
// The Connection exists at once; what is written before it connects is
// queued (bounded by the high watermark like any queue: write() returns
// false past it) and sent once connected. A host name goes through
// node:dns's lookup first, off the loop; a numeric address or a Unix socket
// path connects at once. The socket is registered for writability only, so
// no read can run before it is connected: the driver reads the outcome from
// SO_ERROR when the socket turns writable or fails (connection-driver.ts).
// A name that resolves to several addresses is tried address by address,
// IPv4 first, as long as each connect fails (refused, unreachable): the
// next one gets a new socket on the same Connection, so nothing is seen of
// the attempts but the last one's error if all fail.
// A refused, unresolved or timed-out connect is the connection's 'close'
// (and its 'error', and its protocol's close hook) with the error's code:
// ECONNREFUSED, ENOTFOUND, ETIMEDOUT. It never reaches the loop's 'error'.
//
// The connections of one loop share a driver for each read buffer size (its
// handlers object, its arrays by fd and its read buffer), as a server's share
// its one, so an outbound connection costs what a served one does.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { constants as osConstants } from 'node:os';

import { assertBoolean, assertFunction, assertInteger, assertObject, assertString, systemError, type SystemError } from '../errors.js';
import type { EventLoop } from '../loop/event-loop.js';
import { closedError } from '../loop/state.js';
import { Connection, type CloseReason } from './connection.js';
import { ConnectionDriver } from './connection-driver.js';
import type { ProtocolFactory } from './protocol.js';
import { connectionBuffers } from './server-options.js';
import { connect as connectTcp, connectUnix } from './sockets.js';

/** Where to connect: a host (a name or a numeric address) and port, or a Unix domain socket's path. */
export type ConnectTarget = { host: string; port: number } | { path: string };

export interface ConnectOptions {
  /** Queued bytes at which write() returns false and reading pauses. Default 1 MiB, as a server's. */
  highWaterMark?: number;
  /** Queued bytes at which 'drain' comes and reading resumes. Default a quarter of highWaterMark. */
  lowWaterMark?: number;
  /** The read buffer of the driver this connection shares with the loop's other outbound ones of that size. Default 64 KiB. */
  readBufferSize?: number;
  /** TCP_NODELAY. Default true, as a server's connections have it. */
  noDelay?: boolean;
  /** The longest the connect (name lookup and every address tried included) may take before it closes with ETIMEDOUT; 0: no bound but the kernel's. Default 30 s. */
  timeoutMs?: number;
  /** How a host name is resolved, as node:net's `lookup` option: dns.lookup's signature, called with `{ all: true, verbatim: false }`. Default dns.lookup. */
  lookup?: LookupFunction;
}

/** dns.lookup's shape, as node:net's `lookup` option takes it: with `all` the callback gets every address, else one. */
export type LookupFunction = (
  hostname: string,
  options: { all: true; verbatim: false },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[] | string, family?: number) => void,
) => void;

/**
 * Bounds a connect that the kernel would otherwise retry for about two
 * minutes (net.ipv4.tcp_syn_retries = 6) against a host that never answers.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/**
 * Opens a connection to `target` on `loop`, with the protocol `protocol`
 * makes for it, and returns it at once. 'connect' follows when connected;
 * a failure is its 'close' with the error (see above).
 */
export function connect(loop: EventLoop, target: ConnectTarget, protocol: ProtocolFactory, options: ConnectOptions = {}): Connection {
  assertObject('target', target);
  assertFunction('protocol', protocol);
  assertObject('options', options);
  const { highWaterMark, lowWaterMark, readBufferSize } = connectionBuffers(options);
  const noDelay = options.noDelay ?? true;
  assertBoolean('options.noDelay', noDelay);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  assertInteger('options.timeoutMs', timeoutMs, 0, 0x7fffffff);
  const lookup = options.lookup ?? (dnsLookup as unknown as LookupFunction);
  assertFunction('options.lookup', lookup);
  const open = opener(target);
  if (loop.isClosed) throw closedError('connect');

  const outbound = outboundFor(loop, readBufferSize);
  const connection = new Connection(-1, { loop, limits: { highWaterMark, lowWaterMark }, events: outbound.driver.events }, true);
  outbound.driver.addUnattached(connection, protocol(connection));
  connection.setNoDelay(noDelay);
  if (timeoutMs > 0) outbound.bound(connection, timeoutMs);
  if ('path' in target || isIP(target.host) !== 0) {
    // Failing at once (ENOENT, ECONNREFUSED for a Unix socket): reported
    // from the loop, once the caller has had the chance to listen.
    outbound.open(connection, () => open(undefined), true);
    return connection;
  }
  // IPv4 first, as dns.lookup's `verbatim: false` orders them: a name such as
  // localhost then means the address most servers listen on first.
  lookup(target.host, { all: true, verbatim: false }, (error, found) => {
    if (connection.isClosed) return;
    const addresses = typeof found === 'string' ? [found] : (found ?? []).map((entry) => entry.address);
    if (error !== null) connection.close('error', error as unknown as SystemError);
    else if (addresses.length === 0) connection.close('error', systemError(-osConstants.errno.ENOENT, 'getaddrinfo', { info: `${target.host} resolved to no address` }));
    else outbound.openEach(connection, addresses, open);
  });
  return connection;
}

/** Checks `target`; returns what opens its socket (given the resolved address of a host name). */
function opener(target: ConnectTarget): (address: string | undefined) => number {
  if ('path' in target) {
    assertString('target.path', target.path);
    return () => connectUnix(target.path);
  }
  assertString('target.host', target.host);
  assertInteger('target.port', target.port, 1, 65535);
  return (address) => connectTcp(address ?? target.host, target.port);
}

/** A loop's outbound connections of one read buffer size: their driver and their connect timeouts. */
class Outbound {
  readonly driver: ConnectionDriver;
  /** Each connecting connection's timeout handle, until it connects or closes. */
  readonly #timers = new Map<Connection, number>();

  constructor(readonly loop: EventLoop, readBufferSize: number) {
    // Outbound connections have no idle timeout: the epoch length is unused.
    this.driver = new ConnectionDriver(loop, this, { readBufferSize, level: true, epochMs: DEFAULT_CONNECT_TIMEOUT_MS });
  }

  /** Opens the socket and hands it to the driver; a failure closes the connection (from the loop when `fromLoop`). */
  open(connection: Connection, socket: () => number, fromLoop: boolean): void {
    try {
      this.driver.attach(connection, socket());
    } catch (error) {
      const fail = (): void => connection.close('error', error as SystemError);
      if (fromLoop && !this.loop.isClosed) this.loop.defer(fail, { label: 'connect' });
      else fail();
    }
  }

  /** Addresses still to try for each connection whose name resolved to several, with the opener of a socket to one. */
  readonly #rest = new Map<Connection, { addresses: string[]; open: (address: string) => number }>();

  /** Opens a socket to the first of `addresses` that takes one; the rest are tried as connects fail (connectFailed). */
  openEach(connection: Connection, addresses: string[], open: (address: string) => number): void {
    if (addresses.length > 1) this.#rest.set(connection, { addresses: addresses.slice(1), open });
    this.#attempt(connection, addresses[0]!, open);
  }

  /** One address: its socket, or (failing at once: ENETUNREACH for an IPv6 address without a route) the next address. */
  #attempt(connection: Connection, address: string, open: (address: string) => number): void {
    let fd: number;
    try {
      fd = open(address);
    } catch (error) {
      if (!this.#tryNext(connection)) connection.close('error', error as SystemError);
      return;
    }
    this.open(connection, () => fd, false);
  }

  /** The next address of `connection`, if any is left: true when one is being tried. */
  #tryNext(connection: Connection): boolean {
    const rest = this.#rest.get(connection);
    const address = rest?.addresses.shift();
    if (address === undefined) {
      this.#rest.delete(connection);
      return false;
    }
    if (rest!.addresses.length === 0) this.#rest.delete(connection);
    this.#attempt(connection, address, rest!.open);
    return true;
  }

  connectFailed(connection: Connection, _error: SystemError): boolean {
    if (!this.#rest.has(connection) || this.loop.isClosed) return false;
    this.driver.detach(connection);
    return this.#tryNext(connection);
  }

  /** Closes `connection` with ETIMEDOUT unless it connects within `ms`. Ref'd, as its socket is: a connect in progress (its name lookup included) keeps the process alive. */
  bound(connection: Connection, ms: number): void {
    this.#timers.set(connection, this.loop.timeout(this.#expired, ms, connection));
  }

  readonly #expired = (connection: Connection): void => {
    this.#timers.delete(connection);
    const error = systemError(-osConstants.errno.ETIMEDOUT, 'connect', { info: 'the connection was not established in time (options.timeoutMs)' });
    connection.close('error', error);
  };

  connected(connection: Connection): void {
    this.#rest.delete(connection);
    this.#unbind(connection);
  }

  closed(connection: Connection, _reason: CloseReason): void {
    this.#rest.delete(connection);
    this.#unbind(connection);
  }

  #unbind(connection: Connection): void {
    const timer = this.#timers.get(connection);
    if (timer === undefined) return;
    this.#timers.delete(connection);
    if (!this.loop.isClosed) this.loop.clearTimeout(timer);
  }
}

/** The Outbound of each loop and read buffer size, made on the first connect() with them. */
const outbounds = new WeakMap<EventLoop, Map<number, Outbound>>();

function outboundFor(loop: EventLoop, readBufferSize: number): Outbound {
  let bySize = outbounds.get(loop);
  if (bySize === undefined) outbounds.set(loop, (bySize = new Map()));
  let outbound = bySize.get(readBufferSize);
  if (outbound === undefined) bySize.set(readBufferSize, (outbound = new Outbound(loop, readBufferSize)));
  return outbound;
}
