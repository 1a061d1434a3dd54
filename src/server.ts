// Server: a TCP listener on an EventLoop, its connections, and a protocol.
//
// One handlers object serves every connection (handlers receive the fd), and
// connections are found by fd in an array: accepting a connection allocates
// the Connection and nothing else, and a read allocates one view.
import { Connection, type CloseReason, type Protocol } from './connection.js';
import { assertInteger, assertObject, assertOneOf, assertFunction, assertBoolean, type SystemError } from './errors.js';
import type { ClientHandlers, EventLoop, Trigger } from './event-loop.js';
import { SocketManager, DEFAULT_BACKLOG } from './socket-manager.js';

/** Makes the protocol for a new connection (a shared object is fine when it keeps no state). */
export type ProtocolFactory = (connection: Connection) => Protocol;

export interface ServerOptions {
  /** Numeric IPv4 or IPv6 address. Default `'127.0.0.1'`. */
  host?: string;
  /** 0 picks a free port (see `server.port`). Default 0. */
  port?: number;
  /** Default 511. */
  backlog?: number;
  /** SO_REUSEPORT. Default false. */
  reusePort?: boolean;
  /** How connections are watched. Default `'level'`. */
  trigger?: Trigger;
  /** Queued output (bytes) at which a connection stops reading. Default 1 MiB. */
  highWaterMark?: number;
  /** Queued output (bytes) at which it reads again. Default a quarter of highWaterMark. */
  lowWaterMark?: number;
  /** Bytes per read call. Default 64 KiB. */
  readBufferSize?: number;
  /** Called for accept failures (EMFILE...). The server pauses accepting and goes on either way. */
  onError?: (error: SystemError) => void;
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
}

/** 1 MiB: a slow reader costs at most this much memory before reading stops. */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;
/** 64 KiB, the size libuv offers Node for each socket read; not yet tuned here. */
export const DEFAULT_READ_BUFFER_SIZE = 64 * 1024;
/**
 * Reads per readiness event of a level-triggered connection (16 × 64 KiB =
 * 1 MiB at most), so one busy peer cannot hold the thread; the rest is read
 * next turn. A bound, not a tuned figure. Edge-triggered connections read
 * until drained, since the kernel will not report the rest again.
 */
export const READS_PER_EVENT = 16;
/** How long accepting pauses after EMFILE/ENFILE when no connection closes first. */
export const ACCEPT_PAUSE_MS = 100;

export class Server {
  readonly loop: EventLoop;
  readonly host: string;
  readonly #sockets = new SocketManager();
  readonly #factory: ProtocolFactory;
  readonly #options: Required<Omit<ServerOptions, 'onError' | 'host' | 'port'>>;
  readonly #onError: ServerOptions['onError'];
  readonly #connections: (Connection | undefined)[] = [];
  readonly #protocols: (Protocol | undefined)[] = [];
  readonly #readBuffer: Buffer;
  readonly #handlers: ClientHandlers;
  readonly #stats: ServerStats = { accepted: 0, active: 0, resets: 0, acceptErrors: 0, acceptPauses: 0 };
  #requestedPort: number;
  #listenFd = -1;
  #port = 0;
  #acceptPaused = false;
  #resumeTimer: ReturnType<typeof setTimeout> | undefined;

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
    this.loop = loop;
    this.host = options.host ?? '127.0.0.1';
    this.#requestedPort = options.port ?? 0;
    this.#factory = protocol;
    this.#onError = options.onError;
    this.#options = { backlog, reusePort, trigger, highWaterMark, lowWaterMark, readBufferSize };
    this.#readBuffer = Buffer.allocUnsafe(readBufferSize);
    this.#handlers = { read: this.#read, write: this.#write, hangup: this.#hangup, error: this.#error };
  }

  /** Opens the listener and starts accepting. Returns the port it listens on. */
  listen(): number {
    if (this.#listenFd >= 0) throw new Error('server is already listening');
    const fd = this.#sockets.listen(this.host, this.#requestedPort, {
      backlog: this.#options.backlog,
      reusePort: this.#options.reusePort,
    });
    try {
      this.#port = this.#sockets.localPort(fd);
      this.loop.addServerSocket(fd, this.#accept, { onError: this.#acceptFailed });
    } catch (error) {
      this.#sockets.close(fd);
      throw error;
    }
    this.#listenFd = fd;
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
      this.#accept(fd);
    } catch (error) {
      if (!this.loop.isClosed && this.loop.isRegistered(fd)) this.loop.removeSocket(fd);
      else this.#sockets.close(fd);
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

  /** Each open connection (a snapshot). */
  get connections(): Connection[] {
    return this.#connections.filter((c): c is Connection => c !== undefined);
  }

  /** Stops accepting and closes every connection. Queued output is discarded. */
  close(): void {
    clearTimeout(this.#resumeTimer);
    if (this.#listenFd >= 0) {
      // A registered listener is closed by the loop (by loop.close() already,
      // if that came first); a paused one is not registered, so close it here.
      if (this.#acceptPaused) this.#sockets.close(this.#listenFd);
      else if (!this.loop.isClosed) this.loop.removeSocket(this.#listenFd);
      this.#listenFd = -1;
    }
    for (const connection of this.#connections) connection?.close('server');
  }

  // ---- loop handlers ---------------------------------------------------------

  readonly #accept = (fd: number): void => {
    this.loop.addClientSocket(fd, this.#handlers, { readable: true, writable: false, trigger: this.#options.trigger });
    const connection = new Connection(fd, this.loop, this.#sockets, this.#options, this);
    this.#connections[fd] = connection;
    this.#stats.accepted++;
    this.#stats.active++;
    this.#protocols[fd] = this.#factory(connection);
  };

  readonly #read = (fd: number): void => {
    const connection = this.#connections[fd]!;
    const protocol = this.#protocols[fd]!;
    const buffer = this.#readBuffer;
    const bounded = this.#options.trigger === 'level';
    // Everything the protocol writes in reply to this event goes out in one writev.
    connection.cork();
    try {
      for (let reads = 0; !bounded || reads < READS_PER_EVENT; reads++) {
        // Replies may still point into the read buffer, which is about to be reused.
        if (reads > 0) connection.keepBorrowed();
        let count: number | null;
        try {
          count = this.#sockets.read(fd, buffer);
        } catch (error) {
          connection.close(closeReason(error), error as SystemError);
          return;
        }
        if (count === null) return;
        if (count === 0) {
          this.#peerEnded(connection, protocol);
          return;
        }
        protocol.data(connection, count === buffer.length ? buffer : buffer.subarray(0, count));
        // A short read drained the socket: another read would only say EAGAIN.
        if (count < buffer.length || connection.isClosed || !connection.isReading) return;
      }
    } finally {
      connection.uncork();
    }
  };

  readonly #write = (fd: number): void => {
    this.#connections[fd]!.flush();
  };

  readonly #hangup = (fd: number, final: boolean): void => {
    const connection = this.#connections[fd]!;
    // Gone both ways: nothing queued can be delivered any more.
    if (final) connection.close('end');
    else this.#peerEnded(connection, this.#protocols[fd]!);
  };

  readonly #error = (fd: number, error: SystemError): void => {
    this.#connections[fd]!.close(closeReason(error), error);
  };

  #peerEnded(connection: Connection, protocol: Protocol): void {
    connection.peerEnded();
    if (protocol.end) protocol.end(connection);
    else connection.end();
  }

  /** From Connection: forget it, and resume accepting if fds ran out. */
  closed(connection: Connection, reason: CloseReason): void {
    this.#connections[connection.fd] = undefined;
    this.#protocols[connection.fd] = undefined;
    this.#stats.active--;
    if (reason === 'reset') this.#stats.resets++;
    if (this.#acceptPaused) this.#resumeAccepting();
  }

  readonly #acceptFailed = (error: SystemError): void => {
    this.#stats.acceptErrors++;
    this.#onError?.(error);
    if (error.code === 'EMFILE' || error.code === 'ENFILE' || error.code === 'ENOBUFS' || error.code === 'ENOMEM') {
      this.#pauseAccepting();
    }
  };

  /**
   * Out of fds: the pending connection stays in the kernel's queue and the
   * listener stays readable, so accepting again at once would spin. Stop
   * watching the listener until a connection closes or a short pause passes.
   */
  #pauseAccepting(): void {
    if (this.#acceptPaused || this.#listenFd < 0) return;
    this.#acceptPaused = true;
    this.#stats.acceptPauses++;
    this.loop.removeSocket(this.#listenFd, { close: false });
    this.#resumeTimer = setTimeout(() => this.#resumeAccepting(), ACCEPT_PAUSE_MS);
    this.#resumeTimer.unref();
  }

  #resumeAccepting(): void {
    clearTimeout(this.#resumeTimer);
    if (!this.#acceptPaused || this.#listenFd < 0 || this.loop.isClosed) return;
    this.#acceptPaused = false;
    this.loop.addServerSocket(this.#listenFd, this.#accept, { onError: this.#acceptFailed });
  }
}

function closeReason(error: unknown): CloseReason {
  const code = (error as SystemError).code;
  return code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'error';
}
