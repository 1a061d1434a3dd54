// EventLoop: the host side of the loop. One iteration is three crossings
// whatever the batch size: the native wait fills the events region, the wasm
// core turns events into records (ordered by priority), and one JS pass calls
// the handlers the records name. Then deferred callbacks run.
//
// Nothing is allocated per event on that path: records are read from an
// Int32Array over the core's memory, handlers are found by fd in an array,
// and counting happens in the core.
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';

import { BACKEND_NAMES, NativeBackend, type BackendName, type KernelBackend } from './backend.js';
import { createCore, DEFAULT_MAX_TIMERS, MAX_TIMERS_LIMIT, type Core, type CoreExports } from './core.js';
import { Deferred, DeferredQueue } from './deferred.js';
import {
  assertBoolean,
  assertFd,
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertOptionalFunction,
  assertPositiveNumber,
  assertString,
  check,
  rangeError,
  systemError,
  WasmloopError,
  type SystemError,
} from './errors.js';
import { readMetrics, type LoopMetrics } from './metrics.js';
import { native, type StartHandle } from './native.js';
import { COMMAND, RemoteInbox, type RemoteHandle } from './remote.js';
import type { IntervalOptions, Timer, TimerOptions } from './timer.js';
import { TimerTable } from './timer-table.js';
import { TraceRing, type TraceEntry } from './trace.js';
import { Watcher, type WatchEvent, type WatchHandler, type WatchInterest } from './watcher.js';

const { EAGAIN, EBUSY, EEXIST, ENOENT, ECONNABORTED, EPROTO, EPERM, EINTR } = osConstants.errno;

export type { BackendName } from './backend.js';
export const BACKENDS = BACKEND_NAMES;

export type Trigger = 'level' | 'edge';

export interface EventLoopOptions {
  /**
   * How the loop waits for readiness: `'epoll'` (default), `'poll'` or
   * `'select'` (level-triggered only; select only for fds below 1024), or a
   * KernelBackend such as a MockKernel.
   */
  backend?: BackendName | KernelBackend;
  /**
   * The most events one wait returns (epoll's `maxevents`): the batch size.
   * Default 1024.
   */
  maxEvents?: number;
  /** One more than the highest fd the loop can register. Default 65536. */
  maxFds?: number;
  /** Timers that can be pending at once (24 bytes of wheel each). Default 65536. */
  maxTimers?: number;
  /**
   * The loop's clock, in ms: a function that returns the time, such as a
   * test's virtual clock. Default `performance.now`. The loop never lets its
   * time go backwards: a clock that does is offset so that time stands still
   * and then moves on at the clock's pace.
   */
  clock?: () => number;
  /**
   * I/O callbacks per iteration. The rest of the batch is served next
   * iteration, before any new wait, after timers and deferred callbacks had
   * their turn. Default 4096.
   */
  callbacksPerIteration?: number;
  /** Time (ms) I/O callbacks may take per iteration before the rest waits for the next. Default 50. */
  iterationBudgetMs?: number;
  /**
   * When a wait comes back full (maxEvents events), wait again at once without
   * blocking, up to this many times per iteration: more work is likely
   * ready. Default 8.
   */
  maxRepolls?: number;
  /** Capacity of the deferred queue. Default 65536. */
  maxDeferred?: number;
  /** A callback taking longer (ms) is counted and reported as `'slow'`. Default 100. */
  slowCallbackMs?: number;
  /** Errors thrown by callbacks stop the loop instead of being reported. Default false. */
  fatalErrors?: boolean;
  /**
   * Where the loop logs what helps debug it: callback errors nobody listens
   * for, slow callbacks, budget cut-offs, shutdown steps. Anything with
   * pino's `debug`/`info`/`warn`/`error` methods (`(object, message)`); a
   * missing method is skipped. Default: none, and the loop is silent (but for
   * uncaught callback errors, printed to stderr once each).
   */
  logger?: Logger;
  /**
   * Keep a ring of the last callbacks run (true: 4096 entries, or a number).
   * Default: on with 4096 entries when the environment has WASMLOOP_TRACE=1.
   */
  trace?: boolean | number;
}

/**
 * libuv's batch size (1024 events, 12 KiB of kernel records). Kept: no size
 * beat it outside the noise in `wasmloop bench --guards` (docs/performance.md);
 * small caps only paid for re-polls.
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
 * whatever is left is accepted on the next turn. 128 connections are 128
 * accept4 calls, about 0.15 ms of system time at ~1.1 µs per call. Kept:
 * `wasmloop bench --guards` found no value from 1 to 128 limiting accepts at
 * 100 or 1,000 connections (docs/performance.md).
 */
export const DEFAULT_ACCEPTS_PER_EVENT = 128;
/**
 * I/O callbacks per iteration. `wasmloop bench --guards` (echo, every
 * connection active): at 1,000 connections 256 gave 59k round trips/s
 * (56.6-61.6k), p99 40 ms and timer lateness p99 13 ms, against 26-33k/s,
 * p99 90-144 ms and 45-63 ms for 1024-4096, ranges apart; at 100 connections
 * 256 cut no batch. Smaller bounds cut batches thousands of times for nothing.
 */
export const DEFAULT_CALLBACKS_PER_ITERATION = 256;
/**
 * An iteration's I/O callbacks stop after this long (ms); the rest go next
 * iteration. Kept: smaller budgets did not lower timer lateness in
 * `wasmloop bench --guards`.
 */
export const DEFAULT_ITERATION_BUDGET_MS = 50;
/**
 * Non-blocking re-polls after a full batch. libuv allows 48; after 8 full
 * batches timers are due a turn. `wasmloop bench --guards` saw no re-poll at
 * maxEvents 1024, so the value only matters for small caps.
 */
export const DEFAULT_MAX_REPOLLS = 8;
export const DEFAULT_MAX_DEFERRED = 65536;
export const DEFAULT_SLOW_CALLBACK_MS = 100;
export const DEFAULT_TRACE_ENTRIES = 4096;
/** Priorities go from 0 (served first) to PRIORITY_LOWEST. */
export const PRIORITY_LOWEST = 3;
export const DEFAULT_PRIORITY = 1;

/** pino's interface, or any part of it: each method takes `(object, message)`. */
export interface Logger {
  debug?(object: object, message: string): void;
  info?(object: object, message: string): void;
  warn?(object: object, message: string): void;
  error?(object: object, message: string): void;
}

/** What ran when a callback threw or was slow. */
export interface CallbackContext {
  /** `'read'`, `'write'`, `'hangup'`, `'error'`, `'accept'`, `'watch'`, `'timer'` or `'deferred'`. */
  kind: CallbackKind;
  /** The fd, for I/O callbacks. */
  fd?: number;
  /** The label given when the callback was registered, if any. */
  label?: string;
}

export interface SlowCallback extends CallbackContext {
  durationMs: number;
}

export type CallbackKind = 'accept' | 'read' | 'write' | 'hangup' | 'error' | 'watch' | 'timer' | 'deferred';
export type { MissedTickPolicy, TimerOptions, IntervalOptions } from './timer.js';

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

/** Options every registration takes. */
export interface RegistrationOptions {
  /** 0 (served first) to 3 (last). Default 1. */
  priority?: number;
  /** A name for this fd in errors, slow-callback reports and traces. */
  label?: string;
}

export interface ClientOptions extends RegistrationOptions {
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

export interface ServerSocketOptions extends RegistrationOptions {
  /**
   * Called when accept fails for a reason other than a connection that
   * vanished before it was accepted (which is skipped): EMFILE, ENFILE,
   * ENOBUFS... Without it, the error goes to the loop's `'error'` event.
   */
  onError?: (error: SystemError, serverFd: number) => void;
  /** Accepts per readiness event. Default 128. */
  acceptsPerEvent?: number;
  /** Set TCP_NODELAY on accepted connections. Default true. */
  noDelay?: boolean;
}

export interface WatchOptions extends WatchInterest {
  /** Level- or edge-triggered notification. Default `'level'`. Edge needs the epoll backend. */
  trigger?: Trigger;
  /** Disarm after one event, until `watcher.modify()` re-arms it. Default false. */
  oneshot?: boolean;
  label?: string;
}

export interface DeferOptions {
  /** 0 (run first) to 3. Default 1. */
  priority?: number;
  label?: string;
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

// Callback kinds as small integers, for the trace ring.
const CALLBACK_KINDS: readonly CallbackKind[] = ['accept', 'read', 'write', 'hangup', 'error', 'watch', 'timer', 'deferred'];
const CB = { accept: 0, read: 1, write: 2, hangup: 3, error: 4, watch: 5, timer: 6, deferred: 7 } as const;

/** Distinct uncaught errors printed per loop, at most; then they are only counted. */
const PRINTED_ERRORS_LIMIT = 100;

export interface EventLoopEvents {
  error: [error: unknown, context: CallbackContext];
  slow: [info: SlowCallback];
  /** An fd handed over by `remote.sendFd()`: the listener now owns it. */
  fd: [fd: number];
}

export class EventLoop extends EventEmitter<EventLoopEvents> {
  readonly backend: string;
  readonly maxEvents: number;
  readonly maxFds: number;
  readonly callbacksPerIteration: number;
  readonly iterationBudgetMs: number;
  readonly maxRepolls: number;
  readonly slowCallbackMs: number;
  readonly fatalErrors: boolean;
  readonly maxTimers: number;
  /** The logger given in the options, for code built on the loop (servers) to log through. */
  readonly logger: Logger | undefined;

  readonly #core: Core;
  readonly #wasm: CoreExports;
  readonly #kernel: KernelBackend;
  readonly #clients: (ClientHandlers | undefined)[] = [];
  readonly #servers: (ServerEntry | undefined)[] = [];
  readonly #watchers: (Watcher | undefined)[] = [];
  readonly #labels: (string | undefined)[] = [];
  readonly #deferred: DeferredQueue;
  readonly #trace: TraceRing | undefined;
  readonly #printedErrors = new Set<string>();
  readonly #timerTable: TimerTable;
  readonly #clock: () => number;
  /** Clock readings are offset by this much, so loop time never goes back and starts near 0. */
  #clockOffset: number;
  #lastNow = 0;
  readonly #watcherControl = {
    modify: (watcher: Watcher, interest: WatchInterest): void => this.#modifyWatcher(watcher, interest),
    close: (watcher: Watcher): void => this.#closeWatcher(watcher),
  };
  // Constants read once from the core.
  readonly #k: {
    dead: number; accept: number; read: number; write: number; hangup: number; error: number; node: number;
    server: number; client: number; nodeRole: number; watch: number;
    wantRead: number; wantWrite: number; wantHangup: number; edge: number; oneshot: number; priorityShift: number;
    errExists: number;
    epollHup: number;
    counterIterations: number; counterBusyNs: number; counterErrors: number; counterSlow: number;
    counterCutoffs: number; counterRepolls: number; counterDeferredRun: number;
  };

  #closed = false;
  #running = false;
  #dispatching = false;
  #stopRequested = false;
  #closeRequested = false;
  #fatal: { error: unknown } | undefined;
  #nodeWoke = false;
  #nodeFd = -1;
  #nodeDeadline = Infinity;
  #settleRun: (failure: { error: unknown } | undefined) => void = () => {};
  #inbox: RemoteInbox | undefined;
  /** Set while start() has the loop inside Node's own loop. */
  #embed: StartHandle | undefined;
  #referenced = true;
  #resolveClosed: () => void = () => {};
  /** Settles once the loop is closed: `await loop.closed`. */
  readonly closed: Promise<void> = new Promise((resolve) => (this.#resolveClosed = resolve));

  constructor(options: EventLoopOptions = {}) {
    super();
    assertObject('options', options);
    const backend = options.backend ?? 'epoll';
    // Anything but an object must name a native backend.
    if (typeof backend !== 'object' || backend === null) assertOneOf('options.backend', backend, BACKEND_NAMES);
    const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    assertInteger('options.maxEvents', maxEvents, 1, MAX_EVENTS_LIMIT);
    const maxFds = options.maxFds ?? DEFAULT_MAX_FDS;
    assertInteger('options.maxFds', maxFds, 1, MAX_FDS_LIMIT);
    const maxTimers = options.maxTimers ?? DEFAULT_MAX_TIMERS;
    assertInteger('options.maxTimers', maxTimers, 1, MAX_TIMERS_LIMIT);
    const clock = options.clock ?? (() => performance.now());
    assertFunction('options.clock', clock);
    const callbacksPerIteration = options.callbacksPerIteration ?? DEFAULT_CALLBACKS_PER_ITERATION;
    assertInteger('options.callbacksPerIteration', callbacksPerIteration, 1, 0x7fffffff);
    const iterationBudgetMs = options.iterationBudgetMs ?? DEFAULT_ITERATION_BUDGET_MS;
    assertPositiveNumber('options.iterationBudgetMs', iterationBudgetMs);
    const maxRepolls = options.maxRepolls ?? DEFAULT_MAX_REPOLLS;
    assertInteger('options.maxRepolls', maxRepolls, 0, 1 << 20);
    const maxDeferred = options.maxDeferred ?? DEFAULT_MAX_DEFERRED;
    assertInteger('options.maxDeferred', maxDeferred, 1, 1 << 26);
    const slowCallbackMs = options.slowCallbackMs ?? DEFAULT_SLOW_CALLBACK_MS;
    assertPositiveNumber('options.slowCallbackMs', slowCallbackMs);
    const fatalErrors = options.fatalErrors ?? false;
    assertBoolean('options.fatalErrors', fatalErrors);
    const logger = options.logger;
    if (logger !== undefined) {
      assertObject('options.logger', logger);
      for (const level of ['debug', 'info', 'warn', 'error'] as const) assertOptionalFunction(`options.logger.${level}`, logger[level]);
    }
    const trace = options.trace ?? process.env['WASMLOOP_TRACE'] === '1';
    if (typeof trace === 'number') assertInteger('options.trace', trace, 1, 1 << 24);
    else assertBoolean('options.trace', trace);

    this.maxEvents = maxEvents;
    this.maxFds = maxFds;
    this.maxTimers = maxTimers;
    this.#clock = clock;
    this.#clockOffset = -this.#readClock();
    this.callbacksPerIteration = callbacksPerIteration;
    this.iterationBudgetMs = iterationBudgetMs;
    this.maxRepolls = maxRepolls;
    this.slowCallbackMs = slowCallbackMs;
    this.fatalErrors = fatalErrors;
    this.logger = logger;
    this.#kernel = typeof backend === 'string' ? new NativeBackend(backend) : backend;
    this.backend = this.#kernel.name;

    this.#core = createCore(maxFds, maxEvents, native.EVENT_SIZE, native.EVENT_DATA_OFFSET, maxTimers);
    const w = (this.#wasm = this.#core.exports);
    const v = (g: WebAssembly.Global): number => g.value as number;
    this.#k = {
      dead: v(w.KIND_DEAD), accept: v(w.KIND_ACCEPT), read: v(w.KIND_READ), write: v(w.KIND_WRITE),
      hangup: v(w.KIND_HANGUP), error: v(w.KIND_ERROR), node: v(w.KIND_NODE),
      server: v(w.ROLE_SERVER), client: v(w.ROLE_CLIENT), nodeRole: v(w.ROLE_NODE), watch: v(w.ROLE_WATCH),
      wantRead: v(w.WANT_READ), wantWrite: v(w.WANT_WRITE), wantHangup: v(w.WANT_HANGUP), edge: v(w.EDGE_TRIGGERED),
      oneshot: v(w.ONESHOT), priorityShift: v(w.PRIORITY_SHIFT),
      errExists: v(w.ERR_EXISTS),
      epollHup: v(w.EPOLLHUP),
      counterIterations: v(w.COUNTER_ITERATIONS), counterBusyNs: v(w.COUNTER_BUSY_NS), counterErrors: v(w.COUNTER_ERRORS),
      counterSlow: v(w.COUNTER_SLOW), counterCutoffs: v(w.COUNTER_BUDGET_CUTOFFS), counterRepolls: v(w.COUNTER_REPOLLS),
      counterDeferredRun: v(w.COUNTER_DEFERRED_RUN),
    };
    this.#timerTable = new TimerTable(w, maxTimers, {
      now: () => this.#now(),
      lastNow: () => this.#lastNow,
      assertUsable: (operation) => this.#assertUsable(operation),
      // A started loop sleeps on libuv's timer: it may now have to wake sooner.
      scheduled: () => {
        if (this.#embed !== undefined && !this.#dispatching) this.#armEmbed();
      },
    });
    this.#deferred = new DeferredQueue(maxDeferred, PRIORITY_LOWEST + 1);
    this.#trace = trace === false ? undefined : new TraceRing(trace === true ? DEFAULT_TRACE_ENTRIES : trace, CALLBACK_KINDS);
    check(
      this.#kernel.attach({
        buffer: this.#core.memory.buffer,
        offset: this.#core.eventsOffset,
        maxEvents,
        stride: native.EVENT_SIZE,
        dataOffset: native.EVENT_DATA_OFFSET,
      }),
      this.#kernel.syscalls.create,
    );
  }

  /** How many fds are registered (not counting the loop's own). */
  get size(): number {
    return this.#wasm.registeredCount() - (this.#running ? 1 : 0) - (this.#inbox !== undefined ? 1 : 0);
  }

  /** True while run() is active. */
  get isRunning(): boolean {
    return this.#running;
  }

  /** True while start() has the loop inside Node's own loop. */
  get isStarted(): boolean {
    return this.#embed !== undefined;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Whether `fd` is registered with this loop (as a socket or a watcher). */
  isRegistered(fd: number): boolean {
    this.#assertFd(fd);
    this.#assertUsable('isRegistered');
    const role = this.#wasm.roleOf(fd);
    return role === this.#k.server || role === this.#k.client || role === this.#k.watch;
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
    const priority = this.#priorityFlags(options);
    this.#assertUsable('addServerSocket');
    this.#register(fd, this.#k.server, priority);
    this.#servers[fd] = {
      onAccept,
      onError: options.onError,
      acceptsPerEvent,
      acceptFlags: noDelay ? native.ACCEPT_NODELAY : 0,
    };
    this.#labels[fd] = options.label;
  }

  /** Watches a connected socket, calling `handlers` as it turns ready. */
  addClientSocket(fd: number, handlers: ClientHandlers, options: ClientOptions = {}): void {
    this.#assertFd(fd);
    assertObject('handlers', handlers);
    for (const name of ['read', 'write', 'hangup', 'error'] as const) {
      assertOptionalFunction(`handlers.${name}`, handlers[name]);
    }
    assertObject('options', options);
    const trigger = this.#trigger(options.trigger);
    const flags = this.#interestFlags(handlers, {
      readable: options.readable ?? handlers.read !== undefined,
      writable: options.writable ?? false,
    }, trigger | this.#priorityFlags(options));
    this.#assertUsable('addClientSocket');
    this.#register(fd, this.#k.client, flags);
    this.#clients[fd] = handlers;
    this.#labels[fd] = options.label;
  }

  /**
   * Watches any fd: a pipe, an eventfd, a timerfd, a tty, a socket. The
   * handler gets each kind of readiness as it happens. After a full hang-up
   * (`EPOLLHUP`) or an error the loop stops watching (`watcher.active` turns
   * false); the fd itself stays open: it is the caller's to close.
   */
  watch(fd: number, options: WatchOptions, handler: WatchHandler): Watcher {
    this.#assertFd(fd);
    assertObject('options', options);
    assertFunction('handler', handler);
    const trigger = this.#trigger(options.trigger);
    const oneshot = options.oneshot ?? false;
    assertBoolean('options.oneshot', oneshot);
    if (options.label !== undefined) assertString('options.label', options.label);
    const flags = this.#watchFlags(options, 0) | trigger | (oneshot ? this.#k.oneshot : 0) | this.#priorityFlags(options);
    this.#assertUsable('watch');
    const generation = this.#register(fd, this.#k.watch, flags);
    const watcher = new Watcher(fd, handler, options.label, generation, this.#watcherControl);
    this.#watchers[fd] = watcher;
    this.#labels[fd] = options.label;
    return watcher;
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
    }, old & ~(this.#k.wantRead | this.#k.wantWrite));
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
      throw systemError(-ENOENT, this.#kernel.syscalls.control, { fd, info: `fd ${fd} is not registered with this loop` });
    }
    this.#forget(fd);
    const removed = this.#kernel.remove(fd);
    // EBADF or ENOENT here means the fd was closed behind the loop's back and
    // its number may already belong to someone else: do not close it.
    if (removed < 0) throw systemError(removed, this.#kernel.syscalls.control, { fd });
    if (close) check(native.close(fd), 'close', { fd });
  }

  /**
   * Calls `callback` once, `delayMs` from now: never earlier, and within a
   * millisecond after when the loop is not busy. Delays longer than
   * MAX_TIMER_DELAY_MS (about 2.18 years) are clamped to it. Timers due at
   * the same time fire in the order they were set.
   */
  setTimeout(callback: () => void, delayMs: number, options: TimerOptions = {}): Timer {
    return this.#timerTable.create(callback, delayMs, false, options);
  }

  /**
   * Calls `callback` every `periodMs` (at least 1), the first time one
   * period from now. `options.missed` says what happens after a stall
   * (default `'skip'`).
   */
  setInterval(callback: () => void, periodMs: number, options: IntervalOptions = {}): Timer {
    return this.#timerTable.create(callback, periodMs, true, options);
  }

  /** The loop's time, ms since it was created (its clock, never going back). */
  now(): number {
    return this.#now();
  }

  /**
   * The loop's time as of its last clock reading, which it takes at least
   * once per iteration (after the wait): for bookkeeping on a hot path that
   * can live with a time a fraction of an iteration old, at no clock read.
   */
  get iterationTime(): number {
    return this.#lastNow;
  }

  /** Timers scheduled now. */
  get timerCount(): number {
    return this.#closed ? 0 : this.#timerTable.count;
  }

  /**
   * Queues `callback` to run after the current batch of I/O callbacks and
   * before the next wait (in priority order, FIFO within a priority). A
   * callback deferred by a deferred callback runs in the next iteration. The
   * queue holds `maxDeferred` callbacks: past that, `defer` throws
   * `ERR_DEFER_QUEUE_FULL`, and the caller should slow down.
   */
  defer(callback: () => void, options: DeferOptions = {}): Deferred {
    assertFunction('callback', callback);
    assertObject('options', options);
    const priority = options.priority ?? DEFAULT_PRIORITY;
    assertInteger('options.priority', priority, 0, PRIORITY_LOWEST);
    if (options.label !== undefined) assertString('options.label', options.label);
    this.#assertUsable('defer');
    const entry = this.#deferred.push(callback, priority, options.label);
    if (entry === undefined) {
      throw new WasmloopError('ERR_DEFER_QUEUE_FULL', `the deferred queue is full (maxDeferred ${this.#deferred.capacity})`);
    }
    if (this.#embed !== undefined && !this.#dispatching) this.#armEmbed();
    return entry;
  }

  /**
   * One iteration: waits up to `timeoutMs` (-1: until an event; 0: poll) —
   * or not at all when work is pending — calls the handlers of every event
   * that fired, then the deferred callbacks. Returns the number of events
   * the kernel reported.
   */
  runOnce(timeoutMs = -1): number {
    assertInteger('timeoutMs', timeoutMs, -1, 0x7fffffff);
    this.#assertUsable('runOnce');
    if (this.#running) throw new WasmloopError('ERR_LOOP_RUNNING', 'runOnce() cannot be called while run() is active');
    const events = this.#iterate(timeoutMs);
    // Called beside start(): what this turn left (a budget cut's records, a
    // stop or close a handler asked for) is Node's to pick up. An
    // edge-triggered fd's record would otherwise wait for an unrelated wakeup,
    // as the kernel does not report it again.
    if (this.#embed !== undefined) this.#settleEmbed();
    const fatal = this.#fatal;
    if (fatal !== undefined) {
      this.#fatal = undefined;
      throw fatal.error;
    }
    return events;
  }

  /**
   * Runs until `stop()` is called. The returned promise settles when the loop
   * has stopped: it rejects with the error that stopped it (with
   * `fatalErrors`).
   *
   * Node keeps working meanwhile. Once per iteration of Node's own loop, right
   * where Node would block in its poll, the loop blocks in its own wait
   * instead: it also watches Node's backend fd and waits no longer than
   * Node's next timer, then hands the thread back whenever Node has I/O, a
   * due timer or an immediate. So Node timers, signal handlers, sockets and
   * worker messages in the same process go on running. One loop per thread
   * can be in `run()` at a time.
   */
  run(options: { signal?: AbortSignal } = {}): Promise<void> {
    assertObject('options', options);
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('options.signal must be an AbortSignal');
    this.#assertUsable('run');
    if (this.#running) throw new WasmloopError('ERR_LOOP_RUNNING', 'run() is already active');
    if (this.#embed !== undefined) throw new WasmloopError('ERR_LOOP_STARTED', 'run() cannot be called while start() is active; stop() first');
    if (!(this.#kernel instanceof NativeBackend)) {
      throw new WasmloopError('ERR_RUN_NEEDS_KERNEL', `run() needs a native backend; drive a ${this.backend} backend with runOnce()`);
    }
    const nodeFd = native.runNodeFd();
    if (nodeFd >= this.maxFds) {
      throw rangeError(`Node's event loop fd (${nodeFd}) is beyond maxFds (${this.maxFds}); raise maxFds`);
    }
    this.#register(nodeFd, this.#k.nodeRole, 0);
    const hooked = native.runAttach(this.#onNodeTurn);
    if (hooked < 0) {
      this.#wasm.unregister(nodeFd);
      this.#kernel.remove(nodeFd);
      if (hooked === -EBUSY) throw new WasmloopError('ERR_RUN_ACTIVE', "another loop's run() is active on this thread");
      throw systemError(hooked, 'uv_prepare_start');
    }
    this.#nodeFd = nodeFd;
    this.#running = true;
    this.#stopRequested = false;
    if (!this.#referenced) native.runRef(false);
    const onAbort = (): void => this.stop();
    if (signal?.aborted) this.#stopRequested = true;
    else signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise((resolve, reject) => {
      this.#settleRun = (failure) => {
        signal?.removeEventListener('abort', onAbort);
        if (failure) reject(failure.error);
        else resolve();
      };
    });
  }

  /**
   * Runs the loop inside Node's own: libuv watches the loop's epoll fd and a
   * timer at the wheel's next expiry, and each wakeup drains the ready events
   * with a zero-timeout wait. The thread stays Node's; nothing blocks. Until
   * `stop()` (or close()), the loop keeps the process alive unless
   * `unref()`ed. Needs the epoll backend (poll and select have no fd that
   * libuv could watch).
   */
  start(): void {
    this.#assertUsable('start');
    if (this.#running) throw new WasmloopError('ERR_LOOP_RUNNING', 'start() cannot be called while run() is active');
    if (this.#embed !== undefined) {
      // A handler's stop() then start(): the loop stays started. A pending
      // close() still wins.
      this.#stopRequested = this.#closeRequested;
      return;
    }
    const fd = this.#kernel.fd();
    if (fd < 0) throw new WasmloopError('ERR_START_NEEDS_EPOLL', `start() needs a backend with an fd Node can watch (epoll); this loop uses ${this.backend}`);
    const handle = native.startAttach(fd, this.#onEmbedWake);
    if (typeof handle === 'number') throw systemError(handle, 'uv_poll_start', { fd });
    this.#embed = handle;
    this.#stopRequested = false;
    if (!this.#referenced) native.startRef(handle, false);
    this.#armEmbed();
  }

  /** Node woke the started loop: its fd is readable, or its timer ran out. */
  readonly #onEmbedWake = (status: number): void => {
    if (this.#embed === undefined) return;
    try {
      // libuv stops a poll handle that failed: the loop cannot go on started.
      if (status < 0) throw systemError(status, 'uv_poll');
      this.#iterate(0);
    } catch (error) {
      // Nobody awaits a started loop: the error is Node's uncaught exception,
      // and the loop is detached rather than left attached and never re-armed.
      this.#stopEmbed();
      throw error;
    }
    const fatal = this.#fatal;
    if (fatal !== undefined) {
      this.#fatal = undefined;
      this.#stopEmbed();
      // Nobody awaits a started loop: the error is Node's uncaught exception.
      throw fatal.error;
    }
    this.#settleEmbed();
  };

  /** After a turn of the started loop: detach if a stop was asked for, else set the next wakeup. */
  #settleEmbed(): void {
    if (this.#stopRequested) this.#stopEmbed();
    else this.#armEmbed();
  }

  /** Sets the started loop's libuv timer for its next timer, or now when work is pending. */
  #armEmbed(): void {
    const pending = this.#wasm.pendingRecords() > 0;
    const timeout = pending ? 0 : this.#waitTimeout(-1);
    native.startArm(this.#embed!, timeout);
  }

  #stopEmbed(): void {
    const handle = this.#embed;
    if (handle === undefined) return;
    this.#embed = undefined;
    native.startDetach(handle);
    if (this.#closeRequested) this.#closeNow();
  }

  /** Lets the process exit while the loop is running or started, as `handle.unref()` does for a Node handle. */
  unref(): this {
    this.#referenced = false;
    if (this.#running) native.runRef(false);
    if (this.#embed !== undefined) native.startRef(this.#embed, false);
    return this;
  }

  /** Undoes `unref()`: the running or started loop keeps the process alive again (the default). */
  ref(): this {
    this.#referenced = true;
    if (this.#running) native.runRef(true);
    if (this.#embed !== undefined) native.startRef(this.#embed, true);
    return this;
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
        const timeout = native.runNodeTimeout();
        this.#nodeDeadline = timeout < 0 ? Infinity : performance.now() + timeout;
      } else if (native.runNodeTimeout() === 0) {
        // A handler, or a microtask after it, queued Node work (an
        // immediate, a closing handle): let Node run its iteration.
        return false;
      }
      const deadline = this.#nodeDeadline;
      this.#iterate(deadline === Infinity ? -1 : Math.max(0, Math.ceil(deadline - performance.now())));
      if (this.#fatal !== undefined) {
        const fatal = this.#fatal;
        this.#fatal = undefined;
        return this.#finishRun(fatal);
      }
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
    native.runDetach();
    this.#wasm.unregister(this.#nodeFd);
    this.#kernel.remove(this.#nodeFd);
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

  /**
   * Asks `run()` to return after the current iteration, or detaches a
   * started loop from Node's. Does nothing when neither is active.
   */
  stop(): void {
    if (this.#running) this.#stopRequested = true;
    else if (this.#embed !== undefined) {
      if (this.#dispatching) this.#stopRequested = true;
      else this.#stopEmbed();
    }
  }

  /**
   * Unregisters every fd the loop holds and closes the sockets among them
   * (watched fds stay open: they are the caller's), drops deferred
   * callbacks, then closes the loop itself. Called while `run()` is active,
   * it stops the loop first. Closing twice does nothing.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#running || (this.#embed !== undefined && this.#dispatching)) {
      this.#closeRequested = true;
      this.#stopRequested = true;
      return;
    }
    if (this.#embed !== undefined) {
      native.startDetach(this.#embed);
      this.#embed = undefined;
    }
    this.#closeNow();
  }

  /**
   * A handle other threads can use to wake this loop, stop it, or hand it an
   * fd (`'fd'` event). Send it to a worker with `postMessage(handle)` and
   * rebuild it there with `RemoteHandle.from(data)`. The first call creates
   * an eventfd in the loop's own set; later calls return the same handle.
   */
  remote(): RemoteHandle {
    this.#assertUsable('remote');
    if (this.#inbox !== undefined) return this.#inbox.handle;
    const fd = check(native.eventfd(0), 'eventfd');
    try {
      // Priority 0: a stop or a handed-over connection goes before other work.
      const generation = this.#register(fd, this.#k.watch, this.#k.wantRead);
      this.#watchers[fd] = new Watcher(fd, this.#onRemote, 'remote', generation, this.#watcherControl);
      this.#labels[fd] = 'remote';
    } catch (error) {
      native.close(fd);
      throw error;
    }
    this.#inbox = new RemoteInbox(fd);
    return this.#inbox.handle;
  }

  readonly #onRemote = (): void => {
    const inbox = this.#inbox!;
    // Read the counter first: a command published after this read writes
    // the eventfd again, so it is never missed.
    native.eventfdRead(inbox.handle.eventFd);
    inbox.drain((command, arg) => {
      if (command === COMMAND.stop) this.stop();
      else if (command === COMMAND.fd) this.#adoptFd(arg);
    });
  };

  #adoptFd(fd: number): void {
    if (this.listenerCount('fd') === 0) {
      native.close(fd);
      this.#failed(new WasmloopError('ERR_NO_FD_LISTENER', `fd ${fd} was handed to the loop but nothing listens for 'fd'; it was closed`), 'watch', fd, 'remote');
      return;
    }
    try {
      this.emit('fd', fd);
    } catch (error) {
      // Whoever listened did not keep it: do not leak it.
      if (this.#wasm.roleOf(fd) === 0) native.close(fd);
      this.#failed(error, 'watch', fd, 'remote');
    }
  }

  /** A snapshot of the loop's counters and histograms (see docs/api.md). */
  metrics(): LoopMetrics {
    return readMetrics(this.#core, {
      registered: this.size,
      deferredDepth: this.#deferred.depth,
      deferredCapacity: this.#deferred.capacity,
      pendingRecords: this.#closed ? 0 : this.#wasm.pendingRecords(),
    });
  }

  /** The trace ring's entries, oldest first; empty unless trace mode is on. */
  trace(): TraceEntry[] {
    return this.#trace?.entries() ?? [];
  }

  /** The trace ring as JSON. */
  dumpTrace(): string {
    return JSON.stringify({ backend: this.backend, entries: this.trace() });
  }

  // ---- one iteration -------------------------------------------------------

  #iterate(timeoutMs: number): number {
    const w = this.#wasm;
    w.noteCount(this.#k.counterIterations, 1);
    let events = 0;
    let busyFrom: number;
    if (w.pendingRecords() > 0) {
      // The last iteration's budget ran out: serve the rest of its batch
      // before asking the kernel for more.
      busyFrom = performance.now();
      this.#serveBatch(busyFrom, this.callbacksPerIteration);
    } else {
      let count = this.#wait(this.#waitTimeout(timeoutMs));
      busyFrom = performance.now();
      let callbacks = this.callbacksPerIteration;
      for (let repolls = 0; count > 0; repolls++) {
        events += count;
        w.dispatch(count);
        callbacks = this.#serveBatch(busyFrom, callbacks);
        // A full batch suggests more is ready (libuv re-polls the same way).
        if (count < this.maxEvents || repolls === this.maxRepolls || callbacks === 0 || w.pendingRecords() > 0) break;
        if (this.#stopRequested || this.#fatal !== undefined) break;
        w.noteCount(this.#k.counterRepolls, 1);
        count = this.#wait(0);
      }
    }
    // A fatal error stops the loop after the callback that threw.
    // A callback may have closed the loop: its timers are gone with it.
    if (this.#fatal === undefined && !this.#closed && this.#timerTable.due(this.#now())) this.#fireTimers();
    if (this.#fatal === undefined) this.#runDeferred();
    w.noteCount(this.#k.counterBusyNs, (performance.now() - busyFrom) * 1e6);
    return events;
  }

  /**
   * How long the next wait may block: not at all when work is waiting
   * (deferred callbacks, due timers), else until the earliest timer or
   * `requested`, whichever comes first (-1: no bound).
   */
  #waitTimeout(requested: number): number {
    if (this.#deferred.depth > 0 || requested === 0) return 0;
    const next = this.#timerTable.nextDeadline();
    if (next < 0) return requested;
    // A fraction of a millisecond is kept: the wait ends at the deadline to
    // the microsecond (epoll_pwait2, ppoll, pselect).
    const untilTimer = Math.max(0, next - this.#now());
    return requested < 0 ? untilTimer : Math.min(requested, untilTimer);
  }

  /** A timer pass: the table picks the timers due; each callback is run, timed and reported here. */
  #fireTimers(): void {
    this.#dispatching = true;
    let start = performance.now();
    try {
      this.#timerTable.fire(this.#lastNow, (timer) => {
        try {
          native.invoke(timer, timer.callback);
        } catch (error) {
          this.#failed(error, 'timer', undefined, timer.label);
        }
        const finished = performance.now();
        this.#ran(CB.timer, -1, timer.label, start, finished);
        start = finished;
        if (this.#closed) return 'closed';
        return this.#fatal !== undefined || this.#stopRequested ? 'stop' : 'go';
      });
    } finally {
      this.#dispatching = false;
    }
  }

  /** The loop's time: the clock, offset so it starts near 0 and never goes back. */
  #now(): number {
    const now = this.#readClock() + this.#clockOffset;
    if (now >= this.#lastNow) return (this.#lastNow = now);
    // The clock went back: absorb the step, so time stands still here and
    // then moves on at the clock's pace. Nothing fires early.
    this.#clockOffset += this.#lastNow - now;
    return this.#lastNow;
  }

  #readClock(): number {
    const reading = this.#clock();
    if (typeof reading !== 'number' || !Number.isFinite(reading)) {
      throw new TypeError(`the loop's clock must return a finite number of ms, got ${String(reading)}`);
    }
    return reading;
  }

  /** One wait, counted. An interrupted wait is an empty one. */
  #wait(timeoutMs: number): number {
    const start = performance.now();
    let count = this.#kernel.wait(timeoutMs);
    if (count === -EINTR) count = 0;
    if (count < 0) throw systemError(count, this.#kernel.syscalls.wait);
    this.#wasm.noteWait(count, (performance.now() - start) * 1e6);
    return count;
  }

  /**
   * Runs the batch's records from the core's cursor on, until they run out,
   * `callbacks` have run, or the iteration's time budget is spent. Returns
   * the callbacks left in the budget.
   */
  #serveBatch(iterationStart: number, callbacks: number): number {
    const w = this.#wasm;
    const records = this.#core.records;
    const words = this.#core.recordWords;
    const k = this.#k;
    const deadline = iterationStart + this.iterationBudgetMs;
    const end = w.recordsInBatch();
    let i = w.batchCursor();
    let start = performance.now();
    this.#dispatching = true;
    try {
      for (; i < end; i++) {
        const at = i * words;
        // Read the kind just before acting on it: an earlier handler in this
        // batch may have removed this fd, and the core then marked it dead.
        const kind = records[at]!;
        if (kind === k.dead) continue;
        if (this.#stopRequested || this.#fatal !== undefined) break;
        if (callbacks === 0 || start >= deadline) {
          w.noteCount(k.counterCutoffs, 1);
          this.logger?.debug?.({ pending: end - i, callbacksLeft: callbacks }, 'wasmloop: iteration budget spent; the rest of the batch goes next');
          break;
        }
        const fd = records[at + 1]!;
        if (kind === k.node) {
          this.#nodeWoke = true;
          continue;
        }
        // Read before the call: the handler may unregister its fd.
        const label = this.#labels[fd];
        const client = this.#clients[fd];
        let ran: number = CB.watch;
        try {
          if (kind === k.accept) {
            ran = CB.accept;
            this.#accept(fd);
          } else if (client === undefined) {
            this.#watchEvent(fd, kind, records[at + 2]!, records[at + 3]!);
          } else if (kind === k.read) {
            ran = CB.read;
            native.invoke(client, client.read!, fd);
          } else if (kind === k.write) {
            ran = CB.write;
            native.invoke(client, client.write!, fd);
          } else {
            ran = kind === k.error ? CB.error : CB.hangup;
            this.#finish(fd, kind, records[at + 2]!, records[at + 3]!);
          }
        } catch (error) {
          this.#failed(error, CALLBACK_KINDS[ran]!, fd, label);
        }
        const finished = performance.now();
        this.#ran(ran, fd, label, start, finished);
        start = finished;
        callbacks--;
      }
    } finally {
      w.setBatchCursor(i);
      this.#dispatching = false;
    }
    return callbacks;
  }

  /** Deferred callbacks queued before this phase, in priority order. */
  #runDeferred(): void {
    const taken = this.#deferred.takeAll();
    if (taken === undefined) return;
    this.#dispatching = true;
    let start = performance.now();
    try {
      for (let p = 0; p < taken.length; p++) {
        const queue = taken[p]!;
        for (let i = 0; i < queue.length; i++) {
          if (this.#fatal !== undefined) {
            // Stopping: what was not run goes back, ahead of newer entries.
            this.#deferred.restore(taken, p, i);
            return;
          }
          const entry = queue[i]!;
          const callback = entry.callback;
          if (callback === undefined) continue;
          this.#deferred.ran(entry);
          try {
            native.invoke(entry, callback);
          } catch (error) {
            this.#failed(error, 'deferred', undefined, entry.label);
          }
          const finished = performance.now();
          this.#ran(CB.deferred, -1, entry.label, start, finished);
          start = finished;
        }
      }
      this.#wasm.noteCount(this.#k.counterDeferredRun, 1);
    } finally {
      this.#dispatching = false;
    }
  }

  /** After each callback: count and time it, report it if slow, trace it. */
  #ran(kind: number, fd: number, label: string | undefined, start: number, finished: number): void {
    const duration = finished - start;
    this.#wasm.noteCallback(duration * 1e6);
    if (duration >= this.slowCallbackMs) {
      this.#wasm.noteCount(this.#k.counterSlow, 1);
      const logger = this.logger;
      if (this.listenerCount('slow') > 0 || logger?.warn !== undefined) {
        const info: SlowCallback = { kind: CALLBACK_KINDS[kind]!, durationMs: duration };
        if (fd >= 0) info.fd = fd;
        if (label !== undefined) info.label = label;
        logger?.warn?.(info, 'wasmloop: slow callback');
        try {
          this.emit('slow', info);
        } catch (error) {
          this.#failed(error, CALLBACK_KINDS[kind]!, fd >= 0 ? fd : undefined, label);
        }
      }
    }
    this.#trace?.record(kind, fd, label, start, duration);
  }

  /**
   * A callback threw. The loop goes on: the error goes to the `'error'`
   * listeners, or is printed once to stderr when there are none. With
   * `fatalErrors` the loop stops instead, after the current callback.
   */
  #failed(error: unknown, kind: CallbackKind, fd: number | undefined, label: string | undefined): void {
    this.#wasm.noteCount(this.#k.counterErrors, 1);
    if (this.fatalErrors) {
      this.#fatal ??= { error };
      return;
    }
    const context: CallbackContext = { kind };
    if (fd !== undefined) context.fd = fd;
    if (label !== undefined) context.label = label;
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', error, context);
        return;
      } catch (listenerError) {
        error = listenerError;
      }
    }
    if (this.logger?.error !== undefined) {
      this.logger.error({ err: error, ...context }, 'wasmloop: uncaught error in a callback; the loop goes on');
      return;
    }
    const text = error instanceof Error ? (error.stack ?? String(error)) : String(error);
    if (this.#printedErrors.has(text) || this.#printedErrors.size >= PRINTED_ERRORS_LIMIT) return;
    this.#printedErrors.add(text);
    const where = `${kind}${fd !== undefined ? ` fd ${fd}` : ''}${label !== undefined ? ` (${label})` : ''}`;
    process.stderr.write(`wasmloop: uncaught error in a ${where} callback; the loop goes on:\n${text}\n`);
  }

  /** Hang-up and error of a client socket: call the handler, then settle the socket's fate. */
  #finish(fd: number, kind: number, generation: number, bits: number): void {
    const handlers = this.#clients[fd]!;
    let dead = (bits & this.#k.epollHup) !== 0;
    try {
      if (kind === this.#k.error) {
        dead = true;
        const soError = native.socketError(fd);
        // SO_ERROR is cleared by the first call that reports it: a read in
        // this same batch may have taken it, leaving a plain hang-up.
        if (soError === 0) {
          if (handlers.hangup) native.invoke(handlers, handlers.hangup, fd, true);
        } else if (handlers.error) {
          native.invoke(handlers, handlers.error, fd, systemError(soError > 0 ? -soError : soError, 'getsockopt', { fd }));
        }
      } else {
        if (handlers.hangup) native.invoke(handlers, handlers.hangup, fd, dead);
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

  /** A watcher's readiness. After a full hang-up or an error the loop stops watching. */
  #watchEvent(fd: number, kind: number, generation: number, bits: number): void {
    const k = this.#k;
    const event: WatchEvent = kind === k.read ? 'readable' : kind === k.write ? 'writable' : kind === k.error ? 'error' : 'hangup';
    const watcher = this.#watchers[fd]!;
    const final = event === 'error' || (event === 'hangup' && (bits & this.#k.epollHup) !== 0);
    try {
      native.invoke(watcher, watcher.handler, event, watcher);
    } finally {
      if (final && this.#wasm.generationOf(fd) === generation && this.#watchers[fd] === watcher) {
        this.#closeWatcher(watcher);
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
        native.invoke(entry, entry.onError, error, serverFd);
        return;
      }
      try {
        native.invoke(entry, entry.onAccept, fd, serverFd);
      } catch (error) {
        if (this.#wasm.roleOf(fd) === 0) native.close(fd);
        throw error;
      }
      // onAccept may have removed the listener itself.
      if (this.#wasm.generationOf(serverFd) !== generation || this.#wasm.roleOf(serverFd) !== this.#k.server) return;
    }
  }

  // ---- registration --------------------------------------------------------

  /** Registers fd with the core and the kernel; returns its generation. */
  #register(fd: number, role: number, flags: number): number {
    const generation = this.#wasm.register(fd, role, flags);
    if (generation === this.#k.errExists) {
      throw systemError(-EEXIST, this.#kernel.syscalls.control, { fd, info: `fd ${fd} is already registered with this loop` });
    }
    if (generation < 0) throw new WasmloopError('ERR_INTERNAL', `core refused fd ${fd} (code ${generation})`);
    const added = this.#kernel.add(fd, this.#wasm.maskOf(fd) >>> 0, generation);
    if (added < 0) {
      this.#wasm.unregister(fd);
      throw systemError(added, this.#kernel.syscalls.control, { fd });
    }
    return generation;
  }

  #forget(fd: number): void {
    this.#wasm.unregister(fd);
    this.#clients[fd] = undefined;
    this.#servers[fd] = undefined;
    this.#labels[fd] = undefined;
    const watcher = this.#watchers[fd];
    if (watcher !== undefined) {
      this.#watchers[fd] = undefined;
      watcher.detach();
    }
  }

  #changeFlags(fd: number, flags: number, old: number): void {
    if (this.#wasm.setFlags(fd, flags) !== 1) return;
    const modified = this.#kernel.modify(fd, this.#wasm.maskOf(fd) >>> 0, this.#wasm.generationOf(fd));
    if (modified < 0) {
      this.#wasm.setFlags(fd, old);
      throw systemError(modified, this.#kernel.syscalls.control, { fd });
    }
  }

  #modifyWatcher(watcher: Watcher, interest: WatchInterest): void {
    assertObject('interest', interest);
    this.#assertUsable('modify');
    const fd = watcher.fd;
    const old = this.#wasm.flagsOf(fd);
    const k = this.#k;
    const keep = old & (k.edge | k.oneshot);
    const priority = interest.priority === undefined ? old & (PRIORITY_LOWEST << k.priorityShift) : this.#priorityFlags(interest);
    const flags = this.#watchFlags(interest, old) | keep | priority;
    if (this.#wasm.setFlags(fd, flags) !== 1 && (old & k.oneshot) === 0) return;
    // A one-shot fd is re-armed even when its interest is unchanged: the
    // kernel disarmed it when it fired.
    const modified = this.#kernel.modify(fd, this.#wasm.maskOf(fd) >>> 0, this.#wasm.generationOf(fd));
    if (modified < 0) {
      this.#wasm.setFlags(fd, old);
      throw systemError(modified, this.#kernel.syscalls.control, { fd });
    }
  }

  #closeWatcher(watcher: Watcher): void {
    const fd = watcher.fd;
    if (this.#watchers[fd] !== watcher) return;
    this.#forget(fd);
    const removed = this.#kernel.remove(fd);
    // The fd was closed behind the loop's back: its registration went with it.
    if (removed < 0 && removed !== -ENOENT && removed !== -osConstants.errno.EBADF) {
      throw systemError(removed, this.#kernel.syscalls.control, { fd });
    }
  }

  /** Read/write/hang-up interest flags for a watcher; what `interest` leaves out comes from `old`. */
  #watchFlags(interest: WatchInterest, old: number): number {
    const k = this.#k;
    const readable = interest.readable ?? (old & k.wantRead) !== 0;
    const writable = interest.writable ?? (old & k.wantWrite) !== 0;
    const hangup = interest.hangup ?? (old & k.wantHangup) !== 0;
    assertBoolean('readable', readable);
    assertBoolean('writable', writable);
    assertBoolean('hangup', hangup);
    return (readable ? k.wantRead : 0) | (writable ? k.wantWrite : 0) | (hangup ? k.wantHangup : 0);
  }

  #interestFlags(handlers: ClientHandlers, interest: Required<Interest>, rest: number): number {
    assertBoolean('readable', interest.readable);
    assertBoolean('writable', interest.writable);
    if (interest.readable && handlers.read === undefined) {
      throw new TypeError('read interest needs a read handler');
    }
    if (interest.writable && handlers.write === undefined) {
      throw new TypeError('write interest needs a write handler');
    }
    return (interest.readable ? this.#k.wantRead : 0) | (interest.writable ? this.#k.wantWrite : 0) | rest;
  }

  #trigger(trigger: Trigger | undefined): number {
    const chosen = trigger ?? 'level';
    assertOneOf('options.trigger', chosen, ['level', 'edge'] as const);
    if (chosen === 'level') return 0;
    if (this.#kernel.levelOnly) {
      throw new WasmloopError('ERR_EDGE_UNSUPPORTED', `edge-triggered notification needs the epoll backend; this loop uses ${this.backend}`);
    }
    return this.#k.edge;
  }

  #priorityFlags(options: { priority?: number; label?: string }): number {
    const priority = options.priority ?? DEFAULT_PRIORITY;
    assertInteger('options.priority', priority, 0, PRIORITY_LOWEST);
    if (options.label !== undefined) assertString('options.label', options.label);
    return priority << this.#k.priorityShift;
  }

  #clientHandlers(fd: number, operation: string): ClientHandlers {
    const handlers = this.#clients[fd];
    if (handlers !== undefined) return handlers;
    if (this.#servers[fd] !== undefined || this.#watchers[fd] !== undefined) {
      throw new WasmloopError('ERR_NOT_CLIENT_SOCKET', `${operation}: fd ${fd} is not a client socket`);
    }
    throw systemError(-ENOENT, this.#kernel.syscalls.control, { fd, info: `fd ${fd} is not registered with this loop` });
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
    this.#resolveClosed();
    this.logger?.debug?.({ registered: this.size, timers: this.#wasm.timerCount() }, 'wasmloop: closing the loop');
    let firstError: unknown;
    const release = (fd: number, closeFd: boolean): void => {
      this.#forget(fd);
      const removed = this.#kernel.remove(fd);
      if (removed === 0) {
        if (closeFd) native.close(fd);
      } else if (removed === -ENOENT || removed === -osConstants.errno.EBADF) {
        // Closed behind the loop's back: its registration went with it, and
        // its number may be someone else's now, so it is not closed. Not an
        // error of the close: the rest is released all the same.
        this.logger?.warn?.({ fd }, 'wasmloop: an fd was closed behind the loop\'s back; left alone at close');
      } else {
        firstError ??= systemError(removed, this.#kernel.syscalls.control, { fd });
      }
    };
    this.#clients.forEach((handlers, fd) => handlers && release(fd, true));
    this.#servers.forEach((entry, fd) => entry && release(fd, true));
    const inbox = this.#inbox;
    if (inbox !== undefined) {
      inbox.shut();
      // Connections handed over but not yet adopted: nobody else will close them.
      inbox.drain((command, arg) => command === COMMAND.fd && native.close(arg));
    }
    this.#watchers.forEach((watcher, fd) => watcher && release(fd, inbox !== undefined && fd === inbox.handle.eventFd));
    for (const queue of this.#deferred.takeAll() ?? []) for (const entry of queue) entry.cancel();
    this.#timerTable.closeAll();
    const freed = this.#kernel.free();
    if (freed < 0) firstError ??= systemError(freed, 'close');
    if (firstError !== undefined) throw firstError;
  }
}
