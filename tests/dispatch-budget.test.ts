// The bounds on one iteration: callbacks per iteration and the time budget
// cut a batch, whose rest is served next iteration before any new wait;
// re-polls after a full batch; where deferred callbacks run; and, on real
// sockets, an endless flood on one fd that cannot keep the quiet ones waiting.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets, type Trigger } from '../src/index.js';
import { EPOLL } from '../src/testing/index.js';
import { closeAll, HOST, pair } from './helpers/fds.js';
import { mockLoop } from './helpers/mock-loops.js';
import { busyWait } from './helpers/timing.js';
import { TestLoop } from './test-loop.js';

const FDS = Array.from({ length: 10 }, (_, i) => 10 + i);

for (const trigger of ['level', 'edge'] as const) {
  test(`${trigger}: a callback budget of 3 serves 10 ready fds over 4 iterations, each once, without new waits`, () => {
    const { loop, mock } = mockLoop({ callbacksPerIteration: 3 });
    try {
      const served: number[] = [];
      for (const fd of FDS) {
        loop.watch(fd, { readable: true, trigger }, (_, watcher) => {
          served.push(watcher.fd);
          // Drained: a level-triggered fd would otherwise be reported again.
          mock.idle(watcher.fd);
        });
        mock.ready(fd, EPOLL.IN);
      }
      assert.is(loop.runOnce(0), 10);
      assert.is(served.length, 3);
      let metrics = loop.metrics();
      assert.is(metrics.pendingRecords, 7);
      assert.is(metrics.budgetCutoffs, 1);
      assert.is(mock.waits.length, 1);

      // The rest of the batch, before the kernel is asked again.
      assert.is(loop.runOnce(0), 0);
      assert.is(served.length, 6);
      assert.is(mock.waits.length, 1, 'a cut batch was followed by a new wait');
      assert.is(loop.metrics().pendingRecords, 4);
      loop.runOnce(0);
      loop.runOnce(0);
      assert.is(mock.waits.length, 1);
      metrics = loop.metrics();
      assert.is(metrics.pendingRecords, 0);
      assert.is(metrics.budgetCutoffs, 3);
      assert.equal([...served].sort((a, b) => a - b), FDS, `served: ${served}`);

      // All served: the next iteration waits, and finds nothing.
      assert.is(loop.runOnce(0), 0);
      assert.is(mock.waits.length, 2);
      assert.is(served.length, 10);
    } finally {
      loop.close();
    }
  });
}

test('a handler that overruns iterationBudgetMs cuts the batch after it', () => {
  const { loop, mock } = mockLoop({ iterationBudgetMs: 5 });
  try {
    const served: number[] = [];
    for (const fd of [10, 11, 12]) {
      loop.watch(fd, { readable: true, trigger: 'edge' }, (_, watcher) => {
        served.push(watcher.fd);
        if (watcher.fd === 10) busyWait(20);
      });
      mock.ready(fd, EPOLL.IN);
    }
    loop.runOnce(0);
    assert.equal(served, [10]);
    const metrics = loop.metrics();
    assert.is(metrics.pendingRecords, 2);
    assert.is(metrics.budgetCutoffs, 1);
    loop.runOnce(0);
    assert.equal(served, [10, 11, 12]);
    assert.is(mock.waits.length, 1);
  } finally {
    loop.close();
  }
});

test('a full batch is followed by up to maxRepolls non-blocking waits', () => {
  for (const maxRepolls of [0, 3]) {
    const { loop, mock } = mockLoop({ maxEvents: 2, maxRepolls });
    try {
      const served = new Set<number>();
      // Never drained: every wait comes back full.
      for (const fd of [10, 11, 12, 13, 14]) {
        loop.watch(fd, { readable: true }, (_, watcher) => served.add(watcher.fd));
        mock.ready(fd, EPOLL.IN);
      }
      assert.is(loop.runOnce(1000), 2 * (maxRepolls + 1));
      assert.equal(mock.waits, [1000, ...Array<number>(maxRepolls).fill(0)]);
      assert.is(loop.metrics().repolls, maxRepolls);
      assert.is(loop.metrics().waits, maxRepolls + 1);
      if (maxRepolls === 3) assert.is(served.size, 5, `only fds ${[...served]} were served`);
    } finally {
      loop.close();
    }
  }
});

test('re-polling stops at the first batch that is not full', () => {
  const { loop, mock } = mockLoop({ maxEvents: 2, maxRepolls: 8 });
  try {
    const served: number[] = [];
    for (const fd of [10, 11, 12, 13, 14]) {
      loop.watch(fd, { readable: true }, (_, watcher) => {
        served.push(watcher.fd);
        mock.idle(watcher.fd);
      });
      mock.ready(fd, EPOLL.IN);
    }
    assert.is(loop.runOnce(1000), 5);
    assert.equal(mock.waits, [1000, 0, 0]);
    assert.is(loop.metrics().repolls, 2);
    assert.equal(served, [10, 11, 12, 13, 14]);
  } finally {
    loop.close();
  }
});

test('a callback deferred by an I/O callback runs in the same iteration, after the I/O callbacks', () => {
  const { loop, mock } = mockLoop();
  try {
    const order: string[] = [];
    loop.watch(10, { readable: true, trigger: 'edge' }, () => {
      order.push('io:10');
      loop.defer(() => order.push('deferred by 10'), { priority: 0 });
    });
    loop.watch(11, { readable: true, trigger: 'edge' }, () => order.push('io:11'));
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN);
    loop.runOnce(1000);
    assert.equal(order, ['io:10', 'io:11', 'deferred by 10']);
    assert.equal(mock.waits, [1000], 'an idle loop should block for the timeout given');
  } finally {
    loop.close();
  }
});

test('a callback deferred by a deferred callback runs next iteration, whose wait does not block', () => {
  const { loop, mock } = mockLoop();
  try {
    const order: string[] = [];
    loop.defer(() => {
      order.push('first');
      loop.defer(() => order.push('second'));
    });
    loop.runOnce(1000);
    assert.equal(order, ['first']);
    assert.equal(mock.waits, [0], 'a queued deferred callback should make the wait a poll');
    loop.runOnce(1000);
    assert.equal(order, ['first', 'second']);
    assert.equal(mock.waits, [0, 0]);
    loop.runOnce(1000);
    assert.equal(mock.waits, [0, 0, 1000]);
  } finally {
    loop.close();
  }
});

// ---- real sockets: a flood beside quiet connections ------------------------------

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** Writes into `fd` until the kernel's buffers are full; returns the bytes written. */
function fill(fd: number): number {
  let total = 0;
  for (;;) {
    const n = sockets.write(fd, CHUNK);
    if (n === null) return total;
    total += n;
  }
}

for (const trigger of ['level', 'edge'] as const satisfies readonly Trigger[]) {
  test(`${trigger}: one runOnce serves 10 ready quiet sockets of 100 beside an endless flood`, () => {
    // Small batches, so the flood fd competes in every one of them.
    const loop = new TestLoop({ maxEvents: 4 });
    const listenFd = sockets.listen(HOST, 0);
    const flood = pair(listenFd);
    const quiet: { peer: number; local: number }[] = [];
    try {
      for (let i = 0; i < 100; i++) quiet.push(pair(listenFd));
      const buffer = Buffer.alloc(256 * 1024);
      let floodReads = 0;
      let floodBytes = 0;
      loop.addClientSocket(flood.local, {
        read(fd) {
          floodReads++;
          floodBytes += sockets.read(fd, buffer) ?? 0;
          // Endless: whatever was read is sent again, so the fd never drains.
          fill(flood.peer);
        },
      }, { trigger, label: 'flood' });
      const served = new Set<number>();
      for (const { local } of quiet) {
        loop.addClientSocket(local, {
          read(fd) {
            served.add(fd);
            sockets.read(fd, buffer);
          },
        }, { trigger });
      }
      assert.ok(fill(flood.peer) > 0);
      const ready = quiet.filter((_, i) => i % 10 === 3);
      for (const { peer } of ready) assert.is(sockets.write(peer, Buffer.from('q')), 1);

      assert.ok(loop.runOnce(5000) > 0);
      const wanted = ready.map((p) => p.local).sort((a, b) => a - b);
      assert.equal([...served].sort((a, b) => a - b), wanted, `served ${served.size} of 10`);
      assert.ok(floodReads >= 1 && floodBytes > 0, 'the flood fd was not served');
    } finally {
      loop.close();
      closeAll(listenFd, flood.peer, ...quiet.map((p) => p.peer));
    }
  });
}

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

test.run();
