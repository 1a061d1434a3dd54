// A peer that resets (SO_LINGER 0 close, from node:net's resetAndDestroy)
// closes its connection quietly: counted in stats.resets, no 'error' event,
// nothing printed, and the loop's error counter stays 0.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Connection } from '../src/connection.js';
import { Server, type ProtocolFactory } from '../src/server.js';
import { connected, HOST, tick, turnUntil, until, withServer } from './helpers.js';
import { TestLoop } from './test-loop.js';

const MiB = 1024 * 1024;

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
    const client = await connected(HOST, server.listen());
    turnUntil(loop, () => connection !== undefined, 'the accept');
    await resetAndWait(client);
    // The loop has not turned since the reset: the write is what finds it.
    await tick(20);
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

test('a peer that resets while the server reads: closed as a reset, the other connection unharmed', async () => {
  const protocol: ProtocolFactory = () => ({ data: () => {} });
  await withServer(protocol, {}, 'reset while reading', async (server, port) => {
    const seen = watchErrors(server);
    const steady = await connected(HOST, port);
    const resetter = await connected(HOST, port);
    resetter.write('some bytes');
    await until(() => server.stats.accepted === 2, 'two accepts');
    await resetAndWait(resetter);
    await until(() => server.stats.active === 1, 'the reset connection to close');
    assert.is(server.stats.resets, 1);
    assert.equal(seen.errors, []);
    steady.destroy();
  });
});

test.run();
