// connect(): an outbound Connection on the loop, against node:net servers
// (TCP and a Unix socket): an echo round trip, writes queued before the
// connect, 'connect', a host name through node:dns, and the failures
// (refused, unresolvable, timed out), each arriving as the connection's
// 'close' with its code and the protocol's close hook, never as the loop's
// 'error'; a name of several addresses tried address by address (through
// the `lookup` option, node:net's).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { BACKENDS, connect, sockets, type BackendName, type CloseReason, type ConnectOptions, type Connection, type Protocol, type SystemError } from '../src/index.js';
import { HOST, openFds } from './helpers/fds.js';
import { until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

/** Runs a loop while `body` runs; every loop error is collected and must be none. */
async function withLoop(what: string, body: (loop: TestLoop) => Promise<void>, backend: BackendName = 'epoll'): Promise<void> {
  const loop = new TestLoop({ fatalErrors: false, backend });
  const loopErrors: unknown[] = [];
  loop.on('error', (error) => loopErrors.push(error));
  const running = loop.run();
  try {
    await withTimeout(body(loop), what, 15_000);
  } finally {
    loop.stop();
    await running;
    loop.close();
  }
  assert.equal(loopErrors, [], 'nothing reached the loop\'s error');
}

/** A node:net server whose connections `onConnection` serves; listening on `where` (a port 0 on `host`, or a path). */
async function netServer(onConnection: (socket: Socket) => void, where: { host: string } | { path: string }): Promise<{ server: NetServer; port: number; close(): Promise<void> }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => ('path' in where ? server.listen(where.path, resolve) : server.listen(0, where.host, resolve)));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const echo = (socket: Socket): void => {
  socket.on('error', () => {});
  socket.pipe(socket);
};

/** A protocol that collects what arrives and records its close hook's calls. */
function recorder(): { factory: () => Protocol; received: () => string; closes: [CloseReason, string | undefined][] } {
  const chunks: Buffer[] = [];
  const closes: [CloseReason, string | undefined][] = [];
  return {
    factory: () => ({
      data: (_connection: Connection, bytes: Uint8Array) => void chunks.push(Buffer.from(bytes)),
      close: (_connection: Connection, reason: CloseReason, error?: SystemError) => void closes.push([reason, error?.code]),
    }),
    received: () => Buffer.concat(chunks).toString(),
    closes,
  };
}

/** end() to the echo server, which ends when it sees the end: the connection closes gently, its protocol told once. */
async function endsGently(connection: Connection, protocol: ReturnType<typeof recorder>): Promise<void> {
  const closed = closeOf(connection);
  connection.end();
  assert.equal(await closed, ['end', undefined]);
  assert.equal(protocol.closes, [['end', undefined]]);
}

/** Resolves with the connection's 'close' arguments. */
const closeOf = (connection: Connection): Promise<[CloseReason, SystemError | undefined]> =>
  new Promise((resolve) => connection.once('close', (reason, error) => resolve([reason, error])));

test('echo round trip to a node:net server; writes made before the connect are queued and sent, after \'connect\'', async () => {
  const peer = await netServer(echo, { host: HOST });
  try {
    await withLoop('an echo round trip', async (loop) => {
      const protocol = recorder();
      const events: string[] = [];
      const connection = connect(loop, { host: HOST, port: peer.port }, protocol.factory);
      assert.ok(connection.isConnecting);
      connection.on('connect', () => events.push(`connect ${connection.isConnecting}`));
      assert.ok(connection.write('queued '));
      assert.ok(connection.write(Buffer.from('before connect')));
      assert.is(connection.queuedBytes, 'queued before connect'.length);
      await until(() => protocol.received() === 'queued before connect', () => `the echo (${JSON.stringify(protocol.received())})`);
      connection.write(' and after');
      await until(() => protocol.received().endsWith(' and after'), 'the second echo');
      assert.equal(events, ['connect false']);
      assert.is(connection.remotePort, peer.port);
      assert.is(connection.remoteAddress, HOST);
      await endsGently(connection, protocol);
    });
  } finally {
    await peer.close();
  }
});

test('end() before the connect (the name not even resolved): it connects first, then sends its EOF; the peer sees a clean end', async () => {
  const peerEvents: string[] = [];
  const peer = await netServer((socket) => {
    peerEvents.push('connection');
    socket.on('data', (chunk: Buffer) => peerEvents.push(`data ${chunk}`));
    socket.on('end', () => peerEvents.push('end'));
  }, { host: HOST });
  try {
    await withLoop('end() before connect', async (loop) => {
      const protocol = recorder();
      const connection = connect(loop, { host: 'localhost', port: peer.port }, protocol.factory);
      connection.end();
      assert.is(connection.write('too late'), false, 'a write after end() is refused even before the connect');
      assert.equal(await closeOf(connection), ['end', undefined]);
      assert.equal(peerEvents, ['connection', 'end']);
    });
  } finally {
    await peer.close();
  }
});

test('a host name goes through node:dns: localhost connects', async () => {
  const peer = await netServer(echo, { host: HOST });
  try {
    await withLoop('a connect to localhost', async (loop) => {
      const protocol = recorder();
      const connection = connect(loop, { host: 'localhost', port: peer.port }, protocol.factory);
      assert.is(connection.fd, -1, 'no socket before the name resolves');
      const connected = new Promise<void>((resolve) => connection.once('connect', resolve));
      connection.write('by name');
      await connected;
      assert.is(connection.remoteFamily, 'IPv4');
      await until(() => protocol.received() === 'by name', 'the echo by name');
      const closed = closeOf(connection);
      connection.close();
      assert.equal(await closed, ['close', undefined]);
    });
  } finally {
    await peer.close();
  }
});

for (const backend of BACKENDS) {
  test(`${backend}: a refused port: 'close' with ECONNREFUSED, 'error' when listened to, the close hook, and nothing on the loop's error`, async () => {
    // A port nobody listens on: listen, note the port, close.
    const gone = await netServer(() => {}, { host: HOST });
    await gone.close();
    await withLoop(`a refused connect (${backend})`, async (loop) => {
      const protocol = recorder();
      const connection = connect(loop, { host: HOST, port: gone.port }, protocol.factory);
      const errors: string[] = [];
      connection.on('error', (error) => errors.push(error.code ?? 'none'));
      connection.write('never sent');
      const [reason, error] = await closeOf(connection);
      assert.is(reason, 'error');
      assert.is(error?.code, 'ECONNREFUSED');
      assert.equal(errors, ['ECONNREFUSED']);
      assert.equal(protocol.closes, [['error', 'ECONNREFUSED']]);
      assert.ok(connection.isClosed);
      // A write after it closed is refused too.
      assert.is(connection.write('late'), false);
      await until(() => errors.length === 2, 'the write-after-close error');
      assert.equal(errors, ['ECONNREFUSED', 'ERR_STREAM_DESTROYED']);
    }, backend);
  });
}

test('a name that does not resolve: \'close\' with the lookup\'s ENOTFOUND and the close hook', async () => {
  await withLoop('an unresolvable name', async (loop) => {
    const protocol = recorder();
    // .invalid never resolves (RFC 6761); the lookup stays local on a machine without DNS.
    const connection = connect(loop, { host: 'wasmloop.invalid', port: 9 }, protocol.factory);
    const [reason, error] = await closeOf(connection);
    assert.is(reason, 'error');
    assert.ok(['ENOTFOUND', 'EAI_AGAIN'].includes(error?.code ?? ''), `code ${error?.code}`);
    assert.equal(protocol.closes, [['error', error?.code]]);
  });
});

test('a Unix socket path: echo round trip against a node:net Unix server; a missing path is ENOENT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-connect-'));
  const path = join(dir, 'echo.sock');
  const peer = await netServer(echo, { path });
  try {
    await withLoop('a Unix socket round trip', async (loop) => {
      const protocol = recorder();
      const connection = connect(loop, { path }, protocol.factory);
      let connected = false;
      connection.on('connect', () => (connected = true));
      connection.write('over a path');
      await until(() => protocol.received() === 'over a path', 'the echo over a Unix socket');
      assert.ok(connected);
      assert.is(connection.remoteAddress, undefined, 'node:net gives no address for a Unix socket');
      assert.is(connection.setNoDelay(true), connection, 'setNoDelay is a no-op on a Unix socket');
      const closed = closeOf(connection);
      connection.close();
      await closed;

      const missing = connect(loop, { path: join(dir, 'nobody.sock') }, recorder().factory);
      const [reason, error] = await closeOf(missing);
      assert.equal([reason, error?.code], ['error', 'ENOENT']);
    });
  } finally {
    await peer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a connect that takes longer than timeoutMs closes with ETIMEDOUT: a listener whose backlog is full', async () => {
  // A raw listener with backlog 0 that never accepts: once its queue is full
  // the kernel drops further SYNs, and a connect waits (on loopback).
  const listener = sockets.listen(HOST, 0, { backlog: 1 });
  const port = sockets.localPort(listener);
  const fillers: Socket[] = [];
  try {
    await withLoop('a timed-out connect', async (loop) => {
      // Fill the accept queue with plain clients until one stays unconnected.
      for (let i = 0; i < 8; i++) {
        const socket = netConnect(port, HOST);
        socket.on('error', () => {});
        fillers.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const protocol = recorder();
      const started = performance.now();
      const connection = connect(loop, { host: HOST, port }, protocol.factory, { timeoutMs: 300 });
      const [reason, error] = await closeOf(connection);
      const elapsed = performance.now() - started;
      assert.equal([reason, error?.code], ['error', 'ETIMEDOUT']);
      assert.ok(elapsed >= 290, `closed after ${elapsed.toFixed(0)} ms, before the 300 ms bound`);
      assert.equal(protocol.closes, [['error', 'ETIMEDOUT']]);
    });
  } finally {
    for (const socket of fillers) socket.destroy();
    sockets.close(listener);
  }
});

/** A `lookup` option that answers `addresses` (IPv4) for any name and records how it was called. */
function fixedLookup(addresses: string[], calls: unknown[]): ConnectOptions['lookup'] {
  return (hostname, options, callback) => {
    calls.push([hostname, options]);
    setImmediate(() => callback(null, addresses.map((address) => ({ address, family: 4 }))));
  };
}

test('a name of several addresses: each refused one is passed over, the connection made to the next, one Connection throughout', async () => {
  const peer = await netServer(echo, { host: HOST });
  try {
    await withLoop('the next address', async (loop) => {
      const protocol = recorder();
      const calls: unknown[] = [];
      const events: string[] = [];
      // Nothing listens on 127.0.0.2 or 127.0.0.3 at this port: refused, then 127.0.0.1 serves.
      const lookup = fixedLookup(['127.0.0.2', '127.0.0.3', HOST], calls);
      const connection = connect(loop, { host: 'several.test', port: peer.port }, protocol.factory, { lookup });
      connection.on('connect', () => events.push('connect'));
      connection.on('close', (reason) => events.push(`close ${reason}`));
      connection.write('through the third');
      await until(() => protocol.received() === 'through the third', () => `the echo (${JSON.stringify(protocol.received())})`);
      assert.equal(calls, [['several.test', { all: true, verbatim: false }]]);
      assert.equal(events, ['connect'], 'the refused attempts showed');
      assert.is(connection.remoteAddress, HOST);
      await endsGently(connection, protocol);
    });
  } finally {
    await peer.close();
  }
});

test('every address refused: one close, with the last error; no fd left behind', async () => {
  const fds = openFds();
  const listener = sockets.listen(HOST, 0);
  const port = sockets.localPort(listener);
  sockets.close(listener);
  await withLoop('all refused', async (loop) => {
    const protocol = recorder();
    const connection = connect(loop, { host: 'nowhere.test', port }, protocol.factory, { lookup: fixedLookup(['127.0.0.2', '127.0.0.3', HOST], []) });
    const [reason, error] = await closeOf(connection);
    assert.equal([reason, error?.code], ['error', 'ECONNREFUSED']);
    assert.equal(protocol.closes, [['error', 'ECONNREFUSED']]);
  });
  assert.is(openFds(), fds, 'an attempt left its socket open');
});

test("the lookup option: one address as dns.lookup gives it without `all`, its error as the connection's, a non-function refused", async () => {
  const peer = await netServer(echo, { host: HOST });
  try {
    await withLoop('lookup shapes', async (loop) => {
      const protocol = recorder();
      const single: ConnectOptions['lookup'] = (_hostname, _options, callback) => setImmediate(() => callback(null, HOST, 4));
      const connection = connect(loop, { host: 'one.test', port: peer.port }, protocol.factory, { lookup: single });
      connection.write('one');
      await until(() => protocol.received() === 'one', 'the echo through a single address');
      connection.close();
      const failing: ConnectOptions['lookup'] = (_hostname, _options, callback) =>
        setImmediate(() => callback(Object.assign(new Error('getaddrinfo ENOTFOUND none.test'), { code: 'ENOTFOUND' }), []));
      const [reason, error] = await closeOf(connect(loop, { host: 'none.test', port: peer.port }, recorder().factory, { lookup: failing }));
      assert.equal([reason, error?.code], ['error', 'ENOTFOUND']);
      assert.throws(
        () => connect(loop, { host: 'x.test', port: peer.port }, recorder().factory, { lookup: 'dns' as unknown as ConnectOptions['lookup'] }),
        (thrown: NodeJS.ErrnoException) => thrown.code === 'ERR_INVALID_ARG_TYPE',
      );
    });
  } finally {
    await peer.close();
  }
});

test.run();
