// The wasm core's metrics block against a model written here: random
// sequences of noteWait, noteCallback, noteCallbacks, noteTimer, noteCount, resetMetrics and
// percentile queries go to both, and after every step the whole block (every
// counter, every bucket of every histogram) must agree, as must each answer.
//
// The model states the rules the way assembly/metrics.ts documents them: a
// counter adds what it is given; an observation v lands in bucket 0 when
// v < 1 (or is not a number), else in floor(log2 v) + 1, capped at
// BUCKETS - 1; percentile(h, q) is the upper bound (2^b, 1 for bucket 0) of
// the first bucket where the running count reaches max(1, ceil(q · total)),
// 0 for an empty histogram, and the top bucket's bound when no bucket does;
// a histogram or counter number out of range is ignored.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Core } from '../src/core/loader.js';
import { createTestingCore } from '../src/testing/index.js';

const RUNS = Number(process.env['WASMLOOP_FUZZ_RUNS'] ?? 400);

const probe = createTestingCore(4, 4, 12, 4, 4).exports;
const v = (g: WebAssembly.Global): number => g.value as number;
const COUNTERS = v(probe.COUNTERS);
const HISTOGRAMS = v(probe.HISTOGRAMS);
const BUCKETS = v(probe.BUCKETS);
const C = {
  WAITS: v(probe.COUNTER_WAITS),
  WAIT_NS: v(probe.COUNTER_WAIT_NS),
  CALLBACKS: v(probe.COUNTER_CALLBACKS),
  TIMERS_FIRED: v(probe.COUNTER_TIMERS_FIRED),
};
const H = {
  BATCH: v(probe.HISTOGRAM_BATCH),
  CALLBACK_US: v(probe.HISTOGRAM_CALLBACK_US),
  TIMER_LATENESS_US: v(probe.HISTOGRAM_TIMER_LATENESS_US),
  WAIT_US: v(probe.HISTOGRAM_WAIT_US),
};
/** The counters the host feeds through noteCount (the others are fed by note*). */
const HOST_COUNTERS = [
  probe.COUNTER_ITERATIONS,
  probe.COUNTER_EVENTS,
  probe.COUNTER_STALE,
  probe.COUNTER_BUSY_NS,
  probe.COUNTER_DEFERRED_RUN,
  probe.COUNTER_ERRORS,
  probe.COUNTER_SLOW,
  probe.COUNTER_BUDGET_CUTOFFS,
  probe.COUNTER_REPOLLS,
].map(v);

// ---- the model ----------------------------------------------------------------------------

function bucketOf(value: number): number {
  if (!(value >= 1)) return 0;
  if (value >= 2 ** (BUCKETS - 1)) return BUCKETS - 1;
  return Math.floor(value).toString(2).length;
}

class MetricsModel {
  readonly counters = new Float64Array(COUNTERS);
  readonly histograms = Array.from({ length: HISTOGRAMS }, () => new Float64Array(BUCKETS));

  count(counter: number, by: number): void {
    if (counter >= 0 && counter < COUNTERS) this.counters[counter]! += by;
  }

  observe(histogram: number, value: number, times = 1): void {
    this.histograms[histogram]![bucketOf(value)]! += times;
  }

  percentile(histogram: number, q: number): number {
    const buckets = this.histograms[histogram];
    if (buckets === undefined) return 0;
    const total = buckets.reduce((a, b) => a + b, 0);
    if (total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += buckets[b]!;
      if (seen >= rank) return b === 0 ? 1 : 2 ** b;
    }
    return 2 ** (BUCKETS - 1);
  }

  /** The block as the core lays it out: the counters, then each histogram's buckets. */
  block(): number[] {
    return [...this.counters, ...this.histograms.flatMap((h) => [...h])];
  }
}

// ---- operations ---------------------------------------------------------------------------

type Op =
  | { op: 'wait'; events: number; ns: number }
  | { op: 'callback'; ns: number }
  | { op: 'callbacks'; count: number; ns: number }
  | { op: 'timer'; ns: number }
  | { op: 'count'; counter: number; by: number }
  | { op: 'reset' }
  | { op: 'percentile'; histogram: number; q: number }
  | { op: 'bucket'; value: number };

// Durations from sub-µs to beyond the top bucket (2^39 µs), powers of two and their neighbours included.
const powerArb = fc.integer({ min: 0, max: 42 }).chain((e) => fc.constantFrom(2 ** e - 1, 2 ** e, 2 ** e + 1));
const valueArb = fc.oneof(fc.double({ min: 0, max: 2 ** 42, noNaN: true }), powerArb, fc.constantFrom(-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY));
const nsArb = fc.oneof(fc.double({ min: 0, max: 1e12, noNaN: true }), powerArb.map((p) => p * 1000));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('wait' as const), events: fc.oneof(fc.integer({ min: 0, max: 1024 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })), ns: nsArb }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('callback' as const), ns: nsArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('callbacks' as const), count: fc.oneof(fc.integer({ min: -1, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })), ns: nsArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('timer' as const), ns: nsArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('count' as const),
      counter: fc.oneof(fc.constantFrom(...HOST_COUNTERS), fc.integer({ min: -2, max: COUNTERS + 2 })),
      by: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.double({ min: 0, max: 1e9, noNaN: true })),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('percentile' as const), histogram: fc.integer({ min: -1, max: HISTOGRAMS }), q: fc.oneof(fc.double({ min: 0, max: 1.5, noNaN: true }), fc.constantFrom(0, 0.5, 0.99, 1)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('bucket' as const), value: valueArb }) },
);

function coreBlock(core: Core): number[] {
  return [...new Float64Array(core.memory.buffer, v(core.exports.metricsBase), COUNTERS + HISTOGRAMS * BUCKETS)];
}

/** Runs `ops` on a fresh core and the model; fails at the first disagreement, naming the step. */
function check(ops: Op[]): void {
  const core = createTestingCore(4, 4, 12, 4, 4);
  const w = core.exports;
  let model = new MetricsModel();
  assert.equal(coreBlock(core), model.block(), 'a new core starts with every count at 0');
  ops.forEach((step, n) => {
    const where = `step ${n} ${JSON.stringify(step)}`;
    switch (step.op) {
      case 'wait':
        w.noteWait(step.events, step.ns);
        model.count(C.WAITS, 1);
        model.count(C.WAIT_NS, step.ns);
        model.observe(H.BATCH, step.events);
        model.observe(H.WAIT_US, step.ns / 1000);
        break;
      case 'callback':
        w.noteCallback(step.ns);
        model.count(C.CALLBACKS, 1);
        model.observe(H.CALLBACK_US, step.ns / 1000);
        break;
      case 'callbacks':
        // A group run back to back: each counted, each at the group's mean.
        w.noteCallbacks(step.count, step.ns);
        if (step.count > 0) {
          model.count(C.CALLBACKS, step.count);
          model.observe(H.CALLBACK_US, step.ns / step.count / 1000, step.count);
        }
        break;
      case 'timer':
        w.noteTimer(step.ns);
        model.count(C.TIMERS_FIRED, 1);
        model.observe(H.TIMER_LATENESS_US, step.ns / 1000);
        break;
      case 'count':
        w.noteCount(step.counter, step.by);
        model.count(step.counter, step.by);
        break;
      case 'reset':
        w.resetMetrics();
        model = new MetricsModel();
        break;
      case 'percentile':
        assert.is(w.percentile(step.histogram, step.q), model.percentile(step.histogram, step.q), where);
        break;
      case 'bucket':
        assert.is(w.bucketOf(step.value), bucketOf(step.value), where);
        break;
    }
    assert.equal(coreBlock(core), model.block(), `${where}: the metrics block`);
  });
}

test('random observations, counts, resets and percentile queries agree with the model', () => {
  fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), check), { numRuns: RUNS });
});

test('the model and core agree at the edges of the buckets and of the top one', () => {
  const edges = [0, 0.999, 1, 1.5, 2, 3, 4, 1023, 1024, 2 ** 38, 2 ** 39 - 1, 2 ** 39, 2 ** 45, -1, Number.NaN];
  check(edges.map((value) => ({ op: 'bucket', value })));
  check([
    { op: 'callback', ns: 500 },
    { op: 'callback', ns: 3_000 },
    { op: 'callback', ns: 2 ** 40 * 1000 },
    { op: 'percentile', histogram: H.CALLBACK_US, q: 0 },
    { op: 'percentile', histogram: H.CALLBACK_US, q: 0.5 },
    { op: 'percentile', histogram: H.CALLBACK_US, q: 1 },
    { op: 'percentile', histogram: H.CALLBACK_US, q: 1.5 },
    { op: 'percentile', histogram: H.WAIT_US, q: 0.5 },
    { op: 'reset' },
    { op: 'percentile', histogram: H.CALLBACK_US, q: 0.5 },
  ]);
});

test.run();
