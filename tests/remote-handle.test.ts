// loop.remote(): another thread wakes a loop, stops it, or hands it an fd,
// through a lock-free queue in shared memory and an eventfd in the loop's set.
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { RemoteHandle, sockets, WasmloopError, DEFAULT_REMOTE_QUEUE, type RemoteHandleData } from '../src/index.js';
import { throws } from './helpers/errors.js';
import { HOST, openFds } from './helpers/fds.js';
import { withTimeout } from './helpers/waiting.js';
import { REMOTE_SEND_STEPS } from '../src/testing/index.js';
import { TestLoop } from './test-loop.js';

const fixture = (name: string): URL => new URL(`./fixtures/${name}.js`, import.meta.url);

function message<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/** A worker that runs `body` (a function's source, taking the handle) after `delayMs`. */
function remoteWorker(handle: RemoteHandle, body: string, delayMs: number): Worker {
  const index = new URL('../src/index.js', import.meta.url).href;
  return new Worker(
    `const { workerData } = require('node:worker_threads');
     import(${JSON.stringify(index)}).then(({ RemoteHandle }) => {
       const remote = RemoteHandle.from(workerData);
       setTimeout(() => (${body})(remote), ${delayMs});
     });`,
    { eval: true, workerData: { buffer: handle.buffer, eventFd: handle.eventFd } },
  );
}

test('remote() returns one handle per loop; its eventfd does not count in loop.size', () => {
  const loop = new TestLoop();
  try {
    const handle = loop.remote();
    assert.is(loop.remote(), handle);
    assert.is(loop.size, 0);
    assert.ok(handle.isOpen);
    assert.ok(existsSync(`/proc/self/fd/${handle.eventFd}`));
  } finally {
    loop.close();
  }
});

for (const backend of ['epoll', 'poll', 'select'] as const) {
  test(`${backend}: wake() from a worker ends a runOnce that would wait 10 s`, async () => {
    const loop = new TestLoop({ backend });
    const worker = remoteWorker(loop.remote(), '(remote) => remote.wake()', 0);
    try {
      await new Promise((resolve) => worker.once('online', resolve));
      const started = performance.now();
      assert.is(loop.runOnce(10_000), 1);
      assert.ok(performance.now() - started < 8_000, 'the wait ran out instead of being woken');
    } finally {
      await worker.terminate();
      loop.close();
    }
  });
}

test('stop() from a worker ends run()', async () => {
  const loop = new TestLoop();
  const worker = remoteWorker(loop.remote(), '(remote) => remote.stop()', 20);
  try {
    await withTimeout(loop.run(), 'run() to end on a remote stop()');
    assert.is(loop.isRunning, false);
  } finally {
    await worker.terminate();
    loop.close();
  }
});

test('one acceptor thread hands connections to two worker loops, which echo them', async () => {
  const before = openFds();
  const loops = [new Worker(fixture('echo-loop-worker')), new Worker(fixture('echo-loop-worker'))];
  const handles = await Promise.all(loops.map((w) => message<{ remote: RemoteHandleData }>(w)));
  const reports = loops.map((w) => new Promise<{ accepted: number }>((resolve) => w.on('message', resolve)));
  const acceptor = new Worker(fixture('acceptor-worker'), { workerData: { remotes: handles.map((h) => h.remote) } });
  // A worker whose loop callback threw ends with an 'error' event: fail with it at once.
  const workerFailed = new Promise<never>((_, reject) => {
    for (const worker of [acceptor, ...loops]) worker.once('error', reject);
  });
  const clients: Socket[] = [];
  try {
    const { port } = await message<{ port: number }>(acceptor);
    const CLIENTS = 40;
    const echoes = Array.from({ length: CLIENTS }, (_, i) => new Promise<string>((resolve, reject) => {
      const payload = `client ${i} `.repeat(100);
      const client = connect(port, HOST, () => client.end(payload));
      clients.push(client);
      let echoed = '';
      client.setEncoding('latin1');
      client.on('data', (chunk: string) => (echoed += chunk));
      client.on('close', () => (echoed === payload ? resolve(echoed) : reject(new Error(`client ${i} got ${echoed.length} bytes`))));
      client.on('error', reject);
    }));
    await withTimeout(Promise.race([Promise.all(echoes), workerFailed]), 'every client to get its echo');

    const handed = message<{ handed: number }>(acceptor);
    acceptor.postMessage('stop');
    assert.is((await withTimeout(handed, 'the acceptor to stop')).handed, CLIENTS);
    for (const { remote } of handles) RemoteHandle.from(remote).stop();
    const accepted = (await withTimeout(Promise.all(reports), 'the worker loops to stop')).map((r) => r.accepted);
    assert.is(accepted[0]! + accepted[1]!, CLIENTS);
    assert.ok(accepted[0]! > 0 && accepted[1]! > 0, `one loop served nothing: ${accepted}`);
  } finally {
    // A client left waiting on a dead worker's connection would keep the test process alive.
    for (const client of clients) client.destroy();
    await Promise.all([acceptor, ...loops].map((w) => w.terminate()));
  }
  assert.is(openFds(), before, 'fds leaked');
});

test('two producer threads: every command arrives once, each producer\'s in order', async () => {
  const loop = new TestLoop();
  const received: number[] = [];
  loop.on('fd', (n) => received.push(n));
  const remote = loop.remote();
  const COUNT = 5000;
  const data = { buffer: remote.buffer, eventFd: remote.eventFd };
  const producers = [0, 1_000_000].map((base) => new Worker(fixture('remote-producer'), { workerData: { remote: data, base, count: COUNT } }));
  const done = Promise.all(producers.map((w) => message<{ retries: number }>(w)));
  let finished = false;
  void done.then(() => (finished = true));
  try {
    const deadline = performance.now() + 20_000;
    while (received.length < 2 * COUNT && performance.now() < deadline) {
      loop.runOnce(20);
      // Let the workers' messages through.
      if (finished) continue;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await withTimeout(done, 'the producers to finish');
    loop.runOnce(0);
    assert.is(received.length, 2 * COUNT);
    const first = received.filter((n) => n < 1_000_000);
    const second = received.filter((n) => n >= 1_000_000).map((n) => n - 1_000_000);
    const inOrder = Array.from({ length: COUNT }, (_, i) => i);
    assert.equal(first, inOrder);
    assert.equal(second, inOrder);
  } finally {
    await Promise.all(producers.map((w) => w.terminate()));
    loop.close();
  }
});

// A thread that dies in the middle of a send (worker.terminate()) leaves the
// shared queue as it was at that point. Each step of a send in turn: the
// producer stops there for good, and is terminated; then this thread sends
// more than two laps of the queue, so the dead producer's cell is used again.
for (const step of REMOTE_SEND_STEPS) {
  test(`a producer terminated at its send's '${step}' step loses at most its own command; another producer's all arrive, in order`, async () => {
    const loop = new TestLoop();
    const received: number[] = [];
    loop.on('fd', (n) => received.push(n));
    const remote = loop.remote();
    const DEAD = 999_999;
    const dying = new Worker(fixture('remote-dying-producer'), {
      workerData: { remote: { buffer: remote.buffer, eventFd: remote.eventFd }, step, fd: DEAD },
    });
    try {
      const report = await withTimeout(message<{ stoppedAt?: string }>(dying), `the producer to stop at '${step}'`);
      assert.is(report.stoppedAt, step);
      await dying.terminate();
      const COUNT = 2 * DEFAULT_REMOTE_QUEUE + 3;
      for (let i = 0; i < COUNT; i++) {
        remote.sendFd(i);
        if (i % 256 === 255) loop.runOnce(0);
      }
      loop.runOnce(0);
      const sent = Array.from({ length: COUNT }, (_, i) => i);
      // Once published, the dead producer's command is in the queue, ahead of the others.
      const published = REMOTE_SEND_STEPS.indexOf(step) >= REMOTE_SEND_STEPS.indexOf('published');
      assert.equal(received, published ? [DEAD, ...sent] : sent);
    } finally {
      await dying.terminate();
      loop.close();
    }
  });
}

test("a producer paused after reading the queue, while another goes round it twice, publishes its command once when it resumes", async () => {
  const loop = new TestLoop();
  const received: number[] = [];
  loop.on('fd', (n) => received.push(n));
  const remote = loop.remote();
  const SLOW = 999_999;
  const resume = new Int32Array(new SharedArrayBuffer(4));
  const slow = new Worker(fixture('remote-dying-producer'), {
    workerData: { remote: { buffer: remote.buffer, eventFd: remote.eventFd }, step: 'read', fd: SLOW, resume: resume.buffer },
  });
  try {
    assert.is((await withTimeout(message<{ stoppedAt?: string }>(slow), "the producer to pause at 'read'")).stoppedAt, 'read');
    // Two laps and one more: the cell the slow producer read is now free
    // for a later position, and `tail` is one past it.
    const COUNT = 2 * DEFAULT_REMOTE_QUEUE + 1;
    for (let i = 0; i < COUNT; i++) {
      remote.sendFd(i);
      if (i % 256 === 255) loop.runOnce(0);
    }
    loop.runOnce(0);
    const finished = message<{ finished?: boolean }>(slow);
    Atomics.store(resume, 0, 1);
    Atomics.notify(resume, 0);
    assert.ok((await withTimeout(finished, 'the slow producer to finish its send')).finished);
    loop.runOnce(0);
    assert.equal(received, [...Array.from({ length: COUNT }, (_, i) => i), SLOW]);
    // The queue goes on from there.
    remote.sendFd(7);
    loop.runOnce(0);
    assert.is(received.at(-1), 7);
  } finally {
    await slow.terminate();
    loop.close();
  }
});

test('a full queue refuses with ERR_REMOTE_QUEUE_FULL, and takes commands again once drained', () => {
  const loop = new TestLoop();
  try {
    const remote = loop.remote();
    for (let i = 0; i < DEFAULT_REMOTE_QUEUE; i++) remote.wake();
    throws(() => remote.wake(), { type: WasmloopError, code: 'ERR_REMOTE_QUEUE_FULL' });
    assert.is(loop.runOnce(0), 1);
    remote.wake();
    assert.is(loop.runOnce(0), 1);
  } finally {
    loop.close();
  }
});

test('fds handed over but not yet adopted are closed with the loop; sending to a closed loop is ERR_LOOP_CLOSED', () => {
  const before = openFds();
  const loop = new TestLoop();
  const remote = loop.remote();
  const listenFd = sockets.listen(HOST, 0);
  remote.sendFd(listenFd);
  loop.close();
  assert.is(existsSync(`/proc/self/fd/${listenFd}`), false, 'the handed-over fd leaked');
  assert.is(remote.isOpen, false);
  throws(() => remote.wake(), { type: WasmloopError, code: 'ERR_LOOP_CLOSED' });
  assert.is(openFds(), before);
});

test("an fd handed to a loop nobody listens to for 'fd' is closed and reported as an error", () => {
  const loop = new TestLoop({ fatalErrors: false });
  const errors: unknown[] = [];
  loop.on('error', (error) => errors.push(error));
  try {
    const listenFd = sockets.listen(HOST, 0);
    loop.remote().sendFd(listenFd);
    assert.is(loop.runOnce(0), 1);
    assert.is(existsSync(`/proc/self/fd/${listenFd}`), false);
    assert.is((errors[0] as WasmloopError).code, 'ERR_NO_FD_LISTENER');
  } finally {
    loop.close();
  }
});

test('RemoteHandle.from refuses anything but a handle\'s data; sendFd refuses a bad fd', () => {
  throws(() => RemoteHandle.from({} as RemoteHandleData), { type: TypeError });
  throws(() => RemoteHandle.from(null as unknown as RemoteHandleData), { type: TypeError });
  const loop = new TestLoop();
  try {
    throws(() => loop.remote().sendFd(-1), { type: TypeError });
    throws(() => loop.remote().sendFd(1.5), { type: TypeError });
  } finally {
    loop.close();
  }
});

test.run();
