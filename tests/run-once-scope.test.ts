// runOnce(): the loop's callbacks are plain calls inside the caller's own
// scope, so they run in the caller's async context, and what they queue
// (ticks, microtasks) runs when the caller yields, not between them.
import { AsyncResource, executionAsyncId } from 'node:async_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets } from '../src/index.js';
import { pair } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

test("under runOnce(), every kind of callback runs in the caller's async context", () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  let now = 0;
  const clocked = new TestLoop({ clock: () => now });
  try {
    // A first turn outside the caller's resource: a callback scope made now
    // (the loop's own async resource) would carry its own id into the turns below.
    clocked.timeout(() => {}, 1);
    clocked.setTimeout(() => {}, 1, { label: 'outside' });
    clocked.defer(() => {});
    now = 2;
    clocked.runOnce(0);

    // An AsyncResource's scope gives the caller an async id of its own
    // (AsyncLocalStorage would do as well, but turning on its hooks here,
    // in the middle of the suite's other loops, is not what is under test).
    const caller = new AsyncResource('wasmloop-test-caller');
    const seen: string[] = [];
    const note = (kind: string) => () => seen.push(`${kind}:${executionAsyncId() === caller.asyncId()}`);
    sockets.write(peer, Buffer.from('x'));
    loop.addClientSocket(local, {
      read(fd) {
        sockets.read(fd, Buffer.alloc(16));
        note('read')();
      },
    });
    clocked.setTimeout(note('timer'), 1);
    clocked.timeout(note('timeout'), 1);
    clocked.setTimeout(note('labelled'), 1, { label: 'one at a time' });
    const interval = clocked.setInterval(() => {
      note('interval')();
      interval.cancel();
    }, 1);
    clocked.defer(note('deferred'));
    now = 4;
    caller.runInAsyncScope(() => {
      assert.is(executionAsyncId(), caller.asyncId());
      loop.runOnce(1000);
      clocked.runOnce(0);
    });
    assert.equal(seen.sort(), ['deferred:true', 'interval:true', 'labelled:true', 'read:true', 'timeout:true', 'timer:true']);
  } finally {
    loop.close();
    clocked.close();
    sockets.close(peer);
  }
});

test('under runOnce(), what a Timer callback queues runs after runOnce() returns, not before the next callback', async () => {
  let now = 0;
  const loop = new TestLoop({ clock: () => now });
  const order: string[] = [];
  try {
    loop.setTimeout(() => {
      order.push('first');
      process.nextTick(() => order.push('tick'));
      void Promise.resolve().then(() => order.push('microtask'));
    }, 1);
    loop.setTimeout(() => order.push('second'), 1);
    now = 2;
    loop.runOnce(0);
    order.push('returned');
    await new Promise((resolve) => setImmediate(resolve));
    // Which of the two runs first depends on the caller (here a microtask: its queue first).
    assert.equal(order.slice(0, 3), ['first', 'second', 'returned']);
    assert.equal(order.slice(3).sort(), ['microtask', 'tick']);
  } finally {
    loop.close();
  }
});

test.run();
