// Writes that come from a loop timer, outside any read: the bytes arrive in
// the order written, interleaved in order with replies written from reads;
// and past the high watermark write() returns false and 'drain' comes from
// the socket turning writable (no read involved), so a producer driven by
// timers alone can pace itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Connection, Protocol } from '../src/index.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, until } from './helpers/waiting.js';

const KiB = 1024;

test('a protocol that answers each read after a 5 ms loop timer: every answer arrives, in order', async () => {
  const COUNT = 50;
  const factory = (connection: Connection): Protocol => ({
    data(_c, bytes) {
      const text = Buffer.from(bytes).toString();
      // The reads' bytes are only valid during data(): the text is a copy.
      connection.loop.timeout((line: string) => connection.write(`late ${line};`), 5, text);
      connection.write(`now ${text};`);
    },
  });
  await withServer(factory, {}, 'timer writes', async (_server, port) => {
    const client = await connected(HOST, port);
    let received = '';
    client.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const expected: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      client.write(`${i}`);
      expected.push(`now ${i};`, `late ${i};`);
      // Each request on its own: wait for both answers before the next.
      await until(() => received === expected.join(''), () => `answers up to ${i} (${received.slice(-40)})`);
    }
    assert.is(received, expected.join(''));
    client.destroy();
  });
});

test("a timer-driven producer: write() false past the watermark, 'drain' from writability, every byte in order", async () => {
  const HIGH = 64 * KiB;
  const CHUNK = 32 * KiB;
  // More than loopback's socket buffers: the queue must fill while the client is paused.
  const CHUNKS = 768;
  let sent = 0;
  let falses = 0;
  let drains = 0;
  const factory = (connection: Connection): Protocol => {
    /** Writes chunk after chunk (each numbered in every byte) until write() says stop. */
    const produce = (): void => {
      while (sent < CHUNKS) {
        const ok = connection.write(Buffer.alloc(CHUNK, sent++ % 251));
        if (!ok) {
          falses++;
          return;
        }
      }
      connection.end();
    };
    connection.on('drain', () => {
      drains++;
      // Back on a timer, not from inside the event: a producer that only acts on timers.
      connection.loop.timeout(produce, 1);
    });
    return {
      // The client sends once: every write after is a timer's, every 'drain' the socket's writability.
      data() {
        if (sent === 0) connection.loop.timeout(produce, 1);
      },
    };
  };
  await withServer(factory, { highWaterMark: HIGH, lowWaterMark: HIGH / 4 }, 'timer producer', async (_server, port) => {
    const client = await connected(HOST, port);
    const chunks: Buffer[] = [];
    client.pause();
    client.write('start');
    await until(() => falses > 0 && sent < CHUNKS, 'write() to return false');
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.resume();
    await ended;
    const all = Buffer.concat(chunks);
    assert.is(all.length, CHUNKS * CHUNK);
    for (let i = 0; i < CHUNKS; i++) {
      const at = i * CHUNK;
      if (all[at] !== i % 251 || all[at + CHUNK - 1] !== i % 251) assert.unreachable(`chunk ${i} is out of order`);
    }
    assert.ok(drains > 0 && drains === falses, `${drains} drains for ${falses} falses`);
    client.destroy();
  });
});

test.run();
