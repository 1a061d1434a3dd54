// The loop's clock and the waits it sizes: an injected clock (now(), jumps
// forward and back), the wait timeout the loop asks the kernel for (recorded
// by the MockKernel in mock.waits), and delays clamped to the wheel's range.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { MAX_TIMER_DELAY_MS } from '../src/core/abi.js'; // the wheel's range: 2^36 - 1 ms, about 2.18 years
import { MockKernel } from '../src/testing/index.js';
import { throws, typeErr } from './helpers/errors.js';
import { virtualClockLoop } from './helpers/mock-loops.js';
import { LoopClock, performanceClock } from '../src/loop/clock.js';
import { TestLoop } from './test-loop.js';

/** The last wait's timeout. */
const lastWait = (mock: MockKernel): number => mock.waits[mock.waits.length - 1]!;

// ---- now() ---------------------------------------------------------------------------

test('now() counts from the loop\'s creation on the injected clock', () => {
  const { loop, clock } = virtualClockLoop({}, 5_000_000);
  try {
    assert.is(loop.now(), 0);
    clock.advance(12.5);
    assert.is(loop.now(), 12.5);
    clock.advance(1000);
    assert.is(loop.now(), 1012.5);
  } finally {
    loop.close();
  }
});

test('the default clock is performance.now: now() moves with real time', () => {
  const loop = new TestLoop();
  try {
    const before = loop.now();
    const until = performance.now() + 5;
    while (performance.now() < until);
    const moved = loop.now() - before;
    assert.ok(moved >= 5 && moved < 5000, `now() moved ${moved} ms in a 5 ms spin`);
  } finally {
    loop.close();
  }
});

test('on the default clock, at(reading) is the loop time of that performance.now() reading, read nowhere else, and never goes back', () => {
  const clock = new LoopClock(performanceClock);
  const base = performance.now();
  const first = clock.now();
  const later = base + 1000;
  // A reading a second ahead of now: only at() can say so, reading no clock itself.
  assert.ok(Math.abs(clock.at(later) - (first + 1000)) < 50, `at(+1 s) is ${clock.at(later) - first} ms after now()`);
  assert.is(clock.last, clock.at(later));
  // An older reading than the last: time stands still.
  assert.is(clock.at(base), clock.last);
});

test('on another clock, at() reads that clock: a performance.now() reading says nothing of its time', () => {
  let time = 500;
  const clock = new LoopClock(() => time);
  assert.is(clock.now(), 0);
  time = 507;
  assert.is(clock.at(performance.now() + 1e6), 7);
});

test('a delay counts from the call, not from the start of the iteration', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const fired: number[] = [];
    loop.defer(() => {
      clock.advance(30); // a slow callback
      loop.setTimeout(() => fired.push(loop.now()), 10);
    });
    loop.runOnce(0);
    clock.ms = 39.5;
    loop.runOnce(0);
    assert.equal(fired, []);
    clock.ms = 40;
    loop.runOnce(0);
    assert.equal(fired, [40]);
  } finally {
    loop.close();
  }
});

test('a clock that is not a function, or returns no finite number, is a TypeError', () => {
  throws(() => new TestLoop({ backend: new MockKernel(), clock: 5 as unknown as () => number }), typeErr);
  throws(() => new TestLoop({ backend: new MockKernel(), clock: () => NaN }), { type: TypeError });
  let reading: unknown = 0;
  const loop = new TestLoop({ backend: new MockKernel(), clock: () => reading as number });
  try {
    reading = 'soon';
    throws(() => loop.now(), { type: TypeError });
    throws(() => loop.runOnce(0), { type: TypeError });
    reading = 3;
    assert.is(loop.now(), 3);
  } finally {
    loop.close();
  }
});

// ---- jumps -------------------------------------------------------------------------------

test('a clock jumping forward fires every due timer once, in deadline order', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const fired: string[] = [];
    // Set out of deadline order, across levels 0 to 3 of the wheel.
    const delays = [5000, 3, 300_000, 64, 70.5, 1, 4095, 4096, 65, 100_000];
    for (const delay of delays) loop.setTimeout(() => fired.push(`timeout ${delay}`), delay);
    loop.setInterval(() => fired.push('interval 1000'), 1000);
    loop.setTimeout(() => fired.push('not yet'), 200_001);
    clock.ms = 200_000;
    loop.runOnce(0);
    const expected = [...delays.filter((d) => d <= 200_000), 1000].sort((a, b) => a - b);
    assert.equal(fired, expected.map((d) => (d === 1000 ? 'interval 1000' : `timeout ${d}`)));
    // Once each: another turn at the same time fires nothing.
    loop.runOnce(0);
    assert.is(fired.length, expected.length);
    assert.is(loop.timerCount, 3, 'left: 300 s, 200.001 s and the interval');
  } finally {
    loop.close();
  }
});

test('a clock going back fires nothing early, and time stands still, then moves on at the clock\'s pace', () => {
  const { loop, mock, clock } = virtualClockLoop({}, 1000);
  try {
    const fired: number[] = [];
    loop.setTimeout(() => fired.push(loop.now()), 10);
    clock.advance(5);
    loop.runOnce();
    assert.is(lastWait(mock), 5);
    clock.advance(-3600_000); // an hour back
    for (let i = 0; i < 3; i++) loop.runOnce();
    assert.equal(fired, []);
    assert.is(loop.now(), 5, 'loop time went back');
    // The loop still asks the kernel to wake it when the timer is due: it
    // neither spins (timeout 0) nor sleeps forever (-1).
    assert.is(lastWait(mock), 5);
    clock.advance(4.5);
    loop.runOnce();
    assert.equal(fired, []);
    assert.is(lastWait(mock), 0.5);
    clock.advance(0.5);
    loop.runOnce();
    assert.equal(fired, [10]);
  } finally {
    loop.close();
  }
});

// ---- the wait's timeout ----------------------------------------------------------------

test('with no timer the loop waits as asked: -1 blocks, a bound stays the bound', () => {
  const { loop, mock } = virtualClockLoop();
  try {
    loop.runOnce();
    loop.runOnce(-1);
    loop.runOnce(250);
    loop.runOnce(0);
    assert.equal(mock.waits, [-1, -1, 250, 0]);
  } finally {
    loop.close();
  }
});

test('with timers the wait ends at the next one: exactly the time left, or the caller\'s bound if sooner', () => {
  const { loop, mock, clock } = virtualClockLoop();
  try {
    const late = loop.setTimeout(() => {}, 40);
    loop.setTimeout(() => {}, 25);
    loop.runOnce();
    assert.is(lastWait(mock), 25);
    loop.runOnce(10);
    assert.is(lastWait(mock), 10);
    clock.ms = 7.25;
    loop.runOnce(100);
    assert.is(lastWait(mock), 17.75);
    clock.ms = 25;
    loop.runOnce();
    assert.is(lastWait(mock), 0);
    loop.runOnce();
    assert.is(lastWait(mock), 15);
    late.cancel();
    loop.runOnce();
    assert.is(lastWait(mock), -1, 'after the last timer is cancelled the wait is unbounded');
  } finally {
    loop.close();
  }
});

test('a deadline with a fraction of a millisecond: the wait ends at it to the microsecond', () => {
  const { loop, mock, clock } = virtualClockLoop();
  try {
    let fired = 0;
    loop.setTimeout(() => fired++, 10.375);
    loop.runOnce();
    // The wheel counts whole ms; the loop holds the timer for the rest.
    assert.is(lastWait(mock), 10);
    clock.ms = 10;
    loop.runOnce();
    assert.is(fired, 0);
    loop.runOnce();
    assert.is(lastWait(mock), 0.375);
    clock.ms = 10.375;
    loop.runOnce();
    assert.is(fired, 1);
  } finally {
    loop.close();
  }
});

/** A MockKernel whose wait sleeps on a virtual clock: time passes by exactly the timeout asked for. */
class SleepingKernel extends MockKernel {
  ms = 0;
  override wait(timeoutMs: number): number {
    const count = super.wait(timeoutMs);
    if (timeoutMs > 0) this.ms += timeoutMs;
    return count;
  }
}

test('a far timer: no wait outlasts it, and it costs at most one wake per wheel level', () => {
  const kernel = new SleepingKernel();
  const loop = new TestLoop({ backend: kernel, clock: () => kernel.ms });
  try {
    const delay = 3_700_000; // an hour: level 3
    let firedAt = -1;
    loop.setTimeout(() => (firedAt = loop.now()), delay);
    for (let turn = 0; turn < 10 && firedAt < 0; turn++) loop.runOnce();
    assert.is(firedAt, delay);
    // Each wake but the last is at the start of a slot the timer cascades from.
    assert.ok(kernel.waits.every((wait) => wait > 0), `waits ${kernel.waits.join(', ')}`);
    assert.ok(kernel.waits.length <= 4, `${kernel.waits.length} waits for one timer: ${kernel.waits.join(', ')}`);
  } finally {
    loop.close();
  }
});

test('deferred work makes the wait a poll (0), timers or not', () => {
  const { loop, mock } = virtualClockLoop();
  try {
    loop.setTimeout(() => {}, 40);
    loop.defer(() => {});
    loop.runOnce();
    assert.is(lastWait(mock), 0);
    loop.runOnce();
    assert.is(lastWait(mock), 40);
  } finally {
    loop.close();
  }
});

test('a timer due already (0 ms) makes the next wait a poll', () => {
  const { loop, mock } = virtualClockLoop();
  try {
    let fired = 0;
    loop.setTimeout(() => fired++, 0);
    loop.runOnce();
    assert.is(lastWait(mock), 0);
    assert.is(fired, 1);
  } finally {
    loop.close();
  }
});

// ---- clamping --------------------------------------------------------------------------

test('a delay beyond MAX_TIMER_DELAY_MS is clamped to it: it fires then, not earlier, not never', () => {
  assert.is(MAX_TIMER_DELAY_MS, 2 ** 36 - 1);
  const { loop, mock, clock } = virtualClockLoop();
  try {
    const fired: string[] = [];
    const huge = loop.setTimeout(() => fired.push('1e300'), 1e300);
    loop.setTimeout(() => fired.push('max'), MAX_TIMER_DELAY_MS);
    loop.setTimeout(() => fired.push('max + 1'), MAX_TIMER_DELAY_MS + 1);
    assert.is(huge.delay, 1e300, 'the timer keeps the delay it was given');
    loop.runOnce();
    assert.ok(lastWait(mock) > 0 && lastWait(mock) <= MAX_TIMER_DELAY_MS, `wait ${lastWait(mock)}`);
    clock.ms = MAX_TIMER_DELAY_MS - 1;
    loop.runOnce(0);
    assert.equal(fired, []);
    clock.ms = MAX_TIMER_DELAY_MS;
    loop.runOnce(0);
    assert.equal(fired, ['1e300', 'max', 'max + 1']);
  } finally {
    loop.close();
  }
});

test('an interval longer than MAX_TIMER_DELAY_MS is clamped on each period', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const fired: number[] = [];
    loop.setInterval(() => fired.push(loop.now()), 1e20);
    for (const t of [MAX_TIMER_DELAY_MS, 2 * MAX_TIMER_DELAY_MS - 1, 2 * MAX_TIMER_DELAY_MS]) {
      clock.ms = t;
      loop.runOnce(0);
    }
    assert.equal(fired, [MAX_TIMER_DELAY_MS, 2 * MAX_TIMER_DELAY_MS]);
  } finally {
    loop.close();
  }
});

test.run();
