// One loop per thread: a loop works inside a worker_thread, and a worker
// terminated while its loop is inside run() tears down cleanly (the addon's
// libuv handles are closed before Node unloads it) and leaks no fd.
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openFds } from './helpers.js';

const workerFile = new URL('./fixtures/loop-worker.js', import.meta.url);

function firstMessage(worker: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker sent nothing within 10 s')), 10_000);
    worker.once('message', (message) => {
      clearTimeout(timer);
      resolve(message);
    });
    worker.once('error', reject);
  });
}

const exited = (worker: Worker): Promise<number> => new Promise((resolve) => worker.once('exit', resolve));

test('a loop in a worker runs, stops and closes', async () => {
  for (let i = 0; i < 3; i++) {
    const worker = new Worker(workerFile, { workerData: { mode: 'run-and-stop' } });
    const report = (await firstMessage(worker)) as { ranMs: number; closed: boolean };
    assert.is(await exited(worker), 0);
    assert.ok(report.ranMs >= 25, `run() returned after ${report.ranMs} ms`);
    assert.ok(report.closed);
  }
});

test('terminating a worker whose loop is inside run() neither crashes nor leaks fds', async () => {
  const before = openFds();
  for (let i = 0; i < 3; i++) {
    const worker = new Worker(workerFile, { workerData: { mode: 'run-forever' } });
    assert.is(await firstMessage(worker), 'running');
    await worker.terminate();
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is(openFds(), before);
});

test.run();
