// Handle-free timeouts of one pass, and plain one-shot Timers, are timed in groups (src/loop/timer-pass.ts):
// the first of TIMEOUTS_PER_CLOCK_READ, each next sized to take about
// TIMEOUT_GROUP_MS at the pace of the one before, at most twice as many,
// 1 to TIMER_BATCH. The loop's callback clock is performance.now(); these
// tests replace it with one that moves 1 µs a read (and 10 ms in a slow
// callback), so the group sizes are exact whatever the machine's load.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { TIMER_BATCH } from '../src/core/abi.js';
import type { SlowCallback } from '../src/index.js';
import { TIMEOUT_GROUP_MS, TIMEOUTS_PER_CLOCK_READ, timeoutGroup } from '../src/loop/timer-pass.js';
import { virtualClockLoop } from './helpers/mock-loops.js';

/** performance.now() replaced for `body`: 1 µs later at every read; `jump(ms)` moves it on. */
function fakeNow<T>(body: (reads: () => number, jump: (ms: number) => void) => T): T {
  let now = 0;
  let reads = 0;
  performance.now = () => {
    reads++;
    return (now += 0.001);
  };
  try {
    return body(
      () => reads,
      (ms) => {
        now += ms;
      },
    );
  } finally {
    delete (performance as { now?: unknown }).now;
  }
}

test('timeoutGroup: as many as take TIMEOUT_GROUP_MS at the last pace, at most twice as many, 1 to TIMER_BATCH', () => {
  assert.is(TIMEOUT_GROUP_MS, 0.05);
  assert.is(timeoutGroup(32, 32, 0.001), 64, 'fast: doubles');
  assert.is(timeoutGroup(64, 64, 0.064), 50, 'at 1 µs each: 50 in 50 µs');
  assert.is(timeoutGroup(TIMER_BATCH, TIMER_BATCH, 0.001), TIMER_BATCH, 'never past a batch');
  assert.is(timeoutGroup(TIMER_BATCH / 2 + 1, 600, 0.001), TIMER_BATCH);
  assert.is(timeoutGroup(32, 32, 10), 1, 'slow: timed alone');
  assert.is(timeoutGroup(1, 1, 0), 2, 'no time measured: doubles');
  assert.is(timeoutGroup(1, 1, Number.NaN), 2);
  assert.is(timeoutGroup(16, 3, 0.001), 32, 'a short group (cut by a batch) paces the next too');
});

test('a pass of 5,000 fast timeouts reads the callback clock in growing groups: a few dozen reads, not one per 32', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 8192 });
  try {
    let fired = 0;
    for (let i = 0; i < 5000; i++) loop.timeout(() => fired++, 1);
    clock.ms = 1;
    const reads = fakeNow((reads) => {
      loop.runOnce(0);
      return reads();
    });
    assert.is(fired, 5000);
    assert.is(loop.metrics().callbacks, 5000, 'every timeout still counts as a callback');
    // Groups of 32, 64, .., 1024 (cut where a batch ends): under 20; in groups of 32 it would be 157.
    assert.ok(reads < 30, `${reads} clock reads`);
    assert.ok(reads > 5000 / TIMER_BATCH, `${reads} clock reads`);
  } finally {
    loop.close();
  }
});

test('plain one-shot Timers are timed in groups as timeouts are; intervals and Timers with options one by one', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 8192 });
  try {
    let fired = 0;
    for (let i = 0; i < 5000; i++) loop.setTimeout(() => fired++, 1);
    clock.ms = 1;
    const plainReads = fakeNow((reads) => {
      loop.runOnce(0);
      return reads();
    });
    assert.is(fired, 5000);
    assert.is(loop.metrics().callbacks, 5000, 'every Timer still counts as a callback');
    assert.ok(plainReads < 30, `${plainReads} clock reads for 5,000 plain Timers`);

    for (let i = 0; i < 100; i++) loop.setTimeout(() => fired++, 1, { label: `timer ${i}` });
    for (let i = 0; i < 100; i++) {
      const interval = loop.setInterval(() => {
        fired++;
        interval.cancel();
      }, 1);
    }
    clock.ms = 3;
    const detailedReads = fakeNow((reads) => {
      loop.runOnce(0);
      return reads();
    });
    assert.is(fired, 5200);
    assert.ok(detailedReads >= 200, `${detailedReads} clock reads for 200 labelled Timers and intervals`);
  } finally {
    loop.close();
  }
});

test('after a slow group the next timeouts are timed alone: each slow one is its own slow report', () => {
  const { loop, clock } = virtualClockLoop({ slowCallbackMs: 5 });
  try {
    const slow: SlowCallback[] = [];
    loop.on('slow', (info) => slow.push(info));
    let fired = 0;
    fakeNow((_, jump) => {
      const slowOne = (): void => {
        jump(10);
        fired++;
      };
      // The first group: one slow timeout and TIMEOUTS_PER_CLOCK_READ - 1 fast ones; then two slow ones, then fast ones.
      loop.timeout(slowOne, 1);
      for (let i = 1; i < TIMEOUTS_PER_CLOCK_READ; i++) loop.timeout(() => fired++, 1);
      loop.timeout(slowOne, 1);
      loop.timeout(slowOne, 1);
      for (let i = 0; i < 100; i++) loop.timeout(() => fired++, 1);
      clock.ms = 1;
      loop.runOnce(0);
    });
    assert.is(fired, TIMEOUTS_PER_CLOCK_READ + 102);
    // In fixed groups of 32 the second and third would share one report of 20 ms.
    assert.equal(
      slow.map((s) => ({ kind: s.kind, ms: Math.round(s.durationMs) })),
      [
        { kind: 'timer', ms: 10 },
        { kind: 'timer', ms: 10 },
        { kind: 'timer', ms: 10 },
      ],
    );
    assert.is(loop.metrics().slowCallbacks, 3);
  } finally {
    loop.close();
  }
});

test.run();
