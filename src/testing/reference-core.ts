// The reference core: the wasm core's registry and dispatch again, in plain
// TypeScript. It mirrors assembly/registry.ts, assembly/dispatch.ts and
// assembly/records.ts (the same rules, the same record format) over typed
// arrays instead of linear memory, and takes every constant from the ABI
// generated from assembly/, so only the rules are written twice.
//
// It exists for two reasons. It is the oracle of the wasm core
// (tests/core-oracle.test.ts runs random register/modify/remove/dispatch
// sequences through both and compares every return value, every record and
// the whole registry after each step), and it is the baseline of the
// core-overhead benchmark (bench/lab/core-overhead.ts), which answers whether
// moving dispatch into wasm paid off. The loop never uses it.
//
// Every rule here is a copy of the wasm one, including its corner cases: an
// event that yields no record leaves the fd's pending range and one-shot arm
// untouched, flags are kept as a byte while the kernel mask is derived from
// the flags as given, generations wrap below 2^31. A change to the wasm
// core's rules must be made here too; the oracle test fails until it is.
//
// Events are read where the native wait writes them: `eventStride` bytes
// each, the u32 event bits at 0 and the u64 data (fd low, generation high) at
// `eventDataOffset`. Both must be multiples of 4 (12 and 4 on x86-64, 16 and 8
// on arm64), so the events are read through one Uint32Array.
import { assertInteger, rangeError } from '../errors.js';
import {
  EDGE_TRIGGERED,
  EPOLLERR,
  EPOLLET,
  EPOLLHUP,
  EPOLLIN,
  EPOLLONESHOT,
  EPOLLOUT,
  EPOLLRDHUP,
  ERR_BAD_ROLE,
  ERR_EXISTS,
  ERR_FD_RANGE,
  ERR_NOT_REGISTERED,
  GENERATION_LIMIT,
  KIND_ACCEPT,
  KIND_DEAD,
  KIND_ERROR,
  KIND_HANGUP,
  KIND_NODE,
  KIND_READ,
  KIND_WRITE,
  ONESHOT,
  PRIORITIES,
  PRIORITY_SHIFT,
  RECORDS_PER_EVENT,
  RECORD_WORDS,
  ROLE_CLIENT,
  ROLE_NODE,
  ROLE_NONE,
  ROLE_SERVER,
  ROLE_WATCH,
  WANT_HANGUP,
  WANT_READ,
  WANT_WRITE,
} from '../core/abi.js';

// Kinds as bits, in the order an fd's records go out (as in dispatch.ts).
const K_WRITE = 1;
const K_READ = 2;
const K_ERROR = 4;
const K_HANGUP = 8;
const K_ACCEPT = 16;
const K_NODE = 32;

export interface ReferenceCoreOptions {
  maxFds: number;
  maxEvents: number;
  /** Bytes per kernel event record (native.EVENT_SIZE). */
  eventStride: number;
  /** Where the u64 data sits in one event (native.EVENT_DATA_OFFSET). */
  eventDataOffset: number;
}

/** The kernel interest for a role and the host's flags (assembly/registry.ts maskFor). */
export function referenceMaskFor(role: number, flags: number): number {
  if (role === ROLE_SERVER || role === ROLE_NODE) return EPOLLIN;
  let mask = 0;
  if (flags & WANT_READ) mask |= EPOLLIN;
  if (role === ROLE_CLIENT ? flags & WANT_READ : flags & WANT_HANGUP) mask |= EPOLLRDHUP;
  if (flags & WANT_WRITE) mask |= EPOLLOUT;
  if (mask === 0) return 0;
  if (flags & EDGE_TRIGGERED) mask |= EPOLLET;
  if (flags & ONESHOT) mask |= EPOLLONESHOT;
  return mask >>> 0;
}

function kindsFor(role: number, bits: number, mask: number, flags: number): number {
  if (role === ROLE_SERVER) return bits & (EPOLLIN | EPOLLERR | EPOLLHUP) ? K_ACCEPT : 0;
  if (role === ROLE_NODE) return K_NODE;
  let kinds = 0;
  const dead = bits & (EPOLLERR | EPOLLHUP);
  if (!dead && bits & mask & EPOLLOUT) kinds |= K_WRITE;
  if (bits & mask & EPOLLIN) kinds |= K_READ;
  if (bits & EPOLLERR) kinds |= K_ERROR;
  else if (bits & EPOLLHUP || bits & mask & EPOLLRDHUP) {
    if (role === ROLE_CLIENT || bits & EPOLLHUP || flags & WANT_HANGUP) kinds |= K_HANGUP;
  }
  return kinds;
}

const popcount6 = (kinds: number): number =>
  (kinds & 1) + ((kinds >> 1) & 1) + ((kinds >> 2) & 1) + ((kinds >> 3) & 1) + ((kinds >> 4) & 1) + ((kinds >> 5) & 1);

/** One loop's registry and dispatch, in TypeScript. */
export class ReferenceCore {
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
  readonly #runStart = new Int32Array(PRIORITIES);
  #registered = 0;
  #batchRecords = 0;
  #cursor = 0;

  constructor(options: ReferenceCoreOptions) {
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
    this.records = new Int32Array(maxEvents * RECORDS_PER_EVENT * RECORD_WORDS);
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
    if (!this.#inRange(fd)) return ERR_FD_RANGE;
    if (role < ROLE_SERVER || role > ROLE_WATCH) return ERR_BAD_ROLE;
    if (this.#role[fd] !== ROLE_NONE) return ERR_EXISTS;
    let generation = this.#generation[fd]! + 1;
    if (generation > GENERATION_LIMIT) generation = 1;
    this.#generation[fd] = generation;
    this.#mask[fd] = referenceMaskFor(role, flags);
    this.#role[fd] = role;
    this.#flags[fd] = flags;
    this.#pendingCount[fd] = 0;
    this.#firstRecord[fd] = 0;
    this.#registered++;
    return generation;
  }

  /** Forgets fd; its records still pending in this batch are cancelled. 0 or an ERR_* code. */
  unregister(fd: number): number {
    if (!this.#inRange(fd)) return ERR_FD_RANGE;
    if (this.#role[fd] === ROLE_NONE) return ERR_NOT_REGISTERED;
    this.#cancelRecords(this.#firstRecord[fd]!, this.#pendingCount[fd]!, fd, this.#generation[fd]!, -1);
    this.#role[fd] = ROLE_NONE;
    this.#mask[fd] = 0;
    this.#registered--;
    return 0;
  }

  /** Changes flags: 1 when the kernel mask changed, 0 when not, or an ERR_* code. */
  setFlags(fd: number, flags: number): number {
    if (!this.#inRange(fd)) return ERR_FD_RANGE;
    const role = this.#role[fd]!;
    if (role === ROLE_NONE) return ERR_NOT_REGISTERED;
    if (role !== ROLE_CLIENT && role !== ROLE_WATCH) return ERR_BAD_ROLE;
    this.#flags[fd] = flags;
    // Cancel before comparing masks, as the core does: a disarmed one-shot fd
    // has mask 0 both before and after losing its interest, yet its pending
    // records must go.
    let unwanted = 0;
    if (!(flags & WANT_READ)) unwanted |= 1 << KIND_READ;
    if (!(flags & WANT_WRITE)) unwanted |= 1 << KIND_WRITE;
    if (role === ROLE_WATCH && !(flags & WANT_HANGUP)) unwanted |= 1 << KIND_HANGUP;
    this.#cancelRecords(this.#firstRecord[fd]!, this.#pendingCount[fd]!, fd, this.#generation[fd]!, unwanted);
    const mask = referenceMaskFor(role, flags);
    if (mask === this.#mask[fd]) return 0;
    this.#mask[fd] = mask;
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
    if (this.#role[fd] === ROLE_NONE || this.#generation[fd] !== events[word + this.#dataWord + 1]) return -1;
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
      runStart[(flags >> PRIORITY_SHIFT) & (PRIORITIES - 1)]! += n;
      total += n;
    }
    this.staleSeen += stale;
    for (let p = 0, at = 0; p < PRIORITIES; p++) {
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
      const priority = (flags >> PRIORITY_SHIFT) & (PRIORITIES - 1);
      const first = runStart[priority]!;
      const generation = this.#generation[fd]!;
      let at = first * RECORD_WORDS;
      for (let bit = K_WRITE, kind = 0; bit <= K_NODE; bit <<= 1) {
        if (!(kinds & bit)) continue;
        kind = bit === K_WRITE ? KIND_WRITE : bit === K_READ ? KIND_READ : bit === K_ERROR ? KIND_ERROR
          : bit === K_HANGUP ? KIND_HANGUP : bit === K_ACCEPT ? KIND_ACCEPT : KIND_NODE;
        records[at] = kind;
        records[at + 1] = fd;
        records[at + 2] = generation;
        records[at + 3] = bits;
        at += RECORD_WORDS;
      }
      const next = at / RECORD_WORDS;
      runStart[priority] = next;
      this.#firstRecord[fd] = first;
      this.#pendingCount[fd] = next - first;
      if (flags & ONESHOT) this.#mask[fd] = 0;
    }
    return total;
  }

  #cancelRecords(first: number, count: number, fd: number, generation: number, kinds: number): void {
    const records = this.records;
    const end = Math.min(first + count, this.#batchRecords);
    for (let i = Math.max(first, this.#cursor); i < end; i++) {
      const at = i * RECORD_WORDS;
      if (records[at + 1] !== fd || records[at + 2] !== generation) continue;
      if ((1 << records[at]!) & kinds) records[at] = KIND_DEAD;
    }
  }
}
