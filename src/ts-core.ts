// The dispatch core again, in plain TypeScript: the same registry, the same
// dispatch rules and the same record format as assembly/registry.ts,
// assembly/dispatch.ts and assembly/records.ts, over typed arrays instead of
// linear memory.
//
// It exists for two reasons. It is the test oracle of the wasm core
// (tests/core-oracle.test.ts runs random register/modify/remove/dispatch
// sequences through both and compares every record), and it is the baseline
// of the core-overhead benchmark (bench/lab/core-overhead.ts), which answers
// whether moving dispatch into wasm paid off. It is not used by the loop.
//
// Every rule here is a copy of the wasm one, including its corner cases: an
// event that yields no record leaves the fd's pending range and one-shot arm
// untouched, flags are kept as a byte while the kernel mask is derived from
// the flags as given, generations wrap below 2^31. A change to the wasm core
// must be made here too; the oracle test fails until it is.
//
// Events are read where the native wait writes them: `eventStride` bytes
// each, the u32 event bits at 0 and the u64 data (fd low, generation high) at
// `eventDataOffset`. Both must be multiples of 4 (12 and 4 on x86-64, 16 and 8
// on arm64), so the events are read through one Uint32Array.
import { assertInteger, rangeError } from './errors.js';

export const TS_CORE = Object.freeze({
  KIND_DEAD: 0,
  KIND_ACCEPT: 1,
  KIND_READ: 2,
  KIND_WRITE: 3,
  KIND_HANGUP: 4,
  KIND_ERROR: 5,
  KIND_NODE: 6,
  ROLE_NONE: 0,
  ROLE_SERVER: 1,
  ROLE_CLIENT: 2,
  ROLE_NODE: 3,
  ROLE_WATCH: 4,
  WANT_READ: 1,
  WANT_WRITE: 2,
  EDGE_TRIGGERED: 4,
  WANT_HANGUP: 8,
  ONESHOT: 16,
  PRIORITY_SHIFT: 5,
  PRIORITIES: 4,
  ERR_FD_RANGE: -1,
  ERR_EXISTS: -2,
  ERR_NOT_REGISTERED: -3,
  ERR_BAD_ROLE: -4,
  RECORD_WORDS: 4,
  RECORDS_PER_EVENT: 3,
  EPOLLIN: 0x001,
  EPOLLOUT: 0x004,
  EPOLLERR: 0x008,
  EPOLLHUP: 0x010,
  EPOLLRDHUP: 0x2000,
  EPOLLONESHOT: 0x40000000,
  EPOLLET: 0x80000000,
});

const C = TS_CORE;
const GENERATION_LIMIT = 0x7fffffff;

// Kinds as bits, in the order an fd's records go out (as in dispatch.ts).
const K_WRITE = 1;
const K_READ = 2;
const K_ERROR = 4;
const K_HANGUP = 8;
const K_ACCEPT = 16;
const K_NODE = 32;

export interface TsCoreOptions {
  maxFds: number;
  maxEvents: number;
  /** Bytes per kernel event record (native.EVENT_SIZE). */
  eventStride: number;
  /** Where the u64 data sits in one event (native.EVENT_DATA_OFFSET). */
  eventDataOffset: number;
}

/** The kernel interest for a role and the host's flags (assembly/registry.ts maskFor). */
export function tsMaskFor(role: number, flags: number): number {
  if (role === C.ROLE_SERVER || role === C.ROLE_NODE) return C.EPOLLIN;
  let mask = 0;
  if (flags & C.WANT_READ) mask |= C.EPOLLIN;
  if (role === C.ROLE_CLIENT ? flags & C.WANT_READ : flags & C.WANT_HANGUP) mask |= C.EPOLLRDHUP;
  if (flags & C.WANT_WRITE) mask |= C.EPOLLOUT;
  if (mask === 0) return 0;
  if (flags & C.EDGE_TRIGGERED) mask |= C.EPOLLET;
  if (flags & C.ONESHOT) mask |= C.EPOLLONESHOT;
  return mask >>> 0;
}

function kindsFor(role: number, bits: number, mask: number, flags: number): number {
  if (role === C.ROLE_SERVER) return bits & (C.EPOLLIN | C.EPOLLERR | C.EPOLLHUP) ? K_ACCEPT : 0;
  if (role === C.ROLE_NODE) return K_NODE;
  let kinds = 0;
  const dead = bits & (C.EPOLLERR | C.EPOLLHUP);
  if (!dead && bits & mask & C.EPOLLOUT) kinds |= K_WRITE;
  if (bits & mask & C.EPOLLIN) kinds |= K_READ;
  if (bits & C.EPOLLERR) kinds |= K_ERROR;
  else if (bits & C.EPOLLHUP || bits & mask & C.EPOLLRDHUP) {
    if (role === C.ROLE_CLIENT || bits & C.EPOLLHUP || flags & C.WANT_HANGUP) kinds |= K_HANGUP;
  }
  return kinds;
}

const popcount6 = (kinds: number): number =>
  (kinds & 1) + ((kinds >> 1) & 1) + ((kinds >> 2) & 1) + ((kinds >> 3) & 1) + ((kinds >> 4) & 1) + ((kinds >> 5) & 1);

/** One loop's registry and dispatch, in TypeScript. */
export class TsCore {
  readonly maxFds: number;
  readonly maxEvents: number;
  /** The events region, as the native wait would fill it (eventStride bytes per event). */
  readonly eventBytes: Uint8Array;
  /** The records region: RECORD_WORDS i32 words per record, as the wasm core writes them. */
  readonly records: Int32Array;
  /** Events dispatched, stale ones included (the wasm core's COUNTER_EVENTS). */
  eventsSeen = 0;
  /** Events dropped because their registration was gone (COUNTER_STALE). */
  staleSeen = 0;

  readonly #events: Uint32Array;
  readonly #strideWords: number;
  readonly #dataWord: number;
  // The registry, one entry per fd number, split into parallel arrays.
  readonly #generation: Uint32Array;
  readonly #mask: Uint32Array;
  readonly #role: Uint8Array;
  readonly #flags: Uint8Array;
  readonly #pendingCount: Uint16Array;
  readonly #firstRecord: Int32Array;
  readonly #runStart = new Int32Array(C.PRIORITIES);
  #registered = 0;
  #batchRecords = 0;
  #cursor = 0;

  constructor(options: TsCoreOptions) {
    const { maxFds, maxEvents, eventStride, eventDataOffset } = options;
    assertInteger('options.maxFds', maxFds, 1, 1 << 20);
    assertInteger('options.maxEvents', maxEvents, 1, 65536);
    assertInteger('options.eventStride', eventStride, 12, 64);
    assertInteger('options.eventDataOffset', eventDataOffset, 4, eventStride - 8);
    if (eventStride % 4 !== 0 || eventDataOffset % 4 !== 0) {
      throw rangeError(`options.eventStride and options.eventDataOffset must be multiples of 4, got ${eventStride} and ${eventDataOffset}`);
    }
    this.maxFds = maxFds;
    this.maxEvents = maxEvents;
    this.#events = new Uint32Array((maxEvents * eventStride) / 4);
    this.eventBytes = new Uint8Array(this.#events.buffer);
    this.#strideWords = eventStride / 4;
    this.#dataWord = eventDataOffset / 4;
    this.records = new Int32Array(maxEvents * C.RECORDS_PER_EVENT * C.RECORD_WORDS);
    this.#generation = new Uint32Array(maxFds);
    this.#mask = new Uint32Array(maxFds);
    this.#role = new Uint8Array(maxFds);
    this.#flags = new Uint8Array(maxFds);
    this.#pendingCount = new Uint16Array(maxFds);
    this.#firstRecord = new Int32Array(maxFds);
  }

  #inRange(fd: number): boolean {
    return fd >>> 0 < this.maxFds && Number.isInteger(fd);
  }

  /** Registers fd. Returns its new generation (> 0), or an ERR_* code. */
  register(fd: number, role: number, flags: number): number {
    if (!this.#inRange(fd)) return C.ERR_FD_RANGE;
    if (role < C.ROLE_SERVER || role > C.ROLE_WATCH) return C.ERR_BAD_ROLE;
    if (this.#role[fd] !== C.ROLE_NONE) return C.ERR_EXISTS;
    let generation = this.#generation[fd]! + 1;
    if (generation > GENERATION_LIMIT) generation = 1;
    this.#generation[fd] = generation;
    this.#mask[fd] = tsMaskFor(role, flags);
    this.#role[fd] = role;
    this.#flags[fd] = flags;
    this.#pendingCount[fd] = 0;
    this.#firstRecord[fd] = 0;
    this.#registered++;
    return generation;
  }

  /** Forgets fd; its records still pending in this batch are cancelled. 0 or an ERR_* code. */
  unregister(fd: number): number {
    if (!this.#inRange(fd)) return C.ERR_FD_RANGE;
    if (this.#role[fd] === C.ROLE_NONE) return C.ERR_NOT_REGISTERED;
    this.#cancelRecords(this.#firstRecord[fd]!, this.#pendingCount[fd]!, fd, this.#generation[fd]!, -1);
    this.#role[fd] = C.ROLE_NONE;
    this.#mask[fd] = 0;
    this.#registered--;
    return 0;
  }

  /** Changes flags: 1 when the kernel mask changed, 0 when not, or an ERR_* code. */
  setFlags(fd: number, flags: number): number {
    if (!this.#inRange(fd)) return C.ERR_FD_RANGE;
    const role = this.#role[fd]!;
    if (role === C.ROLE_NONE) return C.ERR_NOT_REGISTERED;
    if (role !== C.ROLE_CLIENT && role !== C.ROLE_WATCH) return C.ERR_BAD_ROLE;
    this.#flags[fd] = flags;
    const mask = tsMaskFor(role, flags);
    if (mask === this.#mask[fd]) return 0;
    this.#mask[fd] = mask;
    let unwanted = 0;
    if (!(flags & C.WANT_READ)) unwanted |= 1 << C.KIND_READ;
    if (!(flags & C.WANT_WRITE)) unwanted |= 1 << C.KIND_WRITE;
    if (role === C.ROLE_WATCH && !(flags & C.WANT_HANGUP)) unwanted |= 1 << C.KIND_HANGUP;
    this.#cancelRecords(this.#firstRecord[fd]!, this.#pendingCount[fd]!, fd, this.#generation[fd]!, unwanted);
    return 1;
  }

  registeredCount(): number {
    return this.#registered;
  }

  maskOf(fd: number): number {
    return this.#inRange(fd) ? this.#mask[fd]! : 0;
  }
  generationOf(fd: number): number {
    return this.#inRange(fd) ? this.#generation[fd]! : 0;
  }
  roleOf(fd: number): number {
    return this.#inRange(fd) ? this.#role[fd]! : 0;
  }
  flagsOf(fd: number): number {
    return this.#inRange(fd) ? this.#flags[fd]! : 0;
  }

  recordsInBatch(): number {
    return this.#batchRecords;
  }
  batchCursor(): number {
    return this.#cursor;
  }
  setBatchCursor(at: number): void {
    this.#cursor = Math.min(Math.max(at | 0, 0), this.#batchRecords);
  }
  pendingRecords(): number {
    return this.#batchRecords - this.#cursor;
  }

  /** The fd an event is for when its registration is live, else -1. */
  #liveFd(word: number): number {
    const events = this.#events;
    const fd = events[word + this.#dataWord]!;
    if (fd >= this.maxFds) return -1;
    if (this.#role[fd] === C.ROLE_NONE || this.#generation[fd] !== events[word + this.#dataWord + 1]) return -1;
    return fd;
  }

  /**
   * Reads `count` events from `eventBytes` and writes their records, ordered
   * by priority, FIFO within one. Returns the records written. Two passes,
   * as in the wasm core: count each priority's records, then place them.
   */
  dispatch(count: number): number {
    const events = this.#events;
    const stride = this.#strideWords;
    const runStart = this.#runStart;
    this.eventsSeen += count;
    runStart.fill(0);
    let total = 0;
    let stale = 0;
    for (let i = 0, word = 0; i < count; i++, word += stride) {
      const fd = this.#liveFd(word);
      if (fd < 0) {
        stale++;
        continue;
      }
      const flags = this.#flags[fd]!;
      const n = popcount6(kindsFor(this.#role[fd]!, events[word]!, this.#mask[fd]!, flags));
      runStart[(flags >> C.PRIORITY_SHIFT) & (C.PRIORITIES - 1)]! += n;
      total += n;
    }
    this.staleSeen += stale;
    for (let p = 0, at = 0; p < C.PRIORITIES; p++) {
      const n = runStart[p]!;
      runStart[p] = at;
      at += n;
    }
    this.#batchRecords = total;
    this.#cursor = 0;
    const records = this.records;
    for (let i = 0, word = 0; i < count; i++, word += stride) {
      const fd = this.#liveFd(word);
      if (fd < 0) continue;
      const flags = this.#flags[fd]!;
      const bits = events[word]!;
      const kinds = kindsFor(this.#role[fd]!, bits, this.#mask[fd]!, flags);
      if (kinds === 0) continue;
      const priority = (flags >> C.PRIORITY_SHIFT) & (C.PRIORITIES - 1);
      const first = runStart[priority]!;
      const generation = this.#generation[fd]!;
      let at = first * C.RECORD_WORDS;
      for (let bit = K_WRITE, kind = 0; bit <= K_NODE; bit <<= 1) {
        if (!(kinds & bit)) continue;
        kind = bit === K_WRITE ? C.KIND_WRITE : bit === K_READ ? C.KIND_READ : bit === K_ERROR ? C.KIND_ERROR
          : bit === K_HANGUP ? C.KIND_HANGUP : bit === K_ACCEPT ? C.KIND_ACCEPT : C.KIND_NODE;
        records[at] = kind;
        records[at + 1] = fd;
        records[at + 2] = generation;
        records[at + 3] = bits;
        at += C.RECORD_WORDS;
      }
      const next = at / C.RECORD_WORDS;
      runStart[priority] = next;
      this.#firstRecord[fd] = first;
      this.#pendingCount[fd] = next - first;
      if (flags & C.ONESHOT) this.#mask[fd] = 0;
    }
    return total;
  }

  #cancelRecords(first: number, count: number, fd: number, generation: number, kinds: number): void {
    const records = this.records;
    const end = Math.min(first + count, this.#batchRecords);
    for (let i = Math.max(first, this.#cursor); i < end; i++) {
      const at = i * C.RECORD_WORDS;
      if (records[at + 1] !== fd || records[at + 2] !== generation) continue;
      if ((1 << records[at]!) & kinds) records[at] = C.KIND_DEAD;
    }
  }
}
