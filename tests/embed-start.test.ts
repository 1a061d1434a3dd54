// start(): the loop inside Node's own (libuv watches its epoll fd and a timer
// at its next expiry). Node and the loop share the thread; misuse is refused;
// stop() and close() from callbacks take effect after the turn.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { WasmloopError, sockets } from '../src/index.js';
import {
  nodeTimerFiresFromLoopCallback,
  nodeTimersUnderLoad,
  servesAfterStop,
  servesBesideNodeHttp,
  sigintHandlerRuns,
  readsThroughNativeScopes,
  ticksBetweenHandlers,
  utilizationReadsLoad,
} from './embed-scenarios.js';
import { throws, type Expected } from './helpers/errors.js';
import { pair } from './helpers/fds.js';
import { percentile } from './helpers/timing.js';
import { tick, until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const started: Expected = { type: WasmloopError, code: 'ERR_LOOP_STARTED' };

test('a node:http server and a wasmloop Server serve 20 clients each at once while start() is active', async () => {
  await servesBesideNodeHttp('start');
});

test('Node timers fire within 5 ms (median) while start() serves 100 busy connections', async () => {
  await nodeTimersUnderLoad('start');
});

test('a SIGINT handler runs while start() is active', async () => {
  await sigintHandlerRuns('start');
});

test("two reads in one batch: the first handler's nextTick and microtask run before the second handler", async () => {
  assert.equal(await ticksBetweenHandlers('start'), [
    'first', 'first:tick', 'first:microtask', 'second', 'second:tick', 'second:microtask',
  ]);
});

test('read handlers run as plain calls, then Node\'s tick step: no native callback scope per event', async () => {
  const { throughInvoke, reads } = await readsThroughNativeScopes('start');
  assert.is(reads, 2);
  assert.is(throughInvoke, 0);
});

test('start() needs epoll: poll and select throw ERR_START_NEEDS_EPOLL and stay usable', () => {
  for (const backend of ['poll', 'select'] as const) {
    const loop = new TestLoop({ backend });
    try {
      throws(() => loop.start(), { type: WasmloopError, code: 'ERR_START_NEEDS_EPOLL' });
      assert.is(loop.isStarted, false);
      assert.is(loop.runOnce(0), 0);
    } finally {
      loop.close();
    }
  }
});

test('run() while started throws ERR_LOOP_STARTED; start() while running throws ERR_LOOP_RUNNING; start() twice is one start', async () => {
  const loop = new TestLoop();
  try {
    loop.start();
    loop.start();
    throws(() => loop.run(), started);
    assert.ok(loop.isStarted);
    loop.stop();
    assert.is(loop.isStarted, false);
    const running = loop.run();
    throws(() => loop.start(), { type: WasmloopError, code: 'ERR_LOOP_RUNNING' });
    assert.is(loop.isStarted, false);
    loop.stop();
    await withTimeout(running, 'run() to settle');
  } finally {
    loop.close();
  }
  throws(() => loop.start(), { type: WasmloopError, code: 'ERR_LOOP_CLOSED' });
});

test('stop() in a handler detaches after that callback; the rest of the batch is served after the next start()', async () => {
  const loop = new TestLoop();
  const first = pair();
  const second = pair();
  const reads: number[] = [];
  try {
    const read = (fd: number): void => {
      sockets.read(fd, Buffer.alloc(16));
      reads.push(fd);
      if (reads.length === 1) loop.stop();
    };
    loop.addClientSocket(first.local, { read });
    loop.addClientSocket(second.local, { read });
    sockets.write(first.peer, Buffer.from('x'));
    sockets.write(second.peer, Buffer.from('y'));
    loop.start();
    await until(() => reads.length > 0, 'the first read');
    await tick(30);
    assert.is(reads.length, 1, 'a handler ran after stop()');
    assert.is(loop.isStarted, false);
    loop.start();
    await until(() => reads.length === 2, 'the second read after start()');
    assert.equal(new Set(reads), new Set([first.local, second.local]));
  } finally {
    loop.close();
    sockets.close(first.peer);
    sockets.close(second.peer);
  }
});

test('stop() then start() in a handler leaves the loop started', async () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  let reads = 0;
  try {
    loop.addClientSocket(local, {
      read(fd) {
        sockets.read(fd, Buffer.alloc(16));
        reads++;
        loop.stop();
        loop.start();
      },
    });
    loop.start();
    sockets.write(peer, Buffer.from('x'));
    await until(() => reads === 1, 'the first read');
    sockets.write(peer, Buffer.from('y'));
    await until(() => reads === 2, 'a read after the stop() and start()');
    assert.ok(loop.isStarted);
  } finally {
    loop.close();
    sockets.close(peer);
  }
});

test('close() in a handler closes the loop after that callback, and `await loop.closed` resolves', async () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  let closedInHandler: boolean | undefined;
  try {
    loop.addClientSocket(local, {
      read(fd) {
        sockets.read(fd, Buffer.alloc(16));
        loop.close();
        closedInHandler = loop.isClosed;
      },
    });
    loop.start();
    sockets.write(peer, Buffer.from('x'));
    await withTimeout(loop.closed, 'loop.closed');
    assert.is(closedInHandler, false, 'closed under the running handler');
    assert.ok(loop.isClosed);
    assert.is(loop.isStarted, false);
  } finally {
    loop.close();
    sockets.close(peer);
  }
});

test('close() from a loop timer while started closes the loop', async () => {
  const loop = new TestLoop();
  loop.start();
  loop.setTimeout(() => loop.close(), 5);
  await withTimeout(loop.closed, 'loop.closed after a timer closed the loop');
  assert.ok(loop.isClosed);
  assert.is(loop.isStarted, false);
});

/** Resolves after one turn of Node's loop: code after it runs outside any callback of the loop's. */
const nodeTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('a loop timer set outside any callback wakes the started loop on time, ahead of a later one already armed', async () => {
  const loop = new TestLoop();
  try {
    let lateFired = false;
    loop.setTimeout(() => { lateFired = true; }, 10_000);
    loop.start();
    // Nine 20 ms timers, one after the other: each must wake the loop, whose
    // libuv timer is armed for the 10 s one. Never early; on time by the
    // median, which one timer held up by a loaded machine does not move.
    const elapsed: number[] = [];
    for (let i = 0; i < 9; i++) {
      await nodeTurn();
      const armed = performance.now();
      const firedAt = await withTimeout(new Promise<number>((resolve) => {
        loop.setTimeout(() => resolve(performance.now()), 20);
      }), 'a 20 ms loop timer', 5000);
      elapsed.push(firedAt - armed);
    }
    elapsed.sort((a, b) => a - b);
    const shown = elapsed.map((ms) => ms.toFixed(1)).join(', ');
    assert.ok(elapsed[0]! >= 20, `fired after ${shown} ms: early`);
    assert.ok(percentile(elapsed, 0.5) < 70, `fired after ${shown} ms`);
    assert.is(lateFired, false);
    assert.is(loop.timerCount, 1);
  } finally {
    loop.close();
  }
});

test('an interval stopped from its own callback stays stopped until start(), then goes on', async () => {
  const loop = new TestLoop();
  try {
    let ticks = 0;
    loop.setInterval(() => {
      if (++ticks === 2) loop.stop();
    }, 5);
    loop.start();
    await until(() => ticks === 2, 'two ticks');
    await tick(40);
    assert.is(ticks, 2, 'the interval ran after stop()');
    loop.start();
    await until(() => ticks >= 4, 'ticks after start()');
  } finally {
    loop.close();
  }
});

test('defer() from a Node callback runs on the started loop without any event', async () => {
  const loop = new TestLoop();
  try {
    loop.start();
    // Soon after, by the median of 15: a deferred callback that waited for
    // some later wakeup would be late every time, not once.
    const ran: number[] = [];
    for (let i = 0; i < 15; i++) {
      await nodeTurn();
      ran.push(await withTimeout(new Promise<number>((resolve) => {
        setImmediate(() => {
          const from = performance.now();
          loop.defer(() => resolve(performance.now() - from));
        });
      }), 'the deferred callback', 5000));
    }
    ran.sort((a, b) => a - b);
    assert.ok(percentile(ran, 0.5) < 50, `ran ${ran.map((ms) => ms.toFixed(1)).join(', ')} ms later`);
  } finally {
    loop.close();
  }
});

test('runOnce() beside start() leaves nothing behind: an edge-triggered record its budget cut is served by the next wakeup', async () => {
  const loop = new TestLoop({ callbacksPerIteration: 1 });
  const first = pair();
  const second = pair();
  const reads: number[] = [];
  try {
    const read = (fd: number): void => {
      while (sockets.read(fd, Buffer.alloc(16)) === 16);
      reads.push(fd);
    };
    loop.addClientSocket(first.local, { read }, { trigger: 'edge' });
    loop.addClientSocket(second.local, { read }, { trigger: 'edge' });
    loop.start();
    await nodeTurn();
    sockets.write(first.peer, Buffer.from('x'));
    sockets.write(second.peer, Buffer.from('y'));
    // Both edges reported to this runOnce; the kernel will not report them again.
    loop.runOnce(50);
    assert.is(reads.length, 1);
    assert.is(loop.metrics().pendingRecords, 1);
    await until(() => reads.length === 2, 'the record runOnce() left');
  } finally {
    loop.close();
    sockets.close(first.peer);
    sockets.close(second.peer);
  }
});

test('close() outside any callback while started detaches and resolves loop.closed', async () => {
  const loop = new TestLoop();
  loop.start();
  loop.close();
  assert.ok(loop.isClosed);
  assert.is(loop.isStarted, false);
  await withTimeout(loop.closed, 'loop.closed');
});

test('a Node setTimeout(50) set in a loop timer callback fires after about 50 ms while start() is active on an idle loop', async () => {
  await nodeTimerFiresFromLoopCallback('start');
});

test('utilization under start(): near 0 for a 1 ms interval doing nothing, over 0.5 for one spinning 4 of every 5 ms', async () => {
  await utilizationReadsLoad('start');
});

test('once start() was stopped, runOnce() serves I/O, timers and deferred callbacks again', async () => {
  await servesAfterStop('start');
});

test.run();
