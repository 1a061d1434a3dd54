// Timer: the handle setTimeout and setInterval return. The wheel itself is in
// the wasm core (assembly/timers.ts); a Timer holds its (index, generation)
// handle there, what to call, and how to schedule the next firing.

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
}

export interface IntervalOptions extends TimerOptions {
  /** Default `'skip'`: after a stall, one late firing, then back on the original phase. */
  missed?: MissedTickPolicy;
}

/** @internal Timer.index of a timer taken from the wheel whose exact deadline is still ahead. */
export const HELD = -2;

/** @internal What a timer asks of its loop. */
export interface TimerControl {
  cancel(timer: Timer): boolean;
  refresh(timer: Timer): void;
}

export class Timer {
  /** The delay (setTimeout) or period (setInterval), ms. */
  readonly delay: number;
  readonly repeat: boolean;
  readonly label: string | undefined;
  /** @internal */ readonly callback: () => void;
  /** @internal */ readonly jitter: number;
  /** @internal */ readonly missed: MissedTickPolicy;
  /** @internal Entry index in the wheel; HELD while it waits out the last fraction of its millisecond; -1 while not scheduled. */ index = -1;
  /** @internal */ generation = 0;
  /** @internal The firing being waited for, before jitter (ms on the loop's clock). */ base = 0;
  /** @internal The exact deadline, jitter included (ms on the loop's clock). */ deadline = 0;
  /** @internal */ cancelled = false;
  /** @internal */ control: TimerControl | undefined;
  /** @internal The signal that cancels this timer, and the listener the loop keeps on it while the timer is live. */
  abort: { signal: AbortSignal; listener: () => void } | undefined;

  /** @internal */
  constructor(callback: () => void, delay: number, repeat: boolean, options: IntervalOptions, missed: MissedTickPolicy, control: TimerControl) {
    this.callback = callback;
    this.delay = delay;
    this.repeat = repeat;
    this.label = options.label;
    this.jitter = options.jitter ?? 0;
    this.missed = missed;
    this.control = control;
  }

  /** True while the timer is scheduled to fire. */
  get active(): boolean {
    return this.index !== -1;
  }

  /**
   * Keeps the timer from firing again. Returns false when there was nothing
   * to cancel (it fired already, or was cancelled): that does nothing.
   */
  cancel(): boolean {
    return this.control?.cancel(this) ?? false;
  }

  /**
   * Restarts the countdown from now, with the same delay. A timeout that
   * fired already is scheduled again; a cancelled timer stays cancelled.
   */
  refresh(): this {
    this.control?.refresh(this);
    return this;
  }
}
