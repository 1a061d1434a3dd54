// Loading the wasm core. The module is compiled once per process; each loop
// gets its own instance over its own memory.
//
// The core owns the memory layout, but the memory must exist before the
// instance does (it is imported). So a loop is made in two steps: a sizing
// instance over one page answers `layoutBytes` (a pure function), then the
// real memory is created with exactly that many pages, initial == maximum,
// and the loop's instance is made over it.
import { readFileSync } from 'node:fs';

import { assertInteger } from './errors.js';

/** The core's exports, as the host uses them. */
export interface CoreExports {
  readonly RECORD_WORDS: WebAssembly.Global;
  readonly RECORD_BYTES: WebAssembly.Global;
  readonly RECORDS_PER_EVENT: WebAssembly.Global;
  readonly eventsBase: WebAssembly.Global;
  readonly recordsBase: WebAssembly.Global;
  readonly KIND_DEAD: WebAssembly.Global;
  readonly KIND_ACCEPT: WebAssembly.Global;
  readonly KIND_READ: WebAssembly.Global;
  readonly KIND_WRITE: WebAssembly.Global;
  readonly KIND_HANGUP: WebAssembly.Global;
  readonly KIND_ERROR: WebAssembly.Global;
  readonly KIND_NODE: WebAssembly.Global;
  readonly ROLE_SERVER: WebAssembly.Global;
  readonly ROLE_CLIENT: WebAssembly.Global;
  readonly ROLE_NODE: WebAssembly.Global;
  readonly WANT_READ: WebAssembly.Global;
  readonly WANT_WRITE: WebAssembly.Global;
  readonly EDGE_TRIGGERED: WebAssembly.Global;
  readonly ERR_FD_RANGE: WebAssembly.Global;
  readonly ERR_EXISTS: WebAssembly.Global;
  readonly ERR_NOT_REGISTERED: WebAssembly.Global;
  readonly ERR_BAD_ROLE: WebAssembly.Global;
  readonly EPOLLIN: WebAssembly.Global;
  readonly EPOLLOUT: WebAssembly.Global;
  readonly EPOLLERR: WebAssembly.Global;
  readonly EPOLLHUP: WebAssembly.Global;
  readonly EPOLLRDHUP: WebAssembly.Global;
  readonly ROLE_WATCH: WebAssembly.Global;
  readonly WANT_HANGUP: WebAssembly.Global;
  readonly ONESHOT: WebAssembly.Global;
  readonly PRIORITY_SHIFT: WebAssembly.Global;
  readonly PRIORITIES: WebAssembly.Global;
  readonly EPOLLET: WebAssembly.Global;
  readonly EPOLLONESHOT: WebAssembly.Global;
  readonly metricsBase: WebAssembly.Global;
  readonly COUNTERS: WebAssembly.Global;
  readonly HISTOGRAMS: WebAssembly.Global;
  readonly BUCKETS: WebAssembly.Global;
  readonly COUNTER_ITERATIONS: WebAssembly.Global;
  readonly COUNTER_WAITS: WebAssembly.Global;
  readonly COUNTER_EVENTS: WebAssembly.Global;
  readonly COUNTER_STALE: WebAssembly.Global;
  readonly COUNTER_CALLBACKS: WebAssembly.Global;
  readonly COUNTER_WAIT_NS: WebAssembly.Global;
  readonly COUNTER_BUSY_NS: WebAssembly.Global;
  readonly COUNTER_TIMERS_FIRED: WebAssembly.Global;
  readonly COUNTER_DEFERRED_RUN: WebAssembly.Global;
  readonly COUNTER_ERRORS: WebAssembly.Global;
  readonly COUNTER_SLOW: WebAssembly.Global;
  readonly COUNTER_BUDGET_CUTOFFS: WebAssembly.Global;
  readonly COUNTER_REPOLLS: WebAssembly.Global;
  readonly HISTOGRAM_BATCH: WebAssembly.Global;
  readonly HISTOGRAM_CALLBACK_US: WebAssembly.Global;
  readonly HISTOGRAM_TIMER_LATENESS_US: WebAssembly.Global;
  readonly HISTOGRAM_WAIT_US: WebAssembly.Global;
  /** Bytes per timer entry in the timers region. */
  readonly TIMER_ENTRY_BYTES: WebAssembly.Global;
  /** The longest timer delay in ms (2^36 - 1, about 2.18 years); longer ones are clamped. */
  readonly MAX_TIMER_DELAY_MS: WebAssembly.Global;
  readonly ERR_TIMERS_FULL: WebAssembly.Global;
  layoutBytes(maxFds: number, maxEvents: number, eventStride: number, maxTimers: number): number;
  configure(maxFds: number, maxEvents: number, eventStride: number, eventDataOffset: number, maxTimers: number): void;
  register(fd: number, role: number, flags: number): number;
  unregister(fd: number): number;
  setFlags(fd: number, flags: number): number;
  registeredCount(): number;
  dispatch(count: number): number;
  batchCursor(): number;
  setBatchCursor(at: number): void;
  pendingRecords(): number;
  recordsInBatch(): number;
  bucketOf(value: number): number;
  percentile(histogram: number, q: number): number;
  noteWait(events: number, waitNs: number): void;
  noteCallback(durationNs: number): void;
  noteTimer(latenessNs: number): void;
  noteCount(counter: number, by: number): void;
  resetMetrics(): void;
  maskOf(fd: number): number;
  generationOf(fd: number): number;
  roleOf(fd: number): number;
  flagsOf(fd: number): number;
  /** The wheel level of a timer due at `when` while the wheel is at `elapsed` (ticks). */
  levelFor(elapsed: bigint, when: bigint): number;
  /** The slot of `level` that holds a timer due at `when` (ticks). */
  slotFor(when: bigint, level: number): number;
  /** A timer due at `deadlineMs` (ms since the loop's epoch): its index, or ERR_TIMERS_FULL. */
  timerInsert(deadlineMs: number): number;
  /** The generation to pair with the index timerInsert returned. */
  timerGeneration(index: number): number;
  /** 1 when the timer was pending and is now cancelled; 0 for a stale handle. */
  timerCancel(index: number, generation: number): number;
  /** Moves a pending (or due, not yet taken) timer to a new deadline, same handle; 1, or 0 when stale. */
  timerReschedule(index: number, generation: number, deadlineMs: number): number;
  /** Advances to floor(nowMs); moves the timers due by then to the due list; returns how many. */
  timerExpire(nowMs: number): number;
  /** Pops the next due timer's index (its handle goes stale), or -1. */
  timerTakeDue(): number;
  /** The deadline tick of the timer timerTakeDue last returned. */
  timerTakenDeadline(): number;
  /** When to wake (ms): the earliest busy slot's start, elapsed if any are due, -1 if none pending. */
  timerNextDeadline(): number;
  timerCount(): number;
  timerCapacity(): number;
}

/** One loop's core: its instance, its memory, and the constants read once. */
export interface Core {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  /** The records region as i32 words, for the host's one pass per batch. */
  readonly records: Int32Array;
  readonly eventsOffset: number;
  readonly recordWords: number;
}

const WASM_PAGE = 65536;
/** Timers a loop holds unless told otherwise: 1.5 MiB of entries. */
export const DEFAULT_MAX_TIMERS = 65536;
/** 2^24 timers are 384 MiB of entries; more would not fit a 32-bit memory beside the rest. */
export const MAX_TIMERS_LIMIT = 1 << 24;
let compiled: WebAssembly.Module | undefined;

function module(): WebAssembly.Module {
  if (compiled === undefined) {
    const path = new URL('../core.wasm', import.meta.url);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      throw new Error('wasmloop: the wasm core is not built; run `npm install` (or `npm run build`)', { cause });
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

function instantiate(memory: WebAssembly.Memory): CoreExports {
  return new WebAssembly.Instance(module(), { env: { memory } }).exports as unknown as CoreExports;
}

let sizing: CoreExports | undefined;

/** Creates a core for a loop with these capacities. */
export function createCore(
  maxFds: number,
  maxEvents: number,
  eventStride: number,
  eventDataOffset: number,
  maxTimers: number = DEFAULT_MAX_TIMERS,
): Core {
  assertInteger('maxTimers', maxTimers, 0, MAX_TIMERS_LIMIT);
  sizing ??= instantiate(new WebAssembly.Memory({ initial: 1, maximum: 1 }));
  const bytes = sizing.layoutBytes(maxFds, maxEvents, eventStride, maxTimers);
  const pages = Math.ceil(bytes / WASM_PAGE);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const exports = instantiate(memory);
  exports.configure(maxFds, maxEvents, eventStride, eventDataOffset, maxTimers);
  const recordWords = exports.RECORD_WORDS.value as number;
  const recordsOffset = exports.recordsBase.value as number;
  return {
    exports,
    memory,
    records: new Int32Array(memory.buffer, recordsOffset, maxEvents * (exports.RECORDS_PER_EVENT.value as number) * recordWords),
    eventsOffset: exports.eventsBase.value as number,
    recordWords,
  };
}
