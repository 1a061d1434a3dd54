// One turn of the loop, in order (docs/design.md, "One iteration"):
//
//   pending   the rest of a batch the last turn's budget cut short, if any,
//             instead of a wait
//   wait      one wait (bounded by the next timer; a poll when work waits),
//             then up to maxRepolls non-blocking ones while batches come full
//   dispatch  the core turns the events into records, ordered by priority
//   serve     one pass over the records: the I/O callbacks, within the budget
//   settle    (inside serve) a dead connection is closed, a half-closed one
//             stops being read; a watcher stops after a full hang-up
//   timers    the timers due by the clock after the wait
//   deferred  the deferred callbacks queued before this phase
//
// Three crossings whatever the batch size (wait, dispatch, the pass), and
// nothing allocated per event: records are read from an Int32Array over the
// core's memory, handlers are found by fd in the fd table, counting happens
// in the core. The turn runs; the driver (driver.ts) decides what comes
// after it.
import { performance } from 'node:perf_hooks';
import { constants as osConstants } from 'node:os';

import {
  COUNTER_BUDGET_CUTOFFS,
  COUNTER_BUSY_NS,
  COUNTER_DEFERRED_RUN,
  COUNTER_ITERATIONS,
  COUNTER_REPOLLS,
  EPOLLHUP,
  KIND_ACCEPT,
  KIND_DEAD,
  KIND_ERROR,
  KIND_NODE,
  KIND_READ,
  KIND_WRITE,
  ROLE_CLIENT,
  ROLE_SERVER,
  WANT_READ,
} from '../core/abi.js';
import type { KernelBackend } from '../kernel/backend.js';
import type { CoreExports } from '../core/loader.js';
import type { DeferredQueue } from './deferred.js';
import { systemError } from '../errors.js';
import { native } from '../kernel/native.js';
import type { Watcher, WatchEvent } from './watcher.js';
import { CB, type CallbackRunner } from './callbacks.js';
import type { LoopClock } from './clock.js';
import type { FdTable, ServerEntry } from './fd-table.js';
import type { LoopParts } from './parts.js';
import type { ClientHandlers } from './registration.js';
import { emptyList } from './lists.js';
import type { LoopState } from './state.js';
import type { TimerTable } from './timer-table.js';
import { NEXT_TIMEOUT, NEXT_TIMER, PASS_OVER } from './timer-pass.js';

const { EAGAIN, ECONNABORTED, EPROTO, EPERM, EINTR } = osConstants.errno;

/** accept() errors that concern one connection, not the listener: skip it. */
const TRANSIENT_ACCEPT_ERRORS = new Set([-ECONNABORTED, -EPROTO, -EPERM, -EINTR]);

export class Turn {
  /** Node's backend fd was reported in this turn (under run(): Node has I/O ready). */
  nodeWoke = false;
  readonly #core: LoopParts['core'];
  readonly #wasm: CoreExports;
  readonly #kernel: KernelBackend;
  readonly #clock: LoopClock;
  readonly #state: LoopState;
  readonly #fds: FdTable;
  readonly #timers: TimerTable;
  readonly #deferred: DeferredQueue;
  readonly #callbacks: CallbackRunner;
  readonly #config: LoopParts['config'];
  /** Time the loop spent idle, ns: see idleFrom in run(). */
  #idleNs = 0;
  /** When the last turn ended (performance.now()). */
  #lastEnd = 0;
  /** When the last wait began and ended (performance.now()). */
  #waitStart = 0;
  #waitEnd = 0;
  /** The record whose callback runs now, and the batch's end; -1 outside the pass. */
  #serving = -1;
  #servingEnd = 0;
  /** Steps to run when the pass's callbacks are done (afterPass), then the late ones. */
  readonly #afterPass: (() => void)[] = [];
  readonly #afterPassLate: (() => void)[] = [];

  constructor(parts: LoopParts) {
    this.#core = parts.core;
    this.#wasm = parts.core.exports;
    this.#kernel = parts.kernel;
    this.#clock = parts.clock;
    this.#state = parts.state;
    this.#fds = parts.fds;
    this.#timers = parts.timers;
    this.#deferred = parts.deferred;
    this.#callbacks = parts.callbacks;
    this.#config = parts.config;
  }

  /** Idle time so far, ms: the loop's time waiting for work (see run()). */
  get idleMs(): number {
    return this.#idleNs / 1e6;
  }

  /** When the last turn ended (performance.now()). */
  get lastEnd(): number {
    return this.#lastEnd;
  }

  /** A started loop is idle from now until its first wakeup. */
  idleSince(time: number): void {
    this.#lastEnd = time;
  }

  /** One turn; returns the number of events the kernel reported. */
  run(timeoutMs: number): number {
    const w = this.#wasm;
    const state = this.#state;
    const config = this.#config;
    w.noteCount(COUNTER_ITERATIONS, 1);
    // Idle is the time before a turn's work begins, waiting for it: its wait
    // under runOnce() and run() (between turns, Node or the caller has the
    // thread), and all the time since the last turn ended under start(),
    // whose waits are zero-timeout polls and whose waiting happens in libuv.
    // The wait's own clock readings bound the idle time (its start, its end):
    // two reads fewer per turn than reading around it again.
    let idleFrom = this.#lastEnd;
    this.nodeWoke = false;
    state.inTurn = true;
    let events = 0;
    let busyFrom: number;
    try {
      if (w.pendingRecords() > 0) {
        // The last turn's budget ran out: serve the rest of its batch before
        // asking the kernel for more.
        busyFrom = performance.now();
        if (state.mode !== 'started') idleFrom = busyFrom;
        this.#callbacks.beginAt(busyFrom);
        this.#serve(busyFrom, config.callbacksPerIteration);
      } else {
        // One reading is the timeout's now and the wait's start.
        const waitFrom = performance.now();
        let count = this.#wait(this.waitTimeout(timeoutMs, waitFrom), waitFrom);
        if (state.mode !== 'started') idleFrom = this.#waitStart;
        busyFrom = this.#waitEnd;
        this.#callbacks.beginAt(busyFrom);
        let callbacks = config.callbacksPerIteration;
        for (let repolls = 0; count > 0; repolls++) {
          events += count;
          w.dispatch(count);
          callbacks = this.#serve(busyFrom, callbacks);
          // A full batch suggests more is ready (libuv re-polls the same way).
          if (count < config.maxEvents || repolls === config.maxRepolls || callbacks === 0 || w.pendingRecords() > 0) break;
          if (state.cut) break;
          w.noteCount(COUNTER_REPOLLS, 1);
          count = this.#wait(0);
          this.#callbacks.beginAt(this.#waitEnd);
        }
      }
      // A fatal error stops the turn after the callback that threw. A
      // callback may have closed the loop: its timers are gone with it.
      if (state.fatal === undefined && !state.closed) this.#fireTimers();
      if (state.fatal === undefined) this.#runDeferred();
    } finally {
      state.inTurn = false;
    }
    // The turn's last reading (its last callback's end, or its wait's) is
    // its end: what follows it here is bookkeeping of a few hundred ns.
    const end = this.#callbacks.lastReading;
    w.noteCount(COUNTER_BUSY_NS, (end - busyFrom) * 1e6);
    this.#idleNs += (busyFrom - idleFrom) * 1e6;
    this.#lastEnd = end;
    return events;
  }

  /**
   * How long the next wait may block: not at all when work is waiting
   * (deferred callbacks, due timers), else until the earliest timer or
   * `requested`, whichever comes first (-1: no bound). `reading`: a
   * performance.now() just taken, the time to count from (LoopClock.at).
   */
  waitTimeout(requested: number, reading?: number): number {
    if (this.#deferred.depth > 0 || requested === 0) return 0;
    const next = this.#timers.nextDeadline();
    if (next < 0) return requested;
    // A fraction of a millisecond is kept: the wait ends at the deadline to
    // the microsecond (epoll_pwait2, ppoll, pselect).
    const untilTimer = Math.max(0, next - (reading === undefined ? this.#clock.now() : this.#clock.at(reading)));
    return requested < 0 ? untilTimer : Math.min(requested, untilTimer);
  }

  /** One wait, counted, its start and end kept (#waitStart, #waitEnd). An interrupted wait is an empty one. */
  #wait(timeoutMs: number, start: number = performance.now()): number {
    this.#waitStart = start;
    let count = this.#kernel.wait(timeoutMs);
    const end = (this.#waitEnd = performance.now());
    if (count === -EINTR) count = 0;
    if (count < 0) throw systemError(count, this.#kernel.syscalls.wait);
    this.#wasm.noteWait(count, (end - start) * 1e6);
    return count;
  }

  /**
   * Runs the batch's records from the core's cursor on, until they run out,
   * `callbacks` have run, or the turn's time budget is spent. Returns the
   * callbacks left in the budget.
   */
  #serve(turnStart: number, callbacks: number): number {
    const w = this.#wasm;
    const records = this.#core.records;
    const words = this.#core.recordWords;
    const state = this.#state;
    const entries = this.#fds.entries;
    const run = this.#callbacks;
    const deadline = turnStart + this.#config.iterationBudgetMs;
    const end = (this.#servingEnd = w.recordsInBatch());
    let i = w.batchCursor();
    let start = run.lastReading;
    try {
      for (; i < end; i++) {
        const at = i * words;
        // Read the kind just before acting on it: an earlier handler in this
        // batch may have removed this fd, and the core then marked it dead.
        const kind = records[at]!;
        if (kind === KIND_DEAD) continue;
        if (state.cut) break;
        if (callbacks === 0 || start >= deadline) {
          w.noteCount(COUNTER_BUDGET_CUTOFFS, 1);
          this.#config.logger?.debug?.({ pending: end - i, callbacksLeft: callbacks }, 'wasmloop: iteration budget spent; the rest of the batch goes next');
          break;
        }
        const fd = records[at + 1]!;
        if (kind === KIND_NODE) {
          this.nodeWoke = true;
          continue;
        }
        // Read before the call: the handler may unregister its fd.
        const entry = entries[fd]!;
        const label = entry.label;
        const client = entry.client;
        this.#serving = i;
        if (client !== undefined && kind === KIND_READ) start = run.call(CB.read, fd, label, client, client.read!);
        else if (client !== undefined && kind === KIND_WRITE) start = run.call(CB.write, fd, label, client, client.write!);
        else {
          // The loop's own steps around user callbacks: what they throw is that callback's error.
          let ran: number = CB.watch;
          try {
            if (kind === KIND_ACCEPT) {
              ran = CB.accept;
              this.#accept(fd, entry.server!);
            } else if (client === undefined) {
              this.#watchEvent(fd, entry.watcher!, kind, records[at + 2]!, records[at + 3]!);
            } else {
              ran = kind === KIND_ERROR ? CB.error : CB.hangup;
              this.#hangupOrError(fd, client, kind, records[at + 2]!, records[at + 3]!);
            }
          } catch (error) {
            run.failed(error, ran, fd, label);
          }
          start = run.ran(ran, fd, label);
        }
        callbacks--;
      }
    } finally {
      this.#serving = -1;
      w.setBatchCursor(i);
      if (this.#afterPass.length > 0 || this.#afterPassLate.length > 0) this.#runAfterPass();
    }
    return callbacks;
  }

  /**
   * From inside a callback of the pass under way: `step` runs once after
   * the pass's last callback (its budget cut or a stop included), before
   * anything else of the turn; a `late` one after the others (what follows
   * the pass's writes: a response's 'finish'). False outside a pass.
   */
  afterPass(step: () => void, late = false): boolean {
    if (this.#serving < 0) return false;
    (late ? this.#afterPassLate : this.#afterPass).push(step);
    return true;
  }

  /** The pass's steps (afterPass), each on its own: what one throws is reported as a write callback's error, and the rest run. */
  #runAfterPass(): void {
    this.#runSteps(this.#afterPass);
    this.#runSteps(this.#afterPassLate);
    this.#callbacks.settle();
  }

  #runSteps(steps: (() => void)[]): void {
    for (let i = 0; i < steps.length; i++) {
      try {
        steps[i]!();
      } catch (error) {
        this.#callbacks.failed(error, CB.write, -1, undefined);
      }
    }
    // Not `length = 0`: that drops the backing store, and each pass's first
    // afterPass() allocated a new one (about 150 B a pass, a third of what an
    // HTTP server's serving allocated).
    emptyList(steps);
  }

  /**
   * From inside a read callback: the fds of this batch's read records for
   * `handlers`, the one being served first, in the order they will be served,
   * at most `into.length` (0 outside the pass). A driver reads them all in
   * one crossing (native.readMany). A record after this one may still be
   * dropped (its fd removed, or its read interest turned off, by a callback
   * before it): the caller keeps what it read for such an fd.
   */
  upcomingReads(handlers: ClientHandlers, into: Int32Array): number {
    const from = this.#serving;
    if (from < 0) return 0;
    const records = this.#core.records;
    const words = this.#core.recordWords;
    const entries = this.#fds.entries;
    const end = this.#servingEnd;
    let count = 0;
    for (let i = from; i < end && count < into.length; i++) {
      const at = i * words;
      if (records[at] !== KIND_READ) continue;
      const fd = records[at + 1]!;
      if (entries[fd]?.client === handlers) into[count++] = fd;
    }
    return count;
  }

  /** Up to acceptsPerEvent connections for a listener, each handed to its onAccept. */
  #accept(serverFd: number, entry: ServerEntry): void {
    const w = this.#wasm;
    const generation = w.generationOf(serverFd);
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
        // A connection onAccept neither registered nor kept: nobody else will close it.
        if (w.roleOf(fd) === 0) native.close(fd);
        throw error;
      }
      // onAccept may have removed the listener itself.
      if (w.generationOf(serverFd) !== generation || w.roleOf(serverFd) !== ROLE_SERVER) return;
    }
  }

  /** A client socket's hang-up or error: calls the handler, then settles the socket's fate. */
  #hangupOrError(fd: number, handlers: ClientHandlers, kind: number, generation: number, bits: number): void {
    const w = this.#wasm;
    let dead = (bits & EPOLLHUP) !== 0;
    try {
      if (kind === KIND_ERROR) {
        dead = true;
        const soError = native.socketError(fd);
        // SO_ERROR is cleared by the first call that reports it: a read in
        // this same batch may have taken it, leaving a plain hang-up.
        if (soError === 0) {
          if (handlers.hangup) native.invoke(handlers, handlers.hangup, fd, true);
        } else if (handlers.error) {
          native.invoke(handlers, handlers.error, fd, systemError(soError > 0 ? -soError : soError, 'getsockopt', { fd }));
        }
      } else if (handlers.hangup) {
        native.invoke(handlers, handlers.hangup, fd, dead);
      }
    } finally {
      // Unless the handler already dealt with it, a dead connection is closed
      // and a half-closed one stops being watched for reads (a level-triggered
      // hang-up would otherwise be reported on every turn).
      if (w.generationOf(fd) === generation && w.roleOf(fd) === ROLE_CLIENT) {
        if (dead) this.#fds.remove(fd, true);
        else {
          const old = w.flagsOf(fd);
          this.#fds.changeFlags(fd, old & ~WANT_READ, old);
        }
      }
    }
  }

  /** A watcher's readiness. After a full hang-up or an error the loop stops watching. */
  #watchEvent(fd: number, watcher: Watcher, kind: number, generation: number, bits: number): void {
    const event: WatchEvent = kind === KIND_READ ? 'readable' : kind === KIND_WRITE ? 'writable' : kind === KIND_ERROR ? 'error' : 'hangup';
    const final = event === 'error' || (event === 'hangup' && (bits & EPOLLHUP) !== 0);
    try {
      native.invoke(watcher, watcher.handler, event, watcher);
    } finally {
      if (final && this.#wasm.generationOf(fd) === generation && this.#fds.entries[fd]?.watcher === watcher) this.#fds.unwatch(fd);
    }
  }

  /**
   * The timers due by the clock now, in the table's batches, until a
   * callback stops the turn or closes the loop. Under run() and start(),
   * ticks and microtasks run after each Timer's callback (Node's tick step,
   * or a callback scope each where that step is missing) and after a run of
   * handle-free timeouts (one scope for the run).
   */
  #fireTimers(): void {
    const timers = this.#timers.pass;
    const state = this.#state;
    const run = this.#callbacks;
    try {
      // Due by the turn's last reading: after the wait, never ahead of now.
      let next = timers.advance(this.#clock.at(run.lastReading));
      if (next === PASS_OVER) return;
      do {
        if (next === NEXT_TIMEOUT) {
          // One callback scope for the run (ticks after it), needless inside runOnce()'s caller's.
          next = run.outermost ? (native.invoke(timers, timers.fireTimeouts) as number) : timers.fireTimeouts();
          continue;
        }
        const after = run.afterCallback;
        if (next === NEXT_TIMER && after !== null) {
          next = timers.fireTimers(after);
          continue;
        }
        const timer = timers.takeTimer();
        run.call(CB.timer, -1, timer.label, timer, timer.callback);
        // Closed: every timer went with the loop. Stopped: the rest stay due and fire first next turn.
        if (state.halted) return;
        next = timers.peek();
      } while (next !== PASS_OVER);
    } finally {
      timers.endPass();
    }
  }

  /** Deferred callbacks queued before this phase, in priority order. */
  #runDeferred(): void {
    const deferred = this.#deferred;
    const taken = deferred.takeAll();
    if (taken === undefined) return;
    const state = this.#state;
    const run = this.#callbacks;
    run.begin();
    for (let p = 0; p < taken.length; p++) {
      const queue = taken[p]!;
      for (let i = 0; i < queue.length; i++) {
        if (state.fatal !== undefined) {
          // Stopping: what was not run goes back, ahead of newer entries.
          deferred.restore(taken, p, i);
          return;
        }
        const entry = queue[i]!;
        const callback = entry.callback;
        if (callback === undefined) continue;
        deferred.ran(entry);
        run.call(CB.deferred, -1, entry.label, entry, callback);
      }
    }
    this.#wasm.noteCount(COUNTER_DEFERRED_RUN, 1);
  }
}
