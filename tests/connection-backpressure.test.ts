import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Connection } from '../src/net/connection.js';
import { echoProtocol } from '../src/protocols/echo.js';
import { httpProtocol } from '../src/protocols/http.js';
import type { ProtocolFactory } from '../src/net/protocol.js';
import { sockets } from '../src/index.js';
import { typeErr, throws } from './helpers/errors.js';
import { closeAll, HOST, pair } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const HIGH_WATER_MARK = 64 * KiB;
const LOW_WATER_MARK = 16 * KiB;
const READ_BUFFER_SIZE = 64 * KiB;
/**
 * The most a paused connection can have queued. Reading pauses inside the
 * read call whose data took the queue to highWaterMark or beyond, and before
 * that read the queue was below highWaterMark; one read adds at most
 * readBufferSize bytes, and once paused nothing more is read. The socket
 * buffers' slack (kernel send and receive buffers, several MiB on loopback)
 * holds the rest of the stream, but that is the kernel's memory, never part
 * of queuedBytes. So the queue stays strictly below this bound.
 */
const QUEUE_BOUND = HIGH_WATER_MARK + READ_BUFFER_SIZE;

interface Received {
  bytes(): Buffer;
  /** Resolves once at least `count` bytes have arrived. */
  atLeast(count: number): Promise<void>;
  /** Resolves at 'close': whether 'end' came first, and any error. */
  closed: Promise<{ sawEnd: boolean; error: Error | undefined }>;
}

/** Records what a (possibly paused) socket receives. */
function receive(socket: Socket): Received {
  const chunks: Buffer[] = [];
  let length = 0;
  let waiter: { count: number; resolve(): void } | undefined;
  let sawEnd = false;
  let error: Error | undefined;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    if (waiter && length >= waiter.count) waiter.resolve();
  });
  socket.on('end', () => (sawEnd = true));
  socket.on('error', (e) => (error = e));
  const closed = new Promise<{ sawEnd: boolean; error: Error | undefined }>((resolve) =>
    socket.on('close', () => resolve({ sawEnd, error })),
  );
  return {
    bytes: () => Buffer.concat(chunks),
    atLeast: (count) =>
      length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiter = { count, resolve };
          }),
    closed,
  };
}

test('a client that does not read pauses reading with a bounded queue; all 8 MiB arrive once it reads', async () => {
  const options = { highWaterMark: HIGH_WATER_MARK, lowWaterMark: LOW_WATER_MARK, readBufferSize: READ_BUFFER_SIZE };
  await withServer(echoProtocol, options, 'backpressure', async (server, port) => {
    const payload = randomBytes(8 * MiB);
    const client = await connected(HOST, port);
    try {
      client.pause();
      const received = receive(client);
      client.write(payload);

      const connection = (): Connection | undefined => server.connections[0];
      await until(() => connection()?.isReadPaused === true, 'the connection to pause reading');

      // Sample the stalled connection for a while: the queue never grows past
      // the bound, however much the client still has to send.
      for (let sample = 0; sample < 20; sample++) {
        const queued = connection()!.queuedBytes;
        assert.ok(queued < QUEUE_BOUND, `queuedBytes ${queued} >= bound ${QUEUE_BOUND}`);
        assert.ok(queued > 0, 'the stalled connection has output queued');
        await tick(10);
      }
      assert.ok(connection()!.isReadPaused, 'still paused while the client does not read');

      client.resume();
      await received.atLeast(payload.length);
      const echoed = received.bytes();
      assert.is(echoed.length, payload.length);
      assert.ok(echoed.equals(payload), 'echoed bytes differ from the bytes sent');

      // Everything was delivered, so nothing is queued and reading is back on.
      const after = connection()!;
      assert.is(after.queuedBytes, 0);
      assert.is(after.isReadPaused, false);
      assert.is(after.isReading, true);
      assert.is(after.isClosed, false);

      client.end();
      const { sawEnd, error } = await received.closed;
      assert.is(error, undefined);
      assert.ok(sawEnd, 'the server ended the connection after the client did');
      assert.ok(after.isClosed);
      assert.is(server.stats.active, 0);
      assert.is(server.stats.accepted, 1);
      assert.is(server.connections.length, 0);
    } finally {
      client.destroy();
    }
  });
});

test('an HTTP client that pipelines 100,000 requests without reading: the queue stays bounded, every reply arrives in order', async () => {
  const options = { highWaterMark: HIGH_WATER_MARK, lowWaterMark: LOW_WATER_MARK, readBufferSize: READ_BUFFER_SIZE };
  const count = 100_000;
  const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
  const reply = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
  await withServer(httpProtocol(), options, 'pipelined slow reader', async (server, port) => {
    const client = await connected(HOST, port);
    try {
      client.pause();
      const received = receive(client);
      client.write(request.repeat(count));
      const connection = (): Connection | undefined => server.connections[0];
      await until(() => connection()?.isReadPaused === true, 'the connection to pause reading');
      // Reading stops past the high watermark, but the replies to the read
      // that crossed it are queued whole: a read's worth of requests, each
      // answered by a longer reply.
      const bound = HIGH_WATER_MARK + Math.ceil(READ_BUFFER_SIZE / request.length) * reply.length;
      for (let sample = 0; sample < 10; sample++) {
        assert.ok(connection()!.queuedBytes < bound, `queuedBytes ${connection()!.queuedBytes} >= bound ${bound}`);
        await tick(10);
      }
      client.resume();
      await received.atLeast(count * reply.length);
      assert.ok(received.bytes().equals(Buffer.from(reply.repeat(count))), 'every reply, in order, nothing else');
    } finally {
      client.destroy();
    }
  });
});

test('Connection.write after end() is dropped: the peer gets the queued bytes, then EOF', async () => {
  const big = randomBytes(16 * MiB);
  let observed: { queuedAfterWrite: number; queuedAfterDroppedWrite: number; closedAfterEnd: boolean } | undefined;
  const protocol: ProtocolFactory = () => ({
    data(connection) {
      connection.write(big);
      const queuedAfterWrite = connection.queuedBytes;
      connection.end();
      connection.write(Buffer.from('dropped'));
      observed = { queuedAfterWrite, queuedAfterDroppedWrite: connection.queuedBytes, closedAfterEnd: connection.isClosed };
    },
  });
  await withServer(protocol, {}, 'write after end', async (server, port) => {
    const client = await connected(HOST, port);
    try {
      client.pause();
      const received = receive(client);
      client.write('x');
      await until(() => observed !== undefined, 'the protocol to run');
      // 16 MiB is more than the socket takes at once, so end() had to wait for the queue.
      assert.ok(observed!.queuedAfterWrite > 0, 'precondition: output was queued');
      assert.is(observed!.queuedAfterDroppedWrite, observed!.queuedAfterWrite, 'the write after end() queued nothing');
      assert.is(observed!.closedAfterEnd, false, 'end() waits for the queue to drain');

      client.resume();
      const { sawEnd, error } = await received.closed;
      assert.is(error, undefined);
      assert.ok(sawEnd);
      const bytes = received.bytes();
      assert.is(bytes.length, big.length, 'exactly the bytes written before end()');
      assert.ok(bytes.equals(big));
      // The server sent EOF and lingered until the client's own EOF, so it closes just after the client.
      await until(() => server.stats.active === 0, 'the server to see the EOF and close');
      assert.is(server.stats.resets, 0);
    } finally {
      client.destroy();
    }
  });
});

test('Connection.close() discards the queue: the peer gets only what the kernel already took', async () => {
  const big = randomBytes(16 * MiB);
  const protocol: ProtocolFactory = () => ({
    data(connection) {
      connection.write(big);
    },
  });
  await withServer(protocol, {}, 'close discards queue', async (server, port) => {
    const client = await connected(HOST, port);
    try {
      client.pause();
      const received = receive(client);
      client.write('x');
      await until(() => (server.connections[0]?.queuedBytes ?? 0) > 0, 'output to be queued');

      const connection = server.connections[0]!;
      const queued = connection.queuedBytes;
      connection.close();
      assert.is(connection.isClosed, true);
      assert.is(connection.queuedBytes, 0, 'the queue is discarded');
      assert.is(server.stats.active, 0);
      assert.is(server.connections.length, 0);
      connection.write(Buffer.from('after close'));
      assert.is(connection.queuedBytes, 0, 'a write after close() is dropped');

      client.resume();
      const { sawEnd, error } = await received.closed;
      assert.is(error, undefined);
      assert.ok(sawEnd, 'a clean close (FIN), not a reset');
      const bytes = received.bytes();
      assert.is(bytes.length, big.length - queued, 'everything but the discarded queue arrived');
      assert.ok(bytes.equals(big.subarray(0, bytes.length)), 'what arrived is the start of the stream');
      assert.is(server.stats.resets, 0);
    } finally {
      client.destroy();
    }
  });
});

test('write() of anything but bytes or a string is a TypeError, corked or not, and nothing is queued or sent', () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  const closed: string[] = [];
  try {
    loop.addClientSocket(local, { read: () => {}, write: () => {} });
    const connection = new Connection(local, {
      loop,
      limits: { highWaterMark: HIGH_WATER_MARK, lowWaterMark: LOW_WATER_MARK },
      events: {
        closed: (_, reason) => closed.push(reason),
        lingering: () => {},
        drained: () => {},
        readingChanged: () => {},
      },
    });
    throws(() => connection.write(42 as unknown as Uint8Array), typeErr);
    connection.cork();
    throws(() => connection.write([1, 2, 3] as unknown as Uint8Array), typeErr);
    assert.is(connection.queuedBytes, 0);
    connection.write(Buffer.from('ok'));
    connection.uncork();
    const got = Buffer.alloc(16);
    let n: number | null = null;
    for (let i = 0; i < 100 && n === null; i++) {
      n = sockets.read(peer, got);
      if (n === null) loop.runOnce(10);
    }
    assert.is(got.subarray(0, n ?? 0).toString(), 'ok', 'only the bytes were sent');
    connection.close();
    assert.equal(closed, ['close']);
  } finally {
    loop.close();
    closeAll(peer);
  }
});

test.run();
