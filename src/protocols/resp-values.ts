// Where the RESP store's values live: slots carved out of shared pages, so a
// SET costs a copy into storage that already exists, not an allocation.
//
// A fresh Buffer per SET (Buffer.allocUnsafeSlow) is an ArrayBuffer with a
// malloc'd backing store, registered with V8's external-memory accounting
// and freed by a later collection: measured, it made SET 1.7x the cost of
// GET (1.86 vs 1.09 us of server CPU per request at -P16). Here values up to
// SLAB_MAX bytes take a slot in a page of their size class:
//
//   class c holds values of 2^(c-1)+1 .. 2^c bytes (the first, 0..16):
//
//   page (64 KiB ArrayBuffer) of class 5 (32-byte slots)
//   +--------+--------+--------+-- ... --+--------+
//   | slot 0 | slot 1 | slot 2 |         |slot2047|
//   +--------+--------+--------+-- ... --+--------+
//     ^ a value is a Buffer view of its slot, as long as the value
//
// A freed slot goes on its class's free stack (Int32Array, slot numbers
// page * slotsPerPage + slot) and is the next one given out; a class takes a
// new page only when its stack is empty, so memory follows the peak number
// of live values of each size, never the number of SETs. A class whose last
// value is freed gives back all its pages but the first (kept so that one key
// moving between two sizes does not take and drop a page per SET); FLUSHALL
// gives back every page. Values past SLAB_MAX are buffers of
// their own in power-of-two sizes (few sizes, so malloc reuses its blocks:
// values of every size set and freed at random otherwise fragment its heap
// until RSS only grows, measured 78 -> 110 MiB over 400,000 SETs of 0-2000
// bytes with a steady JS heap).
//
// A value whose new bytes fall in its old size class keeps its storage: the
// same Buffer when the length is unchanged (nothing at all allocated, the
// case of redis-benchmark's SET and of most counters), else a new view of
// the same slot (one small object, no backing store).
//
// Values put into the Map by anyone else are left alone: never written over,
// never freed. Ours are told apart by their class: a StoredValue is a Buffer
// (its prototype's prototype is Buffer's) that carries its page and the
// ValuePages it came from, so knowing whether a value is ours and where its
// slot is costs a map check and two field loads, not a WeakMap lookup and
// a read of its `buffer` (a call into the runtime: together 2.7% of the
// server's time at redis-benchmark SET -P16). A value freed, or replaced by
// a view of another length, is no longer ours. One ValuePages per Map, so
// the servers sharing a store share its pages too.
import { Buffer } from 'node:buffer';

/**
 * What a key costs beyond its characters, counted in the store's memory:
 * the key string's header, the Map entry and the value's Buffer object.
 * Measured: 181 bytes of JS heap per key for 200,000 12-byte keys with
 * 3-byte values (the value's bytes are in its page, counted apart).
 */
export const KEY_ENTRY_BYTES = 170;

/** Largest value kept in a slab slot: past it the copy dwarfs an allocation. */
export const SLAB_MAX = 4096;
/** Bytes per page: a few slots of the largest class, thousands of the smallest; below malloc's mmap threshold. */
export const PAGE_SIZE = 64 * 1024;
/** log2 of the smallest slot: 16 bytes, malloc's own smallest useful chunk. */
const MIN_SHIFT = 4;
const CLASSES = Math.log2(SLAB_MAX) - MIN_SHIFT + 1;
/** Owner marks: class * PAGE_CLASS + page number for a page (room for 2^21 pages of a class, 128 GiB). */
const PAGE_CLASS = 2 ** 21;

/** log2 of the slot or buffer size for `length` bytes: ceil(log2), at least MIN_SHIFT. */
function shiftOf(length: number): number {
  return length <= 1 << MIN_SHIFT ? MIN_SHIFT : 32 - Math.clz32(length - 1);
}

/**
 * A value in storage of ours. Made only by ValuePages; to everyone else a
 * Buffer. A view made from one (subarray, by the species rule) is a
 * StoredValue of no owner: not ours.
 */
class StoredValue extends Uint8Array {
  /** The epoch of the ValuePages that made it (see ValuePages.#epoch); undefined once it is not ours. */
  owner: object | undefined;
  /** Its page's class * PAGE_CLASS + page number; -log2 of its size for a large value's own buffer. */
  mark: number;

  constructor(buffer: ArrayBuffer, offset: number, length: number, owner?: object, mark = 0) {
    super(buffer, offset, length);
    this.owner = owner;
    this.mark = mark;
  }
}
Object.setPrototypeOf(StoredValue.prototype, Buffer.prototype);

export class ValuePages {
  /** Pages of each class, by page number. */
  readonly #pages: ArrayBuffer[][] = [];
  /** Freed slot numbers of each class, a stack. */
  readonly #free: Int32Array[] = [];
  readonly #freeCount = new Int32Array(CLASSES);
  /** Slots of each class's newest page never handed out yet start here. */
  readonly #fresh = new Int32Array(CLASSES);
  readonly #live = new Int32Array(CLASSES);
  /** What the values made since the last reset() hold as their owner: a new object at each reset, so none made before is ours. */
  #epoch: object = {};
  /** Bytes of pages and of large values' own buffers held now. */
  #storageBytes = 0;
  /** Bytes of the keys counted with countKey(): their characters and KEY_ENTRY_BYTES each. */
  #keyBytes = 0;

  constructor() {
    for (let c = 0; c < CLASSES; c++) {
      this.#pages.push([]);
      this.#free.push(new Int32Array(0));
    }
  }

  /** Values held in slots now (large values not counted). */
  get slots(): number {
    let live = 0;
    for (let c = 0; c < CLASSES; c++) live += this.#live[c]!;
    return live;
  }

  /** Bytes of pages held now. */
  get pageBytes(): number {
    let pages = 0;
    for (let c = 0; c < CLASSES; c++) pages += this.#pages[c]!.length;
    return pages * PAGE_SIZE;
  }

  /**
   * The store's memory as counted against a RESP server's maxMemory: the
   * pages and large values' buffers held, and the keys whose values are
   * ours (countKey). Values and keys put into the Map by anyone else are not
   * counted, as they are not freed.
   */
  get usedBytes(): number {
    return this.#storageBytes + this.#keyBytes;
  }

  /** Counts `key` in usedBytes (+1, when it takes a value of ours) or stops counting it (-1, when its value goes). */
  countKey(key: string, sign: 1 | -1): void {
    this.#keyBytes += sign * (key.length + KEY_ENTRY_BYTES);
  }

  /** Whether `value` is a live value of these pages: its key is counted, its storage is freed here. */
  owns(value: Uint8Array): boolean {
    return this.#ours(value);
  }

  /** Storage for `length` bytes, of its own until free(); the bytes are not cleared. */
  alloc(length: number): Buffer {
    const shift = shiftOf(length);
    if (length > SLAB_MAX) {
      this.#storageBytes += 2 ** shift;
      return stored(new ArrayBuffer(2 ** shift), 0, length, this.#epoch, -shift);
    }
    const c = shift - MIN_SHIFT;
    const perPage = PAGE_SIZE >>> shift;
    let slot: number;
    if (this.#freeCount[c]! > 0) slot = this.#free[c]![--this.#freeCount[c]!]!;
    else {
      const pages = this.#pages[c]!;
      if (pages.length === 0 || this.#fresh[c] === perPage) {
        pages.push(new ArrayBuffer(PAGE_SIZE));
        this.#storageBytes += PAGE_SIZE;
        this.#fresh[c] = 0;
      }
      slot = (pages.length - 1) * perPage + this.#fresh[c]!++;
    }
    this.#live[c]!++;
    const page = Math.floor(slot / perPage);
    return stored(this.#pages[c]![page]!, (slot - page * perPage) << shift, length, this.#epoch, c * PAGE_CLASS + page);
  }

  /**
   * The value's own storage made `length` bytes long, when that length is of
   * its size class: the value itself if the length is the same, else a view
   * of the same slot (which takes the slot: the value is then no longer
   * ours). Undefined when it is not ours or the size class differs.
   */
  refit(value: Uint8Array, length: number): Buffer | undefined {
    if (!this.#ours(value)) return undefined;
    const mark = value.mark;
    const shift = shiftOf(length);
    if (mark < 0 ? length <= SLAB_MAX || -mark !== shift : Math.floor(mark / PAGE_CLASS) !== shift - MIN_SHIFT) return undefined;
    if (value.length === length) return value as unknown as Buffer;
    value.owner = undefined;
    return stored(value.buffer as ArrayBuffer, value.byteOffset, length, this.#epoch, mark);
  }

  /** Gives the value's slot back; a value not from alloc() is left to the collector. */
  free(value: Uint8Array): void {
    if (!this.#ours(value)) return;
    value.owner = undefined;
    const mark = value.mark;
    if (mark < 0) {
      // Its own buffer, collected once nothing else holds the Buffer.
      this.#storageBytes -= 2 ** -mark;
      return;
    }
    const c = Math.floor(mark / PAGE_CLASS);
    const shift = c + MIN_SHIFT;
    const perPage = PAGE_SIZE >>> shift;
    if (--this.#live[c]! === 0) {
      this.#dropClass(c, 1);
      return;
    }
    let stack = this.#free[c]!;
    if (this.#freeCount[c] === stack.length) {
      const grown = new Int32Array(Math.max(64, stack.length * 2));
      grown.set(stack);
      this.#free[c] = stack = grown;
    }
    stack[this.#freeCount[c]!++] = (mark - c * PAGE_CLASS) * perPage + (value.byteOffset >>> shift);
  }

  /** Whether `value` is a live value of these pages. */
  #ours(value: Uint8Array): value is StoredValue {
    return value instanceof StoredValue && value.owner === this.#epoch;
  }

  /** Forgets every value and gives every page back (FLUSHALL). */
  reset(): void {
    for (let c = 0; c < CLASSES; c++) this.#dropClass(c, 0);
    this.#epoch = {};
    this.#storageBytes = 0;
    this.#keyBytes = 0;
  }

  /** Empties class c, keeping its first `keep` pages (all slots fresh again). */
  #dropClass(c: number, keep: number): void {
    const pages = this.#pages[c]!;
    const kept = Math.min(keep, pages.length);
    this.#storageBytes -= (pages.length - kept) * PAGE_SIZE;
    pages.length = kept;
    this.#free[c] = new Int32Array(0);
    this.#freeCount[c] = 0;
    this.#fresh[c] = 0;
    this.#live[c] = 0;
  }
}

/** A StoredValue, typed as what everyone else sees: a Buffer. */
function stored(buffer: ArrayBuffer, offset: number, length: number, owner: object, mark: number): Buffer {
  return new StoredValue(buffer, offset, length, owner, mark) as unknown as Buffer;
}

const byStore = new WeakMap<Map<string, Uint8Array>, ValuePages>();

/** The pages of the values of `store`: one set per Map, whichever server writes it. */
export function pagesOf(store: Map<string, Uint8Array>): ValuePages {
  let pages = byStore.get(store);
  if (pages === undefined) byStore.set(store, (pages = new ValuePages()));
  return pages;
}
