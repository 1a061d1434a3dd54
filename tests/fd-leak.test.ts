// File-descriptor leaks: after each scenario is cleaned up, the process holds
// exactly the fds it held before (counted in /proc/self/fd).
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { SystemError } from '../src/index.js';
import { Server } from '../src/net/server.js';
import { echoProtocol } from '../src/protocols/echo.js';
import { sockets } from '../src/index.js';
import { HOST, isOpen, openFds as fdCount } from './helpers/fds.js';
import { withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

/** Lets Node finish closing handles (uv_close callbacks run a turn later). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

function errorOf(fn: () => unknown): SystemError {
  try {
    fn();
  } catch (error) {
    return error as SystemError;
  }
  assert.unreachable('expected an error');
  throw new Error('unreachable');
}

/**
 * libuv reserves one fd for good (its EMFILE trick: /dev/null, held by the
 * loop) when the first stream of the process is created. Create one before
 * the baseline so that fd is not counted as a leak.
 */
async function warmUpLibuvStreams(): Promise<void> {
  const server = createServer();
  server.listen(0, HOST);
  await withTimeout(new Promise((resolve) => server.once('listening', resolve)), 'a warm-up listen');
  await new Promise((resolve) => server.close(resolve));
  await settle();
}

test('an echo Server with 20 node:net clients under run() leaks no fds once closed', async () => {
  await warmUpLibuvStreams();
  const baseline = fdCount();
  const loop = new TestLoop();
  const server = new Server(loop, echoProtocol, { host: HOST, port: 0 });
  const clients: Socket[] = [];
  try {
    const port = server.listen();
    const running = loop.run();
    const exchanges: Promise<string>[] = [];
    for (let i = 0; i < 20; i++) {
      const client = netConnect(port, HOST);
      clients.push(client);
      const message = `client ${i}: ${'x'.repeat(100 * i)}`;
      exchanges.push(new Promise<string>((resolve, reject) => {
        let echoed = '';
        client.setEncoding('latin1');
        client.on('error', reject);
        client.on('data', (chunk: string) => {
          echoed += chunk;
          if (echoed.length >= message.length) resolve(echoed);
        });
        client.write(message);
      }));
    }
    const echoed = await withTimeout(Promise.all(exchanges), '20 echoes');
    echoed.forEach((text, i) => assert.is(text, `client ${i}: ${'x'.repeat(100 * i)}`));
    assert.is(server.stats.accepted, 20);
    assert.is(server.stats.active, 20);
    assert.ok(fdCount() >= baseline + 20 + 20 + 2, 'expected client, connection, listener and epoll fds');
    loop.stop();
    await withTimeout(running, 'run() to resolve');
  } finally {
    loop.stop();
    server.close();
    loop.close();
    for (const client of clients) client.destroy();
  }
  await settle();
  assert.is(server.stats.active, 0);
  assert.is(fdCount(), baseline);
});

test('loop.close() closes its registered client and server sockets and its epoll fd', () => {
  const baseline = fdCount();
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const peer = sockets.connect(HOST, sockets.localPort(listenFd));
  let local = -1;
  try {
    loop.addServerSocket(listenFd, (fd) => {
      local = fd;
      loop.addClientSocket(fd, { read: () => {} });
    });
    loop.addClientSocket(peer, { write: () => {} }, { writable: false });
    for (let i = 0; i < 200 && local < 0; i++) loop.runOnce(50);
    assert.ok(local >= 0, 'timed out waiting for the accept');
    assert.is(loop.size, 3);
    assert.is(fdCount(), baseline + 4); // epoll, listener, peer, accepted
  } finally {
    loop.close();
  }
  for (const fd of [listenFd, peer, local]) assert.is(isOpen(fd), false, `fd ${fd} still open after loop.close()`);
  assert.is(loop.size, 0);
  assert.is(fdCount(), baseline);
});

test('failed registrations (EEXIST, EBADF) change nothing and leak nothing', () => {
  const baseline = fdCount();
  const loop = new TestLoop();
  const listenFd = sockets.listen(HOST, 0);
  const peer = sockets.connect(HOST, sockets.localPort(listenFd));
  const closed = sockets.connect(HOST, sockets.localPort(listenFd));
  sockets.close(closed);
  try {
    loop.addServerSocket(listenFd, () => {});
    loop.addClientSocket(peer, { read: () => {} });
    assert.is(loop.size, 2);

    const twiceServer = errorOf(() => loop.addServerSocket(listenFd, () => {}));
    assert.is(twiceServer.code, 'EEXIST');
    assert.is(twiceServer.syscall, 'epoll_ctl');
    const twiceClient = errorOf(() => loop.addClientSocket(peer, { read: () => {} }));
    assert.is(twiceClient.code, 'EEXIST');
    const asClient = errorOf(() => loop.addClientSocket(listenFd, { read: () => {} }));
    assert.is(asClient.code, 'EEXIST');

    for (let i = 0; i < 10; i++) {
      const badf = errorOf(() => loop.addClientSocket(closed, { read: () => {} }));
      assert.is(badf.code, 'EBADF');
      assert.is(badf.syscall, 'epoll_ctl');
      assert.is(errorOf(() => loop.addServerSocket(closed, () => {})).code, 'EBADF');
    }
    assert.is(loop.isRegistered(closed), false);
    assert.is(loop.size, 2);
    assert.ok(loop.isRegistered(listenFd));
    assert.ok(loop.isRegistered(peer));
    assert.is(fdCount(), baseline + 3); // epoll, listener, peer
  } finally {
    loop.close();
  }
  assert.is(isOpen(listenFd), false);
  assert.is(isOpen(peer), false);
  assert.is(fdCount(), baseline);
});

test('creating and closing 100 loops leaks nothing', () => {
  const baseline = fdCount();
  for (let i = 0; i < 100; i++) {
    const loop = new TestLoop({ maxEvents: 16, maxFds: 4096 });
    try {
      assert.is(fdCount(), baseline + 1);
      assert.is(loop.runOnce(0), 0);
    } finally {
      loop.close();
    }
    assert.ok(loop.isClosed);
  }
  assert.is(fdCount(), baseline);
});

test.run();
