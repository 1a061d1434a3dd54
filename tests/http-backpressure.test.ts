// Backpressure both ways. A handler that does not read its body holds at most
// BODY_BUFFER_BYTES (and one read) of it: the connection stops reading, and
// reads on as the handler catches up. A handler writing to a client that does
// not read sees write() return false, waits for 'drain', and the queue stays
// about one watermark.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { BODY_BUFFER_BYTES } from '../src/protocols/http/constants.js';
import type { HttpRequest, HttpResponse } from '../src/protocols/http.js';
import { rawSession, readBody, withHttp } from './helpers/http.js';
import { tick, until } from './helpers/waiting.js';

const MiB = 1024 * 1024;
const READ_BUFFER_SIZE = 64 * 1024;

test('an unread 8 MiB body: the server holds about BODY_BUFFER_BYTES, stops reading, then reads it all once the handler does', async () => {
  const body = randomBytes(8 * MiB);
  let request: HttpRequest | undefined;
  let go!: () => void;
  const reading = new Promise<void>((resolve) => (go = resolve));
  await withHttp(
    {
      maxBodyBytes: 16 * MiB,
      handler: async (req, res) => {
        request = req;
        await reading;
        const received = await readBody(req);
        res.end(received.equals(body) ? 'same' : `different ${received.length}`);
      },
    },
    'unread body',
    async (port, server) => {
      const client = await rawSession(port);
      client.socket.write(`PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
      client.socket.write(body);
      await until(() => request !== undefined && server.connections[0]?.isReadPaused === true, 'reading to pause');
      const held: number[] = [];
      for (let sample = 0; sample < 5; sample++) {
        held.push(request!.readableLength);
        await tick(20);
      }
      assert.ok(Math.max(...held) <= BODY_BUFFER_BYTES + READ_BUFFER_SIZE, `held ${held.join(', ')} bytes`);
      assert.ok(server.connections[0]!.isReadPaused, 'still paused while the handler waits');
      go();
      await client.until((t) => t.endsWith('same') || t.includes('different'), 'the answer');
      assert.ok(client.text().endsWith('same'), client.text().slice(-40));
      assert.not.ok(server.connections[0]!.isReadPaused, 'reading again');
      client.close();
    },
  );
});

test("a client that does not read: write() returns false, 'drain' follows, the queue stays about one watermark", async () => {
  const HIGH_WATER_MARK = 256 * 1024;
  const piece = Buffer.alloc(64 * 1024, 'x');
  const total = 16 * MiB;
  const stats = { falses: 0, drains: 0, maxQueued: 0 };
  await withHttp(
    {
      handler: (_req: HttpRequest, res: HttpResponse) => {
        res.setHeader('Content-Length', total);
        let sent = 0;
        const pump = (): void => {
          while (sent < total) {
            sent += piece.length;
            if (sent >= total) {
              res.end(piece);
              return;
            }
            if (!res.write(piece)) {
              stats.falses++;
              res.once('drain', () => {
                stats.drains++;
                pump();
              });
              return;
            }
          }
        };
        pump();
      },
    },
    'slow reader',
    async (port, server) => {
      const client = await rawSession(port);
      client.socket.pause();
      client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => stats.falses > 0, 'write() to say wait');
      for (let sample = 0; sample < 5; sample++) {
        stats.maxQueued = Math.max(stats.maxQueued, server.connections[0]?.queuedBytes ?? 0);
        await tick(20);
      }
      client.socket.resume();
      await client.until((t) => t.length >= total, 'the whole body');
      client.close();
    },
    { highWaterMark: HIGH_WATER_MARK },
  );
  assert.ok(stats.drains >= 1, `${stats.drains} drains`);
  assert.ok(stats.maxQueued <= HIGH_WATER_MARK + piece.length * 2, `queued ${stats.maxQueued}`);
});

test.run();
