// loop.defer(): callbacks after the batch and before the next wait;
// cancel(), pending, the bounded queue, close() and argument checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Deferred, WasmloopError } from '../src/index.js';
import { EPOLL } from '../src/testing/index.js';
import { rangeErr, throws, typeErr } from './helpers/errors.js';
import { mockLoop } from './helpers/mock-loops.js';

test('a deferred callback runs after the batch of I/O callbacks and before the next wait', () => {
  const { loop, mock } = mockLoop();
  try {
    const order: string[] = [];
    loop.watch(10, { readable: true, trigger: 'edge' }, () => order.push('io'));
    mock.ready(10, EPOLL.IN);
    loop.defer(() => order.push(`deferred after ${mock.waits.length} wait(s)`));
    loop.runOnce(0);
    assert.equal(order, ['io', 'deferred after 1 wait(s)']);
    loop.runOnce(0);
    assert.is(order.length, 2, 'a deferred callback ran twice');
  } finally {
    loop.close();
  }
});

test('cancel() before it runs: it never runs; true, then false; pending follows', () => {
  const { loop } = mockLoop();
  try {
    let ran = 0;
    const entry = loop.defer(() => ran++, { label: 'cancelled' });
    assert.instance(entry, Deferred);
    assert.is(entry.label, 'cancelled');
    assert.is(entry.priority, 1);
    assert.ok(entry.pending);
    assert.is(entry.cancel(), true);
    assert.is(entry.pending, false);
    assert.is(entry.cancel(), false);
    loop.runOnce(0);
    assert.is(ran, 0);
    assert.is(loop.metrics().deferred.depth, 0);
  } finally {
    loop.close();
  }
});

test('a callback that ran is no longer pending, and cancelling it returns false', () => {
  const { loop } = mockLoop();
  try {
    let ran = 0;
    const entry = loop.defer(() => ran++);
    loop.runOnce(0);
    assert.is(ran, 1);
    assert.is(entry.pending, false);
    assert.is(entry.cancel(), false);
    assert.is(loop.metrics().deferred.depth, 0);
  } finally {
    loop.close();
  }
});

test('a deferred callback can cancel one queued after it in the same phase', () => {
  const { loop } = mockLoop();
  try {
    const order: string[] = [];
    let cancelled: boolean | undefined;
    loop.defer(() => {
      order.push('first');
      cancelled = later.cancel();
    });
    const later = loop.defer(() => order.push('later'));
    loop.runOnce(0);
    loop.runOnce(0);
    assert.equal(order, ['first']);
    assert.is(cancelled, true, 'cancel() of a queued callback');
    assert.is(loop.metrics().deferred.depth, 0);
  } finally {
    loop.close();
  }
});

test('maxDeferred 3: the 4th defer throws ERR_DEFER_QUEUE_FULL; cancel frees a place', () => {
  const { loop } = mockLoop({ maxDeferred: 3 });
  try {
    const ran: number[] = [];
    const entries = [0, 1, 2].map((i) => loop.defer(() => ran.push(i)));
    throws(() => loop.defer(() => ran.push(3)), { type: WasmloopError, code: 'ERR_DEFER_QUEUE_FULL' });
    let metrics = loop.metrics();
    assert.is(metrics.deferred.depth, 3);
    assert.is(metrics.deferred.capacity, 3);
    entries[1]!.cancel();
    assert.is(loop.metrics().deferred.depth, 2);
    loop.defer(() => ran.push(4));
    throws(() => loop.defer(() => ran.push(5)), { type: WasmloopError, code: 'ERR_DEFER_QUEUE_FULL' });
    loop.runOnce(0);
    assert.equal(ran, [0, 2, 4]);
    metrics = loop.metrics();
    assert.is(metrics.deferred.depth, 0);
    assert.is(metrics.deferred.phases, 1);
    // Room again once they ran.
    for (let i = 0; i < 3; i++) loop.defer(() => {});
  } finally {
    loop.close();
  }
});

test('close() drops queued callbacks: they never run and are no longer pending', () => {
  const { loop } = mockLoop();
  let ran = 0;
  const entries = [loop.defer(() => ran++), loop.defer(() => ran++, { priority: 3 })];
  loop.close();
  assert.is(ran, 0);
  assert.ok(entries.every((entry) => !entry.pending));
  assert.ok(entries.every((entry) => entry.cancel() === false));
  assert.is(loop.metrics().deferred.depth, 0);
  throws(() => loop.defer(() => ran++), { type: WasmloopError, code: 'ERR_LOOP_CLOSED' });
  assert.is(ran, 0);
});

test('bad arguments throw TypeError or RangeError and queue nothing', () => {
  const { loop } = mockLoop();
  try {
    throws(() => loop.defer(undefined as never), typeErr);
    throws(() => loop.defer('run me' as never), typeErr);
    throws(() => loop.defer(() => {}, null as never), typeErr);
    throws(() => loop.defer(() => {}, { priority: 4 }), rangeErr);
    throws(() => loop.defer(() => {}, { priority: -1 }), rangeErr);
    throws(() => loop.defer(() => {}, { priority: 0.5 }), rangeErr);
    throws(() => loop.defer(() => {}, { priority: '0' as never }), typeErr);
    throws(() => loop.defer(() => {}, { label: 5 as never }), typeErr);
    assert.is(loop.metrics().deferred.depth, 0);
  } finally {
    loop.close();
  }
});

test.run();
