// Timer: the handle setTimeout and setInterval return. The wheel itself is in
// the wasm core (assembly/timers.ts); the loop's timer table
// (src/loop/timer-table.ts) finds a Timer by its wheel entry, and the Timer
// holds that entry's index while it is scheduled.
//
// A Timer is kept small, since a server may hold a great many: five fields,
// every one a small integer or a pointer, so V8 boxes nothing (a field that
// ever held a fraction would make V8 box that field in every Timer). The
// exact deadline lives in the wheel's entry, not here. What few timers need
// (options, an interval's phase, a delay that is not a small integer) lives
// in the DetailedTimer subclass: 64 bytes for a plain timeout's Timer, 104 for
// a detailed one (measured with heap snapshots; see docs/api.md).

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

/** The delay a timer call takes when it is left out, as Node's: 1 ms. */
export const DEFAULT_TIMER_DELAY_MS = 1;

/** @internal Timer.index of a timeout that fired: refresh() schedules it again. */
export const IDLE = -1;
/** @internal Timer.index of a timer cancelled (by cancel(), its signal, or the loop's close): it stays so. */
export const CANCELLED = -2;
/** @internal Timer.flags bits. */
export const REPEAT = 1;
export const UNREF = 2;
/** @internal Timer.delay of a DetailedTimer whose delay is not a small integer: the exact one is its exactDelay. */
export const NOT_SMALL = -1;

/** @internal What a timer asks of its loop. */
export interface TimerControl {
  cancel(timer: Timer): boolean;
  refresh(timer: Timer): void;
  setRef(timer: Timer, ref: boolean): void;
}

export class Timer {
  /** @internal The loop's timer table. */
  control: TimerControl;
  /** @internal */ readonly callback: () => void;
  /** @internal The wheel entry while scheduled (>= 0), else IDLE or CANCELLED. */
  index: number;
  /** @internal The delay or period in ms when it is a small integer, else NOT_SMALL. */
  readonly delayMs: number;
  /** @internal REPEAT, UNREF. */
  flags: number;

  /** @internal */
  constructor(callback: () => void, delayMs: number, flags: number, control: TimerControl) {
    this.control = control;
    this.callback = callback;
    this.index = IDLE;
    this.delayMs = delayMs;
    this.flags = flags;
  }

  /** The delay (setTimeout) or period (setInterval), ms, as given. */
  get delay(): number {
    return this.delayMs;
  }

  get repeat(): boolean {
    return (this.flags & REPEAT) !== 0;
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
    return (this.flags & UNREF) === 0;
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
  constructor(callback: () => void, delay: number, flags: number, options: IntervalOptions, missed: MissedTickPolicy, control: TimerControl) {
    super(callback, isSmall(delay) ? delay : NOT_SMALL, flags, control);
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

/** @internal A delay V8 keeps unboxed in a Timer field: an integer of at most 30 bits. */
export function isSmall(delay: number): boolean {
  return (delay | 0) === delay && delay >= 0 && delay < 0x40000000;
}
