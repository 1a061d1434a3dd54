// Deferred callbacks: a bounded queue per priority, run after the current
// batch and before the next wait.
//
// Each priority is a FIFO array. A phase takes all of them at once and
// leaves fresh arrays behind. Cancelling marks the entry: it stays queued
// until its turn and is then skipped, so cancel is O(1); it stops counting
// toward the depth at once.

/** A queued callback; `cancel()` keeps it from running. */
export class Deferred {
  /** @internal */ callback: (() => void) | undefined;
  readonly priority: number;
  readonly label: string | undefined;

  /** @internal */
  constructor(callback: () => void, priority: number, label: string | undefined, private readonly queue: DeferredQueue) {
    this.callback = callback;
    this.priority = priority;
    this.label = label;
  }

  /** True until it has run or been cancelled. */
  get pending(): boolean {
    return this.callback !== undefined;
  }

  /** Keeps the callback from running. Returns false when it already ran or was cancelled. */
  cancel(): boolean {
    if (this.callback === undefined) return false;
    this.callback = undefined;
    this.queue.cancelled();
    return true;
  }
}

export class DeferredQueue {
  readonly capacity: number;
  #queues: Deferred[][];
  #depth = 0;

  constructor(capacity: number, priorities: number) {
    this.capacity = capacity;
    this.#queues = Array.from({ length: priorities }, () => []);
  }

  /** Callbacks queued and not cancelled. */
  get depth(): number {
    return this.#depth;
  }

  /** Undefined when the queue is full (the caller reports the backpressure). */
  push(callback: () => void, priority: number, label: string | undefined): Deferred | undefined {
    if (this.#depth >= this.capacity) return undefined;
    const entry = new Deferred(callback, priority, label, this);
    this.#queues[priority]!.push(entry);
    this.#depth++;
    return entry;
  }

  /** @internal */
  cancelled(): void {
    this.#depth--;
  }

  /**
   * Hands over everything queued so far, one array per priority, and starts
   * new queues. A phase runs only what it took, so a callback deferred by a
   * deferred callback waits for the next iteration instead of starving the
   * wait. Entries still count toward the depth until `ran()`.
   */
  takeAll(): Deferred[][] | undefined {
    if (this.#depth === 0) {
      // Only cancelled entries, if any: drop them.
      // (A length store is a runtime call even on an empty list: most turns have nothing here.)
      for (const queue of this.#queues) if (queue.length !== 0) queue.length = 0;
      return undefined;
    }
    const taken = this.#queues;
    this.#queues = taken.map(() => []);
    return taken;
  }

  /**
   * Puts back what `takeAll` handed over and was not run: from
   * `taken[priority][index]` on, ahead of anything queued since.
   */
  restore(taken: Deferred[][], priority: number, index: number): void {
    for (let p = priority; p < taken.length; p++) {
      const rest = taken[p]!.slice(p === priority ? index : 0).filter((entry) => entry.pending);
      this.#queues[p] = rest.concat(this.#queues[p]!);
    }
  }

  /** An entry taken by `takeAll` is about to run: it leaves the queue. */
  ran(entry: Deferred): void {
    entry.callback = undefined;
    this.#depth--;
  }
}
