// The loop's time: the configured clock (performance.now, or a test's virtual
// clock), offset so it starts near 0 and never goes back.

export class LoopClock {
  readonly #read: () => number;
  /** Clock readings are offset by this much, so loop time never goes back and starts near 0. */
  #offset: number;
  #last = 0;

  constructor(read: () => number) {
    this.#read = read;
    this.#offset = -this.#reading();
  }

  /** The time as of the last reading, at no clock read. */
  get last(): number {
    return this.#last;
  }

  /** Reads the clock. */
  now(): number {
    const now = this.#reading() + this.#offset;
    if (now >= this.#last) return (this.#last = now);
    // The clock went back: absorb the step, so time stands still here and
    // then moves on at the clock's pace. Nothing fires early.
    this.#offset += this.#last - now;
    return this.#last;
  }

  #reading(): number {
    const reading = this.#read();
    if (typeof reading !== 'number' || !Number.isFinite(reading)) {
      throw new TypeError(`the loop's clock must return a finite number of ms, got ${String(reading)}`);
    }
    return reading;
  }
}
