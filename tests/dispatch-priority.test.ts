// Dispatch order on the MockKernel: priority 0 first, the kernel's order
// within a priority, an fd's own records as write, read, then hang-up or
// error; deferred callbacks by priority; a priority change without a
// system call.
import { constants as osConstants } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { WatchEvent } from '../src/index.js';
import { EPOLL } from '../src/testing/index.js';
import { throws } from './helpers/errors.js';
import { mockLoop } from './helpers/mock-loops.js';

const { EIO } = osConstants.errno;

test('records go out by priority, 0 first, in kernel order within a priority', () => {
  const { loop, mock } = mockLoop();
  try {
    const order: number[] = [];
    // Registration order is the mock's report order.
    const priorities: [number, number][] = [[10, 3], [11, 1], [12, 0], [13, 1], [14, 0], [15, 2], [16, 3]];
    for (const [fd, priority] of priorities) {
      loop.watch(fd, { readable: true, priority }, (_, watcher) => order.push(watcher.fd));
      mock.ready(fd, EPOLL.IN);
    }
    assert.is(loop.runOnce(0), 7);
    assert.equal(order, [12, 14, 11, 13, 15, 10, 16]);
  } finally {
    loop.close();
  }
});

test('the kernel order decides within a priority, whatever the fd numbers', () => {
  const { loop, mock } = mockLoop();
  try {
    const order: number[] = [];
    for (const fd of [30, 20, 25, 10]) {
      loop.watch(fd, { readable: true }, (_, watcher) => order.push(watcher.fd));
      mock.ready(fd, EPOLL.IN);
    }
    loop.runOnce(0);
    assert.equal(order, [30, 20, 25, 10]);
  } finally {
    loop.close();
  }
});

test('within one fd: writable, then readable, then hang-up', () => {
  const { loop, mock } = mockLoop();
  try {
    const seen: string[] = [];
    loop.watch(10, { readable: true, writable: true, hangup: true }, (event) => seen.push(`10:${event}`));
    loop.watch(11, { readable: true, writable: true, hangup: true }, (event) => seen.push(`11:${event}`));
    mock.ready(10, EPOLL.IN | EPOLL.OUT | EPOLL.RDHUP).ready(11, EPOLL.IN | EPOLL.OUT);
    loop.runOnce(0);
    // An fd's records sit side by side.
    assert.equal(seen, ['10:writable', '10:readable', '10:hangup', '11:writable', '11:readable']);
  } finally {
    loop.close();
  }
});

test('an error comes after readable, and a dead fd gets no writable', () => {
  for (const dead of [EPOLL.ERR, EPOLL.HUP]) {
    const { loop, mock } = mockLoop();
    try {
      const seen: WatchEvent[] = [];
      const watcher = loop.watch(10, { readable: true, writable: true }, (event) => seen.push(event));
      mock.ready(10, EPOLL.IN | EPOLL.OUT | dead);
      loop.runOnce(0);
      assert.equal(seen, ['readable', dead === EPOLL.ERR ? 'error' : 'hangup']);
      assert.is(watcher.active, false, 'the loop still watches a dead fd');
      assert.equal(mock.registrations(), []);
    } finally {
      loop.close();
    }
  }
});

test('deferred callbacks run by priority, FIFO within one', () => {
  const { loop } = mockLoop();
  try {
    const order: string[] = [];
    const queue = (name: string, priority: number): void => {
      loop.defer(() => order.push(name), { priority });
    };
    queue('a3', 3);
    queue('b0', 0);
    queue('c3', 3);
    queue('d1', 1);
    queue('e0', 0);
    queue('f2', 2);
    loop.defer(() => order.push('g-default'));
    loop.runOnce(0);
    assert.equal(order, ['b0', 'e0', 'd1', 'g-default', 'f2', 'a3', 'c3']);
  } finally {
    loop.close();
  }
});

test("modify({ priority }) takes effect from the next batch, without a kernel call", () => {
  const { loop, mock } = mockLoop();
  try {
    const order: number[] = [];
    let promote = false;
    const record = (_: WatchEvent, watcher: { fd: number }): void => {
      order.push(watcher.fd);
      if (promote && watcher.fd === 10) {
        promote = false;
        late.modify({ priority: 0 });
      }
    };
    const early = loop.watch(10, { readable: true }, record);
    const late = loop.watch(11, { readable: true }, record);
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN);
    // A kernel modify would consume this failure and throw.
    mock.fail('modify', EIO);
    const masks = mock.registrations();

    promote = true;
    loop.runOnce(0);
    assert.equal(order, [10, 11], 'a priority change reordered the batch already being served');
    loop.runOnce(0);
    assert.equal(order, [10, 11, 11, 10]);
    assert.equal(mock.registrations(), masks);

    // The failure is still queued: no kernel call was made.
    throws(() => early.modify({ writable: true }), { type: Error, code: 'EIO', syscall: 'mock_ctl' });
    // And the failed modify changed nothing.
    assert.equal(mock.registrations(), masks);
    order.length = 0;
    early.modify({ priority: 0 });
    late.modify({ priority: 3 });
    loop.runOnce(0);
    assert.equal(order, [10, 11]);
  } finally {
    loop.close();
  }
});

test.run();
