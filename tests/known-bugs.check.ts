// Failing tests for bugs found while writing the loop tests (not in the suite).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { EPOLL, type CallbackContext, type SlowCallback } from '../src/index.js';
import { busyWait, mockLoop } from './helpers.js';

test('fatalErrors: no deferred callback runs after a fatal I/O error in the same runOnce', () => {
  const { loop, mock } = mockLoop({ fatalErrors: true });
  try {
    let deferredRan = 0;
    loop.watch(10, { readable: true, trigger: 'edge' }, () => { throw new Error('fatal'); });
    loop.defer(() => deferredRan++);
    mock.ready(10, EPOLL.IN);
    assert.throws(() => loop.runOnce(0));
    assert.is(deferredRan, 0, 'a deferred callback ran after the loop was stopped by a fatal error');
    loop.runOnce(0);
    assert.is(deferredRan, 1, 'the deferred callback was lost');
  } finally {
    loop.close();
  }
});

test('fatalErrors: the deferred phase stops at the first fatal error; the rest run next time', () => {
  const { loop } = mockLoop({ fatalErrors: true });
  try {
    const order: string[] = [];
    loop.defer(() => { order.push('a'); throw new Error('fatal'); });
    loop.defer(() => order.push('b'));
    assert.throws(() => loop.runOnce(0));
    assert.equal(order, ['a'], 'b ran after the fatal error');
    loop.runOnce(0);
    assert.equal(order, ['a', 'b']);
  } finally {
    loop.close();
  }
});

test('budgetCutoffs counts budget cuts only, not a stop by a fatal error', () => {
  const { loop, mock } = mockLoop({ fatalErrors: true });
  try {
    loop.watch(10, { readable: true, trigger: 'edge', priority: 0 }, () => { throw new Error('fatal'); });
    loop.watch(11, { readable: true, trigger: 'edge' }, () => {});
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN);
    assert.throws(() => loop.runOnce(0));
    assert.is(loop.metrics().budgetCutoffs, 0);
  } finally {
    loop.close();
  }
});

test("a watcher's callbacks are reported with one kind, whatever the event", () => {
  const { loop, mock } = mockLoop();
  try {
    const kinds: string[] = [];
    loop.on('error', (_, context: CallbackContext) => kinds.push(context.kind));
    loop.watch(10, { readable: true, hangup: true }, () => { throw new Error('x'); });
    mock.ready(10, EPOLL.IN | EPOLL.RDHUP);
    loop.runOnce(0);
    assert.is(kinds.length, 2);
    assert.is(kinds[0], kinds[1], `kinds: ${kinds}`);
  } finally {
    loop.close();
  }
});

test("a watcher's final hang-up keeps its label in the trace and the 'slow' report", () => {
  const { loop, mock } = mockLoop({ trace: 8, slowCallbackMs: 1 });
  try {
    const slow: SlowCallback[] = [];
    loop.on('slow', (info) => slow.push(info));
    loop.watch(10, { readable: true, label: 'pipe' }, () => busyWait(2));
    mock.ready(10, EPOLL.HUP);
    loop.runOnce(0);
    assert.is(slow.length, 1);
    assert.is(slow[0]!.label, 'pipe');
    assert.is(loop.trace()[0]!.label, 'pipe');
  } finally {
    loop.close();
  }
});

test.run();
