// The driver: what turns the loop, and what happens around each turn. Three
// entries share it: runOnce() from the caller's code; run(), whose turns come
// from a libuv prepare handle on Node's loop where Node would block; start(),
// whose turns come from libuv handles watching the loop's epoll fd and its
// next timer. Every turn goes through #drive(), and every end of a mode
// through #end(): one way to run a turn, one way to stop.
//
// The mode names are the same in every layer: run() is runAttach/runDetach/
// runRef in the addon (run_attach... in native/node_loop.c), start() is
// startAttach/startArm/startRef/startDetach (start_attach...).
import { performance } from 'node:perf_hooks';
import { constants as osConstants } from 'node:os';

import { ROLE_NODE, ROLE_WATCH, WANT_READ } from '../core/abi.js';
import { NativeBackend, type KernelBackend } from '../kernel/backend.js';
import type { Core, CoreExports } from '../core/loader.js';
import { readMetrics, type LoopMetrics } from './metrics.js';
import type { DeferredQueue } from './deferred.js';
import { assertInteger, assertObject, check, rangeError, systemError, WasmloopError } from '../errors.js';
import { native, type StartHandle } from '../kernel/native.js';
import { RemoteInbox, type RemoteHandle, type RemoteTarget } from './remote.js';
import { Watcher, type WatcherControl } from './watcher.js';
import { CB, nodeTickStep, type CallbackRunner } from './callbacks.js';
import { FdEntry, type FdTable } from './fd-table.js';
import type { LoopClock } from './clock.js';
import type { LoopConfig } from './options.js';
import type { LoopEvents, LoopParts } from './parts.js';
import type { Failure, LoopState } from './state.js';
import type { TimerTable } from './timer-table.js';
import { Turn } from './turn.js';

const { EBUSY } = osConstants.errno;

/** Who drove a turn, and so who gets its failure: runOnce()'s caller, run()'s promise, or Node (start()). */
type Entry = 'once' | 'run' | 'start';

const settled = (): void => {};

export class Driver implements RemoteTarget {
  readonly turn: Turn;
  readonly #events: LoopEvents;
  readonly #config: LoopConfig;
  readonly #core: Core;
  readonly #wasm: CoreExports;
  readonly #kernel: KernelBackend;
  readonly #state: LoopState;
  readonly #fds: FdTable;
  readonly #timers: TimerTable;
  readonly #deferred: DeferredQueue;
  readonly #callbacks: CallbackRunner;
  readonly #clock: LoopClock;
  /** Node's backend fd, registered in the loop's own set while run() is active. */
  #nodeFd = -1;
  #settleRun: (failure: Failure | undefined) => void = settled;
  #startHandle: StartHandle | undefined;
  /** What ref() and unref() asked: whether a running or started loop may hold the process at all. */
  #referenced = true;
  /** Whether run()'s or start()'s libuv handles were last told to hold the process (see #updateHold). */
  #holding = true;
  /** When the started loop's libuv timer wakes it (ms on the loop's clock; Infinity: not set). */
  #armedAt = Infinity;
  #inbox: RemoteInbox | undefined;
  #resolveClosed: () => void = settled;
  /** Settles once the loop is closed. */
  readonly closed: Promise<void> = new Promise((resolve) => (this.#resolveClosed = resolve));

  constructor(events: LoopEvents, parts: LoopParts) {
    this.turn = new Turn(parts);
    this.#events = events;
    this.#config = parts.config;
    this.#core = parts.core;
    this.#wasm = parts.core.exports;
    this.#kernel = parts.kernel;
    this.#state = parts.state;
    this.#fds = parts.fds;
    this.#timers = parts.timers;
    this.#deferred = parts.deferred;
    this.#callbacks = parts.callbacks;
    this.#clock = parts.clock;
  }

  /** How many fds are registered, not counting the loop's own (Node's backend fd under run(), the remote eventfd). */
  get size(): number {
    return this.#wasm.registeredCount() - (this.#state.mode === 'running' ? 1 : 0) - (this.#inbox !== undefined ? 1 : 0);
  }

  /** loop.metrics(): the core's counters and histograms, and the host's gauges. */
  metrics(): LoopMetrics {
    const deferred = this.#deferred;
    return readMetrics(this.#core, {
      registered: this.size,
      deferredDepth: deferred.depth,
      deferredCapacity: deferred.capacity,
      pendingRecords: this.#state.closed ? 0 : this.#wasm.pendingRecords(),
      idleMs: this.turn.idleMs,
    });
  }

  // ---- the one driver ------------------------------------------------------------------

  /**
   * Runs a turn, then carries out what it left. A failure (thrown by the
   * turn, or a callback's with fatalErrors) ends what drove the turn; a stop
   * or close asked for during it ends the mode; a started loop otherwise
   * sets its next wakeup. The failure then goes to whoever drove the turn:
   * thrown to runOnce()'s caller or to Node (start()), or run()'s promise
   * rejects with it (#end settled it).
   */
  #drive(entry: Entry, timeoutMs: number): number {
    const state = this.#state;
    let events = 0;
    let failure: Failure | undefined;
    // run() and start() turns are called by Node outside any callback scope
    // (a runOnce() from a started loop's handler is inside that handler's).
    const callbacks = this.#callbacks;
    const outermost = callbacks.outermost;
    callbacks.outermost = entry !== 'once';
    try {
      events = this.turn.run(timeoutMs);
    } catch (error) {
      failure = { error };
    } finally {
      callbacks.outermost = outermost;
    }
    failure ??= state.takeFatal();
    if (state.mode === 'running' || state.mode === 'started') {
      // runOnce() beside start() hands its failure to its own caller and leaves start() be.
      if (state.request !== 'none' || (failure !== undefined && entry !== 'once')) failure = this.#end(failure);
      else {
        if (state.mode === 'started') this.#armStart();
        this.#updateHold();
      }
    }
    if (failure !== undefined && entry !== 'run') throw failure.error;
    return events;
  }

  /**
   * The one way a mode ends, whatever ended it (stop(), close(), a failure,
   * an abort signal, a failed poll): detach from Node's loop, back to idle,
   * close if a close was asked for, settle run()'s promise. Returns the
   * failure (or the close's own, if nothing else failed) for the caller to
   * deliver.
   */
  #end(failure: Failure | undefined): Failure | undefined {
    const state = this.#state;
    const mode = state.mode;
    if (mode === 'running') {
      native.runDetach();
      // Node's backend fd is libuv's: the loop only lets go of it.
      this.#fds.forget(this.#nodeFd);
      this.#nodeFd = -1;
    } else if (mode === 'started') {
      native.startDetach(this.#startHandle!);
      this.#startHandle = undefined;
    } else {
      return failure;
    }
    state.mode = 'idle';
    const close = state.request === 'close';
    state.request = 'none';
    if (close) {
      try {
        this.#closeNow();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (mode === 'running') {
      const settle = this.#settleRun;
      this.#settleRun = settled;
      settle(failure);
    }
    return failure;
  }

  // ---- runOnce() -----------------------------------------------------------------------

  runOnce(timeoutMs: unknown): number {
    assertInteger('timeoutMs', timeoutMs, -1, 0x7fffffff);
    this.#state.assertUsable('runOnce');
    if (this.#state.mode === 'running') throw new WasmloopError('ERR_LOOP_RUNNING', 'runOnce() cannot be called while run() is active');
    return this.#drive('once', timeoutMs);
  }

  // ---- run(): the loop blocks in its own wait, where Node would block in its poll -------

  run(options: { signal?: AbortSignal }): Promise<void> {
    assertObject('options', options);
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('options.signal must be an AbortSignal');
    const state = this.#state;
    state.assertUsable('run');
    if (state.mode === 'running') throw new WasmloopError('ERR_LOOP_RUNNING', 'run() is already active');
    if (state.mode === 'started') throw new WasmloopError('ERR_LOOP_STARTED', 'run() cannot be called while start() is active; stop() first');
    if (!(this.#kernel instanceof NativeBackend)) {
      throw new WasmloopError('ERR_RUN_NEEDS_KERNEL', `run() needs a native backend; drive a ${this.#kernel.name} backend with runOnce()`);
    }
    const nodeFd = native.runNodeFd();
    if (nodeFd >= this.#config.maxFds) {
      throw rangeError(`Node's event loop fd (${nodeFd}) is beyond maxFds (${this.#config.maxFds}); raise maxFds`);
    }
    this.#fds.register(nodeFd, ROLE_NODE, 0);
    const attached = native.runAttach(this.#onRunTurn);
    if (attached < 0) {
      this.#fds.forget(nodeFd);
      if (attached === -EBUSY) throw new WasmloopError('ERR_RUN_ACTIVE', "another loop's run() is active on this thread");
      throw systemError(attached, 'uv_prepare_start');
    }
    this.#nodeFd = nodeFd;
    state.mode = 'running';
    state.request = 'none';
    // The prepare handle starts out holding the process.
    this.#holding = true;
    this.#updateHold();
    const onAbort = (): void => this.stop();
    if (signal?.aborted) state.ask('stop');
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
   * One turn of run(), called from Node's loop where it would block (first:
   * on entering a Node iteration), outside any callback scope. Returns true
   * to be called again (after Node ran ticks and microtasks), false to hand
   * the thread back to Node.
   */
  readonly #onRunTurn = (first: boolean): boolean => {
    // Turns follow each other here, with Node's tick step between two (what
    // the native caller's scope runs when this returns), while Node has no
    // work: one crossing from libuv per Node iteration, not one per turn
    // (about 1 µs a turn at RESP -P1, docs/performance.md). Without the step, one turn a call.
    const step = nodeTickStep;
    for (;;) {
      if (!this.#runTurn(first)) return false;
      if (step === undefined) return true;
      step();
      first = false;
    }
  };

  /** One turn of run() (see #onRunTurn); true when another may follow before Node's work. */
  #runTurn(first: boolean): boolean {
    const state = this.#state;
    if (state.request !== 'none') {
      this.#end(undefined);
      return false;
    }
    // Read afresh before every wait, never kept from an earlier turn: a
    // callback, or a tick or microtask after it, may have given Node a timer,
    // an immediate or a closing handle since (0: Node has work now). In the
    // prepare hook libuv's state is settled, so the reading is Node's own.
    const timeout = native.runNodeTimeout();
    if (timeout === 0 && !first) return false;
    // Node's next timer, counted from the last turn's end (a clock reading
    // no later than now): the hand-back can only come early, never late, and
    // a timer due meanwhile reads 0 above at the next turn.
    const deadline = timeout < 0 ? Infinity : this.turn.lastEnd + timeout;
    this.#drive('run', timeout);
    if (state.mode !== 'running') return false;
    // Node has I/O ready, or a timer due.
    return !(this.turn.nodeWoke || this.turn.lastEnd >= deadline);
  }

  // ---- start(): the loop inside Node's own, woken by libuv --------------------------------

  start(): void {
    const state = this.#state;
    state.assertUsable('start');
    if (state.mode === 'running') throw new WasmloopError('ERR_LOOP_RUNNING', 'start() cannot be called while run() is active');
    if (state.mode === 'started') {
      // A handler's stop() then start(): the loop stays started. A pending close() still wins.
      if (state.request === 'stop') state.request = 'none';
      return;
    }
    const fd = this.#kernel.fd();
    if (fd < 0) {
      throw new WasmloopError('ERR_START_NEEDS_EPOLL', `start() needs a backend with an fd Node can watch (epoll); this loop uses ${this.#kernel.name}`);
    }
    const handle = native.startAttach(fd, this.#onStartWake);
    if (typeof handle === 'number') throw systemError(handle, 'uv_poll_start', { fd });
    this.#startHandle = handle;
    state.mode = 'started';
    state.request = 'none';
    this.turn.idleSince(performance.now());
    // The poll and timer handles start out holding the process.
    this.#holding = true;
    this.#updateHold();
    this.#armStart();
  }

  /** libuv woke the started loop: 0 its epoll fd is readable, 1 its timer ran out, < 0 the poll failed (libuv stopped it). */
  readonly #onStartWake = (status: number): void => {
    if (this.#state.mode !== 'started') return;
    if (status < 0) {
      // Nobody awaits a started loop: the error is Node's uncaught exception.
      throw this.#end({ error: systemError(status, 'uv_poll') })!.error;
    }
    this.#drive('start', 0);
  };

  /** Sets the started loop's libuv timer for its next timer, or now when work is pending. */
  #armStart(): void {
    const timeout = this.#wasm.pendingRecords() > 0 ? 0 : this.turn.waitTimeout(-1);
    native.startArm(this.#startHandle!, timeout);
    this.#armedAt = timeout < 0 ? Infinity : this.#clock.last + timeout;
  }

  /**
   * Work was added or removed from outside a turn (a turn sees to both at
   * its end): a started loop sleeping on libuv's timer may have to wake
   * sooner, and whether the loop holds the process may change. `deadline`:
   * a timer's, when only a timer was set (the wakeup moves only if it is
   * sooner); NaN when nothing needs an earlier wakeup (a cancel, an fd);
   * undefined: wake when the work asks (deferred work: now).
   */
  scheduled(deadline?: number): void {
    const state = this.#state;
    if (state.inTurn) return;
    if (state.mode === 'started') {
      if (deadline === undefined || deadline < this.#armedAt) this.#armStart();
    } else if (state.mode !== 'running') {
      return;
    }
    this.#updateHold();
  }

  /**
   * Liveness: a running or started loop holds the process (its libuv handles
   * are referenced) unless unref()'d, or unless all the work it has is
   * timers that do not hold it (unref'd). Work is an fd it watches (a
   * socket, a listener, a watcher, the remote handle's eventfd), a deferred
   * callback, the rest of a batch cut short, a timer. A loop with no work at
   * all holds the process: it waits for the work it is given, as a listening
   * server does. The handles are told only when the answer changes.
   */
  #updateHold(): void {
    const holding = this.#referenced && this.#workHolds();
    if (holding === this.#holding) return;
    this.#holding = holding;
    if (this.#state.mode === 'running') native.runRef(holding);
    else if (this.#state.mode === 'started') native.startRef(this.#startHandle!, holding);
  }

  #workHolds(): boolean {
    const unref = this.#timers.unrefCount;
    if (unref === 0 || this.#timers.count > unref) return true;
    return this.size > 0 || this.#inbox !== undefined || this.#deferred.depth > 0 || this.#wasm.pendingRecords() > 0;
  }

  // ---- stopping, closing ------------------------------------------------------------------

  stop(): void {
    const state = this.#state;
    if (state.mode === 'running') state.ask('stop');
    else if (state.mode === 'started') {
      if (state.inTurn) state.ask('stop');
      else this.#end(undefined);
    }
  }

  close(): void {
    const state = this.#state;
    if (state.mode === 'closed') return;
    if (state.mode === 'running' || (state.mode === 'started' && state.inTurn)) {
      state.ask('close');
      return;
    }
    if (state.mode === 'started') {
      state.ask('close');
      const failure = this.#end(undefined);
      if (failure !== undefined) throw failure.error;
      return;
    }
    this.#closeNow();
  }

  ref(referenced: boolean): void {
    this.#referenced = referenced;
    if (this.#state.mode === 'running' || this.#state.mode === 'started') this.#updateHold();
  }

  #closeNow(): void {
    this.#state.mode = 'closed';
    this.#resolveClosed();
    this.#config.logger?.debug?.({ registered: this.size, timers: this.#wasm.timerCount() }, 'wasmloop: closing the loop');
    // The inbox first: its producers must be done before its eventfd is
    // closed with the rest.
    this.#inbox?.close();
    let first = this.#fds.releaseAll();
    for (const queue of this.#deferred.takeAll() ?? []) for (const entry of queue) entry.cancel();
    this.#timers.closeAll();
    const freed = this.#kernel.free();
    if (freed < 0) first ??= systemError(freed, 'close');
    if (first !== undefined) throw first;
  }

  // ---- the remote handle: commands from other threads ---------------------------------------

  /** The loop's remote handle; the first call registers its eventfd, read at priority 0. */
  remote(control: WatcherControl): RemoteHandle {
    this.#state.assertUsable('remote');
    const handle = this.#remote(control);
    this.scheduled(NaN);
    return handle;
  }

  #remote(control: WatcherControl): RemoteHandle {
    if (this.#inbox !== undefined) return this.#inbox.handle;
    const fd = check(native.eventfd(0), 'eventfd');
    let inbox: RemoteInbox;
    try {
      const generation = this.#fds.register(fd, ROLE_WATCH, WANT_READ);
      inbox = new RemoteInbox(fd);
      const watcher = new Watcher(fd, () => inbox.serve(this), 'remote', generation, control);
      this.#fds.hold(fd, new FdEntry('remote', undefined, undefined, watcher, true));
    } catch (error) {
      native.close(fd);
      throw error;
    }
    this.#inbox = inbox;
    return inbox.handle;
  }

  /** RemoteTarget: an fd handed over by another thread goes to the 'fd' listener, who owns it from then on. */
  adopt(fd: number): void {
    if (this.#events.listenerCount('fd') === 0) {
      native.close(fd);
      this.#callbacks.failed(new WasmloopError('ERR_NO_FD_LISTENER', `fd ${fd} was handed to the loop but nothing listens for 'fd'; it was closed`), CB.watch, fd, 'remote');
      return;
    }
    try {
      this.#events.emit('fd', fd);
    } catch (error) {
      // Whoever listened did not keep it: do not leak it.
      if (this.#wasm.roleOf(fd) === 0) native.close(fd);
      this.#callbacks.failed(error, CB.watch, fd, 'remote');
    }
  }
}
