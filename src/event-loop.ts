// EventLoop: the host side of the loop. One turn is three crossings whatever
// the batch size: the native wait fills the events region, the wasm core turns
// events into records, and one JS pass calls the handlers the records name.
//
// Nothing is allocated per event on that path: records are read from an
// Int32Array over the core's memory, handlers are found by fd in an array.
import { constants as osConstants } from 'node:os';

import { createCore, type Core, type CoreExports } from './core.js';
import {
  assertBoolean,
  assertFd,
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertOptionalFunction,
  check,
  rangeError,
  systemError,
  WasmloopError,
  type SystemError,
} from './errors.js';
import { native } from './native.js';

const { EAGAIN, EBUSY, EEXIST, ENOENT, ECONNABORTED, EPROTO, EPERM, EINTR } = osConstants.errno;

/** The kernel interfaces a loop can wait with. */
export type Backend = 'epoll';
export const BACKENDS: readonly Backend[] = ['epoll'];

export type Trigger = 'level' | 'edge';

export interface EventLoopOptions {
  /** How the loop waits for readiness. Default `'epoll'`. */
  backend?: Backend;
  /**
   * The most events one wait returns (epoll's `maxevents`): the batch size.
   * Default 1024.
   */
  maxEvents?: number;
  /** One more than the highest fd the loop can register. Default 65536. */
  maxFds?: number;
}

/**
 * libuv's batch size (1024 events, 12 KiB of kernel records), taken as the
 * starting point; not yet tuned on this project's own benchmarks.
 */
export const DEFAULT_MAX_EVENTS = 1024;
export const MAX_EVENTS_LIMIT = 65536;
/** 16 bytes of registry per fd, so 1 MiB; a common RLIMIT_NOFILE hard limit. */
export const DEFAULT_MAX_FDS = 65536;
/** The kernel's default `nr_open`: no process can hold an fd above it. */
export const MAX_FDS_LIMIT = 1 << 20;
/**
 * Accepts per readiness event of a listener. Bounded so a connect storm cannot
 * starve the connections already open; the listener is level-triggered, so
 * whatever is left is accepted on the next turn. A bound, not a tuned figure
 * (Redis uses 1000): 128 connections are 128 accept4 calls, about 0.15 ms of
 * system time at the ~1.1 µs per call measured here.
 */
export const DEFAULT_ACCEPTS_PER_EVENT = 128;

/** Handlers for a client socket. Each receives the fd that is ready. */
export interface ClientHandlers {
  /** The socket is readable: data, or EOF (a read returning 0). */
  read?(fd: number): void;
  /** The socket is writable. Called only while write interest is on. */
  write?(fd: number): void;
  /**
   * The peer hung up. Called after `read` for the same event, so data the
   * peer sent before closing is read first. With `final` false the peer only
   * closed its sending side: the socket stays open for writing and the loop
   * stops watching it for reads. With `final` true the connection is gone
   * both ways: the loop closes the socket after this call, unless the
   * handler removed it already.
   */
  hangup?(fd: number, final: boolean): void;
  /**
   * The socket failed (`EPOLLERR`); `error.code` is its `SO_ERROR`, such as
   * `'ECONNREFUSED'` or `'ECONNRESET'`. The loop then closes the socket,
   * unless this handler removed it already.
   */
  error?(fd: number, error: SystemError): void;
}

export interface ClientOptions {
  /** Watch for readability. Default: true when a `read` handler is given. */
  readable?: boolean;
  /** Watch for writability. Default false: turn it on while output is queued. */
  writable?: boolean;
  /** Level- or edge-triggered notification. Default `'level'`. */
  trigger?: Trigger;
}

export interface Interest {
  readable?: boolean;
  writable?: boolean;
}

/** Called with each accepted connection (non-blocking, close-on-exec). */
export type AcceptHandler = (clientFd: number, serverFd: number) => void;

export interface ServerSocketOptions {
  /**
   * Called when accept fails for a reason other than a connection that
   * vanished before it was accepted (which is skipped): EMFILE, ENFILE,
   * ENOBUFS... Without it, the error is thrown out of `runOnce()`/`run()`.
   */
  onError?: (error: SystemError, serverFd: number) => void;
  /** Accepts per readiness event. Default 128. */
  acceptsPerEvent?: number;
  /** Set TCP_NODELAY on accepted connections. Default true. */
  noDelay?: boolean;
}

export interface RemoveOptions {
  /** Close the fd after unregistering it. Default true. */
  close?: boolean;
}

interface ServerEntry {
  readonly onAccept: AcceptHandler;
  readonly onError: ServerSocketOptions['onError'];
  readonly acceptsPerEvent: number;
  readonly acceptFlags: number;
}

/** accept() errors that concern one connection, not the listener: skip it. */
const TRANSIENT_ACCEPT_ERRORS = new Set([-ECONNABORTED, -EPROTO, -EPERM, -EINTR]);

const SYSCALLS: Record<Backend, { wait: string; control: string }> = {
  epoll: { wait: 'epoll_wait', control: 'epoll_ctl' },
};

export class EventLoop {
  readonly backend: Backend;
  readonly maxEvents: number;
  readonly maxFds: number;

  readonly #core: Core;
  readonly #wasm: CoreExports;
  readonly #id: number;
  readonly #syscalls: { wait: string; control: string };
  readonly #clients: (ClientHandlers | undefined)[] = [];
  readonly #servers: (ServerEntry | undefined)[] = [];
  // Constants read once from the core.
  readonly #k: {
    dead: number; accept: number; read: number; write: number; hangup: number; error: number; node: number;
    server: number; client: number; nodeRole: number;
    wantRead: number; wantWrite: number; edge: number;
    errExists: number;
    epollHup: number;
  };

  #closed = false;
  #running = false;
  #dispatching = false;
  #stopRequested = false;
  #closeRequested = false;
  #nodeWoke = false;
  #nodeFd = -1;
  #nodeDeadline = Infinity;
  #settleRun: (failure: { error: unknown } | undefined) => void = () => {};

  constructor(options: EventLoopOptions = {}) {
    assertObject('options', options);
    const backend = options.backend ?? 'epoll';
    assertOneOf('options.backend', backend, BACKENDS);
    const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    assertInteger('options.maxEvents', maxEvents, 1, MAX_EVENTS_LIMIT);
    const maxFds = options.maxFds ?? DEFAULT_MAX_FDS;
    assertInteger('options.maxFds', maxFds, 1, MAX_FDS_LIMIT);
    this.backend = backend;
    this.maxEvents = maxEvents;
    this.maxFds = maxFds;
    this.#syscalls = SYSCALLS[backend];

    this.#core = createCore(maxFds, maxEvents, native.EVENT_SIZE, native.EVENT_DATA_OFFSET);
    const w = (this.#wasm = this.#core.exports);
    const v = (g: WebAssembly.Global): number => g.value as number;
    this.#k = {
      dead: v(w.KIND_DEAD), accept: v(w.KIND_ACCEPT), read: v(w.KIND_READ), write: v(w.KIND_WRITE),
      hangup: v(w.KIND_HANGUP), error: v(w.KIND_ERROR), node: v(w.KIND_NODE),
      server: v(w.ROLE_SERVER), client: v(w.ROLE_CLIENT), nodeRole: v(w.ROLE_NODE),
      wantRead: v(w.WANT_READ), wantWrite: v(w.WANT_WRITE), edge: v(w.EDGE_TRIGGERED),
      errExists: v(w.ERR_EXISTS),
      epollHup: v(w.EPOLLHUP),
    };
    this.#id = check(
      native.backendCreate(backend, this.#core.memory.buffer, this.#core.eventsOffset, maxEvents),
      backend === 'epoll' ? 'epoll_create1' : backend,
    );
  }

  /** How many fds are registered. */
  get size(): number {
    return this.#wasm.registeredCount() - (this.#running ? 1 : 0);
  }

  get isRunning(): boolean {
    return this.#running;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Whether `fd` is registered with this loop. */
  isRegistered(fd: number): boolean {
    this.#assertFd(fd);
    this.#assertUsable('isRegistered');
    const role = this.#wasm.roleOf(fd);
    return role === this.#k.server || role === this.#k.client;
  }

  /**
   * Watches a listening socket. On each readiness event the loop accepts up to
   * `acceptsPerEvent` connections and hands each to `onAccept`. A connection
   * that `onAccept` neither registers nor keeps (it threw) is closed.
   */
  addServerSocket(fd: number, onAccept: AcceptHandler, options: ServerSocketOptions = {}): void {
    this.#assertFd(fd);
    assertFunction('onAccept', onAccept);
    assertObject('options', options);
    assertOptionalFunction('options.onError', options.onError);
    const acceptsPerEvent = options.acceptsPerEvent ?? DEFAULT_ACCEPTS_PER_EVENT;
    assertInteger('options.acceptsPerEvent', acceptsPerEvent, 1, 1 << 20);
    const noDelay = options.noDelay ?? true;
    assertBoolean('options.noDelay', noDelay);
    this.#assertUsable('addServerSocket');
    this.#register(fd, this.#k.server, 0);
    this.#servers[fd] = {
      onAccept,
      onError: options.onError,
      acceptsPerEvent,
      acceptFlags: noDelay ? native.ACCEPT_NODELAY : 0,
    };
  }

  /** Watches a connected socket, calling `handlers` as it turns ready. */
  addClientSocket(fd: number, handlers: ClientHandlers, options: ClientOptions = {}): void {
    this.#assertFd(fd);
    assertObject('handlers', handlers);
    for (const name of ['read', 'write', 'hangup', 'error'] as const) {
      assertOptionalFunction(`handlers.${name}`, handlers[name]);
    }
    assertObject('options', options);
    const trigger = options.trigger ?? 'level';
    assertOneOf('options.trigger', trigger, ['level', 'edge'] as const);
    const flags = this.#interestFlags(handlers, {
      readable: options.readable ?? handlers.read !== undefined,
      writable: options.writable ?? false,
    }, trigger === 'edge' ? this.#k.edge : 0);
    this.#assertUsable('addClientSocket');
    this.#register(fd, this.#k.client, flags);
    this.#clients[fd] = handlers;
  }

  /**
   * Turns read or write interest on or off for a client socket. Costs one
   * system call only when the interest really changes.
   */
  setInterest(fd: number, interest: Interest): void {
    this.#assertFd(fd);
    assertObject('interest', interest);
    this.#assertUsable('setInterest');
    const handlers = this.#clientHandlers(fd, 'setInterest');
    const old = this.#wasm.flagsOf(fd);
    const flags = this.#interestFlags(handlers, {
      readable: interest.readable ?? (old & this.#k.wantRead) !== 0,
      writable: interest.writable ?? (old & this.#k.wantWrite) !== 0,
    }, old & this.#k.edge);
    this.#changeFlags(fd, flags, old);
  }

  /**
   * Stops watching `fd` and closes it (unless `options.close` is false).
   * Events for it still pending in the current batch are dropped.
   */
  removeSocket(fd: number, options: RemoveOptions = {}): void {
    this.#assertFd(fd);
    assertObject('options', options);
    const close = options.close ?? true;
    assertBoolean('options.close', close);
    this.#assertUsable('removeSocket');
    if (!this.isRegistered(fd)) {
      throw systemError(-ENOENT, this.#syscalls.control, { fd, info: `fd ${fd} is not registered with this loop` });
    }
    this.#forget(fd);
    const removed = native.backendRemove(this.#id, fd);
    // EBADF or ENOENT here means the fd was closed behind the loop's back and
    // its number may already belong to someone else: do not close it.
    if (removed < 0) throw systemError(removed, this.#syscalls.control, { fd });
    if (close) check(native.close(fd), 'close', { fd });
  }

  /**
   * One wait and one dispatch: waits up to `timeoutMs` (-1: until an event;
   * 0: poll) and calls the handlers of every event that fired. Returns the
   * number of events the kernel reported. If handlers throw, the rest of the
   * batch still runs and the first error is thrown afterwards.
   */
  runOnce(timeoutMs = -1): number {
    assertInteger('timeoutMs', timeoutMs, -1, 0x7fffffff);
    this.#assertUsable('runOnce');
    if (this.#running) throw new WasmloopError('ERR_LOOP_RUNNING', 'runOnce() cannot be called while run() is active');
    return this.#turn(timeoutMs);
  }

  /**
   * Runs until `stop()` is called. The returned promise settles when the loop
   * has stopped: it rejects with the first error a handler threw.
   *
   * Node keeps working meanwhile. Once per iteration of Node's own loop, right
   * where Node would block in its poll, the loop blocks in its own wait
   * instead: it also watches Node's backend fd and waits no longer than
   * Node's next timer, then hands the thread back whenever Node has I/O, a
   * due timer or an immediate. So Node timers, signal handlers, sockets and
   * worker messages in the same process go on running. One loop per thread
   * can be in `run()` at a time.
   */
  run(): Promise<void> {
    this.#assertUsable('run');
    if (this.#running) throw new WasmloopError('ERR_LOOP_RUNNING', 'run() is already active');
    const nodeFd = native.nodeBackendFd();
    if (nodeFd >= this.maxFds) {
      throw rangeError(`Node's event loop fd (${nodeFd}) is beyond maxFds (${this.maxFds}); raise maxFds`);
    }
    this.#register(nodeFd, this.#k.nodeRole, 0);
    const hooked = native.nodeHookStart(this.#onNodeTurn);
    if (hooked < 0) {
      this.#wasm.unregister(nodeFd);
      native.backendRemove(this.#id, nodeFd);
      if (hooked === -EBUSY) throw new WasmloopError('ERR_RUN_ACTIVE', "another loop's run() is active on this thread");
      throw systemError(hooked, 'uv_prepare_start');
    }
    this.#nodeFd = nodeFd;
    this.#running = true;
    this.#stopRequested = false;
    return new Promise((resolve, reject) => {
      this.#settleRun = (failure) => (failure ? reject(failure.error) : resolve());
    });
  }

  /**
   * One turn of `run()`, called from Node's loop where it would otherwise
   * block: `first` on entering a Node iteration. Returns true to be called
   * again (after Node has run ticks and microtasks), false to hand the
   * thread back to Node.
   */
  readonly #onNodeTurn = (first: boolean): boolean => {
    try {
      if (this.#stopRequested) return this.#finishRun(undefined);
      if (first) {
        const timeout = native.nodeBackendTimeout();
        this.#nodeDeadline = timeout < 0 ? Infinity : performance.now() + timeout;
      } else if (native.nodeBackendTimeout() === 0) {
        // A handler, or a microtask after it, queued Node work (an
        // immediate, a closing handle): let Node run its iteration.
        return false;
      }
      const deadline = this.#nodeDeadline;
      this.#turn(deadline === Infinity ? -1 : Math.max(0, Math.ceil(deadline - performance.now())));
      if (this.#stopRequested) return this.#finishRun(undefined);
      if (this.#nodeWoke || performance.now() >= deadline) {
        // Node has I/O ready or a timer due.
        this.#nodeWoke = false;
        return false;
      }
      return true;
    } catch (error) {
      return this.#finishRun({ error });
    }
  };

  /** Ends run(): detaches from Node, settles the promise. Returns false (for #onNodeTurn). */
  #finishRun(failure: { error: unknown } | undefined): false {
    native.nodeHookStop();
    this.#wasm.unregister(this.#nodeFd);
    native.backendRemove(this.#id, this.#nodeFd);
    this.#running = false;
    this.#nodeWoke = false;
    if (this.#closeRequested) {
      try {
        this.#closeNow();
      } catch (error) {
        failure ??= { error };
      }
    }
    this.#settleRun(failure);
    return false;
  }

  /** Asks `run()` to return after the current turn. Does nothing when not running. */
  stop(): void {
    if (this.#running) this.#stopRequested = true;
  }

  /**
   * Unregisters and closes every socket the loop holds, then the loop itself.
   * Called while `run()` is active, it stops the loop first. Closing twice
   * does nothing.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#closeRequested = true;
      this.#stopRequested = true;
      return;
    }
    this.#closeNow();
  }

  // ---- internals -----------------------------------------------------------

  #turn(timeoutMs: number): number {
    const count = native.backendWait(this.#id, timeoutMs);
    if (count < 0) throw systemError(count, this.#syscalls.wait);
    if (count > 0) this.#pass(this.#wasm.dispatch(count));
    return count;
  }

  /** The one JS pass over a batch of records. */
  #pass(recordCount: number): void {
    const records = this.#core.records;
    const words = this.#core.recordWords;
    const k = this.#k;
    let failure: { error: unknown } | undefined;
    this.#dispatching = true;
    try {
      for (let i = 0, at = 0; i < recordCount; i++, at += words) {
        // Read the kind just before acting on it: an earlier handler in this
        // batch may have removed this fd, and the core then marked it dead.
        const kind = records[at];
        if (kind === k.dead) continue;
        const fd = records[at + 1];
        try {
          if (kind === k.read) this.#clients[fd]!.read!(fd);
          else if (kind === k.write) this.#clients[fd]!.write!(fd);
          else if (kind === k.accept) this.#accept(fd);
          else if (kind === k.node) this.#nodeWoke = true;
          else this.#finish(fd, kind, records[at + 2], records[at + 3]);
        } catch (error) {
          failure ??= { error };
        }
      }
    } finally {
      this.#dispatching = false;
    }
    if (failure) throw failure.error;
  }

  /** Hang-up and error: call the handler, then settle the socket's fate. */
  #finish(fd: number, kind: number, generation: number, bits: number): void {
    const handlers = this.#clients[fd]!;
    let dead = (bits & this.#k.epollHup) !== 0;
    try {
      if (kind === this.#k.error) {
        dead = true;
        const soError = native.socketError(fd);
        // SO_ERROR is cleared by the first call that reports it: a read in
        // this same batch may have taken it, leaving a plain hang-up.
        if (soError === 0) handlers.hangup?.(fd, true);
        else handlers.error?.(fd, systemError(soError > 0 ? -soError : soError, 'getsockopt', { fd }));
      } else {
        handlers.hangup?.(fd, dead);
      }
    } finally {
      // Unless the handler already dealt with it, a dead connection is closed
      // and a half-closed one stops being watched for reads (a level-triggered
      // hang-up would otherwise be reported on every turn).
      if (this.#wasm.generationOf(fd) === generation && this.#wasm.roleOf(fd) === this.#k.client) {
        if (dead) this.removeSocket(fd);
        else {
          const old = this.#wasm.flagsOf(fd);
          this.#changeFlags(fd, old & ~this.#k.wantRead, old);
        }
      }
    }
  }

  #accept(serverFd: number): void {
    const entry = this.#servers[serverFd]!;
    const generation = this.#wasm.generationOf(serverFd);
    for (let i = 0; i < entry.acceptsPerEvent; i++) {
      const fd = native.accept(serverFd, entry.acceptFlags);
      if (fd < 0) {
        if (fd === -EAGAIN) return;
        if (TRANSIENT_ACCEPT_ERRORS.has(fd)) continue;
        const error = systemError(fd, 'accept4', { fd: serverFd });
        if (entry.onError === undefined) throw error;
        entry.onError(error, serverFd);
        return;
      }
      try {
        entry.onAccept(fd, serverFd);
      } catch (error) {
        if (this.#wasm.roleOf(fd) === 0) native.close(fd);
        throw error;
      }
      // onAccept may have removed the listener itself.
      if (this.#wasm.generationOf(serverFd) !== generation || this.#wasm.roleOf(serverFd) !== this.#k.server) return;
    }
  }

  #register(fd: number, role: number, flags: number): void {
    const generation = this.#wasm.register(fd, role, flags);
    if (generation === this.#k.errExists) {
      throw systemError(-EEXIST, this.#syscalls.control, { fd, info: `fd ${fd} is already registered with this loop` });
    }
    if (generation < 0) throw new WasmloopError('ERR_INTERNAL', `core refused fd ${fd} (code ${generation})`);
    const added = native.backendAdd(this.#id, fd, this.#wasm.maskOf(fd) >>> 0, generation);
    if (added < 0) {
      this.#wasm.unregister(fd);
      throw systemError(added, this.#syscalls.control, { fd });
    }
  }

  #forget(fd: number): void {
    this.#wasm.unregister(fd);
    this.#clients[fd] = undefined;
    this.#servers[fd] = undefined;
  }

  #changeFlags(fd: number, flags: number, old: number): void {
    if (this.#wasm.setFlags(fd, flags) !== 1) return;
    const modified = native.backendModify(this.#id, fd, this.#wasm.maskOf(fd) >>> 0, this.#wasm.generationOf(fd));
    if (modified < 0) {
      this.#wasm.setFlags(fd, old);
      throw systemError(modified, this.#syscalls.control, { fd });
    }
  }

  #interestFlags(handlers: ClientHandlers, interest: Required<Interest>, trigger: number): number {
    assertBoolean('readable', interest.readable);
    assertBoolean('writable', interest.writable);
    if (interest.readable && handlers.read === undefined) {
      throw new TypeError('read interest needs a read handler');
    }
    if (interest.writable && handlers.write === undefined) {
      throw new TypeError('write interest needs a write handler');
    }
    return (interest.readable ? this.#k.wantRead : 0) | (interest.writable ? this.#k.wantWrite : 0) | trigger;
  }

  #clientHandlers(fd: number, operation: string): ClientHandlers {
    const handlers = this.#clients[fd];
    if (handlers !== undefined) return handlers;
    if (this.#servers[fd] !== undefined) {
      throw new WasmloopError('ERR_NOT_CLIENT_SOCKET', `${operation}: fd ${fd} is a server socket`);
    }
    throw systemError(-ENOENT, this.#syscalls.control, { fd, info: `fd ${fd} is not registered with this loop` });
  }

  /** A non-negative integer below maxFds: the registry has no slot beyond. */
  #assertFd(fd: unknown): asserts fd is number {
    assertFd(fd);
    if (fd >= this.maxFds) throw rangeError(`fd ${fd} is beyond the registry's capacity (maxFds ${this.maxFds})`);
  }

  #assertUsable(operation: string): void {
    if (this.#closed) throw new WasmloopError('ERR_LOOP_CLOSED', `${operation}: the loop is closed`);
    if (this.#dispatching && (operation === 'runOnce' || operation === 'run')) {
      throw new WasmloopError('ERR_LOOP_REENTERED', `${operation}() cannot be called from a loop callback`);
    }
  }

  #closeNow(): void {
    this.#closed = true;
    let firstError: unknown;
    const release = (fd: number): void => {
      this.#forget(fd);
      const removed = native.backendRemove(this.#id, fd);
      if (removed === 0) native.close(fd);
      else firstError ??= systemError(removed, this.#syscalls.control, { fd });
    };
    this.#clients.forEach((handlers, fd) => handlers && release(fd));
    this.#servers.forEach((entry, fd) => entry && release(fd));
    const freed = native.backendFree(this.#id);
    if (freed < 0) firstError ??= systemError(freed, 'close');
    if (firstError !== undefined) throw firstError;
  }
}
