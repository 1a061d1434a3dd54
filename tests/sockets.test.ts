// The socket calls (sockets.*): listen, connect, accept, read/write/writev, shutdown, close
// and socketError on real loopback sockets, with their argument checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { SocketManager, sockets } from '../src/index.js';
import { rangeErr, throws, typeErr, type Expected } from './helpers/errors.js';
import { closeQuietly, openFds } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

// Counted when this file's tests start (uvu may import other files first).
let fdsAtStart = -1;
test.before(() => {
  fdsAtStart = openFds();
});
const WAIT_MS = 10_000;

/**
 * Blocks until `fd` is readable (data, EOF or an error), at most `ms`, using a
 * throwaway loop that neither reads from nor closes the fd.
 */
function waitReadable(fd: number, ms = WAIT_MS): void {
  const waiter = new TestLoop({ maxEvents: 4 });
  let ready = false;
  const done = (): void => {
    ready = true;
    waiter.removeSocket(fd, { close: false });
  };
  try {
    waiter.addClientSocket(fd, { read: done, hangup: done, error: done });
    const deadline = performance.now() + ms;
    while (!ready) {
      const left = Math.ceil(deadline - performance.now());
      if (left <= 0) throw new Error(`fd ${fd} not readable within ${ms} ms`);
      waiter.runOnce(left);
    }
  } finally {
    if (waiter.isRegistered(fd)) waiter.removeSocket(fd, { close: false });
    waiter.close();
  }
}

/** Accepts the connection pending on `listener`, waiting for it if need be. */
function acceptWithin(listener: number): number {
  const now = sockets.accept(listener);
  if (now !== null) return now;
  waitReadable(listener);
  const later = sockets.accept(listener);
  assert.ok(later !== null, 'listener readable but nothing to accept');
  return later;
}

/** Reads exactly `length` bytes (or up to EOF), waiting as needed. */
function readExactly(fd: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = sockets.read(fd, bytes, got);
    if (n === 0) break;
    if (n === null) waitReadable(fd);
    else got += n;
  }
  return bytes.subarray(0, got);
}

/** Waits until `fd` is readable, then reads once. */
function readResult(fd: number, bytes: Uint8Array): number | null {
  waitReadable(fd);
  return sockets.read(fd, bytes);
}

interface Pair {
  listener: number;
  client: number;
  server: number;
  /** Closes whichever of the three fds are still set (>= 0). */
  close(): void;
}

function connectedPair(host = '127.0.0.1'): Pair {
  const pair: Pair = {
    listener: -1,
    client: -1,
    server: -1,
    close() {
      for (const fd of [pair.server, pair.client, pair.listener]) if (fd >= 0) closeQuietly(fd);
      pair.listener = pair.client = pair.server = -1;
    },
  };
  try {
    pair.listener = sockets.listen(host, 0);
    pair.client = sockets.connect(host, sockets.localPort(pair.listener));
    pair.server = acceptWithin(pair.listener);
    return pair;
  } catch (error) {
    pair.close();
    throw error;
  }
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

// ---- listen --------------------------------------------------------------------

test('listen on 127.0.0.1 port 0 picks a port', () => {
  const fd = sockets.listen('127.0.0.1', 0);
  try {
    assert.ok(fd >= 0);
    const port = sockets.localPort(fd);
    assert.ok(port > 0 && port <= 65535, `port ${port}`);
  } finally {
    sockets.close(fd);
  }
});

test('listen on ::1 port 0 picks a port, and a connection over IPv6 round-trips', () => {
  const pair = connectedPair('::1');
  try {
    assert.ok(sockets.localPort(pair.listener) > 0);
    assert.is(sockets.localPort(pair.server), sockets.localPort(pair.listener));
    assert.is(sockets.write(pair.client, Buffer.from('v6')), 2);
    assert.is(text(readExactly(pair.server, 2)), 'v6');
  } finally {
    pair.close();
  }
});

test("listen on a port in use is EADDRINUSE with syscall 'listen' and leaks no fd", () => {
  const first = sockets.listen('127.0.0.1', 0);
  try {
    const port = sockets.localPort(first);
    const before = openFds();
    throws(() => sockets.listen('127.0.0.1', port), { type: Error, code: 'EADDRINUSE', errno: -98, syscall: 'listen' });
    // reusePort on one side only is not enough.
    throws(() => sockets.listen('127.0.0.1', port, { reusePort: true }), { type: Error, code: 'EADDRINUSE' });
    assert.is(openFds(), before);
  } finally {
    sockets.close(first);
  }
});

test('reusePort: true lets two listeners share a port', () => {
  const first = sockets.listen('127.0.0.1', 0, { reusePort: true });
  let second: number | undefined;
  try {
    const port = sockets.localPort(first);
    second = sockets.listen('127.0.0.1', port, { reusePort: true });
    assert.is.not(second, first);
    assert.is(sockets.localPort(second), port);
  } finally {
    sockets.close(first);
    if (second !== undefined) sockets.close(second);
  }
});

test("a host name such as 'localhost' is ERR_INVALID_ARG_VALUE for listen and connect", () => {
  const before = openFds();
  const invalid: Expected = { type: TypeError, code: 'ERR_INVALID_ARG_VALUE' };
  throws(() => sockets.listen('localhost', 0), invalid);
  throws(() => sockets.connect('localhost', 80), invalid);
  throws(() => sockets.listen('', 0), invalid);
  throws(() => sockets.listen('127.0.0.256', 0), invalid);
  throws(() => sockets.listen(127 as never, 0), typeErr);
  assert.is(openFds(), before);
});

test('port 70000 or -1 is a RangeError; a string port a TypeError', () => {
  const before = openFds();
  throws(() => sockets.listen('127.0.0.1', 70000), rangeErr);
  throws(() => sockets.listen('127.0.0.1', -1), rangeErr);
  throws(() => sockets.listen('127.0.0.1', 80.5), rangeErr);
  throws(() => sockets.connect('127.0.0.1', 70000), rangeErr);
  throws(() => sockets.listen('127.0.0.1', '0' as never), typeErr);
  throws(() => sockets.listen('127.0.0.1', 0, { backlog: 0 }), rangeErr);
  throws(() => sockets.listen('127.0.0.1', 0, { reusePort: 'yes' as never }), typeErr);
  assert.is(openFds(), before);
});

// ---- connect and accept --------------------------------------------------------

test('accept returns null when no connection is pending', () => {
  const listener = sockets.listen('127.0.0.1', 0);
  try {
    assert.is(sockets.accept(listener), null);
    assert.is(sockets.accept(listener, { noDelay: false }), null);
    throws(() => sockets.accept(listener, { noDelay: 'no' as never }), typeErr);
  } finally {
    sockets.close(listener);
  }
});

test('connect + accept: a round trip both ways', () => {
  const pair = connectedPair();
  try {
    assert.is(sockets.localPort(pair.server), sockets.localPort(pair.listener));
    assert.is(sockets.write(pair.client, Buffer.from('ping')), 4);
    assert.is(text(readExactly(pair.server, 4)), 'ping');
    assert.is(sockets.write(pair.server, Buffer.from('pong!')), 5);
    assert.is(text(readExactly(pair.client, 5)), 'pong!');
    // The listener has nothing more pending.
    assert.is(sockets.accept(pair.listener), null);
  } finally {
    pair.close();
  }
});

// ---- read and write ------------------------------------------------------------

test('read returns null with no data, the byte count with data, 0 at EOF', () => {
  const pair = connectedPair();
  try {
    const bytes = new Uint8Array(16);
    assert.is(sockets.read(pair.server, bytes), null);
    assert.is(sockets.write(pair.client, Buffer.from('abc')), 3);
    assert.is(readResult(pair.server, bytes), 3);
    assert.is(text(bytes.subarray(0, 3)), 'abc');
    assert.is(sockets.read(pair.server, bytes), null, 'drained: would block again');
    sockets.close(pair.client);
    pair.client = -1;
    assert.is(readResult(pair.server, bytes), 0);
    assert.is(sockets.read(pair.server, bytes), 0, 'EOF is sticky');
  } finally {
    pair.close();
  }
});

test('writev with 3 buffers arrives concatenated', () => {
  const pair = connectedPair();
  try {
    const parts = [Buffer.from('one-'), new Uint8Array([0x74, 0x77, 0x6f, 0x2d]), Buffer.from('three')];
    assert.is(sockets.writev(pair.client, parts), 13);
    assert.is(text(readExactly(pair.server, 13)), 'one-two-three');
    assert.is(sockets.writev(pair.client, []), 0);
    assert.is(sockets.read(pair.server, new Uint8Array(4)), null, 'an empty writev sends nothing');
  } finally {
    pair.close();
  }
});

test('write and read honour offset and length', () => {
  const pair = connectedPair();
  try {
    const source = Buffer.from('0123456789');
    assert.is(sockets.write(pair.client, source, 2, 3), 3); // "234"
    assert.is(sockets.write(pair.client, source, 8), 2); // "89": to the end
    waitReadable(pair.server);
    const target = new Uint8Array(10).fill(0x2e); // "."
    let got = 0;
    while (got < 5) {
      const n = sockets.read(pair.server, target, 4 + got, 5 - got);
      if (n === null) waitReadable(pair.server);
      else if (n === 0) break;
      else got += n;
    }
    assert.is(got, 5);
    assert.is(text(target), '....23489.');
  } finally {
    pair.close();
  }
});

test('bad offset or length is a RangeError and nothing is sent', () => {
  const pair = connectedPair();
  try {
    const bytes = new Uint8Array(8);
    for (const op of [sockets.read, sockets.write]) {
      const call = (offset: unknown, length?: unknown) => () => op.call(sockets, pair.client, bytes, offset as number, length as number);
      throws(call(-1), rangeErr);
      throws(call(9), rangeErr);
      throws(call(1.5), rangeErr);
      throws(call(0, 9), rangeErr);
      throws(call(4, 5), rangeErr);
      throws(call(0, -1), rangeErr);
      throws(call(0, 2.5), rangeErr);
      throws(call('1'), typeErr);
      throws(call(0, '1'), typeErr);
    }
    assert.is(sockets.read(pair.server, new Uint8Array(8)), null);
  } finally {
    pair.close();
  }
});

test('a buffer that is not a Uint8Array is a TypeError and nothing is sent', () => {
  const pair = connectedPair();
  try {
    throws(() => sockets.read(pair.client, 'abc' as never), typeErr);
    throws(() => sockets.read(pair.client, new ArrayBuffer(4) as never), typeErr);
    throws(() => sockets.write(pair.client, [1, 2, 3] as never), typeErr);
    throws(() => sockets.write(pair.client, 'abc' as never), typeErr);
    throws(() => sockets.write(pair.client, new Uint16Array(2) as never), typeErr);
    throws(() => sockets.writev(pair.client, 'abc' as never), { type: TypeError });
    throws(() => sockets.writev(pair.client, [Buffer.from('ok'), 'no' as never]), typeErr);
    assert.is(sockets.read(pair.server, new Uint8Array(8)), null, 'not even the valid first writev buffer went out');
  } finally {
    pair.close();
  }
});

// ---- shutdown and close --------------------------------------------------------

test("shutdown('write') makes the peer read EOF while the other direction still works", () => {
  const pair = connectedPair();
  try {
    assert.is(sockets.write(pair.client, Buffer.from('last')), 4);
    sockets.shutdown(pair.client, 'write');
    assert.is(text(readExactly(pair.server, 4)), 'last');
    assert.is(readResult(pair.server, new Uint8Array(4)), 0);
    // The client can still receive.
    assert.is(sockets.write(pair.server, Buffer.from('reply')), 5);
    assert.is(text(readExactly(pair.client, 5)), 'reply');
    // ...but no longer send.
    throws(() => sockets.write(pair.client, Buffer.from('x')), { type: Error, code: 'EPIPE', syscall: 'write' });
  } finally {
    pair.close();
  }
});

test('shutdown defaults to write', () => {
  const pair = connectedPair();
  try {
    sockets.shutdown(pair.client);
    assert.is(readResult(pair.server, new Uint8Array(4)), 0);
  } finally {
    pair.close();
  }
});

test('a bad shutdown how is a TypeError', () => {
  const pair = connectedPair();
  try {
    throws(() => sockets.shutdown(pair.client, 'sideways' as never), { type: TypeError, code: 'ERR_INVALID_ARG_VALUE' });
    throws(() => sockets.shutdown(pair.client, 1 as never), { type: TypeError, code: 'ERR_INVALID_ARG_VALUE' });
    // The socket was not shut down: data still flows.
    assert.is(sockets.write(pair.client, Buffer.from('ok')), 2);
    assert.is(text(readExactly(pair.server, 2)), 'ok');
  } finally {
    pair.close();
  }
});

test('close on a closed fd is EBADF', () => {
  const fd = sockets.listen('127.0.0.1', 0);
  sockets.close(fd);
  throws(() => sockets.close(fd), { type: Error, code: 'EBADF', errno: -9, syscall: 'close' });
  throws(() => sockets.localPort(fd), { type: Error, code: 'EBADF', syscall: 'getsockname' });
  throws(() => sockets.socketError(fd), { type: Error, code: 'EBADF', syscall: 'getsockopt' });
  throws(() => sockets.read(fd, new Uint8Array(1)), { type: Error, code: 'EBADF', syscall: 'read' });
  throws(() => sockets.close(-1), rangeErr);
});

// ---- socketError ---------------------------------------------------------------

test('socketError is null on a healthy socket', () => {
  const pair = connectedPair();
  try {
    assert.is(sockets.socketError(pair.client), null);
    assert.is(sockets.socketError(pair.server), null);
    assert.is(sockets.socketError(pair.listener), null);
  } finally {
    pair.close();
  }
});

test('socketError is ECONNREFUSED after a nonblocking connect to a closed port', () => {
  // A port that was just free: listen on 0, note it, close.
  const probe = sockets.listen('127.0.0.1', 0);
  const port = sockets.localPort(probe);
  sockets.close(probe);

  const fd = sockets.connect('127.0.0.1', port);
  try {
    // The refusal arrives asynchronously; poll SO_ERROR in a bounded loop.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const deadline = performance.now() + WAIT_MS;
    let error = sockets.socketError(fd);
    while (error === null && performance.now() < deadline) {
      Atomics.wait(pause, 0, 0, 5);
      error = sockets.socketError(fd);
    }
    assert.ok(error !== null, 'connect was not refused');
    assert.is(error.code, 'ECONNREFUSED');
    assert.is(error.errno, -111);
    assert.is(error.syscall, 'getsockopt');
    // Reading SO_ERROR clears it.
    assert.is(sockets.socketError(fd), null);
  } finally {
    sockets.close(fd);
  }
});

test('the deprecated SocketManager is the same calls: its methods are the sockets functions, checks and all', () => {
  const manager = new SocketManager();
  for (const name of Object.keys(sockets) as (keyof typeof sockets)[]) assert.is(manager[name], sockets[name], name);
  assert.equal(Object.keys(sockets).sort(), [
    'accept', 'address', 'close', 'connect', 'connectUnix', 'listen', 'listenUnix', 'localPort', 'peerAddress', 'read',
    'setKeepAlive', 'setNoDelay', 'shutdown', 'socketError', 'tcpOptions', 'write', 'writev',
  ]);
  const listener = manager.listen('127.0.0.1', 0);
  try {
    assert.ok(manager.localPort(listener) > 0);
    assert.is(manager.accept(listener), null);
    throws(() => manager.read(-1, new Uint8Array(1)), rangeErr);
  } finally {
    manager.close(listener);
  }
  assert.ok(Object.isFrozen(sockets), 'nobody can swap a call out from under the library');
});

test('no fds leaked by this file', () => {
  assert.is(openFds(), fdsAtStart);
});

test.run();
