// The Server's options, its counters and the defaults of both, with the
// reason for each: what a user reads to configure a server, apart from the
// server's workings (server.ts).
import { assertInteger, type SystemError } from '../errors.js';
import type { Connection } from './connection.js';
import { native } from '../kernel/native.js';
import type { Trigger } from '../loop/registration.js';

export interface ServerOptions {
  /**
   * IPv4 or IPv6 address, or a host name looked up with node:dns when
   * listen() is called (listen() then finishes later: see its doc).
   * Default `'127.0.0.1'`.
   */
  host?: string;
  /** 0 picks a free port (see `server.port`). Default 0. */
  port?: number;
  /**
   * A Unix domain socket path to listen on instead of host and port (which
   * it excludes). The file is created by listen() (EADDRINUSE if the path
   * exists) and removed by close() or shutdown(). At most 107 bytes.
   */
  path?: string;
  /** Default 511. */
  backlog?: number;
  /** SO_REUSEPORT. Default false. Ignored for a Unix socket (`path`). */
  reusePort?: boolean;
  /** How connections are watched. Default `'level'`. */
  trigger?: Trigger;
  /** Queued output (bytes) at which a connection stops reading. Default 1 MiB. */
  highWaterMark?: number;
  /** Queued output (bytes) at which it reads again. Default a quarter of highWaterMark. */
  lowWaterMark?: number;
  /**
   * Connections served at once. The next client is told so in the
   * protocol's words (its factory's `refuse()`) and closed, and accepting
   * goes on. Default: Redis's maxclients, 10,000, lowered to the soft
   * RLIMIT_NOFILE minus 32 fds kept for the listener, the loop and the
   * refusals themselves (Redis keeps 32 too).
   */
  maxConnections?: number;
  /** Bytes per read call. Default 64 KiB. */
  readBufferSize?: number;
  /**
   * A connection with no read and no write progress for this long (ms) is
   * closed (counted in `stats.idleClosed`). 0 turns it off. Default 120 000.
   * Closing comes at most 3/16 of idleTimeoutMs late, never early.
   */
  idleTimeoutMs?: number;
  /**
   * What to do when accept fails for lack of fds (EMFILE, ENFILE).
   * `'pause'` (default): stop watching the listener; pending connections
   * wait in the kernel's queue until a connection closes or a backoff
   * (100 ms doubling to 1.6 s) passes. `'shed'`: libuv's reserve-fd trick;
   * the server keeps one spare fd open, and when out of fds closes it,
   * accepts each pending connection and closes it at once (clients see a
   * clean close instead of waiting), then opens the spare again.
   */
  fdExhaustion?: 'pause' | 'shed';
  /** Called for accept failures (EMFILE...), before the server's 'error'. The server goes on either way. */
  onError?: (error: SystemError) => void;
}

/** The events a Server emits, as node:net's server does. */
export interface ServerEvents {
  /** The listener is open: after listen() returns, or once a host name is looked up. */
  listening: [];
  /** A client was accepted (or adopted) and its protocol made; refused clients are not announced. */
  connection: [connection: Connection];
  /** After close() or shutdown(), once every connection is closed. Emitted once. */
  close: [];
  /** An accept failure, or the failure of a listen() that finished later (a host name's lookup or bind). */
  error: [error: Error];
}

export interface ServerStats {
  /** Connections accepted since listen(). */
  accepted: number;
  /** Connections open now. */
  active: number;
  /** Connections closed by a reset or broken pipe. */
  resets: number;
  /** accept() failures other than a vanished connection. */
  acceptErrors: number;
  /** Times accepting paused for lack of fds (EMFILE, ENFILE). */
  acceptPauses: number;
  /** Connections accepted and closed at once for lack of fds (`fdExhaustion: 'shed'`). */
  acceptShed: number;
  /** Clients turned away because `maxConnections` were open (not counted in `accepted`). */
  refused: number;
  /** Connections ended because their protocol threw (or its data()'s promise rejected). */
  protocolErrors: number;
  /** Connections closed by the idle timeout. */
  idleClosed: number;
  /** Connections still open when a shutdown's deadline passed, closed with their output discarded. */
  shutdownForced: number;
}

/** 1 MiB: a slow reader costs at most this much memory before reading stops. */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;
/** Redis's maxclients: ample for one process, and bounded. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** fds kept out of maxConnections' default, as Redis's CONFIG_MIN_RESERVED_FDS: the listener, the loop's own, and refusals lingering. */
export const RESERVED_FDS = 32;

/** maxConnections' default: DEFAULT_MAX_CONNECTIONS, or fewer when RLIMIT_NOFILE allows fewer. */
export function defaultMaxConnections(): number {
  const limit = native.fdLimit();
  if (limit < 0) return DEFAULT_MAX_CONNECTIONS;
  return Math.max(1, Math.min(DEFAULT_MAX_CONNECTIONS, limit - RESERVED_FDS));
}

/** 64 KiB, the size libuv offers Node for each socket read; not yet tuned here. */
export const DEFAULT_READ_BUFFER_SIZE = 64 * 1024;
/**
 * Reads per readiness event of a level-triggered connection (16 × 64 KiB =
 * 1 MiB at most), so one busy peer cannot hold the thread; the rest is read
 * next turn. A bound, not a tuned figure. Edge-triggered connections read
 * until drained, since the kernel will not report the rest again.
 */
export const READS_PER_EVENT = 16;
/** How long accepting first pauses after EMFILE/ENFILE when no connection closes first. */
export const ACCEPT_PAUSE_MS = 100;
/** The longest pause: repeated failures double the pause up to this. */
export const ACCEPT_PAUSE_MAX_MS = 1600;
/**
 * 120 s, between nginx's keepalive_timeout (75 s) and Node's
 * server.timeout of old (120 s): long enough for any live client.
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/**
 * How long a connection that ended may wait for its peer's EOF, discarding
 * input, before it is closed anyway: ample for in-flight bytes and a FIN
 * on any sane round trip, short enough that a peer that keeps sending
 * cannot hold the fd.
 */
export const LINGER_MS = 2000;
/** How long shutdown() lets queued output drain by default. */
export const DEFAULT_SHUTDOWN_MS = 5000;

/** The options a served and an outbound connection share: its queue's watermarks and its read buffer. */
export interface ConnectionBufferOptions {
  highWaterMark?: number;
  lowWaterMark?: number;
  readBufferSize?: number;
}

/** Checks the watermarks and read buffer size and fills in their defaults (a low watermark of a quarter of the high one). */
export function connectionBuffers(options: ConnectionBufferOptions): Required<ConnectionBufferOptions> {
  const highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  assertInteger('options.highWaterMark', highWaterMark, 1, 2 ** 31 - 1);
  const lowWaterMark = options.lowWaterMark ?? Math.floor(highWaterMark / 4);
  assertInteger('options.lowWaterMark', lowWaterMark, 0, highWaterMark - 1);
  const readBufferSize = options.readBufferSize ?? DEFAULT_READ_BUFFER_SIZE;
  assertInteger('options.readBufferSize', readBufferSize, 1, 1 << 26);
  return { highWaterMark, lowWaterMark, readBufferSize };
}
