import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoProtocol } from '../src/protocols/echo.js';
import type { ProtocolFactory } from '../src/net/protocol.js';
import { DEFAULT_SHUTDOWN_MS, Server } from '../src/net/server.js';
import { sockets } from '../src/index.js';
import { rangeErr, throws } from './helpers/errors.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const MiB = 1024 * 1024;

/** A protocol that answers any bytes with `reply`. */
const replying = (reply: Buffer): ProtocolFactory => () => ({ data: (connection) => connection.write(reply) });

function collect(socket: Socket): { bytes(): Buffer; closed: Promise<{ sawEnd: boolean; error: Error | undefined }> } {
  const chunks: Buffer[] = [];
  let sawEnd = false;
  let error: Error | undefined;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (sawEnd = true));
  socket.on('error', (e) => (error = e));
  const closed = new Promise<{ sawEnd: boolean; error: Error | undefined }>((resolve) => socket.on('close', () => resolve({ sawEnd, error })));
  return { bytes: () => Buffer.concat(chunks), closed };
}

function refused(port: number): Promise<boolean> {
  return connected(HOST, port).then(
    (socket) => {
      socket.destroy();
      return false;
    },
    (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED',
  );
}

test('shutdown() stops accepting, lets 16 MiB of queued output drain to a slow reader, then resolves', async () => {
  const big = randomBytes(16 * MiB);
  await withServer(replying(big), {}, 'graceful drain', async (server, port) => {
    const client = await connected(HOST, port);
    client.pause();
    const received = collect(client);
    client.write('go');
    await until(() => (server.connections[0]?.queuedBytes ?? 0) > 0, 'output to queue up');

    let resolved = false;
    const done = server.shutdown(5000).then(() => (resolved = true));
    assert.ok(server.isShuttingDown);
    assert.ok(await refused(port), 'the listener is closed at once');
    await tick(50);
    assert.is(resolved, false, 'waits while output is queued');
    assert.is(server.stats.active, 1);

    client.resume();
    await withTimeout(done, 'shutdown to resolve');
    const { sawEnd, error } = await received.closed;
    assert.is(error, undefined);
    assert.ok(sawEnd);
    assert.ok(received.bytes().equals(big), 'every queued byte arrived');
    assert.is(server.stats.active, 0);
    assert.is(server.stats.shutdownForced, 0);
  });
});

test('shutdown(deadlineMs) closes what has not drained by the deadline, counted as forced', async () => {
  const big = randomBytes(16 * MiB);
  await withServer(replying(big), {}, 'forced close', async (server, port) => {
    const stuck = await connected(HOST, port);
    stuck.pause();
    const stuckResult = collect(stuck);
    const idle = await connected(HOST, port);
    const idleResult = collect(idle);
    stuck.write('go');
    await until(() => server.stats.active === 2 && (server.connections.find((c) => c.queuedBytes > 0) !== undefined), 'output to queue up');

    const started = performance.now();
    await withTimeout(server.shutdown(150), 'shutdown to resolve');
    const took = performance.now() - started;
    assert.ok(took >= 150, `resolved after ${took.toFixed(1)} ms, before the deadline`);
    assert.is(server.stats.shutdownForced, 1);
    assert.is(server.stats.active, 0);
    // The idle connection had nothing queued: it was ended cleanly at once.
    const idleEnd = await idleResult.closed;
    assert.ok(idleEnd.sawEnd);
    assert.is(idleEnd.error, undefined);
    stuck.resume();
    await stuckResult.closed;
    assert.ok(stuckResult.bytes().length < big.length, 'the stuck reader did not get everything');
  });
});

test('shutdown() with no connections resolves at once; calling it again returns the same promise', async () => {
  const loop = new TestLoop();
  const server = new Server(loop, echoProtocol);
  try {
    const port = server.listen();
    const first = server.shutdown();
    assert.is(server.shutdown(10), first);
    await withTimeout(first, 'shutdown with nothing open');
    assert.ok(await refused(port));
    throws(() => server.listen(), { type: Error, code: 'ERR_SERVER_SHUT_DOWN' });
    // A connection handed over after shutdown is refused, and its fd closed.
    const listener = sockets.listen(HOST, 0);
    const peer = sockets.connect(HOST, sockets.localPort(listener));
    const before = loop.size;
    throws(() => server.adopt(peer), { type: Error, code: 'ERR_SERVER_SHUT_DOWN' });
    assert.is(loop.size, before);
    throws(() => sockets.close(peer), { type: Error, code: 'EBADF' });
    sockets.close(listener);
  } finally {
    server.close();
    loop.close();
  }
});

test('shutdown() checks its deadline; the default is 5 s', () => {
  assert.is(DEFAULT_SHUTDOWN_MS, 5000);
  const loop = new TestLoop();
  const server = new Server(loop, echoProtocol);
  try {
    throws(() => server.shutdown(-1), rangeErr);
    throws(() => server.shutdown(0.5), rangeErr);
    assert.is(server.isShuttingDown, false);
  } finally {
    loop.close();
  }
});

test.run();
