// The MockKernel, and the loop on top of it: scripted level and edge
// readiness, injected failures of each call, interrupted waits, fds closed
// behind the loop's back, and what close() leaves behind.
import { constants as osConstants } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { WatchEvent } from '../src/index.js';
import { EPOLL } from '../src/testing/index.js';
import { throws } from './helpers/errors.js';
import { mockLoop } from './helpers/mock-loops.js';

const { EBADF, EIO } = osConstants.errno;

test('level readiness is reported on every wait until idle()', () => {
  const { loop, mock } = mockLoop();
  try {
    const seen: WatchEvent[] = [];
    loop.watch(10, { readable: true }, (event) => seen.push(event));
    mock.ready(10, EPOLL.IN);
    assert.is(loop.runOnce(0), 1);
    assert.is(loop.runOnce(0), 1);
    assert.is(loop.runOnce(0), 1);
    assert.equal(seen, ['readable', 'readable', 'readable']);
    mock.idle(10);
    assert.is(loop.runOnce(0), 0);
    assert.is(seen.length, 3);
  } finally {
    loop.close();
  }
});

test('edge readiness is reported once per ready()', () => {
  const { loop, mock } = mockLoop();
  try {
    let calls = 0;
    loop.watch(10, { readable: true, trigger: 'edge' }, () => calls++);
    mock.ready(10, EPOLL.IN);
    assert.is(loop.runOnce(0), 1);
    assert.is(loop.runOnce(0), 0, 'an edge was reported twice');
    mock.ready(10, EPOLL.IN);
    assert.is(loop.runOnce(0), 1);
    assert.is(loop.runOnce(0), 0);
    assert.is(calls, 2);
  } finally {
    loop.close();
  }
});

test("fail('add', EBADF): watch throws EBADF and nothing is registered", () => {
  const { loop, mock } = mockLoop();
  try {
    loop.watch(3, { readable: true }, () => {});
    const before = mock.registrations();
    mock.fail('add', EBADF);
    throws(() => loop.watch(10, { readable: true }, () => {}), { type: Error, code: 'EBADF', syscall: 'mock_ctl' });
    assert.equal(mock.registrations(), before);
    assert.is(loop.size, 1);
    assert.is(loop.isRegistered(10), false);
    // The failure was used up: the same call succeeds now.
    assert.ok(loop.watch(10, { readable: true }, () => {}).active);
  } finally {
    loop.close();
  }
});

test("fail('wait', EIO): runOnce throws EIO from mock_wait, and the next runOnce works", () => {
  const { loop, mock } = mockLoop();
  try {
    let calls = 0;
    loop.watch(10, { readable: true }, () => calls++);
    mock.ready(10, EPOLL.IN).fail('wait', EIO);
    throws(() => loop.runOnce(0), { type: Error, code: 'EIO', errno: -EIO, syscall: 'mock_wait' });
    assert.is(calls, 0);
    assert.is(loop.runOnce(0), 1);
    assert.is(calls, 1);
  } finally {
    loop.close();
  }
});

test('an interrupted wait returns 0 events and loses none: the next runOnce delivers', () => {
  const { loop, mock } = mockLoop();
  try {
    let calls = 0;
    loop.watch(10, { readable: true, trigger: 'edge' }, () => calls++);
    mock.ready(10, EPOLL.IN).interrupt();
    assert.is(loop.runOnce(-1), 0);
    assert.is(calls, 0);
    assert.is(loop.runOnce(-1), 1);
    assert.is(calls, 1);
    assert.equal(mock.waits, [-1, -1]);
  } finally {
    loop.close();
  }
});

test('vanish(fd) from its own handler: the watcher hears nothing more, and close() does not throw', () => {
  const { loop, mock } = mockLoop();
  try {
    let calls = 0;
    const other: WatchEvent[] = [];
    const watcher = loop.watch(10, { readable: true }, () => {
      calls++;
      mock.vanish(10);
    });
    loop.watch(11, { readable: true }, (event) => other.push(event));
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN);
    assert.is(loop.runOnce(0), 2);
    assert.is(loop.runOnce(0), 1);
    assert.is(loop.runOnce(0), 1);
    assert.is(calls, 1);
    assert.equal(other, ['readable', 'readable', 'readable']);
    // The loop cannot know until told: the kernel's EBADF on removal is expected.
    assert.ok(watcher.active);
    watcher.close();
    assert.is(watcher.active, false);
    assert.is(loop.isRegistered(10), false);
    assert.equal(mock.registrations().map((r) => r.fd), [11]);
  } finally {
    loop.close();
  }
});

test('close() leaves no registration in the mock and frees it', () => {
  const { loop, mock } = mockLoop();
  const a = loop.watch(10, { readable: true }, () => {});
  const b = loop.watch(11, { writable: true, trigger: 'edge' }, () => {});
  assert.is(mock.registrations().length, 2);
  assert.is(mock.freed, false);
  loop.close();
  assert.equal(mock.registrations(), []);
  assert.ok(mock.freed);
  assert.is(a.active, false);
  assert.is(b.active, false);
});

test('registrations() reports the mask and generation the loop registered', () => {
  const { loop, mock } = mockLoop();
  try {
    loop.watch(12, { writable: true, trigger: 'edge' }, () => {});
    loop.watch(10, { readable: true, hangup: true, oneshot: true }, () => {});
    const [ten, twelve] = mock.registrations();
    assert.is(ten!.fd, 10);
    assert.is(ten!.mask, (EPOLL.IN | EPOLL.RDHUP | EPOLL.ONESHOT) >>> 0);
    assert.is(twelve!.fd, 12);
    assert.is(twelve!.mask, (EPOLL.OUT | EPOLL.ET) >>> 0);
    assert.ok(ten!.generation > 0);
  } finally {
    loop.close();
  }
});

test('level-triggered fds beyond maxEvents take their turn, as epoll rotates its ready list', () => {
  const { loop, mock } = mockLoop({ maxEvents: 2, maxRepolls: 0 });
  try {
    const served = new Set<number>();
    for (let fd = 10; fd < 15; fd++) {
      loop.watch(fd, { readable: true }, (_, watcher) => served.add(watcher.fd));
      mock.ready(fd, EPOLL.IN);
    }
    // Nothing is drained: every fd stays ready. Three waits of two events can
    // reach all five only if reported fds go to the back of the line.
    for (let i = 0; i < 3; i++) assert.is(loop.runOnce(0), 2);
    assert.equal([...served].sort(), [10, 11, 12, 13, 14], `only fds ${[...served]} were served`);
  } finally {
    loop.close();
  }
});

test.run();
