// What the timer calls do with a delay left out or an odd one, next to
// Node's: left out, the delay is 1 ms, as Node's setTimeout and setInterval
// (and node:timers/promises) take it; given, it must be a number, and is
// taken as it is: 0 stays 0, a fraction counts, and a delay past 2^31 - 1 ms
// fires when it says (clamped at MAX_TIMER_DELAY_MS), where Node warns and
// fires it after 1 ms.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_TIMER_DELAY_MS } from '../src/index.js';
import { throws, typeErr } from './helpers/errors.js';
import { virtualClockLoop } from './helpers/mock-loops.js';

test('a delay left out is 1 ms for setTimeout, setInterval and timeout, as Node\'s', () => {
  assert.is(DEFAULT_TIMER_DELAY_MS, 1);
  const { loop, clock } = virtualClockLoop();
  try {
    const fired: string[] = [];
    const timeout = loop.setTimeout(() => fired.push(`setTimeout ${loop.now()}`));
    const interval = loop.setInterval(() => fired.push(`setInterval ${loop.now()}`));
    loop.timeout(() => fired.push(`timeout ${loop.now()}`));
    assert.is(timeout.delay, 1);
    assert.is(interval.delay, 1);
    clock.ms = 0.999;
    loop.runOnce(0);
    assert.equal(fired, []);
    clock.ms = 1;
    loop.runOnce(0);
    clock.ms = 2;
    loop.runOnce(0);
    assert.equal(fired, ['setTimeout 1', 'setInterval 1', 'timeout 1', 'setInterval 2']);
  } finally {
    loop.close();
  }
});

test('a delay given as undefined is a mistake, not a delay left out: a TypeError', () => {
  const { loop } = virtualClockLoop();
  try {
    const noop = (): void => {};
    throws(() => loop.setTimeout(noop, undefined), typeErr);
    throws(() => loop.setInterval(noop, undefined), typeErr);
    throws(() => loop.timeout(noop, undefined), typeErr);
    throws(() => loop.setTimeout(noop, undefined, { label: 'x' }), typeErr);
    assert.is(loop.timerCount, 0);
  } finally {
    loop.close();
  }
});

test('0 stays 0 and a fraction counts, where Node makes both 1 ms', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const fired: number[] = [];
    loop.setTimeout(() => fired.push(loop.now()), 0);
    loop.timeout(() => fired.push(loop.now()), 0.5);
    loop.runOnce(0);
    assert.equal(fired, [0], 'the 0 ms timer fires on the next turn, at once');
    clock.ms = 0.5;
    loop.runOnce(0);
    assert.equal(fired, [0, 0.5]);
  } finally {
    loop.close();
  }
});

test('a delay past 2^31 - 1 ms fires at that delay, with no warning, where Node fires it after 1 ms', () => {
  const { loop, clock } = virtualClockLoop();
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };
  process.on('warning', onWarning);
  try {
    const fired: number[] = [];
    const delay = 2 ** 31;
    loop.setTimeout(() => fired.push(loop.now()), delay);
    loop.timeout(() => fired.push(loop.now()), delay);
    clock.ms = 1;
    loop.runOnce(0);
    assert.equal(fired, []);
    clock.ms = delay - 1;
    loop.runOnce(0);
    assert.equal(fired, []);
    clock.ms = delay;
    loop.runOnce(0);
    assert.equal(fired, [delay, delay]);
    assert.equal(warnings, []);
  } finally {
    process.off('warning', onWarning);
    loop.close();
  }
});

test.run();
