// Which handler each kind of readiness reaches, on real loopback sockets:
// read, write (only under write interest), error (SO_ERROR), hang-up,
// edge- versus level-triggered notification, and a throwing handler.
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { SystemError } from '../src/index.js';
import { sockets } from '../src/index.js';
import { acceptOne, closeAll, HOST, pair, turnUntil } from './helpers/fds.js';
import { connected, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

/** Reads everything available now; returns the bytes and whether EOF was seen. */
function drain(fd: number): { text: string; eof: boolean } {
  const buffer = Buffer.alloc(4096);
  let text = '';
  for (;;) {
    const n = sockets.read(fd, buffer);
    if (n === null) return { text, eof: false };
    if (n === 0) return { text, eof: true };
    text += buffer.toString('latin1', 0, n);
  }
}

/** A free port: listen on port 0, note the port, close the listener. */
function closedPort(): number {
  const fd = sockets.listen(HOST, 0);
  const port = sockets.localPort(fd);
  sockets.close(fd);
  return port;
}

test('read-ready data reaches the read handler with the ready fd', () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const { peer, local } = pair(listenFd);
  try {
    const calls: number[] = [];
    let received = '';
    loop.addClientSocket(local, {
      read(fd) {
        calls.push(fd);
        received += drain(fd).text;
      },
    });
    assert.is(sockets.write(peer, Buffer.from('hello')), 5);
    turnUntil(loop, () => received === 'hello', 'the read handler to get "hello"');
    assert.is(received, 'hello');
    assert.ok(calls.length >= 1);
    assert.ok(calls.every((fd) => fd === local), `read handler got fds ${calls}, expected ${local}`);
  } finally {
    loop.close();
    closeAll(peer, listenFd);
  }
});

test('write-ready reaches the write handler only while write interest is on', () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const { peer, local } = pair(listenFd);
  try {
    const calls: number[] = [];
    loop.addClientSocket(local, { write: (fd) => calls.push(fd) }, { writable: false });
    for (let i = 0; i < 3; i++) loop.runOnce(20);
    assert.is(calls.length, 0, 'write handler called without write interest');

    loop.setInterest(local, { writable: true });
    turnUntil(loop, () => calls.length > 0, 'the write handler');
    assert.ok(calls.every((fd) => fd === local), `write handler got fds ${calls}, expected ${local}`);

    loop.setInterest(local, { writable: false });
    const before = calls.length;
    for (let i = 0; i < 3; i++) loop.runOnce(20);
    assert.is(calls.length, before, 'write handler called after write interest was turned off');
    assert.ok(loop.isRegistered(local));
  } finally {
    loop.close();
    closeAll(peer, listenFd);
  }
});

test('nonblocking connect to a closed port: error handler gets ECONNREFUSED, no write call, fd closed', () => {
  const loop = new TestLoop();
  const fd = sockets.connect(HOST, closedPort());
  try {
    const errors: { fd: number; error: SystemError }[] = [];
    let writes = 0;
    loop.addClientSocket(fd, {
      write: () => { writes++; },
      error: (errorFd, error) => errors.push({ fd: errorFd, error }),
    }, { writable: true });
    turnUntil(loop, () => errors.length > 0, 'the error handler');
    assert.is(errors.length, 1);
    assert.is(errors[0]!.fd, fd);
    assert.is(errors[0]!.error.code, 'ECONNREFUSED');
    assert.is(errors[0]!.error.syscall, 'getsockopt');
    assert.ok(errors[0]!.error.errno < 0, 'errno is negative, as in Node');
    assert.is(writes, 0, 'write handler called on a failed connect');
    assert.is(loop.isRegistered(fd), false);
    assert.is(loop.size, 0);
    assert.is(existsSync(`/proc/self/fd/${fd}`), false, 'the loop did not close the failed socket');
  } finally {
    loop.close();
    closeAll(fd);
  }
});

test('peer reset (RST) reaches the error handler with ECONNRESET, then the loop closes the fd', async () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  let client: Socket | undefined;
  let local = -1;
  try {
    const c = (client = await withTimeout(connected(HOST, sockets.localPort(listenFd)), 'the node:net client to connect'));
    local = acceptOne(listenFd);
    // No read or write interest: only EPOLLERR/EPOLLHUP can be reported, so
    // no read can take SO_ERROR before the error handler sees it.
    const errors: { fd: number; error: SystemError }[] = [];
    const hangups: { fd: number; final: boolean }[] = [];
    loop.addClientSocket(local, {
      error: (fd, error) => errors.push({ fd, error }),
      hangup: (fd, final) => hangups.push({ fd, final }),
    });
    c.resetAndDestroy();
    turnUntil(loop, () => errors.length + hangups.length > 0, 'the error (or hangup) handler');
    // The loop guarantees one of: error(ECONNRESET), or hangup(fd, true) when
    // SO_ERROR was already consumed. With no read handler, it must be the former.
    assert.equal(hangups, [], 'expected error(ECONNRESET), got a hangup');
    assert.is(errors.length, 1);
    assert.is(errors[0]!.fd, local);
    assert.is(errors[0]!.error.code, 'ECONNRESET');
    assert.is(loop.isRegistered(local), false);
    assert.is(existsSync(`/proc/self/fd/${local}`), false, 'the loop did not close the reset socket');
  } finally {
    client?.destroy();
    loop.close();
    closeAll(local, listenFd);
  }
});

test('peer reset with a read handler: read() throws ECONNRESET, then hangup(fd, true) instead of a second report', async () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  let client: Socket | undefined;
  let local = -1;
  try {
    const c = (client = await withTimeout(connected(HOST, sockets.localPort(listenFd)), 'the node:net client to connect'));
    local = acceptOne(listenFd);
    const seen: string[] = [];
    loop.addClientSocket(local, {
      read: (fd) => {
        try {
          const { eof } = drain(fd);
          if (eof) seen.push('eof');
        } catch (error) {
          seen.push(`read:${(error as SystemError).code}`);
        }
      },
      error: (_fd, error) => seen.push(`error:${error.code}`),
      hangup: (_fd, final) => seen.push(`hangup:${final}`),
    });
    c.resetAndDestroy();
    turnUntil(loop, () => !loop.isRegistered(local), 'the loop to drop the reset socket');
    // The read record comes first for one fd, so the read takes SO_ERROR
    // (read() fails with ECONNRESET) and the error record then finds SO_ERROR
    // cleared: the loop reports it as hangup(fd, true), never as both, and
    // never as a half-close.
    assert.equal(seen, ['read:ECONNRESET', 'hangup:true']);
    assert.is(existsSync(`/proc/self/fd/${local}`), false, 'the loop did not close the reset socket');
  } finally {
    client?.destroy();
    loop.close();
    closeAll(local, listenFd);
  }
});

test('half-close: read sees the bytes and EOF before hangup(fd, false); then no more reads, still writable', () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const { peer, local } = pair(listenFd);
  try {
    const log: string[] = [];
    const writes: number[] = [];
    loop.addClientSocket(local, {
      read(fd) {
        const { text, eof } = drain(fd);
        if (text) log.push(`data:${text}`);
        if (eof) log.push('eof');
        if (!text && !eof) log.push('empty');
      },
      write: (fd) => writes.push(fd),
      hangup: (fd, final) => log.push(`hangup:${final}:${fd === local}`),
    });
    assert.is(sockets.write(peer, Buffer.from('bye')), 3);
    sockets.shutdown(peer, 'write');
    turnUntil(loop, () => log.some((entry) => entry.startsWith('hangup')), 'the hangup handler');
    assert.equal(log, ['data:bye', 'eof', 'hangup:false:true']);

    // Read interest is gone: a level-triggered EOF would otherwise fire every turn.
    for (let i = 0; i < 3; i++) loop.runOnce(20);
    assert.is(log.length, 3, `reads reported after the half-close: ${log.join(', ')}`);
    assert.ok(loop.isRegistered(local), 'fd unregistered after a half-close');

    // The sending side still works, and the loop still reports writability.
    loop.setInterest(local, { writable: true });
    turnUntil(loop, () => writes.length > 0, 'the write handler after the half-close');
    loop.setInterest(local, { writable: false });
    let reply = '';
    loop.addClientSocket(peer, { read: (fd) => { reply += drain(fd).text; } });
    assert.is(sockets.write(local, Buffer.from('reply')), 5);
    turnUntil(loop, () => reply === 'reply', 'the peer to receive "reply"');
    assert.is(reply, 'reply');
    assert.equal(log, ['data:bye', 'eof', 'hangup:false:true']);
  } finally {
    loop.close();
    closeAll(peer, listenFd);
  }
});

test("edge-triggered: a handler reading 1 byte per call is called once per edge; level keeps calling until drained", () => {
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const edge = pair(listenFd);
  const level = pair(listenFd);
  try {
    const one = Buffer.alloc(1);
    /** What each edge-triggered call read: one byte each. */
    const edgeReads: (number | null)[] = [];
    let levelCalls = 0;
    let levelBytes = '';
    loop.addClientSocket(edge.local, {
      read(fd) {
        edgeReads.push(sockets.read(fd, one));
      },
    }, { trigger: 'edge' });
    loop.addClientSocket(level.local, {
      read(fd) {
        levelCalls++;
        if (sockets.read(fd, one) === 1) levelBytes += one.toString('latin1');
      },
    }, { trigger: 'level' });

    assert.is(sockets.write(edge.peer, Buffer.from('0123456789')), 10);
    assert.is(sockets.write(level.peer, Buffer.from('0123456789')), 10);
    turnUntil(loop, () => levelBytes.length === 10, 'level-triggered reads to drain 10 bytes');
    for (let i = 0; i < 3; i++) loop.runOnce(20);
    assert.is(levelBytes, '0123456789');
    assert.is(levelCalls, 10, 'level-triggered: one call per byte until drained');
    assert.equal(edgeReads, [1], 'edge-triggered: exactly one call for one write');

    // A new write is a new edge: exactly one more call.
    assert.is(sockets.write(edge.peer, Buffer.from('x')), 1);
    turnUntil(loop, () => edgeReads.length === 2, 'the second edge');
    for (let i = 0; i < 3; i++) loop.runOnce(20);
    assert.equal(edgeReads, [1, 1]);
    assert.is(levelCalls, 10);
  } finally {
    loop.close();
    closeAll(edge.peer, level.peer, listenFd);
  }
});

test('with fatalErrors a throwing handler stops the iteration: runOnce throws, and the next runOnce serves the rest of the batch', () => {
  const loop = new TestLoop({ fatalErrors: true });
  const listenFd = sockets.listen(HOST, 0);
  const a = pair(listenFd);
  const b = pair(listenFd);
  try {
    const boom = new Error('boom');
    const ran: number[] = [];
    const read = (fd: number): void => {
      ran.push(fd);
      drain(fd);
      if (ran.length === 1) throw boom;
    };
    loop.addClientSocket(a.local, { read });
    loop.addClientSocket(b.local, { read });
    assert.is(sockets.write(a.peer, Buffer.from('a')), 1);
    assert.is(sockets.write(b.peer, Buffer.from('b')), 1);

    let thrown: unknown;
    let events = 0;
    for (let i = 0; i < 200 && ran.length === 0; i++) {
      try {
        events = loop.runOnce(50);
      } catch (error) {
        thrown = error;
      }
    }
    assert.is(thrown, boom, 'runOnce did not rethrow the handler error');
    assert.is(events, 0, 'runOnce returned instead of throwing');
    if (ran.length === 1) {
      // Both events came in one batch: the second waits as a pending record,
      // served by the next iteration without a wait.
      assert.is(loop.metrics().pendingRecords, 1);
      assert.is(loop.runOnce(0), 0);
    }
    for (let i = 0; i < 200 && ran.length < 2; i++) loop.runOnce(50);
    assert.equal([...ran].sort(), [a.local, b.local].sort());

    // The loop is still usable, and nothing is left to report.
    assert.is(loop.runOnce(0), 0);
    assert.is(ran.length, 2);
    assert.is(loop.metrics().pendingRecords, 0);
  } finally {
    loop.close();
    closeAll(a.peer, b.peer, listenFd);
  }
});

test.run();
