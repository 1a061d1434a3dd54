// Trace mode: each callback's kind, fd or label, start and duration, kept in
// a bounded ring (the newest `capacity` callbacks) that can be dumped as JSON.
//
//        next (oldest entry once full)
//          ▼
//   ┌────┬────┬────┬────┬────┐
//   │ e5 │ e6 │ e2 │ e3 │ e4 │   times: Float64Array [start, duration] × capacity
//   └────┴────┴────┴────┴────┘   kinds, fds: parallel typed arrays; labels: strings
//
// Recording writes into preallocated arrays: no allocation per callback.

export interface TraceEntry {
  kind: string;
  fd: number | undefined;
  label: string | undefined;
  /** ms, on the loop's performance clock. */
  start: number;
  durationMs: number;
}

export class TraceRing {
  readonly capacity: number;
  readonly #times: Float64Array;
  readonly #fds: Int32Array;
  readonly #kinds: Uint8Array;
  readonly #labels: (string | undefined)[];
  readonly #kindNames: readonly string[];
  #next = 0;
  #size = 0;

  constructor(capacity: number, kindNames: readonly string[]) {
    this.capacity = capacity;
    this.#times = new Float64Array(capacity * 2);
    this.#fds = new Int32Array(capacity);
    this.#kinds = new Uint8Array(capacity);
    this.#labels = new Array<string | undefined>(capacity);
    this.#kindNames = kindNames;
  }

  record(kind: number, fd: number, label: string | undefined, start: number, duration: number): void {
    const at = this.#next;
    this.#times[at * 2] = start;
    this.#times[at * 2 + 1] = duration;
    this.#fds[at] = fd;
    this.#kinds[at] = kind;
    this.#labels[at] = label;
    this.#next = at + 1 === this.capacity ? 0 : at + 1;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Oldest first. */
  entries(): TraceEntry[] {
    const out: TraceEntry[] = [];
    const first = this.#size < this.capacity ? 0 : this.#next;
    for (let i = 0; i < this.#size; i++) {
      const at = (first + i) % this.capacity;
      const fd = this.#fds[at]!;
      out.push({
        kind: this.#kindNames[this.#kinds[at]!]!,
        fd: fd < 0 ? undefined : fd,
        label: this.#labels[at],
        start: this.#times[at * 2]!,
        durationMs: this.#times[at * 2 + 1]!,
      });
    }
    return out;
  }

  clear(): void {
    this.#next = 0;
    this.#size = 0;
    this.#labels.fill(undefined);
  }
}
