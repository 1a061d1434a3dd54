// loop.timeout(): the handle-free timeout, and loop.clearTimeout() /
// loop.clearInterval() for both kinds of timer, on a virtual clock: the
// guarantees setTimeout has (never early, equal deadlines in the order set,
// across both kinds, the held last millisecond), handles that go stale,
// arguments, capacity, errors and metrics, and the run of timeouts that
// shares one callback scope under run().
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { TIMER_BATCH } from '../src/core/abi.js';
import type { CallbackContext, SlowCallback } from '../src/index.js';
import { rangeErr, throws, typeErr } from './helpers/errors.js';
import { virtualClockLoop } from './helpers/mock-loops.js';
import { busyWait } from './helpers/timing.js';
import { withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

test('a timeout calls its callback once with its argument, never before its deadline, on the turn that reaches it', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const fired: [unknown, number][] = [];
    const record = (arg: unknown): void => {
      fired.push([arg, loop.now()]);
    };
    for (const delay of [0, 1, 10, 10.5, 63, 64, 1000, 4096.25]) loop.timeout(record, delay, `after ${delay}`);
    const seen: [unknown, number][] = [];
    for (let t = 0; t <= 4100; t += 0.25) {
      clock.ms = t;
      loop.runOnce(0);
      seen.push(...fired.splice(0));
    }
    assert.equal(seen.map(([, at]) => at), [0, 1, 10, 10.5, 63, 64, 1000, 4096.25]);
    assert.equal(seen.map(([arg]) => arg), ['after 0', 'after 1', 'after 10', 'after 10.5', 'after 63', 'after 64', 'after 1000', 'after 4096.25']);
    assert.is(loop.timerCount, 0);
  } finally {
    loop.close();
  }
});

test('timeouts and Timers due at the same time fire in the order they were set, whichever kind', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const order: string[] = [];
    const push = (name: string): void => {
      order.push(name);
    };
    // All due at 300, set at different times (level 2 first, level 0 last).
    loop.timeout(push, 300, 'timeout 0');
    loop.setTimeout(() => order.push('timer 1'), 300);
    loop.timeout(push, 300, 'timeout 2');
    clock.ms = 200;
    loop.runOnce(0);
    loop.setTimeout(() => order.push('timer 3'), 100);
    loop.timeout(push, 100, 'timeout 4');
    loop.timeout(push, 100, 'timeout 5');
    clock.ms = 299.5;
    loop.runOnce(0);
    loop.setTimeout(() => order.push('timer 6'), 0.5);
    loop.timeout(push, 0.5, 'timeout 7');
    clock.ms = 300;
    loop.runOnce(0);
    assert.equal(order, ['timeout 0', 'timer 1', 'timeout 2', 'timer 3', 'timeout 4', 'timeout 5', 'timer 6', 'timeout 7']);
  } finally {
    loop.close();
  }
});

test('a timeout set in a timeout callback, even for 0 ms, fires on a later runOnce', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const order: string[] = [];
    const inner = (): void => {
      order.push('inner');
    };
    loop.timeout(() => {
      order.push('outer');
      loop.timeout(inner, 0);
    }, 5);
    loop.timeout(() => order.push('sibling'), 5);
    clock.ms = 5;
    loop.runOnce(0);
    assert.equal(order, ['outer', 'sibling']);
    loop.runOnce(0);
    assert.equal(order, ['outer', 'sibling', 'inner']);
  } finally {
    loop.close();
  }
});

test('a timeout waiting out the fraction of its last millisecond keeps its handle: clearTimeout still cancels it', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    let ran = 0;
    const handle = loop.timeout(() => ran++, 10.5);
    clock.ms = 10.25; // the wheel released it; the core holds it until 10.5
    loop.runOnce(0);
    assert.is(ran, 0);
    assert.is(loop.timerCount, 1);
    assert.is(loop.clearTimeout(handle), true);
    assert.is(loop.timerCount, 0);
    clock.ms = 11;
    loop.runOnce(0);
    assert.is(ran, 0);
  } finally {
    loop.close();
  }
});

// ---- handles ------------------------------------------------------------------------

test('clearTimeout(handle): true once for a pending timeout; false once it fired or was cleared, and a stale handle never cancels the timeout that reused its entry', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 4 });
  try {
    let ran = 0;
    const count = (): void => {
      ran++;
    };
    const fired = loop.timeout(count, 5);
    const cleared = loop.timeout(count, 5);
    assert.is(typeof fired, 'number');
    assert.ok(Number.isSafeInteger(fired) && fired >= 0, `handle ${fired}`);
    assert.is(loop.clearTimeout(cleared), true);
    assert.is(loop.clearTimeout(cleared), false, 'twice');
    clock.ms = 5;
    loop.runOnce(0);
    assert.is(ran, 1);
    assert.is(loop.clearTimeout(fired), false, 'after firing');
    // Every entry is reused now, each by a timeout pending at 50.
    const pending = Array.from({ length: 4 }, () => loop.timeout(count, 45));
    assert.is(loop.clearTimeout(fired), false, 'the fired handle, its entry in use again');
    assert.is(loop.clearTimeout(cleared), false, 'the cleared handle, its entry in use again');
    assert.is(loop.timerCount, 4);
    assert.not.ok(pending.includes(fired) || pending.includes(cleared), 'a reused entry got a handle of the past');
    clock.ms = 50;
    loop.runOnce(0);
    assert.is(ran, 5, 'the timeouts that reused the entries all fired');
  } finally {
    loop.close();
  }
});

test('clearTimeout with a number no timeout of this loop has: false, and nothing is cancelled, a Timer\'s entry least of all', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 8 });
  try {
    let ran = 0;
    const timer = loop.setTimeout(() => ran++, 5);
    const timeout = loop.timeout(() => ran++, 5);
    for (const bogus of [-1, 0.5, timeout + 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 60, timeout + 1, timeout + 8]) {
      assert.is(loop.clearTimeout(bogus), false, `clearTimeout(${bogus})`);
    }
    // Entry 0 is the Timer's: its index alone, as a handle, must not reach it.
    for (let index = 0; index < 8; index++) if (index !== timeout) assert.is(loop.clearTimeout(index), false, `index ${index}`);
    assert.is(loop.timerCount, 2);
    assert.is(timer.active, true);
    clock.ms = 5;
    loop.runOnce(0);
    assert.is(ran, 2);
  } finally {
    loop.close();
  }
});

test('clearTimeout and clearInterval take a Timer too, as timer.cancel(); undefined and null do nothing; anything else is a TypeError', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    let ran = 0;
    const timeout = loop.setTimeout(() => ran++, 5);
    const interval = loop.setInterval(() => ran++, 5);
    const handle = loop.timeout(() => ran++, 5);
    assert.is(loop.clearInterval(timeout), true);
    assert.is(loop.clearTimeout(interval), true);
    assert.is(loop.clearInterval(handle), true, 'clearInterval clears a timeout handle too');
    assert.is(loop.clearTimeout(timeout), false);
    assert.is(loop.clearTimeout(undefined), false);
    assert.is(loop.clearInterval(null), false);
    for (const bad of ['1', {}, 1n, () => {}]) {
      throws(() => loop.clearTimeout(bad as unknown as number), typeErr);
      throws(() => loop.clearInterval(bad as unknown as number), typeErr);
    }
    clock.ms = 20;
    loop.runOnce(0);
    assert.is(ran, 0);
    assert.is(loop.timerCount, 0);
  } finally {
    loop.close();
  }
});

test("a Timer from another loop is cleared in its own loop", () => {
  const first = virtualClockLoop();
  const second = virtualClockLoop();
  try {
    const timer = first.loop.setTimeout(() => {}, 5);
    assert.is(second.loop.clearTimeout(timer), true);
    assert.is(first.loop.timerCount, 0);
  } finally {
    first.loop.close();
    second.loop.close();
  }
});

test('a timeout cleared by an earlier callback of the same pass does not run', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const order: string[] = [];
    let second = -1;
    let cleared: boolean | undefined;
    let clearedAfter: boolean | undefined;
    const first = loop.timeout(() => {
      order.push('first');
      cleared = loop.clearTimeout(second);
    }, 5);
    second = loop.timeout(() => order.push('second'), 5);
    loop.timeout(() => {
      order.push('third');
      clearedAfter = loop.clearTimeout(first);
    }, 5);
    clock.ms = 5;
    loop.runOnce(0);
    loop.runOnce(0);
    assert.equal(order, ['first', 'third']);
    assert.is(cleared, true);
    assert.is(clearedAfter, false, 'a timeout that ran this pass');
  } finally {
    loop.close();
  }
});

// ---- passes longer than a batch ---------------------------------------------------------------
// The loop takes a pass's due timers from the core TIMER_BATCH at a time;
// the core keeps a batch's entries until the loop has passed their cells.

test('a pass of several batches fires every timeout in order; a callback that clears a later one stops it, in its own batch or a later one', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 4 * TIMER_BATCH });
  try {
    const total = 2 * TIMER_BATCH + 10;
    const fired: number[] = [];
    const cleared: boolean[] = [];
    const handles: number[] = [];
    const doomed = [10, TIMER_BATCH - 1, TIMER_BATCH + 5, TIMER_BATCH + 30, 2 * TIMER_BATCH + 9];
    const run = (i: number): void => {
      fired.push(i);
      if (i === 3) for (const d of doomed.slice(0, 3)) cleared.push(loop.clearTimeout(handles[d]!));
      if (i === TIMER_BATCH + 20) for (const d of doomed.slice(3)) cleared.push(loop.clearTimeout(handles[d]!));
    };
    for (let i = 0; i < total; i++) handles.push(loop.timeout(run, 5, i));
    clock.ms = 5;
    loop.runOnce(0);
    const expected = Array.from({ length: total }, (_, i) => i).filter((i) => !doomed.includes(i));
    assert.equal(fired, expected);
    assert.equal(cleared, [true, true, true, true, true]);
    assert.is(loop.timerCount, 0);
    assert.is(loop.metrics().timers.fired, expected.length, 'the cleared ones are not counted as fired');
    for (const d of doomed) assert.is(loop.clearTimeout(handles[d]!), false);
  } finally {
    loop.close();
  }
});

test('clearTimeout of a timeout that ran earlier in the same batch is false and cancels nothing; a timeout set then takes no entry of the batch', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 4 * TIMER_BATCH });
  try {
    const handles: number[] = [];
    const results: boolean[] = [];
    const late: number[] = [];
    const fired: number[] = [];
    const added: number[] = [];
    const run = (i: number): void => {
      fired.push(i);
      if (i > 0) results.push(loop.clearTimeout(handles[i - 1]!));
      // A new timeout, due now: it waits for the next pass, on an entry of its own.
      added.push(loop.timeout(() => late.push(i), 0));
    };
    for (let i = 0; i < 100; i++) handles.push(loop.timeout(run, 5, i));
    clock.ms = 5;
    loop.runOnce(0);
    assert.is(fired.length, 100);
    assert.ok(results.every((r) => r === false), 'a timeout that ran is not pending');
    const mask = TIMER_BATCH * 4 - 1; // the index bits of a handle (maxTimers is a power of two)
    const batchEntries = new Set(handles.map((h) => h & mask));
    assert.ok(added.every((h) => !batchEntries.has(h & mask)), 'an entry of the batch was reused while it was open');
    assert.equal(late, [], 'set during the pass: not run in it');
    assert.is(loop.timerCount, 100);
    loop.runOnce(0);
    assert.is(late.length, 100);
  } finally {
    loop.close();
  }
});

test('a Timer refreshed or cancelled by an earlier callback of the same pass does not fire in it; refreshed, it fires at its new deadline', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const order: string[] = [];
    let refreshed: ReturnType<typeof loop.setTimeout> | undefined;
    let cancelled: ReturnType<typeof loop.setTimeout> | undefined;
    loop.timeout(() => {
      order.push('first');
      refreshed!.refresh();
      cancelled!.cancel();
    }, 5);
    refreshed = loop.setTimeout(() => order.push('refreshed'), 5);
    cancelled = loop.setTimeout(() => order.push('cancelled'), 5);
    loop.timeout(() => order.push('last'), 5);
    clock.ms = 5;
    loop.runOnce(0);
    assert.equal(order, ['first', 'last']);
    assert.is(loop.timerCount, 1);
    clock.ms = 10;
    loop.runOnce(0);
    assert.equal(order, ['first', 'last', 'refreshed']);
  } finally {
    loop.close();
  }
});

test('with every entry in use, timeout and interval callbacks can set timers: the entries of the ones that fired are free for them', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 6, fatalErrors: false });
  try {
    const errors: unknown[] = [];
    loop.on('error', (error) => errors.push(error));
    let rearmed = 0;
    const rearm = (): void => {
      loop.timeout(() => rearmed++, 5);
    };
    for (let i = 0; i < 5; i++) loop.timeout(rearm, 5);
    let ticks = 0;
    loop.setInterval(() => ticks++, 5);
    assert.is(loop.timerCount, 6);
    clock.ms = 5;
    loop.runOnce(0);
    assert.equal(errors, []);
    assert.is(ticks, 1);
    assert.is(loop.timerCount, 6);
    clock.ms = 10;
    loop.runOnce(0);
    assert.is(rearmed, 5);
    assert.is(ticks, 2);
  } finally {
    loop.close();
  }
});

test('loop.timerCount from a timeout callback counts the timers still to run in the pass, not those that ran', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 4 * TIMER_BATCH });
  try {
    const total = TIMER_BATCH + 100;
    const counts: number[] = [];
    const record = (): void => {
      counts.push(loop.timerCount);
    };
    for (let i = 0; i < total; i++) loop.timeout(record, 5);
    loop.timeout(() => {}, 50);
    clock.ms = 5;
    loop.runOnce(0);
    assert.is(counts.length, total);
    for (let i = 0; i < total; i++) if (counts[i] !== total - i) assert.unreachable(`count ${counts[i]} in callback ${i}, expected ${total - i}`);
  } finally {
    loop.close();
  }
});

test('with fatalErrors, a throw in the middle of a batch: the rest of the pass, across batches, fires on the next runOnce, in order', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 4 * TIMER_BATCH, fatalErrors: true });
  try {
    const total = 2 * TIMER_BATCH + 3;
    const thrower = TIMER_BATCH - 7;
    const fired: number[] = [];
    const boom = new Error('fatal');
    const run = (i: number): void => {
      fired.push(i);
      if (i === thrower) throw boom;
    };
    for (let i = 0; i < total; i++) loop.timeout(run, 5, i);
    clock.ms = 5;
    assert.is(throws(() => loop.runOnce(0), { type: Error }), boom);
    assert.is(fired.length, thrower + 1);
    assert.is(loop.timerCount, total - thrower - 1);
    loop.runOnce(0);
    assert.equal(fired, Array.from({ length: total }, (_, i) => i));
    assert.is(loop.timerCount, 0);
    assert.is(loop.metrics().timers.fired, total);
  } finally {
    loop.close();
  }
});

test('a throw past the error path (a logger that throws) ends runOnce; the timeout that threw does not run again, the rest of the pass runs next', () => {
  const { loop, clock } = virtualClockLoop({
    fatalErrors: false,
    logger: {
      error: () => {
        throw new Error('logger down');
      },
    },
  });
  try {
    const fired: number[] = [];
    const run = (i: number): void => {
      fired.push(i);
      if (i === 40) throw new Error('boom');
    };
    for (let i = 0; i < 100; i++) loop.timeout(run, 5, i);
    clock.ms = 5;
    throws(() => loop.runOnce(0), { type: Error });
    assert.is(fired.length, 41);
    assert.is(loop.timerCount, 59);
    loop.runOnce(0);
    assert.equal(fired, Array.from({ length: 100 }, (_, i) => i));
  } finally {
    loop.close();
  }
});

// ---- arguments, capacity, close ----------------------------------------------------------

test('timeout: a callback that is no function, a delay of the wrong type or range, options of the wrong type: TypeError or RangeError, nothing scheduled', () => {
  const { loop } = virtualClockLoop();
  try {
    const noop = (): void => {};
    for (const bad of [undefined, null, 'f', {}]) throws(() => loop.timeout(bad as unknown as () => void, 1), typeErr);
    for (const bad of ['10', undefined, null, 10n, {}]) throws(() => loop.timeout(noop, bad as unknown as number), typeErr);
    for (const bad of [-1, -0.001, NaN, Infinity, -Infinity]) throws(() => loop.timeout(noop, bad), rangeErr);
    throws(() => loop.timeout(noop, 1, undefined, null as unknown as object), typeErr);
    throws(() => loop.timeout(noop, 1, undefined, { ref: 'no' as unknown as boolean }), typeErr);
    assert.is(loop.timerCount, 0);
    loop.timeout(noop, 0);
    loop.timeout(noop, 1, undefined, { ref: false });
    loop.timeout(noop, 1e300);
    assert.is(loop.timerCount, 3);
  } finally {
    loop.close();
  }
});

test('timeout: a full table is a RangeError naming maxTimers, shared with Timers; a fired or cleared timeout makes room', () => {
  const { loop, clock } = virtualClockLoop({ maxTimers: 3 });
  try {
    const noop = (): void => {};
    const a = loop.timeout(noop, 5);
    loop.setTimeout(noop, 10);
    loop.timeout(noop, 20);
    const error = throws(() => loop.timeout(noop, 1), rangeErr);
    assert.match(error.message, /maxTimers/);
    throws(() => loop.setTimeout(noop, 1), rangeErr);
    loop.clearTimeout(a);
    loop.timeout(noop, 1);
    throws(() => loop.timeout(noop, 1), rangeErr);
    clock.ms = 1;
    loop.runOnce(0);
    loop.timeout(noop, 1);
    assert.is(loop.timerCount, 3);
  } finally {
    loop.close();
  }
});

test('close() drops pending timeouts: none runs, clearTimeout is false, a new one is ERR_LOOP_CLOSED', () => {
  const { loop, clock } = virtualClockLoop();
  let ran = 0;
  const handle = loop.timeout(() => ran++, 5, { some: 'argument' });
  loop.close();
  clock.ms = 10;
  assert.is(loop.timerCount, 0);
  assert.is(loop.clearTimeout(handle), false);
  throws(() => loop.timeout(() => {}, 1), { type: Error, code: 'ERR_LOOP_CLOSED' });
  assert.is(ran, 0);
});

test('close() from a timeout callback: the timeouts due after it do not run', () => {
  const { loop, clock } = virtualClockLoop();
  const order: string[] = [];
  loop.timeout(() => {
    order.push('closer');
    loop.close();
  }, 5);
  loop.timeout(() => order.push('after'), 5);
  loop.setTimeout(() => order.push('timer after'), 5);
  clock.ms = 5;
  loop.runOnce(0);
  assert.equal(order, ['closer']);
  assert.is(loop.isClosed, true);
});

test("a timeout's argument goes with it: the callback gets it by identity, and the next timeout on its entry gets its own or none", () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const first = { name: 'first' };
    const got: unknown[] = [];
    const keep = (arg: unknown): void => {
      got.push(arg);
    };
    loop.timeout(keep, 1, first);
    clock.ms = 1;
    loop.runOnce(0);
    loop.timeout(keep, 1); // the same entry, no argument
    const cleared = loop.timeout(keep, 1, { name: 'cleared' });
    loop.clearTimeout(cleared);
    loop.timeout(keep, 1); // the cleared one's entry, no argument
    clock.ms = 2;
    loop.runOnce(0);
    assert.is(got[0], first);
    assert.equal(got.slice(1), [undefined, undefined]);
  } finally {
    loop.close();
  }
});

// ---- errors, stopping, metrics --------------------------------------------------------------

test("a throwing timeout goes to 'error' with kind 'timer' and no label; the timeouts after it still run", () => {
  const { loop, clock } = virtualClockLoop({ fatalErrors: false });
  try {
    const reported: [unknown, CallbackContext][] = [];
    loop.on('error', (error, context) => reported.push([error, context]));
    const boom = new Error('boom');
    let after = 0;
    loop.timeout(() => {
      throw boom;
    }, 5);
    loop.timeout(() => after++, 5);
    loop.timeout(() => after++, 5);
    clock.ms = 5;
    loop.runOnce(0);
    assert.is(after, 2);
    assert.equal(reported, [[boom, { kind: 'timer' }]]);
    assert.is(loop.metrics().errors, 1);
  } finally {
    loop.close();
  }
});

test('with fatalErrors, the timeouts and Timers due after the one that threw fire on the next runOnce, in order', () => {
  const { loop, clock } = virtualClockLoop({ fatalErrors: true });
  try {
    const order: string[] = [];
    const boom = new Error('fatal');
    loop.timeout(() => {
      order.push('first');
      throw boom;
    }, 5);
    loop.timeout(() => order.push('second'), 5);
    loop.setTimeout(() => order.push('third'), 5);
    loop.timeout(() => order.push('fourth'), 5);
    clock.ms = 5;
    assert.is(throws(() => loop.runOnce(0), { type: Error }), boom);
    assert.equal(order, ['first']);
    assert.is(loop.timerCount, 3);
    loop.runOnce(0);
    assert.equal(order, ['first', 'second', 'third', 'fourth']);
  } finally {
    loop.close();
  }
});

test('stop() from a timeout under run(): the timeouts due with it fire when the loop runs again', async () => {
  let now = 0;
  const loop = new TestLoop({ clock: () => now });
  try {
    const order: string[] = [];
    loop.timeout(() => {
      order.push('stopper');
      loop.stop();
    }, 5);
    loop.timeout(() => order.push('sibling'), 5);
    now = 5;
    await withTimeout(loop.run(), 'run() to stop');
    assert.equal(order, ['stopper']);
    loop.runOnce(0);
    assert.equal(order, ['stopper', 'sibling']);
  } finally {
    loop.close();
  }
});

test('metrics: every timeout counts as a callback and a timer fired, with its lateness', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    for (let i = 0; i < 100; i++) loop.timeout(() => {}, 10);
    loop.timeout(() => {}, 1000);
    loop.clearTimeout(loop.timeout(() => {}, 10));
    clock.ms = 13;
    loop.runOnce(0);
    const metrics = loop.metrics();
    assert.is(metrics.timers.fired, 100);
    assert.is(metrics.callbacks, 100);
    assert.is(metrics.callbackDurationUs.count, 100, 'each one observed in the callback histogram');
    assert.is(metrics.timers.latenessUs.count, 100);
    assert.ok(metrics.timers.latenessUs.p50 >= 3000 && metrics.timers.latenessUs.p50 <= 4096, `p50 ${metrics.timers.latenessUs.p50}`);
  } finally {
    loop.close();
  }
});

test("a slow timeout is reported as a slow 'timer' callback, with the group it ran in, and counted once", () => {
  const { loop, clock } = virtualClockLoop({ slowCallbackMs: 5 });
  try {
    const slow: SlowCallback[] = [];
    loop.on('slow', (info) => slow.push(info));
    for (let i = 0; i < 10; i++) loop.timeout(() => {}, 1);
    loop.timeout(() => busyWait(10), 1);
    for (let i = 0; i < 100; i++) loop.timeout(() => {}, 1);
    clock.ms = 1;
    loop.runOnce(0);
    assert.is(slow.length, 1);
    assert.is(slow[0]!.kind, 'timer');
    assert.ok(slow[0]!.durationMs >= 10, `durationMs ${slow[0]!.durationMs}`);
    assert.not.ok('fd' in slow[0]!);
    assert.is(loop.metrics().slowCallbacks, 1);
    assert.is(loop.metrics().callbacks, 111);
  } finally {
    loop.close();
  }
});

test('with the trace ring on, each timeout is traced as its own timer callback', () => {
  const { loop, clock } = virtualClockLoop({ trace: 64 });
  try {
    for (let i = 0; i < 5; i++) loop.timeout(() => {}, 1);
    clock.ms = 1;
    loop.runOnce(0);
    assert.equal(loop.trace().map((entry) => entry.kind), ['timer', 'timer', 'timer', 'timer', 'timer']);
  } finally {
    loop.close();
  }
});

// ---- callback scopes under run() -------------------------------------------------------------

test('under run(), a run of timeouts shares one callback scope: ticks and microtasks run after the run; each Timer callback is its own', async () => {
  let now = 0;
  const loop = new TestLoop({ clock: () => now });
  try {
    const order: string[] = [];
    const queue = (name: string): void => {
      order.push(name);
      process.nextTick(() => order.push(`${name}:tick`));
      queueMicrotask(() => order.push(`${name}:microtask`));
    };
    loop.timeout(queue, 5, 'timeout 1');
    loop.timeout(queue, 5, 'timeout 2');
    loop.setTimeout(() => queue('timer 3'), 5);
    loop.setTimeout(() => queue('timer 4'), 5);
    loop.timeout(queue, 5, 'timeout 5');
    loop.setTimeout(() => loop.stop(), 5);
    now = 5;
    await withTimeout(loop.run(), 'run() to stop');
    assert.equal(order, [
      'timeout 1', 'timeout 2', 'timeout 1:tick', 'timeout 2:tick', 'timeout 1:microtask', 'timeout 2:microtask',
      'timer 3', 'timer 3:tick', 'timer 3:microtask',
      'timer 4', 'timer 4:tick', 'timer 4:microtask',
      'timeout 5', 'timeout 5:tick', 'timeout 5:microtask',
    ]);
  } finally {
    loop.close();
  }
});

test('a handle is a small integer while its entry is young (a V8 Smi: nothing is boxed where it is kept)', () => {
  const { loop } = virtualClockLoop({ maxTimers: 1024 });
  try {
    for (let round = 0; round < 3; round++) {
      const handles = Array.from({ length: 1024 }, () => loop.timeout(() => {}, 1000));
      for (const handle of handles) if ((handle | 0) !== handle || handle < 0) assert.unreachable(`handle ${handle} in round ${round}`);
      assert.is(new Set(handles).size, 1024);
      for (const handle of handles) loop.clearTimeout(handle);
    }
  } finally {
    loop.close();
  }
});

test.run();
