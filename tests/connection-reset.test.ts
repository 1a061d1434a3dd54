// A peer that resets (SO_LINGER 0 close, from node:net's resetAndDestroy)
// closes its connection quietly: counted in stats.resets, no 'error' event,
// nothing printed, and the loop's error counter stays 0.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoProtocol } from '../src/index.js';
import type { Connection } from '../src/net/connection.js';
import type { ProtocolFactory } from '../src/net/protocol.js';
import { Server } from '../src/net/server.js';
import { HOST, tcpSocket, turnUntil } from './helpers/fds.js';
import { patterned, withServer } from './helpers/servers.js';
import { connected, until } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const MiB = 1024 * 1024;

/**
 * Whether the kernel still has the loopback TCP connection from
 * `remotePort` to `localPort` established: once a reset arrives, it has
 * not, whether or not anyone has looked at the socket.
 */
const established = (localPort: number, remotePort: number): boolean => tcpSocket(localPort, remotePort)?.state === '01';

/** Collects what `socket` receives; `atLeast(n)` resolves once n bytes are in. */
function receive(socket: Socket): { bytes(): Buffer; atLeast(count: number, what: string): Promise<void> } {
  const chunks: Buffer[] = [];
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  });
  return {
    bytes: () => Buffer.concat(chunks),
    atLeast: (count, what) => until(() => received >= count, () => `${what} (${received} of ${count} bytes)`),
  };
}

function resetAndWait(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.resetAndDestroy();
  });
}

/** Records every error the loop reports. */
function watchErrors(server: Server): { errors: unknown[] } {
  const seen = { errors: [] as unknown[] };
  server.loop.on('error', (error) => seen.errors.push(error));
  return seen;
}

test('a peer that resets while the server has 32 MiB queued for it: closed as a reset, quietly', async () => {
  const big = randomBytes(32 * MiB);
  const protocol: ProtocolFactory = () => ({ data: (connection) => connection.write(big) });
  await withServer(protocol, {}, 'reset mid-write', async (server, port) => {
    const seen = watchErrors(server);
    const client = await connected(HOST, port);
    let received = 0;
    client.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Stop reading once the server is surely mid-write, then reset.
      if (received >= MiB) client.pause();
    });
    client.write('go');
    await until(() => received >= MiB && (server.connections[0]?.queuedBytes ?? 0) > 0, 'the server to be mid-write');
    await resetAndWait(client);
    await until(() => server.stats.active === 0, 'the reset connection to close');
    assert.is(server.stats.resets, 1);
    assert.equal(seen.errors, []);
    assert.is(server.loop.metrics().errors, 0);
  });
});

test('a write after the peer reset (ECONNRESET, then EPIPE) closes the connection as a reset without throwing', async () => {
  const loop = new TestLoop();
  let connection: Connection | undefined;
  const server = new Server(loop, (c) => {
    connection = c;
    return { data: () => {} };
  });
  try {
    const seen = watchErrors(server);
    const port = server.listen();
    const client = await connected(HOST, port);
    const clientPort = client.localPort!;
    turnUntil(loop, () => connection !== undefined, 'the accept');
    assert.ok(established(port, clientPort), 'the connection is not in /proc/net/tcp');
    await resetAndWait(client);
    // The loop has not turned since the reset: the write is what finds it.
    await until(() => !established(port, clientPort), 'the reset to reach the server socket');
    connection!.write(Buffer.from('too late'));
    assert.ok(connection!.isClosed);
    assert.is(server.stats.resets, 1);
    assert.is(server.stats.active, 0);
    assert.is(loop.runOnce(0), 0, 'nothing is left registered for the dead socket');
    assert.equal(seen.errors, []);
  } finally {
    server.close();
    loop.close();
  }
});

test('a peer that resets while the server reads: closed as a reset; the other connection echoes its own bytes before and after', async () => {
  await withServer(echoProtocol, {}, 'reset while reading', async (server, port) => {
    const seen = watchErrors(server);
    const steady = await connected(HOST, port);
    const echoed = receive(steady);
    const before = patterned(64 * 1024, 1);
    const after = patterned(64 * 1024, 2);
    steady.write(before);
    await echoed.atLeast(before.length, 'the echo before the reset');

    const resetter = await connected(HOST, port);
    resetter.on('data', () => {});
    resetter.write(patterned(256 * 1024, 3));
    await until(() => server.stats.accepted === 2, 'two accepts');
    await resetAndWait(resetter);
    await until(() => server.stats.active === 1, 'the reset connection to close');
    assert.is(server.stats.resets, 1);

    steady.write(after);
    await echoed.atLeast(before.length + after.length, 'the echo after the reset');
    const closed = new Promise<void>((resolve) => steady.on('close', () => resolve()));
    steady.end();
    await closed;
    // All in, the connection closed: nothing else can arrive.
    assert.ok(echoed.bytes().equals(Buffer.concat([before, after])), 'the steady connection got bytes other than its own');
    assert.equal(seen.errors, []);
  });
});

test.run();
