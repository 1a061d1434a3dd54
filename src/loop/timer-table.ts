// The host's side of the timer wheel, and its policy: what each wheel entry
// is for, scheduling, cancelling and refreshing, and the order of a timer
// pass. The wheel itself is in the wasm core (assembly/timers.ts), and so is
// everything that is per timer and a number: the exact deadline, the links,
// the generation, whether it holds the process, and the short list of timers
// held back for the last fraction of their millisecond.
//
// Two kinds of timer share the wheel and one table of entries:
//
//   slots[index]   a Timer (setTimeout, setInterval: an object the caller
//                  holds, with options, refresh, ref/unref), or the callback
//                  of a handle-free timeout (loop.timeout(): the caller holds
//                  a number, the entry's handle). args[index] holds that
//                  callback's argument, once any timeout was given one.
//
// A handle-free timeout costs its wheel entry (24 bytes) and its slot (8),
// and allocates nothing: no object, no closure, and a handle that is a small
// integer (a V8 Smi) until its entry has been reused 2^(31 - timerIndexBits)
// times. A Timer costs 48 bytes more (see src/loop/timer.ts).
//
// A pass is pulled by the loop: advance(now) moves the wheel to `now` and
// takes the first batch of due entries from the core (up to TIMER_BATCH
// indices in its batch region, one call into wasm per batch, none per
// timer); peek() says what runs next. A Timer's entry goes through
// takeTimer() (an interval is scheduled again before its callback runs) and
// its callback through the loop's callback runner, one callback scope each;
// a run of handle-free timeouts goes through fireTimeouts(), called back to
// back in one scope. The core keeps a batch's entries pending until the
// host has passed their cells (endPass(), or the next batch): so a callback
// that cancels or moves a later timer of the batch has its cell marked and
// skipped, and no entry of the batch is reused under the host. A pass the
// loop leaves early (a stop, a fatal error) is ended where it stopped: the
// timers still due fire first in the next advance().
import { ERR_TIMERS_FULL, MAX_TIMER_DELAY_MS, TIMER_BATCH } from '../core/abi.js';
import type { Core, CoreExports } from '../core/loader.js';
import { assertBoolean, assertFunction, assertObject, assertOneOf, assertString, rangeError, typeError } from '../errors.js';
import {
  bitsOf,
  CANCELLED,
  delayOf,
  DetailedTimer,
  IDLE,
  isSmall,
  MISSED_TICK_POLICIES,
  NO_OPTIONS,
  REPEAT,
  Timer,
  UNREF,
  type IntervalOptions,
  type MissedTickPolicy,
  type TimerControl,
} from './timer.js';
import { CB, type CallbackRunner } from './callbacks.js';
import type { LoopClock } from './clock.js';
import { closedError, type LoopState } from './state.js';

/** What a handle-free timeout calls, with the argument it was given. */
export type TimeoutCallback = (arg: never) => void;

/**
 * Handle-free timeouts of one pass run back to back, and the clock is read
 * after every TIMEOUTS_PER_CLOCK_READ of them rather than after each: a read
 * (performance.now()) costs about 50 ns here, as much as a small timeout,
 * and 32 brings it to under 2 ns each while a slow one still shows, in a
 * group of at most 32 (bench/timers.ts, scenario fire-same-ms).
 */
export const TIMEOUTS_PER_CLOCK_READ = 32;

/** What a pass runs next (TimerTable.advance, peek, fireTimeouts). */
export const PASS_OVER = -1;
export const NEXT_TIMEOUT = 0;
export const NEXT_TIMER = 1;

/** What the table tells the driver: work was added or removed (timers, or their ref). `deadline`: the one a new timer is due at. */
export type TimersChanged = (deadline: number) => void;

export class TimerTable implements TimerControl {
  readonly capacity: number;
  readonly #wasm: CoreExports;
  readonly #clock: LoopClock;
  readonly #state: LoopState;
  readonly #run: CallbackRunner;
  readonly #changed: TimersChanged;
  /** An entry's index is its handle's low timerIndexBits bits; the generation is the rest. */
  readonly #indexMask: number;
  readonly #generationScale: number;
  /** Handles are below this: generations are below 2^29. */
  readonly #handleLimit: number;
  /** By wheel entry: its Timer, or a handle-free timeout's callback. */
  readonly #slots: (Timer | TimeoutCallback | undefined)[] = [];
  /** By wheel entry: a handle-free timeout's argument; made on first use, filled as far as used. */
  #args: unknown[] | undefined;
  /** The time of the pass under way. */
  #passNow = 0;
  /** The core's batch region: the due entries of the pass, a batch at a time (NIL: cancelled or moved before its turn). */
  readonly #cells: Int32Array;
  /** Cells in the batch; the next one to run (while fireTimeouts runs, where it began: see #runPosition). */
  #batchEnd = 0;
  #batchAt = 0;
  /** How to settle each pending sleep() when the loop closes first. */
  readonly #sleeps = new Set<(error: unknown) => void>();
  /** This loop's own Timer classes: their prototype holds the table, so no Timer needs a field for it. */
  readonly #Plain: new (callback: () => void, bits: number) => Timer;
  readonly #Detailed: new (callback: () => void, delay: number, flags: number, options: IntervalOptions, missed: MissedTickPolicy) => DetailedTimer;
  #closed = false;

  constructor(core: Core, capacity: number, clock: LoopClock, state: LoopState, run: CallbackRunner, changed: TimersChanged) {
    const wasm = core.exports;
    this.capacity = capacity;
    this.#wasm = wasm;
    this.#cells = new Int32Array(core.memory.buffer, wasm.timerBatchBase.value as number, TIMER_BATCH);
    this.#clock = clock;
    this.#state = state;
    this.#run = run;
    this.#changed = changed;
    const bits = wasm.timerIndexBits.value as number;
    this.#indexMask = 2 ** bits - 1;
    this.#generationScale = 2 ** bits;
    this.#handleLimit = 2 ** (29 + bits);
    // Named by their keys, so heap snapshots and stack traces say Timer.
    this.#Plain = { Timer: class extends Timer {} }.Timer;
    this.#Detailed = { DetailedTimer: class extends DetailedTimer {} }.DetailedTimer;
    for (const own of [this.#Plain, this.#Detailed]) Object.defineProperty(own.prototype, 'control', { value: this });
  }

  /**
   * Timers scheduled now. The core holds the entries of the batch's cells
   * that ran until the batch ends; they are not counted.
   */
  get count(): number {
    if (this.#closed) return 0;
    const cells = this.#cells;
    const at = this.#runPosition();
    let ran = 0;
    for (let cell = 0; cell < at; cell++) if (cells[cell]! >= 0) ran++;
    return this.#wasm.timerCount() - ran;
  }

  /** Timers scheduled now that do not hold the process (unref'd). */
  get unrefCount(): number {
    return this.#closed ? 0 : this.#wasm.timerUnrefCount();
  }

  /** The earliest deadline to wake for (ms on the loop's clock), or -1 when no timer is scheduled. */
  nextDeadline(): number {
    return this.#wasm.timerNextDeadline();
  }

  // ---- Timer objects -------------------------------------------------------------------

  /** setTimeout (`repeat` false) and setInterval: validates, then schedules one `delay` from now. */
  create(callback: () => void, delay: number, repeat: boolean, options: IntervalOptions): Timer {
    assertFunction('callback', callback);
    checkDelay(repeat ? 'periodMs' : 'delayMs', delay, repeat ? 1 : 0);
    let flags = repeat ? REPEAT : 0;
    let detailed = repeat || !isSmall(delay);
    let missed: MissedTickPolicy = 'skip';
    let signal: AbortSignal | undefined;
    // No options: nothing to check (the common case, kept short).
    if (options !== NO_OPTIONS) {
      assertObject('options', options);
      const { jitter, label } = options;
      if (jitter !== undefined) {
        if (typeof jitter !== 'number') throw typeError('options.jitter', 'a number', jitter);
        if (!(jitter >= 0 && jitter <= 1)) throw rangeError(`options.jitter must be a fraction from 0 to 1, got ${jitter}`);
      }
      if (label !== undefined) assertString('options.label', label);
      missed = options.missed ?? 'skip';
      assertOneOf('options.missed', missed, MISSED_TICK_POLICIES);
      signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('options.signal', 'an AbortSignal', signal);
      const ref = options.ref ?? true;
      assertBoolean('options.ref', ref);
      if (!ref) flags |= UNREF;
      detailed ||= (jitter !== undefined && jitter !== 0) || label !== undefined || signal !== undefined;
    }
    if (this.#closed) throw closedError(repeat ? 'setInterval' : 'setTimeout');
    const timer = detailed ? new this.#Detailed(callback, delay, flags, options, missed) : new this.#Plain(callback, bitsOf(delay, flags));
    if (signal?.aborted) {
      timer.index = CANCELLED;
      return timer;
    }
    const deadline = this.#schedule(timer, this.#clock.now() + delay);
    if (signal !== undefined) {
      const abort = { signal, listener: () => timer.cancel() };
      (timer as DetailedTimer).abort = abort;
      signal.addEventListener('abort', abort.listener, { once: true });
    }
    this.#changed(deadline);
    return timer;
  }

  /** Keeps the timer from firing. False when there was nothing to cancel. */
  cancel(timer: Timer): boolean {
    const index = timer.index;
    // Fired (a timeout), cancelled, or closed with the loop: nothing to do.
    if (index < 0) return false;
    this.#wasm.timerRemove(index);
    this.#slots[index] = undefined;
    timer.index = CANCELLED;
    releaseSignal(timer);
    this.#changed(NaN);
    return true;
  }

  /** Restarts the countdown from now. */
  refresh(timer: Timer): void {
    const index = timer.index;
    if (index === CANCELLED) return;
    if (this.#closed) throw closedError('refresh');
    const base = this.#clock.now() + delayOf(timer);
    if (index >= 0) {
      const deadline = this.#deadline(timer, base);
      this.#wasm.timerMove(index, deadline);
      this.#changed(deadline);
      return;
    }
    // A timeout that fired let go of its signal: an abort since then counts
    // as a cancel, and re-arming takes the signal back.
    const abort = timer instanceof DetailedTimer ? timer.abort : undefined;
    if (abort?.signal.aborted) {
      timer.index = CANCELLED;
      return;
    }
    const deadline = this.#schedule(timer, base);
    abort?.signal.addEventListener('abort', abort.listener, { once: true });
    this.#changed(deadline);
  }

  /** ref() and unref(). */
  setRef(timer: Timer, ref: boolean): void {
    if (((timer.bits & UNREF) === 0) === ref) return;
    timer.bits ^= UNREF;
    if (timer.index >= 0) {
      this.#wasm.timerSetRef(timer.index, ref ? 1 : 0);
      this.#changed(NaN);
    }
  }

  // ---- handle-free timeouts --------------------------------------------------------------

  /**
   * loop.timeout(): calls `callback(arg)` once, `delay` ms from now (the
   * caller checked the arguments). Returns the handle.
   */
  timeout(callback: TimeoutCallback, delay: number, arg: unknown, ref: boolean): number {
    if (this.#closed) throw closedError('timeout');
    const deadline = this.#clock.now() + (delay < MAX_TIMER_DELAY_MS ? delay : MAX_TIMER_DELAY_MS);
    let handle = this.#wasm.timerSchedule(deadline, ref ? 0 : 1);
    if (handle === ERR_TIMERS_FULL) {
      if (!this.#releaseRan()) throw this.#fullError();
      handle = this.#wasm.timerSchedule(deadline, ref ? 0 : 1);
    }
    const index = handle & this.#indexMask;
    this.#slots[index] = callback;
    if (arg !== undefined) this.#setArg(index, arg);
    this.#changed(deadline);
    return handle;
  }

  /**
   * Cancels the handle-free timeout `handle`. False when there was nothing to
   * cancel: it fired, was cancelled, the loop closed, or the number is no
   * handle this loop gave out (it never names a Timer's entry).
   */
  clear(handle: number): boolean {
    if (!(handle >= 0 && handle < this.#handleLimit) || Math.floor(handle) !== handle) return false;
    const index = handle & this.#indexMask;
    if (typeof this.#slots[index] !== 'function') return false;
    if (this.#wasm.timerCancel(index, (handle - index) / this.#generationScale) === 0) return false;
    this.#slots[index] = undefined;
    this.#clearArg(index);
    this.#changed(NaN);
    return true;
  }

  /**
   * loop.sleep(): a promise of `value`, `delay` ms from now, on a handle-free
   * timeout (the caller checked the arguments). Aborting `signal` cancels
   * it with an AbortError; closing the loop, with ERR_LOOP_CLOSED.
   */
  sleep<T>(delay: number, value: T, signal: AbortSignal | undefined, ref: boolean): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<T>((resolve, reject) => {
      const fail = (error: unknown): void => {
        settle();
        reject(error);
      };
      const onAbort = (): void => {
        this.clear(handle);
        fail(abortError(signal!));
      };
      const settle = (): void => {
        this.#sleeps.delete(fail);
        signal?.removeEventListener('abort', onAbort);
      };
      const handle = this.timeout(() => {
        settle();
        resolve(value);
      }, delay, undefined, ref);
      this.#sleeps.add(fail);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  // ---- a pass ------------------------------------------------------------------------------

  /**
   * Advances the wheel to `now` (timers due by `floor(now)` go to its due
   * list), begins a pass at `now` and takes its first batch. Returns what
   * comes first: NEXT_TIMEOUT, NEXT_TIMER or PASS_OVER. The pass is ended
   * by endPass(), however it ends.
   */
  advance(now: number): number {
    const w = this.#wasm;
    this.#passNow = now;
    w.timerExpire(now);
    this.#batchAt = 0;
    this.#batchEnd = w.timerTakeBatch();
    return this.peek();
  }

  /**
   * What the pass runs next: held timers of earlier passes first, then the
   * wheel's due list, in deadline order, equal deadlines in insertion order;
   * a timer whose exact deadline is still ahead (its millisecond has only
   * begun) is held back for a later pass by the core. The due list is never
   * refilled during a pass: a timer set by a callback, even overdue, waits
   * for the next advance(). A cell whose timer was cancelled or moved
   * before its turn is skipped.
   */
  peek(): number {
    const cells = this.#cells;
    for (;;) {
      const at = this.#batchAt;
      if (at === this.#batchEnd) {
        if (at === 0 || this.#refill() === 0) return PASS_OVER;
        continue;
      }
      const index = cells[at]!;
      if (index >= 0) return typeof this.#slots[index] === 'function' ? NEXT_TIMEOUT : NEXT_TIMER;
      this.#batchAt = at + 1;
    }
  }

  /**
   * Takes the Timer peek() found next, its interval already scheduled again
   * (so the callback can cancel or refresh it), a timeout done.
   */
  takeTimer(): Timer {
    const at = this.#batchAt;
    const index = this.#cells[at]!;
    const timer = this.#slots[index] as Timer;
    this.#slots[index] = undefined;
    this.#batchAt = at + 1;
    if ((timer.bits & REPEAT) !== 0) {
      this.#schedule(timer, nextTick(timer as DetailedTimer, this.#passNow));
    } else {
      timer.index = IDLE;
      releaseSignal(timer);
    }
    return timer;
  }

  /**
   * Runs the handle-free timeouts from the one peek() found next, back to
   * back, across batches, until the pass is over (PASS_OVER), the next is a
   * Timer's (NEXT_TIMER), or a callback stops the turn or closes the loop
   * (PASS_OVER). What a callback throws goes to the loop's error path; the
   * clock is read once per TIMEOUTS_PER_CLOCK_READ callbacks.
   */
  fireTimeouts(): number {
    const cells = this.#cells;
    const slots = this.#slots;
    const state = this.#state;
    const run = this.#run;
    // No timeout due in this pass was given an argument unless the table
    // existed when the pass began: a timeout set during it is not due in it.
    const args = this.#args;
    const group = run.trace === undefined ? TIMEOUTS_PER_CLOCK_READ : 1;
    let at = this.#batchAt;
    let end = this.#batchEnd;
    let next = PASS_OVER;
    let returned = false;
    try {
      for (;;) {
        if (at === end) {
          this.#batchAt = at;
          end = this.#refill();
          at = 0;
          if (end === 0) break;
        }
        const from = at;
        at = runCells(cells, slots, args, state, run, at, end - at > group ? at + group : end);
        if (at < 0) {
          at = ~at;
          next = NEXT_TIMER;
        }
        const ran = at - from - cellsSkipped;
        if (ran > 0) run.ranMany(CB.timer, ran);
        if (next === NEXT_TIMER || state.halted) break;
      }
      returned = true;
    } finally {
      // Something thrown past the error path leaves `at` at its group's
      // start: the cells run are found from their slots.
      this.#batchAt = at;
      if (!returned) this.#batchAt = this.#runPosition();
    }
    return next;
  }

  /**
   * The pass is over, or left early (a stop, a fatal error, a close): the
   * cells run so far are done (the core counts them fired), and the timers
   * of the rest stay due, first in the next pass.
   */
  endPass(): void {
    this.#wasm.timerEndBatch(this.#batchAt);
    this.#batchAt = 0;
    this.#batchEnd = 0;
  }

  /**
   * The batch's next cell to run. fireTimeouts keeps its position in a
   * local until it returns: the cells it ran are those past #batchAt whose
   * timeout has left its slot (a cell not yet run holds a pending timer,
   * whose slot is set, or NIL).
   */
  #runPosition(): number {
    const cells = this.#cells;
    const slots = this.#slots;
    const end = this.#batchEnd;
    let at = this.#batchAt;
    for (; at < end; at++) {
      const index = cells[at]!;
      if (index >= 0 && slots[index] !== undefined) break;
    }
    return at;
  }

  /**
   * The table is full while a batch is open: the entries of its cells that
   * ran are released now (the core would otherwise keep them until the
   * batch ends), so a callback can set a timer where a fired one was, as
   * it could with one entry at a time. False when there was none to free.
   */
  #releaseRan(): boolean {
    if (this.#batchEnd === 0) return false;
    const before = this.#wasm.timerCount();
    this.#wasm.timerReleaseRan(this.#runPosition());
    return this.#wasm.timerCount() < before;
  }

  /** Ends the batch (every cell run) and takes the next; its length, 0 when the pass is over. */
  #refill(): number {
    this.#batchAt = 0;
    return (this.#batchEnd = this.#wasm.timerNextBatch(this.#batchEnd));
  }

  /** The loop closed: every timer is cancelled (the wheel goes with the core), and no timer can be set again. */
  closeAll(): void {
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      if (slot instanceof Timer) {
        slot.index = CANCELLED;
        releaseSignal(slot);
      }
    }
    slots.length = 0;
    this.#args = undefined;
    this.#closed = true;
    for (const fail of [...this.#sleeps]) fail(closedError('sleep'));
  }

  // ---- inside --------------------------------------------------------------------------------

  /**
   * Puts `timer` in the wheel for `base` (plus its jitter, clamped to the
   * wheel's range from the loop's time). Returns the deadline.
   */
  #schedule(timer: Timer, base: number): number {
    const deadline = this.#deadline(timer, base);
    let handle = this.#wasm.timerSchedule(deadline, timer.bits & UNREF);
    if (handle === ERR_TIMERS_FULL) {
      if (!this.#releaseRan()) throw this.#fullError();
      handle = this.#wasm.timerSchedule(deadline, timer.bits & UNREF);
    }
    const index = handle & this.#indexMask;
    timer.index = index;
    this.#slots[index] = timer;
    return deadline;
  }

  #deadline(timer: Timer, base: number): number {
    let deadline = base;
    if (timer instanceof DetailedTimer) {
      timer.base = base;
      if (timer.jitter !== 0) deadline = base + Math.random() * timer.jitter * timer.exactDelay;
    }
    const limit = this.#clock.last + MAX_TIMER_DELAY_MS;
    return deadline < limit ? deadline : limit;
  }

  #fullError(): RangeError {
    return rangeError(`timer table full (capacity ${this.capacity}); raise the loop's maxTimers option`);
  }

  #setArg(index: number, arg: unknown): void {
    const args = (this.#args ??= []);
    // Filled up to the index, so the array stays dense.
    while (args.length < index) args.push(undefined);
    args[index] = arg;
  }

  #clearArg(index: number): void {
    const args = this.#args;
    if (args !== undefined && index < args.length) args[index] = undefined;
  }
}

/**
 * A delay as the timer calls take it: a number, finite, at least `minimum`
 * (0 for a timeout, 1 for an interval). Callers give a default when the
 * argument is left out.
 */
export function checkDelay(name: string, delay: unknown, minimum: number): asserts delay is number {
  if (typeof delay !== 'number') throw typeError(name, 'a number', delay);
  if (!(delay >= minimum) || delay === Infinity) {
    throw rangeError(`${name} must be a finite number >= ${minimum}, got ${delay}`);
  }
}

/** NIL cells the last runCells passed. */
let cellsSkipped = 0;

/**
 * The timeouts of cells `at` .. `stop` - 1, run back to back, with no call
 * into wasm and the fewest steps between callbacks. A function of its own,
 * small and called once per group: in a fresh process V8 optimizes it
 * after a few thousand timeouts, where the same loop inside fireTimeouts
 * waited for the whole of fireTimeouts to be compiled and swapped in (on
 * this 2-core machine, most of a 100,000-timeout pass: 4-6M timeouts/s
 * against 11-19M/s, bench/timers.ts, scenario fire-same-ms). Returns the
 * next cell, ~cell when that cell is a Timer's, or the cell after the
 * callback that halted the loop; cellsSkipped counts the NIL cells passed.
 */
function runCells(cells: Int32Array, slots: (Timer | TimeoutCallback | undefined)[], args: unknown[] | undefined, state: LoopState, run: CallbackRunner, at: number, stop: number): number {
  let skipped = 0;
  while (at !== stop) {
    const index = cells[at]!;
    if (index < 0) {
      at++;
      skipped++;
      continue;
    }
    const callback = slots[index];
    if (typeof callback !== 'function') {
      cellsSkipped = skipped;
      return ~at;
    }
    slots[index] = undefined;
    at++;
    try {
      callback((args === undefined ? undefined : takeArg(args, index)) as never);
    } catch (error) {
      run.failed(error, CB.timer, -1, undefined);
    }
    if (state.halted) break;
  }
  cellsSkipped = skipped;
  return at;
}

/** A due timeout's argument, taken out of the table. */
function takeArg(args: unknown[], index: number): unknown {
  if (index >= args.length) return undefined;
  const arg = args[index];
  args[index] = undefined;
  return arg;
}

/** What node:timers/promises rejects with when its signal aborts. */
function abortError(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  (error as NodeJS.ErrnoException).code = 'ABORT_ERR';
  return error;
}

/** An interval's next firing (before jitter), by its missed-tick policy. */
function nextTick(timer: DetailedTimer, now: number): number {
  const period = timer.exactDelay;
  if (timer.missed === 'delay') return now + period;
  const next = timer.base + period;
  if (timer.missed === 'burst' || next > now) return next;
  // skip: the first tick of the original phase after now.
  return timer.base + period * (Math.floor((now - timer.base) / period) + 1);
}

/**
 * Takes the timer's listener off its AbortSignal once the timer is done (a
 * timeout that fired, a cancel): a signal that outlives many timers would
 * otherwise hold every one of them.
 */
function releaseSignal(timer: Timer): void {
  if (timer instanceof DetailedTimer && timer.abort !== undefined) timer.abort.signal.removeEventListener('abort', timer.abort.listener);
}
