// connection.bytesRead and connection.bytesWritten, as node:net users read
// them for their logs: what the socket gave and what the kernel took, for a
// served connection (an echo to a node:net client, a reply held in the queue
// by a client that does not read) and an outbound one (connect()).
import { createServer, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, type Connection, type Protocol } from '../src/index.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const MiB = 1024 * 1024;

/** A protocol that writes back every read, and the connections it served. */
function echoing(): { factory: (connection: Connection) => Protocol; connections: Connection[] } {
  const connections: Connection[] = [];
  return {
    connections,
    factory: (connection) => {
      connections.push(connection);
      return { data: (c: Connection, bytes: Uint8Array) => void c.write(bytes) };
    },
  };
}

/** Resolves once `socket` has received `count` bytes; the bytes. */
function receive(socket: Socket, count: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise((resolve) => {
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= count) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
  });
}

test('an echo: bytesRead is what the client sent, in three writes; bytesWritten what came back', async () => {
  const served = echoing();
  await withServer(served.factory, {}, 'byte counts of an echo', async (_server, port) => {
    const client = await connected(HOST, port);
    try {
      const back = receive(client, 3 + 5000 + 70_000);
      client.write('abc');
      client.write(Buffer.alloc(5000, 1));
      client.write(Buffer.alloc(70_000, 2));
      assert.is((await withTimeout(back, 'the echo', 10_000)).length, 75_003);
      const [connection] = served.connections;
      assert.is(connection!.bytesRead, 75_003);
      assert.is(connection!.bytesWritten, 75_003);
      assert.is(connection!.queuedBytes, 0);
    } finally {
      client.destroy();
    }
  });
});

for (const [where, fromHandler] of [['from the read handler (corked, then one writev)', true], ['from outside a handler (written at once, the rest queued)', false]] as const) {
  test(`a reply the client does not read, ${where}: bytesWritten is what the kernel took, queuedBytes the rest, and all of it once read`, async () => {
    const connections: Connection[] = [];
    const reply = Buffer.alloc(16 * MiB, 7);
    let asked = false;
    const factory = (connection: Connection): Protocol => {
      connections.push(connection);
      return {
        data: (c: Connection) => {
          asked = true;
          if (fromHandler) c.write(reply);
        },
      };
    };
    await withServer(factory, {}, 'byte counts with a queue', async (_server, port) => {
      const client = await connected(HOST, port);
      try {
        client.pause();
        client.write('go');
        await until(() => asked, 'the request');
        const connection = connections[0]!;
        if (!fromHandler) assert.is(connection.write(reply), false, 'a paused client took it all');
        await until(() => connection.queuedBytes > 0, 'a queued reply');
        assert.is(connection.bytesRead, 2);
        assert.ok(connection.bytesWritten < reply.length, `all ${connection.bytesWritten} bytes taken by the kernel of a paused client`);
        assert.is(connection.bytesWritten + connection.queuedBytes, reply.length);
        const all = receive(client, reply.length);
        client.resume();
        await withTimeout(all, 'the whole reply', 15_000);
        await until(() => connection.queuedBytes === 0, 'the queue to drain');
        assert.is(connection.bytesWritten, reply.length);
      } finally {
        client.destroy();
      }
    });
  });
}

test('connect(): bytesWritten counts what was queued before the connect once it is sent; bytesRead the reply', async () => {
  const peer = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end('0123456789'));
  });
  await new Promise<void>((resolve) => peer.listen(0, HOST, resolve));
  const port = (peer.address() as { port: number }).port;
  const loop = new TestLoop();
  const running = loop.run();
  try {
    let received = 0;
    const connection = connect(loop, { host: HOST, port }, () => ({ data: (_c: Connection, bytes: Uint8Array) => void (received += bytes.length) }));
    connection.write('hello, peer');
    assert.is(connection.bytesWritten, 0, 'nothing sent before the connect');
    await until(() => received === 10, 'the reply');
    assert.is(connection.bytesWritten, 'hello, peer'.length);
    assert.is(connection.bytesRead, 10);
  } finally {
    loop.stop();
    await running;
    loop.close();
    await new Promise<void>((resolve) => peer.close(() => resolve()));
  }
});

test.run();
