// The host's side of the timer wheel, and its policy: what each wheel entry
// is for, scheduling, cancelling and refreshing. The wheel itself is in the wasm core (assembly/timers.ts), and so is
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
// A pass over the due entries, and the order it runs them in, is
// timer-pass.ts's: the table makes one and hands it its slots.
import { ERR_TIMERS_FULL, MAX_TIMER_DELAY_MS } from '../core/abi.js';
import type { Core, CoreExports } from '../core/loader.js';
import { assertBoolean, assertFunction, assertObject, assertOneOf, assertString, rangeError, typeError } from '../errors.js';
import {
  bitsOf,
  CANCELLED,
  delayOf,
  DetailedTimer,
  isSmall,
  MISSED_TICK_POLICIES,
  NO_OPTIONS,
  releaseSignal,
  REPEAT,
  Timer,
  UNREF,
  type IntervalOptions,
  type MissedTickPolicy,
  type SleepOptions,
  type TimeoutOptions,
  type TimerControl,
} from './timer.js';
import type { CallbackRunner } from './callbacks.js';
import type { LoopClock } from './clock.js';
import { closedError, type LoopState } from './state.js';
import { TimerPass, type TimeoutCallback, type TimerSlots } from './timer-pass.js';

/** What the table tells the driver: work was added or removed (timers, or their ref). `deadline`: the one a new timer is due at. */
export type TimersChanged = (deadline: number) => void;

export class TimerTable implements TimerControl {
  readonly capacity: number;
  readonly #wasm: CoreExports;
  readonly #clock: LoopClock;
  readonly #changed: TimersChanged;
  /** An entry's index is its handle's low timerIndexBits bits; the generation is the rest. */
  readonly #indexMask: number;
  readonly #generationScale: number;
  /** Handles are below this: generations are below 2^29. */
  readonly #handleLimit: number;
  /** By wheel entry: its Timer, or a handle-free timeout's callback. */
  readonly #slots: TimerSlots = [];
  /** By wheel entry: a handle-free timeout's argument; made on first use, filled as far as used. */
  #args: unknown[] | undefined;
  /** How to settle each pending sleep() when the loop closes first. */
  readonly #sleeps = new Set<(error: unknown) => void>();
  /** This loop's own Timer classes: their prototype holds the table, so no Timer needs a field for it. */
  readonly #Plain: new (callback: () => void, bits: number) => Timer;
  readonly #Detailed: new (callback: () => void, delay: number, flags: number, options: IntervalOptions, missed: MissedTickPolicy) => DetailedTimer;
  #closed = false;
  /** The pass over the due entries, which the loop's turn runs. */
  readonly pass: TimerPass;

  constructor(core: Core, capacity: number, clock: LoopClock, state: LoopState, run: CallbackRunner, changed: TimersChanged) {
    const wasm = core.exports;
    this.capacity = capacity;
    this.#wasm = wasm;
    this.#clock = clock;
    this.#changed = changed;
    const bits = wasm.timerIndexBits.value as number;
    this.#indexMask = 2 ** bits - 1;
    this.#generationScale = 2 ** bits;
    this.#handleLimit = 2 ** (29 + bits);
    // Named by their keys, so heap snapshots and stack traces say Timer.
    this.#Plain = { Timer: class extends Timer {} }.Timer;
    this.#Detailed = { DetailedTimer: class extends DetailedTimer {} }.DetailedTimer;
    for (const own of [this.#Plain, this.#Detailed]) Object.defineProperty(own.prototype, 'control', { value: this });
    this.pass = new TimerPass(core, state, run, this.#slots, () => this.#args, (timer, base) => {
      this.#schedule(timer, base);
    });
  }

  /**
   * Timers scheduled now. The core holds the entries of the batch's cells
   * that ran until the batch ends; they are not counted.
   */
  get count(): number {
    if (this.#closed) return 0;
    return this.#wasm.timerCount() - this.pass.ranCells();
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
   * loop.timeout(): checks its arguments (`delay` given or defaulted), then
   * calls `callback(arg)` once, `delay` ms from now. Returns the handle.
   */
  timeout(callback: unknown, delay: unknown, arg: unknown, options: TimeoutOptions): number {
    if (typeof callback !== 'function') throw typeError('callback', 'a function', callback);
    checkDelay('delayMs', delay, 0);
    let ref = true;
    if (options !== NO_OPTIONS) {
      assertObject('options', options);
      ref = options.ref ?? true;
      assertBoolean('options.ref', ref);
    }
    return this.#timeout(callback as TimeoutCallback, delay, arg, ref);
  }

  /** loop.timeout() past its checks. */
  #timeout(callback: TimeoutCallback, delay: number, arg: unknown, ref: boolean): number {
    if (this.#closed) throw closedError('timeout');
    const deadline = this.#clock.now() + (delay < MAX_TIMER_DELAY_MS ? delay : MAX_TIMER_DELAY_MS);
    let handle = this.#wasm.timerSchedule(deadline, ref ? 0 : 1);
    if (handle === ERR_TIMERS_FULL) {
      if (!this.pass.releaseRan()) throw this.#fullError();
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
   * loop.clearTimeout(): cancels a Timer or a handle-free timeout's handle;
   * false for nothing to cancel (undefined and null too).
   */
  clearAny(timer: unknown): boolean {
    if (typeof timer === 'number') return this.clear(timer);
    if (timer instanceof Timer) return timer.cancel();
    if (timer === undefined || timer === null) return false;
    throw typeError('timer', 'a Timer or a timeout handle', timer);
  }

  /**
   * loop.sleep(): a promise of `value`, `delay` ms from now, on a handle-free
   * timeout; an argument it cannot take rejects it. Aborting the signal
   * cancels it with an AbortError; closing the loop, with ERR_LOOP_CLOSED.
   */
  sleep<T>(delay: unknown, value: T, options: SleepOptions): Promise<T> {
    let signal: AbortSignal | undefined;
    let ref = true;
    try {
      checkDelay('delayMs', delay, 0);
      assertObject('options', options);
      signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('options.signal', 'an AbortSignal', signal);
      ref = options.ref ?? true;
      assertBoolean('options.ref', ref);
    } catch (error) {
      return Promise.reject(error);
    }
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
      const handle = this.#timeout(() => {
        settle();
        resolve(value);
      }, delay, undefined, ref);
      this.#sleeps.add(fail);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
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
      if (!this.pass.releaseRan()) throw this.#fullError();
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

/** What node:timers/promises rejects with when its signal aborts. */
function abortError(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  (error as NodeJS.ErrnoException).code = 'ABORT_ERR';
  return error;
}
