// The host's side of the timer wheel, and its policy: the Timer objects by
// wheel entry, the timers held back for the last fraction of their
// millisecond, the capacity (held timers count against it), scheduling,
// cancelling and refreshing, and the order of a timer pass. The wheel itself
// is in the wasm core (assembly/timers.ts).
//
// A pass is pulled by the loop, one timer at a time: advance(now) moves the
// wheel to `now` and begins a pass, then next() hands out each due timer
// until it returns undefined. The loop runs each callback and decides itself
// whether to go on; a pass it leaves early (a stop, a fatal error) is picked
// up by the next advance(): the timers still due fire first.
import { ERR_TIMERS_FULL, MAX_TIMER_DELAY_MS } from '../core/abi.js';
import type { CoreExports } from '../core/loader.js';
import { assertFunction, assertObject, assertOneOf, assertString, rangeError, typeError } from '../errors.js';
import { HELD, MISSED_TICK_POLICIES, Timer, type IntervalOptions, type TimerControl } from './timer.js';
import type { LoopClock } from './clock.js';
import { closedError } from './state.js';

export class TimerTable {
  readonly capacity: number;
  readonly #wasm: CoreExports;
  readonly #clock: LoopClock;
  /** What every Timer calls for cancel() and refresh(): the loop's, which comes back here. */
  readonly #control: TimerControl;
  /** The Timer of each wheel entry, by entry index. */
  readonly #timers: (Timer | undefined)[] = [];
  /**
   * Timers the wheel released (their millisecond has begun) whose exact
   * deadline is still ahead: they fire when it passes. So a timer fires at
   * its deadline to the wait's precision, not up to a millisecond late.
   */
  #held: Timer[] = [];
  /**
   * Timers whose index is HELD, wherever they are listed (a pass keeps its
   * own list). The wheel gave their entries back, so they are counted
   * against the capacity here: an interval held now must find room when it
   * fires.
   */
  #heldCount = 0;
  /** The pass under way: the held timers it took over, how far it got through them, and its time. */
  #pass: Timer[] = [];
  #passAt = 0;
  #passNow = 0;
  /**
   * A pass began and next() has not run out yet. If the loop left it early,
   * timers may still sit in the wheel's due list: timerExpire counts only the
   * timers it moves, so without this the next pass would not look at them
   * until another timer came due.
   */
  #open = false;
  #closed = false;

  constructor(wasm: CoreExports, capacity: number, clock: LoopClock, control: TimerControl) {
    this.capacity = capacity;
    this.#wasm = wasm;
    this.#clock = clock;
    this.#control = control;
  }

  /** Timers scheduled now. */
  get count(): number {
    return this.#closed ? 0 : this.#wasm.timerCount() + this.#heldCount;
  }

  /** The earliest deadline to wake for (ms on the loop's clock), or -1 when no timer is scheduled. */
  nextDeadline(): number {
    let next = this.#wasm.timerNextDeadline();
    for (const timer of this.#held) if (next < 0 || timer.deadline < next) next = timer.deadline;
    for (let i = this.#passAt; i < this.#pass.length; i++) {
      const timer = this.#pass[i]!;
      if (timer.index === HELD && (next < 0 || timer.deadline < next)) next = timer.deadline;
    }
    return next;
  }

  /** setTimeout (`repeat` false) and setInterval: validates, then schedules one `delay` from now. */
  create(callback: () => void, delay: number, repeat: boolean, options: IntervalOptions): Timer {
    assertFunction('callback', callback);
    const name = repeat ? 'periodMs' : 'delayMs';
    const minimum = repeat ? 1 : 0;
    if (typeof delay !== 'number') throw typeError(name, 'a number', delay);
    if (!Number.isFinite(delay) || delay < minimum) {
      throw rangeError(`${name} must be a finite number >= ${minimum}, got ${delay}`);
    }
    assertObject('options', options);
    const jitter = options.jitter ?? 0;
    if (typeof jitter !== 'number') throw typeError('options.jitter', 'a number', jitter);
    if (!(jitter >= 0 && jitter <= 1)) throw rangeError(`options.jitter must be a fraction from 0 to 1, got ${jitter}`);
    if (options.label !== undefined) assertString('options.label', options.label);
    const missed = options.missed ?? 'skip';
    assertOneOf('options.missed', missed, MISSED_TICK_POLICIES);
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('options.signal', 'an AbortSignal', signal);
    if (this.#closed) throw closedError(repeat ? 'setInterval' : 'setTimeout');
    const timer = new Timer(callback, delay, repeat, options, missed, this.#control);
    if (signal?.aborted) {
      timer.cancelled = true;
      return timer;
    }
    this.#schedule(timer, this.#clock.now() + delay);
    if (signal !== undefined) {
      timer.abort = { signal, listener: () => timer.cancel() };
      signal.addEventListener('abort', timer.abort.listener, { once: true });
    }
    return timer;
  }

  /**
   * Advances the wheel to `now` (timers due by `floor(now)` go to its due
   * list) and begins a pass at `now`. Returns whether the pass has anything
   * to look at: timers due, held, or left by a pass cut short.
   */
  advance(now: number): boolean {
    const moved = this.#wasm.timerExpire(now) > 0;
    const cutShort = this.#open;
    // Held timers a pass cut short did not look at go ahead of those it held.
    const held = cutShort && this.#passAt < this.#pass.length ? this.#pass.slice(this.#passAt).concat(this.#held) : this.#held;
    this.#held = [];
    this.#pass = held;
    this.#passAt = 0;
    this.#passNow = now;
    this.#open = moved || held.length > 0 || cutShort;
    return this.#open;
  }

  /**
   * The pass's next due timer, its interval already scheduled again (so the
   * callback can cancel or refresh it); undefined when the pass is over.
   * First the timers held back by earlier passes, then the wheel's due list,
   * in deadline order, equal deadlines in insertion order. A timer whose exact
   * deadline is still ahead (its millisecond has only begun) is held back for
   * a later pass. The due list is never refilled during a pass: a timer set
   * by a callback, even overdue, waits for the next advance().
   */
  next(): Timer | undefined {
    const w = this.#wasm;
    const now = this.#passNow;
    for (;;) {
      let timer: Timer;
      let tick: number;
      if (this.#passAt < this.#pass.length) {
        timer = this.#pass[this.#passAt++]!;
        if (timer.index !== HELD) continue; // cancelled or refreshed meanwhile
        tick = Math.floor(timer.deadline);
      } else {
        const index = w.timerTakeDue();
        if (index < 0) {
          this.#open = false;
          this.#pass = [];
          this.#passAt = 0;
          return undefined;
        }
        timer = this.#timers[index]!;
        this.#timers[index] = undefined;
        tick = w.timerTakenDeadline();
      }
      if (now < timer.deadline) {
        if (timer.index !== HELD) {
          timer.index = HELD;
          this.#heldCount++;
        }
        this.#held.push(timer);
        continue;
      }
      if (timer.index === HELD) this.#heldCount--;
      timer.index = -1;
      if (!timer.repeat) releaseSignal(timer);
      w.noteTimer(Math.max(0, now - Math.max(tick, timer.deadline)) * 1e6);
      if (timer.repeat) this.#schedule(timer, nextTick(timer, now));
      return timer;
    }
  }

  /** Keeps the timer from firing. False when there was nothing to cancel. */
  cancel(timer: Timer): boolean {
    // Fired (a timeout), cancelled, or closed with the loop: nothing to do.
    if (timer.index === -1) return false;
    timer.cancelled = true;
    this.#unschedule(timer);
    releaseSignal(timer);
    return true;
  }

  /** Restarts the countdown from now. */
  refresh(timer: Timer): void {
    if (timer.cancelled) return;
    if (this.#closed) throw closedError('refresh');
    if (timer.index !== -1) {
      this.#unschedule(timer);
      this.#schedule(timer, this.#clock.now() + timer.delay);
      return;
    }
    // A timeout that fired let go of its signal: an abort since then counts
    // as a cancel, and re-arming takes the signal back.
    const abort = timer.abort;
    if (abort?.signal.aborted) {
      timer.cancelled = true;
      return;
    }
    this.#schedule(timer, this.#clock.now() + timer.delay);
    abort?.signal.addEventListener('abort', abort.listener, { once: true });
  }

  /** The loop closed: every timer is cancelled (the wheel goes with the core), and no timer can be set again. */
  closeAll(): void {
    const pass = this.#pass.slice(this.#passAt).filter((timer) => timer.index === HELD);
    for (const timer of [...this.#timers, ...this.#held, ...pass]) if (timer !== undefined) dropClosed(timer);
    this.#timers.length = 0;
    this.#held = [];
    this.#heldCount = 0;
    this.#pass = [];
    this.#passAt = 0;
    this.#open = false;
    this.#closed = true;
  }

  /**
   * Puts `timer` in the wheel for `base` (plus its jitter). The wheel counts
   * whole milliseconds: the timer goes in the slot of the millisecond its
   * deadline falls in, and next() holds it until the exact time.
   */
  #schedule(timer: Timer, base: number): void {
    timer.base = base;
    const jittered = timer.jitter === 0 ? base : base + Math.random() * timer.jitter * timer.delay;
    timer.deadline = Math.min(jittered, this.#clock.last + MAX_TIMER_DELAY_MS);
    const room = this.#wasm.timerCount() + this.#heldCount < this.capacity;
    const index = room ? this.#wasm.timerInsert(Math.floor(timer.deadline)) : ERR_TIMERS_FULL;
    if (index === ERR_TIMERS_FULL) {
      throw rangeError(`timer table full (capacity ${this.capacity}); raise the loop's maxTimers option`);
    }
    timer.index = index;
    timer.generation = this.#wasm.timerGeneration(index);
    this.#timers[index] = timer;
  }

  /** Takes a scheduled timer out of the wheel (or the held list). */
  #unschedule(timer: Timer): void {
    if (timer.index === HELD) {
      const at = this.#held.indexOf(timer);
      if (at >= 0) this.#held.splice(at, 1);
      this.#heldCount--;
    } else {
      this.#wasm.timerCancel(timer.index, timer.generation);
      this.#timers[timer.index] = undefined;
    }
    timer.index = -1;
  }
}

/** An interval's next firing (before jitter), by its missed-tick policy. */
function nextTick(timer: Timer, now: number): number {
  const period = timer.delay;
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
  if (timer.abort !== undefined) timer.abort.signal.removeEventListener('abort', timer.abort.listener);
}

/** A timer the loop's close() cancels. */
function dropClosed(timer: Timer): void {
  timer.cancelled = true;
  timer.index = -1;
  releaseSignal(timer);
}
