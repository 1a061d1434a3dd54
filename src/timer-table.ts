// The host's side of the timer wheel: the Timer objects by wheel entry, the
// timers held back for the last fraction of their millisecond, scheduling,
// cancelling and refreshing, and the order of a timer pass. The wheel itself
// is in the wasm core (assembly/timers.ts); running a timer's callback is the
// loop's (it counts, times and reports it), through the `run` it passes to
// fire().
import type { CoreExports } from './core.js';
import { assertFunction, assertObject, assertOneOf, assertString, rangeError, typeError } from './errors.js';
import { HELD, MISSED_TICK_POLICIES, Timer, type IntervalOptions, type TimerControl } from './timer.js';

/** What the table needs of its loop. */
export interface TimerHost {
  /** The loop's time now (a clock reading). */
  now(): number;
  /** The loop's time as of its last clock reading. */
  lastNow(): number;
  /** Throws when the loop cannot take the call (closed). */
  assertUsable(operation: string): void;
  /** A timer was scheduled: a loop sleeping on a libuv timer may have to wake sooner. */
  scheduled(): void;
}

/** After a timer's callback: go on with the pass, stop it (the rest stay due), or the loop closed. */
export type TimerPassStep = 'go' | 'stop' | 'closed';

export class TimerTable implements TimerControl {
  readonly capacity: number;
  readonly #wasm: CoreExports;
  readonly #host: TimerHost;
  readonly #maxDelay: number;
  readonly #full: number;
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
  /**
   * The last pass stopped early (a stop or a fatal error) with timers still
   * in the wheel's due list. timerExpire counts only timers it moves, so
   * without this the next pass would not look at them until another timer
   * came due.
   */
  #cutShort = false;

  constructor(wasm: CoreExports, capacity: number, host: TimerHost) {
    this.capacity = capacity;
    this.#wasm = wasm;
    this.#host = host;
    this.#maxDelay = wasm.MAX_TIMER_DELAY_MS.value as number;
    this.#full = wasm.ERR_TIMERS_FULL.value as number;
  }

  /** Timers scheduled now. */
  get count(): number {
    return this.#wasm.timerCount() + this.#heldCount;
  }

  /**
   * Advances the wheel to `now`; whether a pass has anything to look at
   * (timers due, held, or left by a pass cut short).
   */
  due(now: number): boolean {
    return this.#wasm.timerExpire(now) > 0 || this.#held.length > 0 || this.#cutShort;
  }

  /** The earliest deadline to wake for (ms on the loop's clock), or -1 when no timer is scheduled. */
  nextDeadline(): number {
    let next = this.#wasm.timerNextDeadline();
    for (const timer of this.#held) if (next < 0 || timer.deadline < next) next = timer.deadline;
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
    this.#host.assertUsable(repeat ? 'setInterval' : 'setTimeout');
    const timer = new Timer(callback, delay, repeat, options, missed, this);
    if (signal?.aborted) {
      timer.cancelled = true;
      return timer;
    }
    this.#schedule(timer, this.#host.now() + delay);
    if (signal !== undefined) {
      timer.abort = { signal, listener: () => timer.cancel() };
      signal.addEventListener('abort', timer.abort.listener, { once: true });
    }
    return timer;
  }

  /**
   * One pass over the timers due by `now`: first those held back from earlier
   * passes, then those timerExpire moved to the due list, in deadline order.
   * One whose exact deadline is still ahead (its millisecond has only begun)
   * is held back for the next pass. `run` calls each due timer's callback.
   */
  fire(now: number, run: (timer: Timer) => TimerPassStep): void {
    const w = this.#wasm;
    const held = this.#held;
    this.#held = [];
    let heldAt = 0;
    this.#cutShort = false;
    let step: TimerPassStep = 'go';
    try {
      for (;;) {
        let timer: Timer;
        let tick: number;
        if (heldAt < held.length) {
          timer = held[heldAt++]!;
          if (timer.index !== HELD) continue; // cancelled or refreshed meanwhile
          tick = Math.floor(timer.deadline);
        } else {
          const index = w.timerTakeDue();
          if (index < 0) break;
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
        // Before the call, so the callback can cancel or refresh its interval.
        if (timer.repeat) this.#schedule(timer, nextTick(timer, now));
        step = run(timer);
        if (step === 'closed') break; // every timer went with the loop
        if (step === 'stop') {
          // The timers still due stay due, and fire next iteration.
          this.#cutShort = true;
          break;
        }
      }
    } finally {
      if (step === 'closed') {
        // closeAll() could not see this pass's own list of held timers.
        for (; heldAt < held.length; heldAt++) if (held[heldAt]!.index === HELD) dropClosed(held[heldAt]!);
      } else if (heldAt < held.length) {
        // Held timers not looked at (a stop) go back ahead of the new ones.
        this.#held = held.slice(heldAt).concat(this.#held);
      }
    }
  }

  /** TimerControl: keeps the timer from firing. False when there was nothing to cancel. */
  cancel(timer: Timer): boolean {
    // Fired (a timeout), cancelled, or closed with the loop: nothing to do.
    if (timer.index === -1) return false;
    timer.cancelled = true;
    this.#unschedule(timer);
    releaseSignal(timer);
    return true;
  }

  /** TimerControl: restarts the countdown from now. */
  refresh(timer: Timer): void {
    if (timer.cancelled) return;
    this.#host.assertUsable('refresh');
    if (timer.index !== -1) {
      this.#unschedule(timer);
      this.#schedule(timer, this.#host.now() + timer.delay);
      return;
    }
    // A timeout that fired let go of its signal: an abort since then counts
    // as a cancel, and re-arming takes the signal back.
    const abort = timer.abort;
    if (abort?.signal.aborted) {
      timer.cancelled = true;
      return;
    }
    this.#schedule(timer, this.#host.now() + timer.delay);
    abort?.signal.addEventListener('abort', abort.listener, { once: true });
  }

  /** The loop closed: every timer is cancelled (the wheel goes with the core). */
  closeAll(): void {
    for (const timer of [...this.#timers, ...this.#held]) if (timer !== undefined) dropClosed(timer);
    this.#timers.length = 0;
    this.#held = [];
    this.#heldCount = 0;
  }

  /**
   * Puts `timer` in the wheel for `base` (plus its jitter). The wheel counts
   * whole milliseconds: the timer goes in the slot of the millisecond its
   * deadline falls in, and fire() holds it until the exact time.
   */
  #schedule(timer: Timer, base: number): void {
    timer.base = base;
    const jittered = timer.jitter === 0 ? base : base + Math.random() * timer.jitter * timer.delay;
    timer.deadline = Math.min(jittered, this.#host.lastNow() + this.#maxDelay);
    const room = this.#wasm.timerCount() + this.#heldCount < this.capacity;
    const index = room ? this.#wasm.timerInsert(Math.floor(timer.deadline)) : this.#full;
    if (index === this.#full) {
      throw rangeError(`timer table full (capacity ${this.capacity}); raise the loop's maxTimers option`);
    }
    timer.index = index;
    timer.generation = this.#wasm.timerGeneration(index);
    this.#timers[index] = timer;
    this.#host.scheduled();
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
