// EventLoop argument and state checks: every bad input is refused before any
// native call, and a refused call leaves the loop exactly as it was.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { EventLoop, WasmloopError, sockets } from '../src/index.js';
import { rangeErr, throws, typeErr, valueErr, type Expected } from './helpers/errors.js';
import { closeQuietly, openFds } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

// Counted when this file's tests start (uvu may import other files first).
let fdsAtStart = -1;
test.before(() => {
  fdsAtStart = openFds();
});

/** Accepts the connection pending on `listener`, waiting for it at most 10 s. */
function acceptWithin(listener: number, ms = 10_000): number {
  const immediate = sockets.accept(listener);
  if (immediate !== null) return immediate;
  const waiter = new TestLoop({ maxEvents: 4 });
  let accepted: number | undefined;
  try {
    waiter.addServerSocket(listener, (fd) => (accepted ??= fd), { acceptsPerEvent: 1 });
    const deadline = performance.now() + ms;
    while (accepted === undefined) {
      const left = Math.ceil(deadline - performance.now());
      if (left <= 0) throw new Error(`no connection accepted within ${ms} ms`);
      waiter.runOnce(left);
    }
    return accepted;
  } finally {
    if (waiter.isRegistered(listener)) waiter.removeSocket(listener, { close: false });
    waiter.close();
  }
}

interface Pair {
  listener: number;
  client: number;
  server: number;
  close(): void;
}

/** A connected TCP pair on 127.0.0.1 (plus its listener), closed by `close()`. */
function connectedPair(): Pair {
  const listener = sockets.listen('127.0.0.1', 0);
  const open = [listener];
  try {
    const client = sockets.connect('127.0.0.1', sockets.localPort(listener));
    open.push(client);
    const server = acceptWithin(listener);
    open.push(server);
    return {
      listener,
      client,
      server,
      // A loop that held `server` may have closed it already.
      close: () => {
        for (const fd of open.splice(0)) closeQuietly(fd);
      },
    };
  } catch (error) {
    for (const fd of open) sockets.close(fd);
    throw error;
  }
}

// ---- constructor -------------------------------------------------------------

test('constructor rejects a non-object options with ERR_INVALID_ARG_TYPE', () => {
  const before = openFds();
  for (const options of [null, 'epoll', 42, true]) {
    throws(() => new TestLoop(options as never), typeErr);
  }
  assert.is(openFds(), before, 'a refused constructor must not open an epoll fd');
});

test("constructor rejects backend 'kqueue' with ERR_INVALID_ARG_VALUE", () => {
  const before = openFds();
  throws(() => new TestLoop({ backend: 'kqueue' as never }), valueErr);
  throws(() => new TestLoop({ backend: 42 as never }), valueErr);
  assert.is(openFds(), before);
});

test('constructor rejects maxEvents 0, 1.5, 65537 (RangeError) and "64" (TypeError)', () => {
  const before = openFds();
  throws(() => new TestLoop({ maxEvents: 0 }), rangeErr);
  throws(() => new TestLoop({ maxEvents: 1.5 }), rangeErr);
  throws(() => new TestLoop({ maxEvents: 65537 }), rangeErr);
  throws(() => new TestLoop({ maxEvents: -1 }), rangeErr);
  throws(() => new TestLoop({ maxEvents: Number.NaN }), rangeErr);
  throws(() => new TestLoop({ maxEvents: '64' as never }), typeErr);
  assert.is(openFds(), before);
});

test('constructor rejects maxFds 0, -1 and 2**21 with RangeError', () => {
  const before = openFds();
  throws(() => new TestLoop({ maxFds: 0 }), rangeErr);
  throws(() => new TestLoop({ maxFds: -1 }), rangeErr);
  throws(() => new TestLoop({ maxFds: 2 ** 21 }), rangeErr);
  throws(() => new TestLoop({ maxFds: 2 ** 20 + 1 }), rangeErr);
  throws(() => new TestLoop({ maxFds: '1024' as never }), typeErr);
  assert.is(openFds(), before);
});

test('constructor defaults: maxEvents 1024, maxFds 65536, backend epoll', () => {
  const loop = new TestLoop();
  try {
    assert.is(loop.maxEvents, 1024);
    assert.is(loop.maxFds, 65536);
    assert.is(loop.backend, 'epoll');
    assert.is(loop.size, 0);
    assert.is(loop.isClosed, false);
    assert.is(loop.isRunning, false);
  } finally {
    loop.close();
  }
});

test('constructor accepts the limits: maxEvents 1 and 65536, maxFds 1 and 2**20', () => {
  for (const options of [{ maxEvents: 1, maxFds: 1 }, { maxEvents: 65536, maxFds: 2 ** 20 }]) {
    const loop = new TestLoop(options);
    try {
      assert.is(loop.maxEvents, options.maxEvents);
      assert.is(loop.maxFds, options.maxFds);
      assert.is(loop.runOnce(0), 0);
    } finally {
      loop.close();
    }
  }
});

// ---- fd arguments ------------------------------------------------------------

/** Every method that takes an fd, called with `fd` and otherwise valid arguments. */
function fdCalls(loop: EventLoop, fd: number): [string, () => unknown][] {
  return [
    ['addServerSocket', () => loop.addServerSocket(fd, () => {})],
    ['addClientSocket', () => loop.addClientSocket(fd, { read: () => {} })],
    ['setInterest', () => loop.setInterest(fd, { readable: true })],
    ['removeSocket', () => loop.removeSocket(fd)],
    ['isRegistered', () => loop.isRegistered(fd)],
  ];
}

test('a negative fd is a RangeError for every method', () => {
  const loop = new TestLoop();
  try {
    for (const [name, call] of fdCalls(loop, -1)) {
      const error = throws(call, rangeErr);
      assert.ok(error.message.includes('fd'), `${name}: message names the argument: ${error.message}`);
    }
    assert.is(loop.size, 0);
  } finally {
    loop.close();
  }
});

test('a non-integer fd (1.5) is a RangeError for every method', () => {
  const loop = new TestLoop();
  try {
    for (const [, call] of fdCalls(loop, 1.5)) throws(call, rangeErr);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
  }
});

test("a string fd ('3') is a TypeError for every method", () => {
  const loop = new TestLoop();
  try {
    for (const [, call] of fdCalls(loop, '3' as never)) throws(call, typeErr);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
  }
});

test('fd >= maxFds is a RangeError when adding (maxFds 64, fd 64)', () => {
  const loop = new TestLoop({ maxFds: 64 });
  try {
    throws(() => loop.addServerSocket(64, () => {}), rangeErr);
    throws(() => loop.addClientSocket(64, { read: () => {} }), rangeErr);
    throws(() => loop.addClientSocket(1000, { read: () => {} }), rangeErr);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
  }
});

/** A loop with maxFds 64, for the fd-64-is-out-of-range checks. */
function withSmallLoop(fn: (loop: EventLoop) => void): void {
  const loop = new TestLoop({ maxFds: 64 });
  try {
    fn(loop);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
  }
}

test('fd >= maxFds is a RangeError for setInterest (maxFds 64, fd 64)', () => {
  withSmallLoop((loop) => void throws(() => loop.setInterest(64, { readable: true }), rangeErr));
});

test('fd >= maxFds is a RangeError for removeSocket (maxFds 64, fd 64)', () => {
  withSmallLoop((loop) => void throws(() => loop.removeSocket(64, { close: false }), rangeErr));
});

test('fd >= maxFds is a RangeError for isRegistered (maxFds 64, fd 64)', () => {
  withSmallLoop((loop) => void throws(() => loop.isRegistered(64), rangeErr));
});

// ---- handlers and options ----------------------------------------------------

test('addServerSocket: bad onAccept or options are refused and nothing is registered', () => {
  const loop = new TestLoop();
  const listener = sockets.listen('127.0.0.1', 0);
  try {
    throws(() => loop.addServerSocket(listener, undefined as never), typeErr);
    throws(() => loop.addServerSocket(listener, 'accept' as never), typeErr);
    throws(() => loop.addServerSocket(listener, () => {}, null as never), typeErr);
    throws(() => loop.addServerSocket(listener, () => {}, 'options' as never), typeErr);
    throws(() => loop.addServerSocket(listener, () => {}, { onError: 'log' as never }), typeErr);
    throws(() => loop.addServerSocket(listener, () => {}, { acceptsPerEvent: 0 }), rangeErr);
    throws(() => loop.addServerSocket(listener, () => {}, { acceptsPerEvent: 2.5 }), rangeErr);
    throws(() => loop.addServerSocket(listener, () => {}, { acceptsPerEvent: '8' as never }), typeErr);
    throws(() => loop.addServerSocket(listener, () => {}, { noDelay: 1 as never }), typeErr);
    assert.is(loop.isRegistered(listener), false);
    assert.is(loop.size, 0);
    // The fd was left alone: it can still be registered.
    loop.addServerSocket(listener, () => {});
    assert.is(loop.isRegistered(listener), true);
  } finally {
    loop.close();
    closeQuietly(listener);
  }
});

test('addClientSocket: handlers not an object, or a handler not a function, is a TypeError', () => {
  const loop = new TestLoop();
  const pair = connectedPair();
  try {
    for (const handlers of [undefined, null, 'read', 7]) {
      throws(() => loop.addClientSocket(pair.server, handlers as never), typeErr);
    }
    for (const name of ['read', 'write', 'hangup', 'error']) {
      throws(() => loop.addClientSocket(pair.server, { [name]: 'nope' } as never), typeErr);
      throws(() => loop.addClientSocket(pair.server, { [name]: {} } as never), typeErr);
    }
    assert.is(loop.isRegistered(pair.server), false);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
    pair.close();
  }
});

test('addClientSocket: readable/writable interest without its handler is a TypeError', () => {
  const loop = new TestLoop();
  const pair = connectedPair();
  try {
    throws(() => loop.addClientSocket(pair.server, { write: () => {} }, { readable: true }), { type: TypeError });
    throws(() => loop.addClientSocket(pair.server, { read: () => {} }, { writable: true }), { type: TypeError });
    throws(() => loop.addClientSocket(pair.server, {}, { readable: true, writable: true }), { type: TypeError });
    throws(() => loop.addClientSocket(pair.server, { read: () => {} }, { readable: 'yes' as never }), typeErr);
    throws(() => loop.addClientSocket(pair.server, { write: () => {} }, { writable: 1 as never }), typeErr);
    assert.is(loop.isRegistered(pair.server), false);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
    pair.close();
  }
});

test("addClientSocket: options not an object or trigger 'both' are refused", () => {
  const loop = new TestLoop();
  const pair = connectedPair();
  try {
    throws(() => loop.addClientSocket(pair.server, { read: () => {} }, null as never), typeErr);
    throws(() => loop.addClientSocket(pair.server, { read: () => {} }, 'edge' as never), typeErr);
    throws(() => loop.addClientSocket(pair.server, { read: () => {} }, { trigger: 'both' as never }), valueErr);
    throws(() => loop.addClientSocket(pair.server, { read: () => {} }, { trigger: 'EDGE' as never }), valueErr);
    assert.is(loop.isRegistered(pair.server), false);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
    pair.close();
  }
});

test('setInterest: bad interest is refused and the registered interest is unchanged', () => {
  const loop = new TestLoop();
  const pair = connectedPair();
  let reads = 0;
  try {
    loop.addClientSocket(pair.server, { read: () => void reads++ });
    throws(() => loop.setInterest(pair.server, null as never), typeErr);
    throws(() => loop.setInterest(pair.server, 'writable' as never), typeErr);
    throws(() => loop.setInterest(pair.server, { writable: 'yes' as never }), typeErr);
    throws(() => loop.setInterest(pair.server, { readable: 0 as never }), typeErr);
    // No write handler: write interest is refused.
    throws(() => loop.setInterest(pair.server, { writable: true }), { type: TypeError });
    // A connected socket is always writable: had write interest slipped in,
    // this poll would report an event. Nothing to read either.
    assert.is(loop.runOnce(0), 0);
    assert.is(reads, 0);
    assert.is(loop.isRegistered(pair.server), true);
    assert.is(loop.size, 1);
  } finally {
    loop.close(); // closes pair.server
    pair.close();
  }
});

test('removeSocket: bad options are refused and the socket stays registered and open', () => {
  const loop = new TestLoop();
  const pair = connectedPair();
  try {
    loop.addClientSocket(pair.server, { read: () => {} });
    throws(() => loop.removeSocket(pair.server, null as never), typeErr);
    throws(() => loop.removeSocket(pair.server, 'close' as never), typeErr);
    throws(() => loop.removeSocket(pair.server, { close: 'no' as never }), typeErr);
    assert.is(loop.isRegistered(pair.server), true);
    assert.is(loop.size, 1);
    // Still open: a write to it succeeds.
    assert.is(sockets.write(pair.server, new Uint8Array([1, 2, 3])), 3);
    loop.removeSocket(pair.server, { close: false });
    assert.is(loop.size, 0);
  } finally {
    loop.close();
    pair.close();
  }
});

test("runOnce: -2 and 1.5 are RangeErrors, '10' a TypeError; no handler runs", () => {
  const loop = new TestLoop();
  const pair = connectedPair();
  let reads = 0;
  try {
    loop.addClientSocket(pair.server, { read: () => void reads++ });
    assert.is(sockets.write(pair.client, new Uint8Array([9])), 1);
    throws(() => loop.runOnce(-2), rangeErr);
    throws(() => loop.runOnce(1.5), rangeErr);
    throws(() => loop.runOnce(2 ** 31), rangeErr);
    throws(() => loop.runOnce('10' as never), typeErr);
    throws(() => loop.runOnce(null as never), typeErr);
    assert.is(reads, 0, 'a refused runOnce must not wait or dispatch');
    // The byte is still there for a valid call.
    assert.is(loop.runOnce(10_000), 1);
    assert.is(reads, 1);
  } finally {
    loop.close();
    pair.close();
  }
});

// ---- system call failures ----------------------------------------------------

test('adding an fd twice is EEXIST (errno -17, epoll_ctl) and the first registration still works', () => {
  const loop = new TestLoop();
  const pair = connectedPair();
  const seen: string[] = [];
  try {
    loop.addClientSocket(pair.server, {
      read: (fd) => {
        const bytes = new Uint8Array(8);
        const n = sockets.read(fd, bytes);
        seen.push(`first:${n}:${bytes[0]}`);
      },
    });
    const second = { read: () => void seen.push('second') };
    throws(() => loop.addClientSocket(pair.server, second), { type: Error, code: 'EEXIST', errno: -17, syscall: 'epoll_ctl' });
    throws(() => loop.addServerSocket(pair.server, () => {}), { type: Error, code: 'EEXIST', errno: -17, syscall: 'epoll_ctl' });
    assert.is(loop.size, 1);
    assert.is(loop.isRegistered(pair.server), true);

    assert.is(sockets.write(pair.client, new Uint8Array([42])), 1);
    assert.is(loop.runOnce(10_000), 1);
    assert.equal(seen, ['first:1:42']);
  } finally {
    loop.close();
    pair.close();
  }
});

test('removing or narrowing an fd that is not registered is ENOENT', () => {
  const loop = new TestLoop();
  const listener = sockets.listen('127.0.0.1', 0);
  try {
    throws(() => loop.removeSocket(listener), { type: Error, code: 'ENOENT', errno: -2, syscall: 'epoll_ctl' });
    throws(() => loop.removeSocket(listener, { close: false }), { type: Error, code: 'ENOENT' });
    throws(() => loop.setInterest(listener, { readable: false }), { type: Error, code: 'ENOENT', syscall: 'epoll_ctl' });
    assert.is(loop.size, 0);
    // removeSocket refused, so it did not close the fd either.
    assert.ok(sockets.localPort(listener) > 0);
  } finally {
    loop.close();
    sockets.close(listener);
  }
});

test('adding a closed fd is EBADF and leaves it unregistered', () => {
  const loop = new TestLoop();
  try {
    const fd = sockets.listen('127.0.0.1', 0);
    sockets.close(fd);
    throws(() => loop.addClientSocket(fd, { read: () => {} }), { type: Error, code: 'EBADF', errno: -9, syscall: 'epoll_ctl' });
    assert.is(loop.isRegistered(fd), false);
    throws(() => loop.addServerSocket(fd, () => {}), { type: Error, code: 'EBADF', syscall: 'epoll_ctl' });
    assert.is(loop.isRegistered(fd), false);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
  }
});

test('adding a regular file is EPERM and leaves it unregistered', () => {
  const loop = new TestLoop();
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-'));
  const path = join(dir, 'plain.txt');
  writeFileSync(path, 'not a socket');
  const fd = openSync(path, 'r');
  try {
    throws(() => loop.addClientSocket(fd, { read: () => {} }), { type: Error, code: 'EPERM', errno: -1, syscall: 'epoll_ctl' });
    assert.is(loop.isRegistered(fd), false);
    throws(() => loop.addServerSocket(fd, () => {}), { type: Error, code: 'EPERM' });
    assert.is(loop.isRegistered(fd), false);
    assert.is(loop.size, 0);
  } finally {
    loop.close();
    closeSync(fd); // the loop must not have closed it: this would throw EBADF
    rmSync(dir, { recursive: true });
  }
});

test('setInterest on a server socket is ERR_NOT_CLIENT_SOCKET', () => {
  const loop = new TestLoop();
  const listener = sockets.listen('127.0.0.1', 0);
  try {
    loop.addServerSocket(listener, () => {});
    const error = throws(() => loop.setInterest(listener, { readable: true }), { type: WasmloopError, code: 'ERR_NOT_CLIENT_SOCKET' });
    assert.is(error.name, 'WasmloopError');
    assert.is(loop.isRegistered(listener), true);
    assert.is(loop.size, 1);
  } finally {
    loop.close(); // closes the listener
  }
});

// ---- closed and re-entered loops -------------------------------------------

test('after close() every method throws ERR_LOOP_CLOSED; close() twice is fine', () => {
  const loop = new TestLoop();
  const listener = sockets.listen('127.0.0.1', 0);
  try {
    loop.close();
    loop.close();
    assert.is(loop.isClosed, true);
    const closed: Expected = { type: WasmloopError, code: 'ERR_LOOP_CLOSED' };
    throws(() => loop.addServerSocket(listener, () => {}), closed);
    throws(() => loop.addClientSocket(listener, { read: () => {} }), closed);
    throws(() => loop.setInterest(listener, { readable: true }), closed);
    throws(() => loop.removeSocket(listener), closed);
    throws(() => loop.runOnce(0), closed);
    throws(() => loop.run(), closed);
    // Nothing was taken over or closed behind our back.
    assert.ok(sockets.localPort(listener) > 0);
  } finally {
    sockets.close(listener);
  }
});

test('isRegistered after close() throws ERR_LOOP_CLOSED', () => {
  const loop = new TestLoop();
  loop.close();
  throws(() => loop.isRegistered(0), { type: WasmloopError, code: 'ERR_LOOP_CLOSED' });
});

test('close() releases the sockets it holds and the loop fd', () => {
  const before = openFds();
  const loop = new TestLoop();
  const listener = sockets.listen('127.0.0.1', 0);
  loop.addServerSocket(listener, () => {});
  assert.is(openFds(), before + 2);
  loop.close();
  assert.is(openFds(), before);
  throws(() => sockets.close(listener), { type: Error, code: 'EBADF' });
});

test('runOnce from inside a handler is ERR_LOOP_REENTERED, thrown out of the outer runOnce (fatalErrors)', () => {
  const loop = new TestLoop({ fatalErrors: true });
  const pair = connectedPair();
  let inner: unknown;
  let calls = 0;
  try {
    loop.addClientSocket(pair.server, {
      read: () => {
        calls++;
        try {
          loop.runOnce(0);
        } catch (error) {
          inner = error;
          throw error;
        }
      },
    });
    assert.is(sockets.write(pair.client, new Uint8Array([1])), 1);
    const outer = throws(() => loop.runOnce(10_000), { type: WasmloopError, code: 'ERR_LOOP_REENTERED' });
    assert.is(outer, inner, 'the outer runOnce rethrows the handler error');
    assert.is(calls, 1);
    // The loop is still usable afterwards.
    assert.is(loop.isRunning, false);
    assert.is(loop.isRegistered(pair.server), true);
  } finally {
    loop.close();
    pair.close();
  }
});

test('no fds leaked by this file', () => {
  assert.is(openFds(), fdsAtStart);
});

test.run();
