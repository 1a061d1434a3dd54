// The RESP server's keys: values, and the deadlines of the keys that expire.
//
// Expiry is Redis's: lazy, an expired key is gone as soon as it is looked up
// (expireIfNeeded), and active, one sweeping timeout per keyspace on the
// loop's wheel that checks a bounded sample of the expiring keys ten times a
// second and frees those past their deadline. No timer per key: a key with a
// deadline costs one entry in a second Map, the deadline a double.
//
// Time is the loop's (loop.now(), ms), taken from the first connection the
// keyspace serves, so a loop on a virtual clock moves expiry with it. Until
// a connection brings a loop, performance.now() stands in and nothing sweeps.
import { performance } from 'node:perf_hooks';

import type { EventLoop } from '../loop/event-loop.js';
import { pagesOf, type ValuePages } from './resp-values.js';

/** The sweep's period: Redis's hz 10. */
export const SWEEP_INTERVAL_MS = 100;
/** Keys checked per round of a sweep: Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP. */
export const SWEEP_KEYS_PER_ROUND = 20;
/**
 * Most rounds per sweep: a round that found more than a quarter of its keys
 * expired is followed by another (as Redis does), up to this bound, so one
 * sweep checks at most 20 x 16 = 320 keys.
 */
export const SWEEP_MAX_ROUNDS = 16;

const NO_TIMEOUT = -1;
const UNREF = { ref: false } as const;

export class Keyspace {
  readonly values: Map<string, Uint8Array>;
  /** Where the values written here live (resp-values.ts); every value leaving `values` goes back through #forget. */
  readonly pages: ValuePages;
  /** Deadline in loop ms of each key that expires; every key here is in `values` too. */
  readonly #deadlines = new Map<string, number>();
  #loop: EventLoop | undefined;
  #sweep = NO_TIMEOUT;
  /** Where the sweep goes on: a live Map iterator survives deletes and inserts. */
  #cursor: Iterator<[string, number]> | undefined;

  constructor(values: Map<string, Uint8Array>) {
    this.values = values;
    this.pages = pagesOf(values);
  }

  /** The loop whose clock and wheel the keyspace uses: the first one given. */
  attach(loop: EventLoop | undefined): void {
    if (this.#loop === undefined && loop !== undefined) {
      this.#loop = loop;
      this.#schedule();
    }
  }

  now(): number {
    return this.#loop === undefined ? performance.now() : this.#loop.now();
  }

  /** Keys with a deadline, the expired ones not yet freed included (as Redis's INFO counts them). */
  get expiring(): number {
    return this.#deadlines.size;
  }

  /** The live value of `key`; an expired key is deleted here. */
  get(key: string): Uint8Array | undefined {
    const value = this.values.get(key);
    if (value === undefined || this.#deadlines.size === 0) return value;
    const deadline = this.#deadlines.get(key);
    if (deadline !== undefined && deadline <= this.now()) {
      this.#forget(key, value);
      return undefined;
    }
    return value;
  }

  /**
   * The storage of `key`'s next value, `length` bytes for the caller to fill
   * at once, its first `carry` bytes those of the current value (APPEND).
   * The current value's own storage when the length fits it (written over in
   * place: a Buffer read from the store earlier sees the new bytes), else
   * new storage, the old given back. The deadline goes unless
   * `keepDeadline` (Redis's KEEPTTL, and INCR, APPEND).
   */
  write(key: string, length: number, keepDeadline = false, carry = 0): Buffer {
    const values = this.values;
    const pages = this.pages;
    const old = values.get(key);
    if (!keepDeadline && this.#deadlines.size > 0) this.#deadlines.delete(key);
    const refit = old === undefined ? undefined : pages.refit(old, length);
    if (refit !== undefined) {
      if (refit !== old) values.set(key, refit);
      return refit;
    }
    // Whether the key is counted already: it holds a value of ours.
    const counted = old !== undefined && pages.owns(old);
    const value = pages.alloc(length);
    try {
      values.set(key, value);
    } catch (error) {
      // A Map at its 2^24 keys: the slot goes back, the old value stays.
      pages.free(value);
      throw error;
    }
    if (!counted) pages.countKey(key, 1);
    if (old !== undefined) {
      if (carry > 0) value.set(old.subarray(0, carry));
      pages.free(old);
    }
    return value;
  }

  /** Deletes `key`; true if it was live. */
  delete(key: string): boolean {
    const value = this.get(key);
    if (value === undefined) return false;
    this.#forget(key, value);
    return true;
  }

  #forget(key: string, value: Uint8Array): void {
    this.values.delete(key);
    this.#deadlines.delete(key);
    if (this.pages.owns(value)) this.pages.countKey(key, -1);
    this.pages.free(value);
  }

  /** The deadline of a live key, or undefined when it has none. */
  deadline(key: string): number | undefined {
    return this.#deadlines.get(key);
  }

  /** Gives a live key a deadline; one already past deletes it, as Redis does. */
  expireAt(key: string, deadline: number): void {
    if (deadline <= this.now()) {
      const value = this.values.get(key);
      if (value !== undefined) this.#forget(key, value);
      return;
    }
    this.#deadlines.set(key, deadline);
    this.#schedule();
  }

  /** Takes a live key's deadline away; true if it had one. */
  persist(key: string): boolean {
    return this.#deadlines.delete(key);
  }

  clear(): void {
    this.values.clear();
    this.pages.reset();
    this.#deadlines.clear();
    this.#cursor = undefined;
  }

  #schedule(): void {
    const loop = this.#loop;
    if (this.#sweep !== NO_TIMEOUT || this.#deadlines.size === 0 || loop === undefined || loop.isClosed) return;
    this.#sweep = loop.timeout(sweep, SWEEP_INTERVAL_MS, this, UNREF);
  }

  /** One sweep: rounds of SWEEP_KEYS_PER_ROUND keys from the cursor, then the next sweep if any key still expires. */
  sweepNow(): void {
    this.#sweep = NO_TIMEOUT;
    const now = this.now();
    for (let round = 0; round < SWEEP_MAX_ROUNDS && this.#deadlines.size > 0; round++) {
      let expired = 0;
      for (let checked = 0; checked < SWEEP_KEYS_PER_ROUND; checked++) {
        this.#cursor ??= this.#deadlines.entries();
        const next = this.#cursor.next();
        if (next.done === true) {
          this.#cursor = undefined;
          break;
        }
        const [key, deadline] = next.value;
        if (deadline <= now) {
          const value = this.values.get(key);
          if (value !== undefined) this.#forget(key, value);
          else this.#deadlines.delete(key);
          expired++;
        }
      }
      if (expired * 4 <= SWEEP_KEYS_PER_ROUND) break;
    }
    this.#schedule();
  }
}

function sweep(keyspace: Keyspace): void {
  keyspace.sweepNow();
}
