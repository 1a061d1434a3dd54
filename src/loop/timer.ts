// Timer: the handle setTimeout and setInterval return. The wheel itself is in
// the wasm core (assembly/timers.ts); the loop's timer table
// (src/loop/timer-table.ts) finds a Timer by its wheel entry, and the Timer
// holds that entry's index while it is scheduled.
//
// A Timer is kept small, since a server may hold a great many: three fields,
// a pointer and two small integers, so V8 boxes nothing (a field that ever
// held a fraction would make V8 box that field in every Timer). The exact
// deadline lives in the wheel's entry, not here; the loop's timer table is
// on the prototype (each loop makes its own subclass). What few timers need
// (options, an interval's phase, a delay that is not a small integer) lives
// in the DetailedTimer subclass: 48 bytes for a plain timeout's Timer, 104
// for a detailed one (heap snapshots; tests/timer-memory.test.ts).

/**
 * What an interval does after a stall made it miss ticks:
 * - `'burst'`: fire every missed tick, one per loop iteration, until caught up;
 * - `'delay'`: fire once, then count the period from now (Node's setInterval);
 * - `'skip'`: fire once, then go on at the next tick of the original phase.
 */
export type MissedTickPolicy = 'burst' | 'delay' | 'skip';
export const MISSED_TICK_POLICIES: readonly MissedTickPolicy[] = ['burst', 'delay', 'skip'];

export interface TimerOptions {
  /**
   * Spread deadlines to avoid a thundering herd: each firing comes up to this
   * fraction of the delay later (0.1: up to 10% later), never earlier. Default 0.
   */
  jitter?: number;
  /** A name for this timer in errors, slow-callback reports and traces. */
  label?: string;
  /** Cancels the timer when aborted. */
  signal?: AbortSignal;
  /** Whether the timer keeps a running or started loop's process alive (see `timer.unref()`). Default true. */
  ref?: boolean;
}

export interface IntervalOptions extends TimerOptions {
  /** Default `'skip'`: after a stall, one late firing, then back on the original phase. */
  missed?: MissedTickPolicy;
}

/** loop.timeout()'s options. */
export interface TimeoutOptions {
  /** Whether the timeout keeps a running or started loop's process alive. Default true. */
  ref?: boolean;
}

/** loop.sleep()'s options, as node:timers/promises' setTimeout takes them. */
export interface SleepOptions {
  /** Aborting it cancels the sleep: the promise rejects with an `AbortError` whose `cause` is the signal's reason. */
  signal?: AbortSignal;
  /** Whether the pending sleep keeps a running or started loop's process alive. Default true. */
  ref?: boolean;
}

/** @internal The options of a timer call that was given none: one shared object, so a call allocates none, and the calls know it at a glance. */
export const NO_OPTIONS: Readonly<IntervalOptions & TimeoutOptions & SleepOptions> = Object.freeze({});

/** The delay a timer call takes when it is left out, as Node's: 1 ms. */
export const DEFAULT_TIMER_DELAY_MS = 1;

/** @internal Timer.index of a timeout that fired: refresh() schedules it again. */
export const IDLE = -1;
/** @internal Timer.index of a timer cancelled (by cancel(), its signal, or the loop's close): it stays so. */
export const CANCELLED = -2;
/** @internal Timer.bits: the low two are flags, the rest the delay (see bitsOf). */
export const REPEAT = 1;
export const UNREF = 2;
const FLAG_BITS = 4;
/** @internal A delay of at most 2^28 - 1 ms (3.1 days) fits Timer.bits; longer ones, and fractions, are a DetailedTimer's exactDelay. */
const SMALL_DELAY_LIMIT = 2 ** 28;

/** @internal What a timer asks of its loop. */
export interface TimerControl {
  cancel(timer: Timer): boolean;
  refresh(timer: Timer): void;
  setRef(timer: Timer, ref: boolean): void;
}

export class Timer {
  /** @internal The loop's timer table: on the prototype of the loop's own Timer classes, not in each timer. */
  declare readonly control: TimerControl;
  /** @internal */ readonly callback: () => void;
  /** @internal The wheel entry while scheduled (>= 0), else IDLE or CANCELLED. */
  index: number;
  /** @internal The delay × 4 + REPEAT + UNREF (the delay part is 0 in a DetailedTimer). */
  bits: number;

  /** @internal */
  constructor(callback: () => void, bits: number) {
    this.callback = callback;
    this.index = IDLE;
    this.bits = bits;
  }

  /** The delay (setTimeout) or period (setInterval), ms, as given. */
  get delay(): number {
    return Math.floor(this.bits / FLAG_BITS);
  }

  get repeat(): boolean {
    return (this.bits & REPEAT) !== 0;
  }

  /** The label option. */
  get label(): string | undefined {
    return undefined;
  }

  /** True while the timer is scheduled to fire. */
  get active(): boolean {
    return this.index >= 0;
  }

  /**
   * Keeps the timer from firing again. Returns false when there was nothing
   * to cancel (it fired already, or was cancelled): that does nothing.
   */
  cancel(): boolean {
    return this.control.cancel(this);
  }

  /**
   * Restarts the countdown from now, with the same delay. A timeout that
   * fired is scheduled again; a cancelled timer stays cancelled.
   */
  refresh(): this {
    this.control.refresh(this);
    return this;
  }

  /**
   * Lets a running or started loop end the process while this timer is the
   * only work it has left, as Node's `timeout.unref()` does. The timer still
   * fires if the process lives that long.
   */
  unref(): this {
    this.control.setRef(this, false);
    return this;
  }

  /** Undoes `unref()`: the timer keeps the loop's process alive again (the default). */
  ref(): this {
    this.control.setRef(this, true);
    return this;
  }

  /** Whether the timer keeps the loop's process alive (see `unref()`). */
  hasRef(): boolean {
    return (this.bits & UNREF) === 0;
  }
}

/** @internal A timer with options, an interval, or a delay that is not a small integer. */
export class DetailedTimer extends Timer {
  /** @internal */ readonly labelText: string | undefined;
  /** @internal */ readonly jitter: number;
  /** @internal */ readonly missed: MissedTickPolicy;
  /** @internal The delay as given. */ readonly exactDelay: number;
  /** @internal The firing being waited for, before jitter (ms on the loop's clock): the interval's phase. */ base = 0;
  /** @internal The signal that cancels this timer, and the listener the loop keeps on it while the timer is live. */
  abort: { signal: AbortSignal; listener: () => void } | undefined;

  /** @internal */
  constructor(callback: () => void, delay: number, flags: number, options: IntervalOptions, missed: MissedTickPolicy) {
    super(callback, flags);
    this.labelText = options.label;
    this.jitter = options.jitter ?? 0;
    this.missed = missed;
    this.exactDelay = delay;
    this.abort = undefined;
  }

  override get delay(): number {
    return this.exactDelay;
  }

  override get label(): string | undefined {
    return this.labelText;
  }
}

/** @internal Whether a plain Timer can hold `delay` in its bits: a whole number of ms below SMALL_DELAY_LIMIT. */
export function isSmall(delay: number): boolean {
  return (delay | 0) === delay && delay >= 0 && delay < SMALL_DELAY_LIMIT;
}

/** @internal A plain Timer's bits: its delay and flags in one small integer (below 2^30: a V8 Smi). */
export function bitsOf(delay: number, flags: number): number {
  return delay * FLAG_BITS + flags;
}

/** @internal The delay a Timer schedules with. */
export function delayOf(timer: Timer): number {
  return timer instanceof DetailedTimer ? timer.exactDelay : Math.floor(timer.bits / FLAG_BITS);
}

/**
 * @internal Takes the timer's listener off its AbortSignal once the timer is done (a
 * timeout that fired, a cancel): a signal that outlives many timers would
 * otherwise hold every one of them.
 */
export function releaseSignal(timer: Timer): void {
  if (timer instanceof DetailedTimer && timer.abort !== undefined) timer.abort.signal.removeEventListener('abort', timer.abort.listener);
}
