// EventLoop: the loop's public face. Each call checks its arguments and the
// loop's state (the checked door), here or in the part that owns the call
// (the timer calls' in timer-table.ts; run, start, runOnce, remote and
// metrics in driver.ts), and hands the work to that part (see parts.ts for
// the map): the fd table, the timer table, the deferred queue, the driver
// that turns the loop (driver.ts, turn.ts).
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';

import { ROLE_CLIENT, ROLE_SERVER, ROLE_WATCH } from '../core/abi.js';
import type { Deferred } from './deferred.js';
import { assertBoolean, assertFd, assertObject, rangeError, systemError, WasmloopError } from '../errors.js';
import type { LoopMetrics } from './metrics.js';
import type { RemoteHandle } from './remote.js';
import { DEFAULT_TIMER_DELAY_MS, NO_OPTIONS, Timer, type IntervalOptions, type SleepOptions, type TimeoutOptions, type TimerOptions } from './timer.js';
import type { TraceEntry } from './trace.js';
import { Watcher, type WatcherControl, type WatchHandler } from './watcher.js';
import { Driver } from './driver.js';
import { FdEntry, type FdTable } from './fd-table.js';
import { afterPassUnchecked, reportErrorUnchecked, setInterestUnchecked, upcomingReadsUnchecked } from './internal.js';
import { CB, type CallbackKind } from './callbacks.js';
import { resolveOptions, type EventLoopOptions, type Logger } from './options.js';
import { makeParts, type EventLoopEvents, type LoopParts } from './parts.js';
import {
  clientOf,
  clientRegistration,
  deferPriority,
  interestChange,
  serverRegistration,
  watcherControl,
  watchRegistration,
  type AcceptHandler,
  type ClientHandlers,
  type ClientOptions,
  type DeferOptions,
  type Interest,
  type RemoveOptions,
  type ServerSocketOptions,
  type WatchOptions,
} from './registration.js';
import type { LoopState } from './state.js';
import type { TimerTable } from './timer-table.js';

const { ENOENT } = osConstants.errno;

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
  /** Settles once the loop is closed: `await loop.closed`. */
  readonly closed: Promise<void>;

  readonly #parts: LoopParts;
  readonly #state: LoopState;
  readonly #fds: FdTable;
  readonly #timers: TimerTable;
  readonly #driver: Driver;
  readonly #watcherControl: WatcherControl;

  constructor(options: EventLoopOptions = {}) {
    super();
    const config = resolveOptions(options);
    this.maxEvents = config.maxEvents;
    this.maxFds = config.maxFds;
    this.maxTimers = config.maxTimers;
    this.callbacksPerIteration = config.callbacksPerIteration;
    this.iterationBudgetMs = config.iterationBudgetMs;
    this.maxRepolls = config.maxRepolls;
    this.slowCallbackMs = config.slowCallbackMs;
    this.fatalErrors = config.fatalErrors;
    this.logger = config.logger;
    // A refreshed timer may have to wake a started loop sooner.
    const parts = (this.#parts = makeParts(this, config, (deadline) => this.#driver.scheduled(deadline)));
    this.backend = parts.kernel.name;
    this.#state = parts.state;
    this.#fds = parts.fds;
    this.#timers = parts.timers;
    this.#watcherControl = watcherControl(parts.fds, parts.state, parts.core.exports, () => this.#driver.scheduled(NaN));
    this.#driver = new Driver(this, parts);
    this.closed = this.#driver.closed;
  }

  /** How many fds are registered (not counting the loop's own). */
  get size(): number {
    return this.#driver.size;
  }

  /** True while run() is active. */
  get isRunning(): boolean {
    return this.#state.mode === 'running';
  }

  /** True while start() has the loop inside Node's own loop. */
  get isStarted(): boolean {
    return this.#state.mode === 'started';
  }

  get isClosed(): boolean {
    return this.#state.closed;
  }

  /** Whether `fd` is registered with this loop (as a socket or a watcher). */
  isRegistered(fd: number): boolean {
    this.#assertFd(fd);
    this.#state.assertUsable('isRegistered');
    const role = this.#parts.core.exports.roleOf(fd);
    return role === ROLE_SERVER || role === ROLE_CLIENT || role === ROLE_WATCH;
  }

  /**
   * Watches a listening socket. On each readiness event the loop accepts up to
   * `acceptsPerEvent` connections and hands each to `onAccept`. A connection
   * that `onAccept` neither registers nor keeps (it threw) is closed.
   */
  addServerSocket(fd: number, onAccept: AcceptHandler, options: ServerSocketOptions = {}): void {
    this.#assertFd(fd);
    const { flags, entry } = serverRegistration(onAccept, options);
    this.#state.assertUsable('addServerSocket');
    this.#fds.register(fd, ROLE_SERVER, flags);
    this.#fds.hold(fd, entry);
    this.#driver.scheduled(NaN);
  }

  /** Watches a connected socket, calling `handlers` as it turns ready. */
  addClientSocket(fd: number, handlers: ClientHandlers, options: ClientOptions = {}): void {
    this.#assertFd(fd);
    const { flags, entry } = clientRegistration(this.#parts.kernel, handlers, options);
    this.#state.assertUsable('addClientSocket');
    this.#fds.register(fd, ROLE_CLIENT, flags);
    this.#fds.hold(fd, entry);
    this.#driver.scheduled(NaN);
  }

  /**
   * Watches any fd: a pipe, an eventfd, a timerfd, a tty, a socket. The
   * handler gets each kind of readiness as it happens. After a full hang-up
   * (`EPOLLHUP`) or an error the loop stops watching (`watcher.active` turns
   * false); the fd itself stays open: it is the caller's to close.
   */
  watch(fd: number, options: WatchOptions, handler: WatchHandler): Watcher {
    this.#assertFd(fd);
    const flags = watchRegistration(this.#parts.kernel, options, handler);
    this.#state.assertUsable('watch');
    const generation = this.#fds.register(fd, ROLE_WATCH, flags);
    const watcher = new Watcher(fd, handler, options.label, generation, this.#watcherControl);
    this.#fds.hold(fd, new FdEntry(options.label, undefined, undefined, watcher, false));
    this.#driver.scheduled(NaN);
    return watcher;
  }

  /**
   * Turns read or write interest on or off for a client socket. Costs one
   * system call only when the interest really changes.
   */
  setInterest(fd: number, interest: Interest): void {
    this.#assertFd(fd);
    assertObject('interest', interest);
    this.#state.assertUsable('setInterest');
    const handlers = clientOf(this.#fds.entries[fd], this.#parts.kernel, fd, 'setInterest');
    const { readable, writable } = interestChange(handlers, interest, this.#parts.core.exports.flagsOf(fd));
    this.#fds.setInterest(fd, readable, writable);
  }

  /** @internal The library's own setInterest, unchecked (see internal.ts). */
  [setInterestUnchecked](fd: number, readable: boolean, writable: boolean): void {
    this.#fds.setInterest(fd, readable, writable);
  }

  [reportErrorUnchecked](error: unknown, kind: CallbackKind, fd: number): void {
    this.#parts.callbacks.failed(error, CB[kind], fd, this.#fds.entries[fd]?.label);
  }

  [upcomingReadsUnchecked](handlers: ClientHandlers, into: Int32Array): number {
    return this.#driver.turn.upcomingReads(handlers, into);
  }

  [afterPassUnchecked](step: () => void, late?: boolean): boolean {
    return this.#driver.turn.afterPass(step, late);
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
    this.#state.assertUsable('removeSocket');
    if (!this.isRegistered(fd)) {
      throw systemError(-ENOENT, this.#parts.kernel.syscalls.control, { fd, info: `fd ${fd} is not registered with this loop` });
    }
    this.#fds.remove(fd, close);
    this.#driver.scheduled(NaN);
  }

  /**
   * Calls `callback` once, `delayMs` from now (1 ms when left out, as Node's
   * setTimeout): never earlier, and within a millisecond after when the loop
   * is not busy. Delays longer than MAX_TIMER_DELAY_MS (about 2.18 years) are
   * clamped to it. Timers due at the same time fire in the order they were set.
   */
  setTimeout(callback: () => void, delayMs?: number, options: TimerOptions = NO_OPTIONS): Timer {
    return this.#timers.create(callback, arguments.length < 2 ? DEFAULT_TIMER_DELAY_MS : delayMs!, false, options);
  }

  /**
   * Calls `callback` every `periodMs` (at least 1; 1 when left out), the
   * first time one period from now. `options.missed` says what happens
   * after a stall (default `'skip'`).
   */
  setInterval(callback: () => void, periodMs?: number, options: IntervalOptions = NO_OPTIONS): Timer {
    return this.#timers.create(callback, arguments.length < 2 ? DEFAULT_TIMER_DELAY_MS : periodMs!, true, options);
  }

  /**
   * The handle-free timeout: calls `callback(arg)` once, `delayMs` from now
   * (1 ms when left out), with the guarantees of setTimeout, and returns a
   * number, its handle for clearTimeout(). It allocates nothing and costs 32
   * bytes while pending (a Timer: 80). For code that sets many timers and
   * holds each by a number (per connection, per key): a shared callback and
   * `arg` to say which. Its callbacks run back to back with the other
   * handle-free ones due in the same pass, sharing one callback scope (ticks
   * and microtasks run after the run, not after each), and are timed in
   * groups (see docs/api.md).
   */
  timeout<A = undefined>(callback: (arg: A) => void, delayMs?: number, arg?: A, options: TimeoutOptions = NO_OPTIONS): number {
    return this.#timers.timeout(callback, arguments.length < 2 ? DEFAULT_TIMER_DELAY_MS : delayMs, arg, options);
  }

  /**
   * Cancels a timer: a Timer (as `timer.cancel()`) or a handle from
   * `timeout()`. True if it was pending; false if there was nothing to
   * cancel, which does nothing (as for `undefined` and `null`, and a number
   * that is no pending timeout's handle).
   */
  clearTimeout(timer: Timer | number | null | undefined): boolean {
    return this.#timers.clearAny(timer);
  }

  /** The same as clearTimeout(): either cancels any timer. */
  clearInterval(timer: Timer | number | null | undefined): boolean {
    return this.clearTimeout(timer);
  }

  /**
   * A promise that resolves with `value` after `delayMs` (1 ms when left
   * out), as `setTimeout` of node:timers/promises: `options.signal` aborts
   * it (the promise rejects with an `AbortError` whose `cause` is the
   * signal's reason), `options.ref` false lets the process end while it is
   * pending. Rejects with ERR_LOOP_CLOSED if the loop closes first, and with
   * the argument error for arguments it cannot take.
   */
  sleep<T = undefined>(delayMs?: number, value?: T, options: SleepOptions = NO_OPTIONS): Promise<T> {
    return this.#timers.sleep(arguments.length < 1 ? DEFAULT_TIMER_DELAY_MS : delayMs, value as T, options);
  }

  /** The loop's time, ms since it was created (its clock, never going back). */
  now(): number {
    return this.#parts.clock.now();
  }

  /**
   * The loop's time as of its last clock reading, which it takes at least
   * once per iteration (after the wait): for bookkeeping on a hot path that
   * can live with a time a fraction of an iteration old, at no clock read.
   */
  get iterationTime(): number {
    return this.#parts.clock.last;
  }

  /** Timers scheduled now. */
  get timerCount(): number {
    return this.#timers.count;
  }

  /**
   * Queues `callback` to run after the current batch of I/O callbacks and
   * before the next wait (in priority order, FIFO within a priority). A
   * callback deferred by a deferred callback runs in the next iteration. The
   * queue holds `maxDeferred` callbacks: past that, `defer` throws
   * `ERR_DEFER_QUEUE_FULL`, and the caller should slow down.
   */
  defer(callback: () => void, options: DeferOptions = {}): Deferred {
    const priority = deferPriority(callback, options);
    this.#state.assertUsable('defer');
    const deferred = this.#parts.deferred;
    const entry = deferred.push(callback, priority, options.label);
    if (entry === undefined) {
      throw new WasmloopError('ERR_DEFER_QUEUE_FULL', `the deferred queue is full (maxDeferred ${deferred.capacity})`);
    }
    this.#driver.scheduled();
    return entry;
  }

  /**
   * One iteration: waits up to `timeoutMs` (-1: until an event; 0: poll) —
   * or not at all when work is pending — calls the handlers of every event
   * that fired, then the deferred callbacks. Returns the number of events
   * the kernel reported.
   */
  runOnce(timeoutMs = -1): number {
    return this.#driver.runOnce(timeoutMs);
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
    return this.#driver.run(options);
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
    this.#driver.start();
  }

  /** Lets the process exit while the loop is running or started, as `handle.unref()` does for a Node handle. */
  unref(): this {
    this.#driver.ref(false);
    return this;
  }

  /** Undoes `unref()`: the running or started loop keeps the process alive again (the default). */
  ref(): this {
    this.#driver.ref(true);
    return this;
  }

  /**
   * Asks `run()` to return after the current iteration, or detaches a
   * started loop from Node's. Does nothing when neither is active.
   */
  stop(): void {
    this.#driver.stop();
  }

  /**
   * Unregisters every fd the loop holds and closes the sockets among them
   * (watched fds stay open: they are the caller's), drops deferred
   * callbacks, then closes the loop itself. Called while `run()` is active,
   * it stops the loop first. Closing twice does nothing.
   */
  close(): void {
    this.#driver.close();
  }

  /**
   * A handle other threads can use to wake this loop, stop it, or hand it an
   * fd (`'fd'` event). Send it to a worker with `postMessage(handle)` and
   * rebuild it there with `RemoteHandle.from(data)`. The first call creates
   * an eventfd in the loop's own set; later calls return the same handle.
   */
  remote(): RemoteHandle {
    return this.#driver.remote(this.#watcherControl);
  }

  /** A snapshot of the loop's counters and histograms (see docs/api.md). */
  metrics(): LoopMetrics {
    return this.#driver.metrics();
  }

  /** The trace ring's entries, oldest first; empty unless trace mode is on. */
  trace(): TraceEntry[] {
    return this.#parts.callbacks.trace?.entries() ?? [];
  }

  /** The trace ring as JSON. */
  dumpTrace(): string {
    return JSON.stringify({ backend: this.backend, entries: this.trace() });
  }

  /** A non-negative integer below maxFds: the registry has no slot beyond. */
  #assertFd(fd: unknown): asserts fd is number {
    assertFd(fd);
    if (fd >= this.maxFds) throw rangeError(`fd ${fd} is beyond the registry's capacity (maxFds ${this.maxFds})`);
  }
}
