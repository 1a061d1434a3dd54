// Loop metrics: counters and log2 histograms, counted here so that counting
// allocates nothing and costs one wasm call per observation.
//
// The block lives in static memory (`memory.data`, below __heap_base), so it
// takes no room from the layout's regions. The host reads it whole through a
// Float64Array at `metricsBase` when asked for a snapshot; nothing else
// reads or writes it.
//
//   metricsBase
//   ┌──────────────────────┬────────────────────────────────────────────┐
//   │ COUNTERS × f64       │ HISTOGRAMS × BUCKETS × f64                 │
//   └──────────────────────┴────────────────────────────────────────────┘
//
// Counts are f64: exact up to 2^53, and readable from JS without BigInt.
// Bucket b of a histogram counts values v with 2^(b-1) <= v < 2^b (bucket 0
// counts v < 1), so BUCKETS = 40 covers up to 2^39: 9 minutes in µs, more
// events than any batch holds.

export const COUNTER_ITERATIONS: i32 = 0;
export const COUNTER_WAITS: i32 = 1;
export const COUNTER_EVENTS: i32 = 2;
export const COUNTER_STALE: i32 = 3;
export const COUNTER_CALLBACKS: i32 = 4;
export const COUNTER_WAIT_NS: i32 = 5;
export const COUNTER_BUSY_NS: i32 = 6;
export const COUNTER_TIMERS_FIRED: i32 = 7;
export const COUNTER_DEFERRED_RUN: i32 = 8;
export const COUNTER_ERRORS: i32 = 9;
export const COUNTER_SLOW: i32 = 10;
export const COUNTER_BUDGET_CUTOFFS: i32 = 11;
export const COUNTER_REPOLLS: i32 = 12;
export const COUNTERS: i32 = 16;

/** Events per wait: the batch-size distribution. */
export const HISTOGRAM_BATCH: i32 = 0;
/** Callback durations, µs. */
export const HISTOGRAM_CALLBACK_US: i32 = 1;
/** How late timers fired after their deadline, µs. */
export const HISTOGRAM_TIMER_LATENESS_US: i32 = 2;
/** Wait durations, µs. */
export const HISTOGRAM_WAIT_US: i32 = 3;
export const HISTOGRAMS: i32 = 4;
export const BUCKETS: i32 = 40;

const BYTES: i32 = (COUNTERS + HISTOGRAMS * BUCKETS) * 8;
export const metricsBase: usize = memory.data(BYTES, 16);

@inline function counterAt(counter: i32): usize {
  return metricsBase + (<usize>counter << 3);
}
@inline function bucketAt(histogram: i32, bucket: i32): usize {
  return metricsBase + (<usize>(COUNTERS + histogram * BUCKETS + bucket) << 3);
}

@inline export function count(counter: i32, by: f64): void {
  const at = counterAt(counter);
  store<f64>(at, load<f64>(at) + by);
}

/** The bucket of a non-negative value: 0 for v < 1, else floor(log2 v) + 1. */
export function bucketOf(value: f64): i32 {
  if (!(value >= 1)) return 0;
  if (value >= 549755813888) return BUCKETS - 1; // 2^39
  return 64 - <i32>clz(<u64>value);
}

export function observe(histogram: i32, value: f64): void {
  if (<u32>histogram >= <u32>HISTOGRAMS) return;
  const at = bucketAt(histogram, bucketOf(value));
  store<f64>(at, load<f64>(at) + 1);
}

/**
 * The value below which a fraction `q` of the observations fall, reported as
 * the upper bound of the bucket that holds it (a log2 histogram knows no
 * better than a factor of two). 0 when nothing was observed.
 */
export function percentile(histogram: i32, q: f64): f64 {
  if (<u32>histogram >= <u32>HISTOGRAMS) return 0;
  let total: f64 = 0;
  for (let b = 0; b < BUCKETS; b++) total += load<f64>(bucketAt(histogram, b));
  if (total == 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen: f64 = 0;
  for (let b = 0; b < BUCKETS; b++) {
    seen += load<f64>(bucketAt(histogram, b));
    if (seen >= rank) return b == 0 ? 1 : <f64>(<u64>1 << <u64>b);
  }
  return <f64>(<u64>1 << <u64>(BUCKETS - 1));
}

/** One finished wait: how many events it returned and how long it blocked. */
export function noteWait(events: i32, waitNs: f64): void {
  count(COUNTER_WAITS, 1);
  count(COUNTER_WAIT_NS, waitNs);
  observe(HISTOGRAM_BATCH, <f64>events);
  observe(HISTOGRAM_WAIT_US, waitNs / 1000);
}

/** One callback the host ran, and how long it took. */
export function noteCallback(durationNs: f64): void {
  count(COUNTER_CALLBACKS, 1);
  observe(HISTOGRAM_CALLBACK_US, durationNs / 1000);
}

/**
 * `callbacks` callbacks the host ran back to back, timed together: each is
 * counted, and observed at their mean duration.
 */
export function noteCallbacks(callbacks: i32, totalNs: f64): void {
  if (callbacks <= 0) return;
  count(COUNTER_CALLBACKS, <f64>callbacks);
  const at = bucketAt(HISTOGRAM_CALLBACK_US, bucketOf(totalNs / <f64>callbacks / 1000));
  store<f64>(at, load<f64>(at) + <f64>callbacks);
}

/** A timer fired `latenessNs` after its deadline. */
export function noteTimer(latenessNs: f64): void {
  count(COUNTER_TIMERS_FIRED, 1);
  observe(HISTOGRAM_TIMER_LATENESS_US, latenessNs / 1000);
}

/** `timers` timers that fired `latenessNs` after their deadline (one deadline: a batch's run of them). */
export function noteTimers(latenessNs: f64, timers: i32): void {
  count(COUNTER_TIMERS_FIRED, <f64>timers);
  const at = bucketAt(HISTOGRAM_TIMER_LATENESS_US, bucketOf(latenessNs / 1000));
  store<f64>(at, load<f64>(at) + <f64>timers);
}

/** Host-side counters (iterations, busy time, errors...): one call each. */
export function noteCount(counter: i32, by: f64): void {
  if (<u32>counter < <u32>COUNTERS) count(counter, by);
}

export function resetMetrics(): void {
  memory.fill(metricsBase, 0, BYTES);
}
