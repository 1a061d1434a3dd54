// run(): the loop blocks in its own wait, and Node keeps working beside it:
// node:http, timers, signals, worker messages; ticks and microtasks after
// each callback; an AbortSignal stops it; loop.closed settles on close.
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

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
import { sockets } from '../src/index.js';
import { drive } from './helpers/embedding.js';
import { pair } from './helpers/fds.js';
import { tick, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

test('a node:http server and a wasmloop Server serve 20 clients each at once while run() is active', async () => {
  await servesBesideNodeHttp('run');
});

test('Node timers fire within 5 ms (median) while run() serves 100 busy connections', async () => {
  await nodeTimersUnderLoad('run');
});

test('a SIGINT handler runs while run() is active', async () => {
  await sigintHandlerRuns('run');
});

test("two reads in one batch: the first handler's nextTick and microtask run before the second handler", async () => {
  assert.equal(await ticksBetweenHandlers('run'), [
    'first', 'first:tick', 'first:microtask', 'second', 'second:tick', 'second:microtask',
  ]);
});

test('with --pending-deprecation (process._tickCallback wrapped to warn): handlers take native callback scopes, same order, no warning', () => {
  const fixture = new URL('./fixtures/tick-order.js', import.meta.url).pathname;
  const child = spawnSync(process.execPath, ['--pending-deprecation', fixture], { encoding: 'utf8', timeout: 30_000 });
  assert.is(child.status, 0, child.stderr);
  const { order, throughInvoke, reads } = JSON.parse(child.stdout.trim()) as { order: string[]; throughInvoke: number; reads: number };
  assert.equal(order, ['first', 'first:tick', 'first:microtask', 'second', 'second:tick', 'second:microtask']);
  assert.is(reads, 2);
  assert.is(throughInvoke, 2);
  assert.not.match(child.stderr, /DEP0134|_tickCallback/);
});

test('read handlers run as plain calls, then Node\'s tick step: no native callback scope per event', async () => {
  const { throughInvoke, reads } = await readsThroughNativeScopes('run');
  assert.is(reads, 2);
  assert.is(throughInvoke, 0);
});

test('runOnce() from user code: what handlers queue runs only when the calling code yields, after the whole batch', async () => {
  const loop = new TestLoop();
  const first = pair();
  const second = pair();
  const order: string[] = [];
  const handler = (name: string) => (fd: number): void => {
    sockets.read(fd, Buffer.alloc(16));
    order.push(name);
    process.nextTick(() => order.push(`${name}:tick`));
    queueMicrotask(() => order.push(`${name}:microtask`));
  };
  try {
    loop.addClientSocket(first.local, { read: handler('first') });
    loop.addClientSocket(second.local, { read: handler('second') });
    sockets.write(first.peer, Buffer.from('x'));
    sockets.write(second.peer, Buffer.from('y'));
    // From a Node timer callback: its own callback scope is the outer one.
    await withTimeout(new Promise<void>((resolve) => setTimeout(() => {
      loop.runOnce(1000);
      order.push('runOnce returned');
      setImmediate(resolve);
    }, 0)), 'runOnce from a timer');
    assert.equal(order, [
      'first', 'second', 'runOnce returned', 'first:tick', 'second:tick', 'first:microtask', 'second:microtask',
    ]);
  } finally {
    loop.close();
    sockets.close(first.peer);
    sockets.close(second.peer);
  }
});

test('run({ signal }) resolves when the signal aborts; an aborted signal ends it at once; a later abort does nothing', async () => {
  const loop = new TestLoop();
  try {
    const from = performance.now();
    await withTimeout(loop.run({ signal: AbortSignal.timeout(50) }), 'run() to resolve on abort', 5000);
    const ranMs = performance.now() - from;
    assert.ok(ranMs >= 45, `run() ended after ${ranMs.toFixed(1)} ms, before the abort`);
    assert.is(loop.isRunning, false);

    const aborted = new AbortController();
    aborted.abort();
    await withTimeout(loop.run({ signal: aborted.signal }), 'run() with an aborted signal', 5000);

    const later = new AbortController();
    const first = loop.run({ signal: later.signal });
    loop.stop();
    await withTimeout(first, 'run() to stop');
    const second = loop.run();
    later.abort();
    await tick(20);
    assert.ok(loop.isRunning, "the first run()'s signal stopped the second");
    loop.stop();
    await withTimeout(second, 'the second run() to stop');
  } finally {
    loop.stop();
    loop.close();
  }
});

test('run({ signal }) refuses a signal that is not an AbortSignal', () => {
  const loop = new TestLoop();
  try {
    assert.throws(() => loop.run({ signal: {} as AbortSignal }), (error: Error) => error instanceof TypeError);
    assert.is(loop.isRunning, false);
  } finally {
    loop.close();
  }
});

test('`await loop.closed` resolves once close() from a handler has stopped run()', async () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  try {
    loop.addClientSocket(local, {
      read(fd) {
        sockets.read(fd, Buffer.alloc(16));
        loop.close();
      },
    });
    const running = loop.run();
    setTimeout(() => sockets.write(peer, Buffer.from('x')), 10);
    await withTimeout(loop.closed, 'loop.closed');
    assert.ok(loop.isClosed);
    await withTimeout(running, 'run() to resolve');
  } finally {
    loop.close();
    sockets.close(peer);
  }
});

test('worker messages go back and forth while run() is active', async () => {
  const loop = new TestLoop();
  const worker = new Worker("require('node:worker_threads').parentPort.on('message', (n) => require('node:worker_threads').parentPort.postMessage(n + 1))", { eval: true });
  const running = loop.run();
  try {
    let n = 0;
    for (let i = 0; i < 20; i++) {
      const reply = new Promise<number>((resolve) => worker.once('message', resolve));
      worker.postMessage(n);
      n = await withTimeout(reply, `worker reply ${i}`, 5000);
    }
    assert.is(n, 20);
    assert.ok(loop.isRunning);
  } finally {
    await worker.terminate();
    loop.stop();
    await running;
    loop.close();
  }
});

test('a Node setTimeout(50) set in a loop timer callback fires after about 50 ms while run() is active on an idle loop', async () => {
  await nodeTimerFiresFromLoopCallback('run');
});

test('utilization under run(): near 0 for a 1 ms interval doing nothing, over 0.5 for one spinning 4 of every 5 ms', async () => {
  await utilizationReadsLoad('run');
});

test('once run() was stopped, runOnce() serves I/O, timers and deferred callbacks again', async () => {
  await servesAfterStop('run');
});

/**
 * A started loop, made in a callback of a running loop after that loop's wait
 * blocked `blockedMs`, arms a libuv timer for `timerMs`: returns how long
 * after arming the started loop first woke (ms).
 */
async function firstWakeAfterArming(blockedMs: number, timerMs: number): Promise<number> {
  const running = new TestLoop();
  let started: TestLoop | undefined;
  const stop = drive(running, 'run');
  try {
    return await withTimeout(new Promise<number>((resolve) => {
      running.setTimeout(() => {
        // Timed from the callback's start, right after the wait: making the
        // loop below takes time of its own (tens of ms under ASan), which a
        // stale clock would hide and a current one counts.
        const armed = performance.now();
        // Made here, so its wheel is current: the timer is waited for in one go.
        const loop = (started = new TestLoop());
        loop.start();
        loop.setTimeout(() => {}, timerMs);
        // Looked at once per turn of Node's loop: a late look only makes the wake seem later.
        const look = (): void => {
          if (loop.metrics().iterations > 0) resolve(performance.now() - armed);
          else setImmediate(look);
        };
        setImmediate(look);
      }, blockedMs);
    }), 'the started loop to wake');
  } finally {
    await stop();
    started?.close();
    running.close();
  }
}

test("libuv's clock is current in a callback after run()'s wait: a libuv timer started there counts from now", async () => {
  // uv_timer_start counts from libuv's cached time. After a 60 ms wait (one
  // wait: the running loop and its wheel are fresh, so its 30 ms timer is on
  // the wheel's first level and the started loop's first wake is that
  // timer), a cached time from before the wait would put the timer 30 ms in
  // the past, and the started loop would wake as soon as it was made; a
  // current one wakes it 30 ms after the wait. Five tries: Node's own work
  // may end a wait early and refresh the time.
  const wakes: number[] = [];
  for (let i = 0; i < 5; i++) wakes.push(await firstWakeAfterArming(60, 30));
  assert.ok(wakes.every((ms) => ms >= 25), `a 30 ms timer woke the started loop after ${wakes.map((ms) => ms.toFixed(1)).join(', ')} ms`);
});

test.run();
