// loop.metrics(): a snapshot of the counters and histograms the wasm core
// keeps (see assembly/metrics.ts for the block's layout), plus the host's
// own gauges. Reading allocates the snapshot object and nothing else.
import {
  BUCKETS,
  COUNTER_BUDGET_CUTOFFS,
  COUNTER_BUSY_NS,
  COUNTER_CALLBACKS,
  COUNTER_DEFERRED_RUN,
  COUNTER_ERRORS,
  COUNTER_EVENTS,
  COUNTER_ITERATIONS,
  COUNTER_REPOLLS,
  COUNTER_SLOW,
  COUNTER_STALE,
  COUNTER_TIMERS_FIRED,
  COUNTER_WAIT_NS,
  COUNTER_WAITS,
  COUNTERS,
  HISTOGRAM_BATCH,
  HISTOGRAM_CALLBACK_US,
  HISTOGRAM_TIMER_LATENESS_US,
  HISTOGRAM_WAIT_US,
  HISTOGRAMS,
} from '../core/abi.js';
import type { Core } from '../core/loader.js';

/** p50/p90/p99 of a log2 histogram: each the upper bound of its bucket. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  /** How many values were observed. */
  count: number;
  /** Bucket b counts values in [2^(b-1), 2^b); bucket 0 counts values below 1. Trailing empty buckets are left out. */
  buckets: number[];
}

export interface LoopMetrics {
  iterations: number;
  waits: number;
  /** Events the kernel reported. */
  events: number;
  /** Events dropped because their fd was removed or reused meanwhile. */
  staleEvents: number;
  /** Callbacks run (I/O, deferred, timers). */
  callbacks: number;
  /** Events per wait: the batch-size distribution. */
  eventsPerWait: Percentiles;
  /** Time blocked in the kernel's wait, ms. */
  waitMs: number;
  /** Time spent serving events and callbacks, ms. */
  busyMs: number;
  /**
   * Time the loop waited for work, ms: its waits under `runOnce()` and
   * `run()`; under `start()`, whose waits are zero-timeout polls, all the
   * time from the end of one wakeup's work to the next wakeup.
   */
  idleMs: number;
  /** busy / (busy + idle), 0 to 1: libuv's loop utilization. */
  utilization: number;
  callbackDurationUs: Percentiles;
  waitDurationUs: Percentiles;
  timers: { fired: number; latenessUs: Percentiles };
  deferred: { depth: number; capacity: number; phases: number };
  /** Errors thrown by callbacks. */
  errors: number;
  /** Callbacks over `slowCallbackMs`. */
  slowCallbacks: number;
  /** Times an iteration's callback or time budget cut a batch short. */
  budgetCutoffs: number;
  /** Extra non-blocking waits after a full batch. */
  repolls: number;
  /** Records of a cut-short batch still waiting for the next iteration. */
  pendingRecords: number;
  /** fds registered now. */
  registered: number;
}

export interface HostGauges {
  registered: number;
  deferredDepth: number;
  deferredCapacity: number;
  pendingRecords: number;
  /** The host counts idle time: under start() it is not time spent in the core's wait. */
  idleMs: number;
}

/** busy / (busy + idle), 0 when neither has grown: libuv's loop utilization, the one definition. */
export function utilization(busyMs: number, idleMs: number): number {
  return busyMs + idleMs === 0 ? 0 : busyMs / (busyMs + idleMs);
}

export function readMetrics(core: Core, gauges: HostGauges): LoopMetrics {
  const w = core.exports;
  const block = new Float64Array(core.memory.buffer, w.metricsBase.value as number, COUNTERS + HISTOGRAMS * BUCKETS);
  const histogram = (which: number): Percentiles => {
    const counts = Array.from(block.subarray(COUNTERS + which * BUCKETS, COUNTERS + (which + 1) * BUCKETS));
    let last = counts.length;
    while (last > 0 && counts[last - 1] === 0) last--;
    return {
      p50: w.percentile(which, 0.5),
      p90: w.percentile(which, 0.9),
      p99: w.percentile(which, 0.99),
      count: counts.reduce((a, b) => a + b, 0),
      buckets: counts.slice(0, last),
    };
  };
  const waitMs = block[COUNTER_WAIT_NS]! / 1e6;
  const busyMs = block[COUNTER_BUSY_NS]! / 1e6;
  const idleMs = gauges.idleMs;
  return {
    iterations: block[COUNTER_ITERATIONS]!,
    waits: block[COUNTER_WAITS]!,
    events: block[COUNTER_EVENTS]!,
    staleEvents: block[COUNTER_STALE]!,
    callbacks: block[COUNTER_CALLBACKS]!,
    eventsPerWait: histogram(HISTOGRAM_BATCH),
    waitMs,
    busyMs,
    idleMs,
    utilization: utilization(busyMs, idleMs),
    callbackDurationUs: histogram(HISTOGRAM_CALLBACK_US),
    waitDurationUs: histogram(HISTOGRAM_WAIT_US),
    timers: { fired: block[COUNTER_TIMERS_FIRED]!, latenessUs: histogram(HISTOGRAM_TIMER_LATENESS_US) },
    deferred: { depth: gauges.deferredDepth, capacity: gauges.deferredCapacity, phases: block[COUNTER_DEFERRED_RUN]! },
    errors: block[COUNTER_ERRORS]!,
    slowCallbacks: block[COUNTER_SLOW]!,
    budgetCutoffs: block[COUNTER_BUDGET_CUTOFFS]!,
    repolls: block[COUNTER_REPOLLS]!,
    pendingRecords: gauges.pendingRecords,
    registered: gauges.registered,
  };
}
