// loop.sleep(): the promise form of a timeout, as node:timers/promises'
// setTimeout(delay, value, { signal, ref }), on a virtual clock: when it
// resolves and with what, the default delay, aborting, closing the loop,
// and arguments it cannot take (a rejected promise, never a throw).
import { getEventListeners } from 'node:events';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { virtualClockLoop } from './helpers/mock-loops.js';

interface Outcome<T> {
  state: 'pending' | 'resolved' | 'rejected';
  value?: T;
  error?: Error & { code?: string; cause?: unknown };
}

/** What a promise settled with, once the microtasks queued so far have run. */
async function settled<T>(promise: Promise<T>): Promise<Outcome<T>> {
  const outcome: Outcome<T> = { state: 'pending' };
  promise.then(
    (value) => Object.assign(outcome, { state: 'resolved', value }),
    (error: Error) => Object.assign(outcome, { state: 'rejected', error }),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return outcome;
}

test('sleep(delay, value) resolves with the value on the turn that reaches the deadline, never before', async () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const value = { some: 'value' };
    const sleeping = loop.sleep(10.5, value);
    assert.is(loop.timerCount, 1);
    clock.ms = 10.25;
    loop.runOnce(0);
    assert.is((await settled(sleeping)).state, 'pending');
    clock.ms = 10.5;
    loop.runOnce(0);
    const outcome = await settled(sleeping);
    assert.is(outcome.state, 'resolved');
    assert.is(outcome.value, value);
    assert.is(loop.timerCount, 0);
  } finally {
    loop.close();
  }
});

test('sleep() with no arguments waits 1 ms, as Node\'s, and resolves with undefined', async () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const sleeping = loop.sleep();
    clock.ms = 0.999;
    loop.runOnce(0);
    assert.is((await settled(sleeping)).state, 'pending');
    clock.ms = 1;
    loop.runOnce(0);
    assert.equal(await settled(sleeping), { state: 'resolved', value: undefined });
  } finally {
    loop.close();
  }
});

test('an aborted signal: the promise rejects with an AbortError whose cause is the reason, and no timer is set', async () => {
  const { loop } = virtualClockLoop();
  try {
    const reason = new Error('no longer needed');
    const outcome = await settled(loop.sleep(10, 'value', { signal: AbortSignal.abort(reason) }));
    assert.is(outcome.state, 'rejected');
    const error = outcome.error!;
    assert.is(error.name, 'AbortError');
    assert.is(error.code, 'ABORT_ERR');
    assert.is(error.cause, reason);
    assert.is(loop.timerCount, 0);
  } finally {
    loop.close();
  }
});

test('aborting while it sleeps: it rejects at once, its timer is cancelled, and its listener is gone', async () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const controller = new AbortController();
    const sleeping = loop.sleep(10, 'value', { signal: controller.signal });
    assert.is(getEventListeners(controller.signal, 'abort').length, 1);
    controller.abort('stop');
    const outcome = await settled(sleeping);
    assert.is(outcome.state, 'rejected');
    assert.is(outcome.error?.name, 'AbortError');
    assert.is(outcome.error?.cause, 'stop');
    assert.is(loop.timerCount, 0);
    assert.is(getEventListeners(controller.signal, 'abort').length, 0);
    clock.ms = 20;
    loop.runOnce(0);
  } finally {
    loop.close();
  }
});

test('a sleep that resolved takes its listener off the signal, and a later abort changes nothing', async () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const controller = new AbortController();
    const sleeping = loop.sleep(5, 'done', { signal: controller.signal });
    clock.ms = 5;
    loop.runOnce(0);
    assert.equal(await settled(sleeping), { state: 'resolved', value: 'done' });
    assert.is(getEventListeners(controller.signal, 'abort').length, 0);
    controller.abort();
    assert.equal(await settled(sleeping), { state: 'resolved', value: 'done' });
  } finally {
    loop.close();
  }
});

test('close() rejects every pending sleep with ERR_LOOP_CLOSED; a sleep on a closed loop rejects the same', async () => {
  const { loop } = virtualClockLoop();
  // Each watched from the start: a rejection nobody handles would end the process.
  const first = settled(loop.sleep(10));
  const second = settled(loop.sleep(20, 'x', { signal: new AbortController().signal }));
  loop.close();
  const third = settled(loop.sleep(5));
  for (const outcome of await Promise.all([first, second, third])) {
    assert.is(outcome.state, 'rejected');
    assert.is(outcome.error?.code, 'ERR_LOOP_CLOSED');
  }
});

test('arguments it cannot take make a rejected promise, never a throw, and set nothing', async () => {
  const { loop } = virtualClockLoop({ maxTimers: 1 });
  try {
    const cases: [() => Promise<unknown>, string][] = [
      [() => loop.sleep('10' as unknown as number), 'ERR_INVALID_ARG_TYPE'],
      [() => loop.sleep(undefined), 'ERR_INVALID_ARG_TYPE'],
      [() => loop.sleep(-1), 'ERR_OUT_OF_RANGE'],
      [() => loop.sleep(NaN), 'ERR_OUT_OF_RANGE'],
      [() => loop.sleep(Infinity), 'ERR_OUT_OF_RANGE'],
      [() => loop.sleep(1, 'v', null as unknown as object), 'ERR_INVALID_ARG_TYPE'],
      [() => loop.sleep(1, 'v', { signal: {} as AbortSignal }), 'ERR_INVALID_ARG_TYPE'],
      [() => loop.sleep(1, 'v', { ref: 'yes' as unknown as boolean }), 'ERR_INVALID_ARG_TYPE'],
    ];
    for (const [call, code] of cases) {
      let sleeping: Promise<unknown> | undefined;
      assert.not.throws(() => (sleeping = call()));
      const outcome = await settled(sleeping!);
      assert.is(outcome.error?.code, code, `${call}: ${outcome.state}`);
    }
    assert.is(loop.timerCount, 0);
    // Fills the table; rejected by close() below.
    loop.sleep(100).catch(() => {});
    const full = await settled(loop.sleep(1));
    assert.instance(full.error, RangeError);
    assert.match(full.error!.message, /maxTimers/);
  } finally {
    loop.close();
  }
});

test.run();
