// queueJob (src/loop/microtask.ts): a microtask as queueMicrotask() queues
// one, in the same queue and order, its throw an uncaught exception.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { queueJob } from '../src/loop/microtask.js';

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('jobs run on the microtask queue, in the order queued, interleaved with queueMicrotask() as queued, before the next macrotask', async () => {
  const ran: string[] = [];
  setImmediate(() => ran.push('immediate'));
  queueJob(() => ran.push('job 1'));
  queueMicrotask(() => ran.push('microtask'));
  queueJob(() => {
    ran.push('job 2');
    queueJob(() => ran.push('job queued by a job'));
  });
  assert.equal(ran, [], 'nothing runs synchronously');
  await immediate();
  assert.equal(ran, ['job 1', 'microtask', 'job 2', 'job queued by a job', 'immediate']);
});

test('what a job throws is an uncaught exception (as from queueMicrotask), not an unhandled rejection; the next job still runs', async () => {
  const uncaught: unknown[] = [];
  const rejections: unknown[] = [];
  const onUncaught = (error: unknown): void => void uncaught.push(error);
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);
  const thrown = new Error('from a job');
  let after = false;
  try {
    queueJob(() => {
      throw thrown;
    });
    queueJob(() => (after = true));
    await immediate();
    await immediate();
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onRejection);
  }
  assert.equal(uncaught, [thrown]);
  assert.equal(rejections, []);
  assert.ok(after, 'the job after it ran');
});

test.run();
