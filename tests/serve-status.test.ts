// The status line of `wasmloop serve`: pure functions of two samples.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { native } from '../src/kernel/native.js';
import { bucketPercentile, formatStatus, mergeSamples, ServingThread, type ServeConfig, type StatusSample } from '../src/serve/serve.js';
import { tick } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const sample = (over: Partial<StatusSample>): StatusSample => ({
  connections: 0,
  requests: 0,
  batchBuckets: [],
  busyMs: 0,
  idleMs: 0,
  ...over,
});

test('formatStatus: connections, req/s over the interval, events per wait p50/p99 of the interval, utilization', () => {
  const previous = sample({ requests: 1000, batchBuckets: [5, 10], busyMs: 100, idleMs: 900 });
  // Over 2 s: 100,000 requests; 100 waits, 90 of 4-7 events (bucket 3), 10 of 64-127 (bucket 7); busy 1500 of 2000 ms.
  const current = sample({ connections: 100, requests: 101_000, batchBuckets: [5, 10, 0, 90, 0, 0, 0, 10], busyMs: 1600, idleMs: 1400 });
  assert.is(formatStatus(previous, current, 2000), '100 connections | 50,000 req/s | events/wait p50 8 p99 128 | loop 75%');
});

test('formatStatus: a protocol that counts no requests, and an interval with no waits', () => {
  const quiet = sample({ requests: null, connections: 2 });
  assert.is(formatStatus(quiet, quiet, 2000), '2 connections | - req/s | events/wait p50 - p99 - | loop -');
});

test('bucketPercentile agrees with the core on a live loop histogram of several buckets', () => {
  const loop = new TestLoop();
  const efds = Array.from({ length: 40 }, () => native.eventfd(0));
  try {
    for (const efd of efds) loop.watch(efd, { readable: true }, () => native.eventfdRead(efd));
    // 60 waits: 40 of one event, 19 of five, one of 40. The p99 is the one
    // wait of 40 events (rank 60 of 60, not 59), the p50 a wait of one.
    const turn = (ready: number): void => {
      for (const efd of efds.slice(0, ready)) native.eventfdWrite(efd, 1);
      assert.is(loop.runOnce(1000), ready);
    };
    for (let i = 0; i < 40; i++) turn(1);
    for (let i = 0; i < 19; i++) turn(5);
    turn(40);
    const { eventsPerWait } = loop.metrics();
    assert.equal(eventsPerWait.buckets, [0, 40, 0, 19, 0, 0, 1]);
    assert.is(eventsPerWait.p50, 2);
    assert.is(eventsPerWait.p99, 64);
    assert.is(bucketPercentile(eventsPerWait.buckets, 0.5), eventsPerWait.p50);
    assert.is(bucketPercentile(eventsPerWait.buckets, 0.9), eventsPerWait.p90);
    assert.is(bucketPercentile(eventsPerWait.buckets, 0.99), eventsPerWait.p99);
  } finally {
    loop.close();
    for (const efd of efds) native.close(efd);
  }
  assert.is(bucketPercentile([], 0.5), null);
  assert.is(bucketPercentile([0, 0, 3], 0.5), 4);
  assert.is(bucketPercentile([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 0.99), 1024);
  assert.is(bucketPercentile([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 0.5), 1);
});

test('mergeSamples sums threads: connections, requests, histogram buckets and loop time', () => {
  const merged = mergeSamples([
    sample({ connections: 3, requests: 10, batchBuckets: [1, 2], busyMs: 5, idleMs: 95 }),
    sample({ connections: 4, requests: 20, batchBuckets: [0, 1, 7], busyMs: 15, idleMs: 85 }),
  ]);
  assert.equal(merged, { connections: 7, requests: 30, batchBuckets: [1, 3, 7], busyMs: 20, idleMs: 180 });
  assert.is(mergeSamples([sample({ requests: null })]).requests, null);
});

test("a thread's status line shows its loop's own utilization: busy over busy plus idle, not plus wait", async () => {
  const config: ServeConfig = {
    protocol: 'echo', host: '127.0.0.1', port: 0, backend: 'epoll', trigger: 'level', maxEvents: 64, maxFds: 1024,
    backlog: 16, idleTimeoutMs: 0, maxConnections: 100, fdExhaustion: 'pause', shutdownMs: 100, workers: 1, logLevel: 'silent', youngGeneration: 'grow',
  };
  const thread = new ServingThread(config, false);
  try {
    thread.listen();
    const before = thread.sample();
    // Started, the loop's waits are zero-timeout polls: its idle time is the
    // time between wakeups, which a wait-based figure would miss.
    let turns = 0;
    const ticker = thread.loop.setInterval(() => turns++, 10);
    thread.loop.start();
    await tick(200);
    thread.loop.stop();
    ticker.cancel();
    const after = thread.sample();
    const metrics = thread.loop.metrics();
    assert.ok(turns >= 5, `${turns} timer turns`);
    assert.is(after.busyMs, metrics.busyMs);
    assert.is(after.idleMs, metrics.idleMs);
    assert.ok(metrics.idleMs > 10 * metrics.waitMs, `idle ${metrics.idleMs} ms, wait ${metrics.waitMs} ms`);
    const shown = Number(/loop (\d+)%$/.exec(formatStatus(before, after, 200))?.[1]);
    const expected = (after.busyMs - before.busyMs) / (after.busyMs - before.busyMs + after.idleMs - before.idleMs);
    assert.is(shown, Math.round(expected * 100));
    assert.ok(shown < 50, `a near-idle loop shows ${shown}%`);
  } finally {
    thread.close();
  }
});

test.run();
