// The timer wheel's reference model: the same contract as the wasm core's
// timer* exports, written the obvious way (a sorted scan of every pending
// timer), for the property tests to compare against. Not a test file itself.
//
// Semantics it pins down:
// - A deadline in ms becomes tick ceil(deadline) (never early), a deadline at
//   or before the clock becomes the clock, and one more than `maxDelay` ahead
//   is clamped to clock + maxDelay.
// - expire(now) with floor(now) behind the clock does nothing; otherwise every
//   pending timer due by floor(now) joins the due queue, by deadline, then by
//   insertion (a reschedule counts as a new insertion).
// - A timer leaves the model when it is taken from the due queue (it fired) or
//   cancelled; after that its id is stale: cancel and reschedule return 0.

interface Pending {
  deadline: number;
  seq: number;
}

export class TimerModel {
  /** The tick the model has advanced to. */
  clock = 0;
  readonly #pending = new Map<number, Pending>();
  readonly #due: number[] = [];
  /** The deadline tick of each timer in the due queue. */
  readonly #dueDeadline = new Map<number, number>();
  /** The deadline tick of the timer takeDue last returned (the core's timerTakenDeadline). */
  takenDeadline = -1;
  #seq = 0;
  #nextId = 0;

  constructor(
    readonly capacity: number,
    readonly maxDelay: number,
  ) {}

  /** The tick a timer asked for at `deadlineMs` gets now. */
  deadlineTick(deadlineMs: number): number {
    if (!(deadlineMs > this.clock)) return this.clock;
    if (deadlineMs - this.clock >= this.maxDelay) return this.clock + this.maxDelay;
    return Math.ceil(deadlineMs);
  }

  /** A new timer's id, or undefined when the model is at capacity. */
  insert(deadlineMs: number): number | undefined {
    if (this.count() >= this.capacity) return undefined;
    const id = this.#nextId++;
    this.#pending.set(id, { deadline: this.deadlineTick(deadlineMs), seq: this.#seq++ });
    return id;
  }

  cancel(id: number): 0 | 1 {
    if (this.#pending.delete(id)) return 1;
    const at = this.#due.indexOf(id);
    if (at < 0) return 0;
    this.#due.splice(at, 1);
    this.#dueDeadline.delete(id);
    return 1;
  }

  reschedule(id: number, deadlineMs: number): 0 | 1 {
    if (this.cancel(id) === 0) return 0;
    this.#pending.set(id, { deadline: this.deadlineTick(deadlineMs), seq: this.#seq++ });
    return 1;
  }

  expire(nowMs: number): number {
    if (!(nowMs >= this.clock)) return 0;
    const now = Math.floor(nowMs);
    const ready = [...this.#pending].filter(([, timer]) => timer.deadline <= now);
    ready.sort(([, a], [, b]) => a.deadline - b.deadline || a.seq - b.seq);
    for (const [id, timer] of ready) {
      this.#pending.delete(id);
      this.#due.push(id);
      this.#dueDeadline.set(id, timer.deadline);
    }
    this.clock = now;
    return ready.length;
  }

  /** The next due timer's id, or undefined. */
  takeDue(): number | undefined {
    const id = this.#due.shift();
    if (id !== undefined) {
      this.takenDeadline = this.#dueDeadline.get(id)!;
      this.#dueDeadline.delete(id);
    }
    return id;
  }

  /** The earliest pending deadline, the clock when some are due, or -1 when none. */
  earliest(): number {
    if (this.#due.length > 0) return this.clock;
    let earliest = -1;
    for (const { deadline } of this.#pending.values()) {
      if (earliest < 0 || deadline < earliest) earliest = deadline;
    }
    return earliest;
  }

  count(): number {
    return this.#pending.size + this.#due.length;
  }
}

/**
 * The exact way through the wheel (timerSchedule, timerNext, timerRemove,
 * timerMove, timerSetRef), written the obvious way. Semantics it pins down:
 * - A deadline is kept as given (NaN or a negative becomes the clock); the
 *   timer belongs to tick floor(deadline), or to the clock's tick if that
 *   has passed (it is overdue: due on the next expire, in insertion order).
 * - expire(now) with floor(now) behind the clock does nothing; otherwise the
 *   held timers go to the pass list (after any a pass cut short left), every
 *   pending timer due by floor(now) joins the due queue by tick, then by
 *   insertion (a move counts as a new insertion), and the pass's time is now.
 * - next() takes from the pass list, then the due queue; one whose deadline
 *   is after the pass's time is held (for the next expire), else it is
 *   returned and leaves the model.
 * Deadlines are within the wheel's range of the clock (the host's clamp).
 */
export class ExactTimerModel {
  /** The tick the model has advanced to. */
  clock = 0;
  passNow = 0;
  readonly #pending = new Map<number, Pending>();
  #due: number[] = [];
  #held: number[] = [];
  #pass: number[] = [];
  readonly #deadline = new Map<number, number>();
  readonly #unref = new Set<number>();
  #seq = 0;
  #nextId = 0;

  constructor(readonly capacity: number) {}

  #exact(deadlineMs: number): number {
    return deadlineMs >= 0 ? deadlineMs : this.clock;
  }

  schedule(deadlineMs: number, unref: boolean): number | undefined {
    if (this.count() >= this.capacity) return undefined;
    const id = this.#nextId++;
    const deadline = this.#exact(deadlineMs);
    this.#deadline.set(id, deadline);
    this.#pending.set(id, { deadline: Math.max(this.clock, Math.floor(deadline)), seq: this.#seq++ });
    if (unref) this.#unref.add(id);
    return id;
  }

  /** Takes `id` out wherever it is; false when it is not pending. */
  #take(id: number): boolean {
    if (this.#pending.delete(id)) return true;
    for (const list of [this.#due, this.#held, this.#pass]) {
      const at = list.indexOf(id);
      if (at >= 0) {
        list.splice(at, 1);
        return true;
      }
    }
    return false;
  }

  remove(id: number): 0 | 1 {
    if (!this.#take(id)) return 0;
    this.#deadline.delete(id);
    this.#unref.delete(id);
    return 1;
  }

  move(id: number, deadlineMs: number): 0 | 1 {
    if (!this.#take(id)) return 0;
    const deadline = this.#exact(deadlineMs);
    this.#deadline.set(id, deadline);
    this.#pending.set(id, { deadline: Math.max(this.clock, Math.floor(deadline)), seq: this.#seq++ });
    return 1;
  }

  setRef(id: number, ref: boolean): 0 | 1 {
    if (!this.#deadline.has(id)) return 0;
    if (ref) this.#unref.delete(id);
    else this.#unref.add(id);
    return 1;
  }

  expire(nowMs: number): number {
    if (!(nowMs >= this.clock)) return 0;
    const now = Math.floor(nowMs);
    this.passNow = nowMs;
    this.#pass = this.#pass.concat(this.#held);
    this.#held = [];
    const ready = [...this.#pending].filter(([, timer]) => timer.deadline <= now);
    ready.sort(([, a], [, b]) => a.deadline - b.deadline || a.seq - b.seq);
    for (const [id] of ready) {
      this.#pending.delete(id);
      this.#due.push(id);
    }
    this.clock = now;
    return ready.length;
  }

  /** The next timer of the pass, with its lateness (ms); undefined when the pass is over. */
  next(): { id: number; lateMs: number } | undefined {
    for (;;) {
      const id = this.#pass.length > 0 ? this.#pass.shift() : this.#due.shift();
      if (id === undefined) return undefined;
      const deadline = this.#deadline.get(id)!;
      if (deadline > this.passNow) {
        this.#held.push(id);
        continue;
      }
      this.#deadline.delete(id);
      this.#unref.delete(id);
      return { id, lateMs: this.passNow - deadline };
    }
  }

  /**
   * What the next wake may be: `clock` when timers are due or overdue (a
   * pass timer due by the pass's time too);
   * otherwise no later than the earliest exact deadline (a wheel tick, or a
   * held or pass timer's deadline), -1 when nothing is pending.
   */
  earliest(): number {
    if (this.#due.length > 0) return this.clock;
    let earliest = Infinity;
    for (const { deadline } of this.#pending.values()) {
      if (deadline <= this.clock) return this.clock;
      earliest = Math.min(earliest, deadline);
    }
    for (const id of this.#pass) if (this.#deadline.get(id)! <= this.passNow) return this.clock;
    for (const id of [...this.#held, ...this.#pass]) earliest = Math.min(earliest, this.#deadline.get(id)!);
    return earliest === Infinity ? -1 : earliest;
  }

  count(): number {
    return this.#deadline.size;
  }

  unrefCount(): number {
    return this.#unref.size;
  }
}
