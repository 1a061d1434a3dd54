// Stale events: records still pending in a batch for an fd that a handler
// removed (or narrowed, or whose number was reused) must never call a handler.
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets } from '../src/index.js';
import { closeAll, HOST, pair } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

/**
 * Opens sockets until one gets the number `wanted` (free, so the kernel's
 * lowest-free-fd rule gets there after filling any lower holes). Returns it
 * and closes the others.
 */
function socketNumbered(wanted: number, port: number): number {
  const extra: number[] = [];
  try {
    for (let i = 0; i < 256; i++) {
      const fd = sockets.connect(HOST, port);
      if (fd === wanted) return fd;
      extra.push(fd);
      if (fd > wanted) break;
    }
    throw new Error(`could not get fd ${wanted} again (got ${extra.join(', ')})`);
  } finally {
    for (const fd of extra) sockets.close(fd);
  }
}

test('an fd removed by a callback, and its number reused, inside one batch gets no stale callback', () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const a = pair(listenFd);
  const b = pair(listenFd);
  let reused = -1;
  try {
    const oldCalls: number[] = [];
    const newCalls: number[] = [];
    let removed = -1;
    const read = (fd: number): void => {
      oldCalls.push(fd);
      if (removed >= 0) return;
      sockets.read(fd, Buffer.alloc(16));
      removed = fd === a.local ? b.local : a.local;
      loop.removeSocket(removed);
      reused = socketNumbered(removed, sockets.localPort(listenFd));
      loop.addClientSocket(reused, { read: (newFd) => newCalls.push(newFd) });
    };
    loop.addClientSocket(a.local, { read });
    loop.addClientSocket(b.local, { read });
    assert.is(sockets.write(a.peer, Buffer.from('a')), 1);
    assert.is(sockets.write(b.peer, Buffer.from('b')), 1);

    const events = loop.runOnce(5_000);
    assert.is(events, 2, 'both sockets should be ready in the same batch');
    assert.ok(removed >= 0, 'no read handler ran');
    assert.is(reused, removed, 'the new socket did not get the removed fd number');
    assert.is(oldCalls.length, 1, `old read handler ran for fds ${oldCalls}`);
    assert.ok(!oldCalls.includes(removed), 'the removed fd got a callback after removal');
    assert.equal(newCalls, [], 'the new socket got the removed fd\'s stale read event');
    assert.ok(loop.isRegistered(reused));
  } finally {
    loop.close();
    closeAll(a.peer, b.peer, listenFd);
  }
});

test('removeSocket in the first handler drops the other fd\'s pending READ and WRITE records', () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const a = pair(listenFd);
  const b = pair(listenFd);
  try {
    const calls: string[] = [];
    let removed = -1;
    // Write records go first within an fd: the first call is a write.
    const handlers = {
      read(fd: number) {
        calls.push(`read:${fd}`);
      },
      write(fd: number) {
        calls.push(`write:${fd}`);
        if (removed < 0) {
          removed = fd === a.local ? b.local : a.local;
          loop.removeSocket(removed);
        }
      },
    };
    // Both readable (data sent) and writable (empty send buffer): each fd has
    // a READ and a WRITE record in the batch.
    loop.addClientSocket(a.local, handlers, { writable: true });
    loop.addClientSocket(b.local, handlers, { writable: true });
    assert.is(sockets.write(a.peer, Buffer.from('a')), 1);
    assert.is(sockets.write(b.peer, Buffer.from('b')), 1);

    assert.is(loop.runOnce(5_000), 2);
    const kept = removed === a.local ? b.local : a.local;
    assert.equal(calls, [`write:${kept}`, `read:${kept}`]);
    assert.is(loop.isRegistered(removed), false);
    assert.is(existsSync(`/proc/self/fd/${removed}`), false, 'removeSocket did not close the fd');
  } finally {
    loop.close();
    closeAll(a.peer, b.peer, listenFd);
  }
});

test('removeSocket of its own fd in a write handler drops that fd\'s pending READ record', () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const { peer, local } = pair(listenFd);
  try {
    const calls: string[] = [];
    loop.addClientSocket(local, {
      read() {
        calls.push('read');
      },
      write(fd) {
        calls.push('write');
        loop.removeSocket(fd);
      },
    }, { writable: true });
    assert.is(sockets.write(peer, Buffer.from('x')), 1);
    assert.is(loop.runOnce(5_000), 1);
    assert.equal(calls, ['write']);
    assert.is(loop.isRegistered(local), false);
  } finally {
    loop.close();
    closeAll(peer, listenFd);
  }
});

test('setInterest({ writable: false }) mid-batch drops the pending write callback of another fd', () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const a = pair(listenFd);
  const b = pair(listenFd);
  try {
    const writes: number[] = [];
    const write = (fd: number): void => {
      writes.push(fd);
      if (writes.length === 1) loop.setInterest(fd === a.local ? b.local : a.local, { writable: false });
    };
    loop.addClientSocket(a.local, { write }, { writable: true });
    loop.addClientSocket(b.local, { write }, { writable: true });

    assert.is(loop.runOnce(5_000), 2, 'both sockets should be writable in the same batch');
    assert.is(writes.length, 1, `write handlers ran for fds ${writes}`);
    const narrowed = writes[0] === a.local ? b.local : a.local;

    // The narrowed fd stays registered and quiet; the other keeps reporting.
    assert.ok(loop.isRegistered(narrowed));
    loop.runOnce(20);
    assert.ok(!writes.includes(narrowed), 'the narrowed fd got a write callback');
    assert.ok(writes.length >= 2, 'the other fd stopped reporting writability');
  } finally {
    loop.close();
    closeAll(a.peer, b.peer, listenFd);
  }
});

test.run();
