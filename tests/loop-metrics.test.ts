// loop.metrics() after known activity on the MockKernel: counters, the
// log2 histograms and their percentiles, utilization, the host's gauges.
import { constants as osConstants } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { EPOLL } from '../src/testing/index.js';
import { mockLoop } from './helpers/mock-loops.js';
import { busyWait } from './helpers/timing.js';

const { EBADF } = osConstants.errno;

test('a fresh loop reports zeros', () => {
  const { loop } = mockLoop({ maxDeferred: 7 });
  try {
    const metrics = loop.metrics();
    assert.is(metrics.iterations, 0);
    assert.is(metrics.waits, 0);
    assert.is(metrics.events, 0);
    assert.is(metrics.callbacks, 0);
    assert.is(metrics.utilization, 0);
    assert.equal(metrics.eventsPerWait, { p50: 0, p90: 0, p99: 0, count: 0, buckets: [] });
    assert.equal(metrics.deferred, { depth: 0, capacity: 7, phases: 0 });
    assert.is(metrics.registered, 0);
  } finally {
    loop.close();
  }
});

test('batches of 1, 1, 1 and 8 events: counters and the events-per-wait percentiles', () => {
  const { loop, mock } = mockLoop();
  try {
    const fds = [10, 11, 12, 13, 14, 15, 16, 17];
    for (const fd of fds) loop.watch(fd, { readable: true, trigger: 'edge' }, () => busyWait(0.05));
    for (let i = 0; i < 3; i++) {
      mock.ready(10, EPOLL.IN);
      assert.is(loop.runOnce(0), 1);
    }
    for (const fd of fds) mock.ready(fd, EPOLL.IN);
    assert.is(loop.runOnce(0), 8);

    const metrics = loop.metrics();
    assert.is(metrics.iterations, 4);
    assert.is(metrics.waits, 4);
    assert.is(metrics.events, 11);
    assert.is(metrics.staleEvents, 0);
    assert.is(metrics.callbacks, 11);
    assert.is(metrics.registered, 8);
    // Bucket b holds [2^(b-1), 2^b): 1 is in bucket 1, 8 in bucket 4. Each
    // percentile is its bucket's upper bound: the median (2nd of 4) is in
    // bucket 1, so 2; the 90th and 99th (4th of 4) are the 8, so 16.
    assert.equal(metrics.eventsPerWait, { p50: 2, p90: 16, p99: 16, count: 4, buckets: [0, 3, 0, 0, 1] });
    assert.is(metrics.callbackDurationUs.count, metrics.callbacks);
    assert.is(metrics.waitDurationUs.count, metrics.waits);
    assert.ok(metrics.utilization > 0 && metrics.utilization <= 1, `utilization ${metrics.utilization}`);
    assert.ok(metrics.busyMs > 0);
    assert.ok(metrics.waitMs >= 0);
    assert.is(metrics.timers.fired, 0);
    assert.is(metrics.errors, 0);
    assert.is(metrics.budgetCutoffs, 0);
    assert.is(metrics.repolls, 0);
    assert.is(metrics.pendingRecords, 0);
  } finally {
    loop.close();
  }
});

test('an empty wait is a batch of 0, in bucket 0', () => {
  const { loop } = mockLoop();
  try {
    loop.runOnce(0);
    loop.runOnce(0);
    const metrics = loop.metrics();
    assert.is(metrics.waits, 2);
    assert.equal(metrics.eventsPerWait, { p50: 1, p90: 1, p99: 1, count: 2, buckets: [2] });
  } finally {
    loop.close();
  }
});

test('an event for an fd the loop no longer holds is counted stale and calls nothing', () => {
  const { loop, mock } = mockLoop();
  try {
    let calls = 0;
    const watcher = loop.watch(10, { readable: true }, () => calls++);
    loop.watch(11, { readable: true }, () => calls++);
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN);
    // The kernel has lost track of fd 10 (EBADF): the loop forgets it, the
    // mock keeps reporting it, as epoll does for a file still open elsewhere.
    mock.fail('remove', EBADF);
    watcher.close();
    assert.is(loop.runOnce(0), 2);
    assert.is(calls, 1);
    const metrics = loop.metrics();
    assert.is(metrics.events, 2);
    assert.is(metrics.staleEvents, 1);
    assert.is(metrics.callbacks, 1);
  } finally {
    loop.close();
  }
});

test('deferred callbacks: depth while queued, phases and callbacks once run', () => {
  const { loop } = mockLoop();
  try {
    const cancelled = loop.defer(() => {});
    loop.defer(() => {});
    loop.defer(() => {}, { priority: 0 });
    assert.is(loop.metrics().deferred.depth, 3);
    cancelled.cancel();
    assert.is(loop.metrics().deferred.depth, 2);
    loop.runOnce(0);
    const metrics = loop.metrics();
    assert.is(metrics.deferred.depth, 0);
    assert.is(metrics.deferred.phases, 1);
    assert.is(metrics.callbacks, 2);
    assert.is(metrics.callbackDurationUs.count, 2);
    // No deferred work: no phase.
    loop.runOnce(0);
    assert.is(loop.metrics().deferred.phases, 1);
  } finally {
    loop.close();
  }
});

test('a closed loop reads 0 pending records and 0 registered', () => {
  const { loop, mock } = mockLoop({ callbacksPerIteration: 1 });
  for (const fd of [10, 11]) loop.watch(fd, { readable: true, trigger: 'edge' }, () => {});
  mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN);
  loop.runOnce(0);
  assert.is(loop.metrics().pendingRecords, 1);
  loop.close();
  const metrics = loop.metrics();
  assert.is(metrics.pendingRecords, 0);
  assert.is(metrics.registered, 0);
  assert.is(metrics.callbacks, 1);
});

test.run();
