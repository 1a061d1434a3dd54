// Replies count against the connection's high watermark as they are produced:
// a client that pipelines many requests in one write and never reads costs
// about one watermark of queued output, not the sum of its replies; once it
// reads, every reply arrives, in order. RESP and HTTP share the mechanism
// (needsDrain, then resume()).
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Server } from '../src/net/server.js';
import { httpProtocol } from '../src/protocols/http.js';
import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { patterned, withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const HIGH_WATER_MARK = MiB;
const REQUESTS = 300;
const VALUE_SIZE = 128 * KiB;

interface Received {
  bytes(): Buffer;
  length(): number;
}

function receive(socket: Socket): Received {
  const chunks: Buffer[] = [];
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
  });
  socket.on('error', () => {});
  return { bytes: () => Buffer.concat(chunks), length: () => length };
}

/**
 * Holds the stalled connection's queue against the bound for a while: the
 * watermark plus the one reply that may cross it. Returns the largest queue seen.
 */
async function stalledQueue(server: Server, bound: number): Promise<number> {
  const connection = (): Server['connections'][number] => server.connections[0]!;
  await until(() => server.connections.length === 1 && connection().needsDrain, 'the connection to need a drain');
  let largest = 0;
  for (let sample = 0; sample < 20; sample++) {
    const queued = connection().queuedBytes;
    largest = Math.max(largest, queued);
    assert.ok(queued <= bound, `queuedBytes ${queued} > bound ${bound}`);
    assert.ok(connection().needsDrain, 'still over the watermark while the client does not read');
    await tick(10);
  }
  return largest;
}

test(`RESP: ${REQUESTS} GETs of ${VALUE_SIZE / KiB} KiB values in one write, never read: about one watermark queued; all replies in order once read`, async () => {
  const store = new Map<string, Uint8Array>();
  const values: Buffer[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    values.push(patterned(VALUE_SIZE, i + 1));
    store.set(`k${i}`, values[i]!);
  }
  const expected = Buffer.concat(values.map((value) => Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')])));
  await withServer(respProtocol({ store }), { highWaterMark: HIGH_WATER_MARK }, 'resp output bound', async (server, port) => {
    const client = await connected(HOST, port);
    try {
      client.pause();
      const received = receive(client);
      let requests = '';
      for (let i = 0; i < REQUESTS; i++) requests += `GET k${i}\r\n`;
      client.write(requests);
      await stalledQueue(server, HIGH_WATER_MARK + VALUE_SIZE + 64);
      client.resume();
      await until(() => received.length() >= expected.length, () => `all replies (${received.length()} of ${expected.length} bytes)`);
      assert.ok(received.bytes().equals(expected), 'replies differ from the values, in order');
      assert.is(server.connections[0]!.queuedBytes, 0);
      assert.is(server.connections[0]!.needsDrain, false);
    } finally {
      client.destroy();
    }
  });
});

test(`HTTP: ${REQUESTS} pipelined GET /metrics of ${VALUE_SIZE / KiB} KiB, never read: about one watermark queued; all replies in order once read`, async () => {
  let served = 0;
  const body = (n: number): string => `${String(n).padStart(8, '0')}${'m'.repeat(VALUE_SIZE - 8)}`;
  const metrics = (): string => body(served++);
  await withServer(httpProtocol({ metrics }), { highWaterMark: HIGH_WATER_MARK }, 'http output bound', async (server, port) => {
    const client = await connected(HOST, port);
    try {
      client.pause();
      const received = receive(client);
      client.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(REQUESTS));
      await stalledQueue(server, HIGH_WATER_MARK + VALUE_SIZE + 256);
      assert.ok(served < REQUESTS / 4, `${served} of ${REQUESTS} requests answered while the client does not read`);
      client.resume();
      const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: ${VALUE_SIZE}\r\n\r\n`;
      const expected = Buffer.from(Array.from({ length: REQUESTS }, (_, i) => head + body(i)).join(''), 'latin1');
      await until(() => received.length() >= expected.length, () => `all replies (${received.length()} of ${expected.length} bytes)`);
      assert.ok(received.bytes().equals(expected), 'replies differ, or out of order');
      assert.is(served, REQUESTS);
    } finally {
      client.destroy();
    }
  });
});

test.run();
