// A batch's fired timers are counted in the core's metrics by runs of one
// deadline (assembly/timer-batch.ts, endBatch): each timer still counts once,
// with its own lateness, whatever the runs look like and wherever a batch
// ends or a cell was cancelled.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createTestingCore } from '../src/testing/index.js';

function core(maxTimers: number) {
  const made = createTestingCore(8, 8, 12, 4, maxTimers);
  const w = made.exports;
  const counters = w.COUNTERS.value as number;
  const buckets = w.BUCKETS.value as number;
  const metrics = new Float64Array(made.memory.buffer, w.metricsBase.value as number, counters + (w.HISTOGRAMS.value as number) * buckets);
  const lateness = (): number[] => {
    const from = counters + (w.HISTOGRAM_TIMER_LATENESS_US.value as number) * buckets;
    return Array.from(metrics.subarray(from, from + buckets));
  };
  const fired = (): number => metrics[w.COUNTER_TIMERS_FIRED.value as number]!;
  const batch = new Int32Array(made.memory.buffer, w.timerBatchBase.value as number, w.TIMER_BATCH.value as number);
  return { w, lateness, fired, batch };
}

/** The log2 bucket of a lateness in µs, as the core files it: 0 below 1 µs, else floor(log2) + 1. */
const bucket = (us: number): number => (us < 1 ? 0 : Math.floor(Math.log2(us)) + 1);

test('timers of several deadlines in one batch: each counted once in the bucket of its own lateness', () => {
  const { w, lateness, fired } = core(64);
  // Runs of one deadline (3 at 1 ms, 2 at 4, 1 at 1 again, 4 at 9): the pass
  // at 10 ms makes them 9, 6, 9 and 1 ms late, in three buckets.
  const deadlines = [1, 1, 1, 4, 4, 1, 9, 9, 9, 9];
  for (const deadline of deadlines) assert.ok(w.timerSchedule(deadline, 0) >= 0);
  w.timerExpire(10);
  const cells = w.timerTakeBatch();
  assert.is(cells, deadlines.length);
  w.timerEndBatch(cells);
  assert.is(fired(), deadlines.length);
  const expected = new Array<number>(lateness().length).fill(0);
  for (const deadline of deadlines) expected[bucket((10 - deadline) * 1000)]! += 1;
  assert.equal(lateness(), expected);
});

test('a batch ended part-way counts the cells run; a cancelled cell is not counted; the rest count in the next batch', () => {
  const { w, lateness, fired } = core(64);
  const handles = [2, 2, 2, 5, 5, 5.5].map((deadline) => w.timerSchedule(deadline, 0));
  w.timerExpire(6);
  assert.is(w.timerTakeBatch(), 6);
  // The second cell is cancelled before its turn.
  const bits = w.timerIndexBits.value as number;
  const second = handles[1]!;
  const index = second % 2 ** bits;
  assert.is(w.timerCancel(index, (second - index) / 2 ** bits), 1);
  w.timerEndBatch(4); // ran cells 0..3: deadlines 2, (cancelled), 2, 5
  assert.is(fired(), 3);
  const expected = new Array<number>(lateness().length).fill(0);
  expected[bucket(4000)]! += 2;
  expected[bucket(1000)]! += 1;
  assert.equal(lateness(), expected);
  assert.is(w.timerTakeBatch(), 2, 'the cells not reached');
  w.timerEndBatch(2);
  assert.is(fired(), 5);
  expected[bucket(1000)]! += 1;
  expected[bucket(500)]! += 1;
  assert.equal(lateness(), expected);
  assert.is(w.timerCount(), 0);
});

test('a due list longer than a batch: taken in batches in order, a timer held back mid-list stays pending, and every fired one counts once', () => {
  const { w, fired, batch } = core(4096);
  const size = w.TIMER_BATCH.value as number;
  const bits = w.timerIndexBits.value as number;
  const order: number[] = [];
  for (let i = 0; i < size + 100; i++) {
    // One timer in the middle is due only late in its millisecond: held back.
    const handle = w.timerSchedule(i === size - 3 ? 10.9 : 10, 0);
    order.push(handle % 2 ** bits);
  }
  w.timerExpire(10.5);
  const taken: number[] = [];
  for (let cells = w.timerTakeBatch(); cells > 0; cells = w.timerNextBatch(cells)) taken.push(...batch.subarray(0, cells));
  const held = order[size - 3]!;
  assert.equal(taken, order.filter((index) => index !== held));
  assert.is(fired(), size + 99);
  assert.is(w.timerCount(), 1, 'the held one');
  assert.is(w.timerNextDeadline(), 10.9);
  w.timerExpire(11);
  assert.is(w.timerTakeBatch(), 1);
  assert.is(batch[0], held);
  w.timerEndBatch(1);
  assert.is(w.timerCount(), 0);
});

test.run();
