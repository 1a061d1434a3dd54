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
