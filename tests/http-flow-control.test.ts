// The stream-like edges of requests and responses: pause() holds 'data' and
// resume() lets it go on; once/off/listenerCount as node:events has them; a
// write after end() is ERR_STREAM_WRITE_AFTER_END on 'error' and its callback;
// flushHeaders() sends the head before any body; writeContinue() a 100 by
// hand; getHeaders(); the peer-address getters answer (undefined until the
// connection knows its addresses).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { HttpRequest, HttpResponse } from '../src/protocols/http.js';
import { rawSession, withHttp } from './helpers/http.js';
import { tick, until } from './helpers/waiting.js';

test("pause() holds 'data' until resume(); once() hears one; off() stops a listener", async () => {
  const seen: Record<string, unknown> = {};
  let request: HttpRequest | undefined;
  await withHttp(
    {
      handler: (req, res) => {
        request = req;
        const chunks: string[] = [];
        const counted: string[] = [];
        const count = (chunk: Buffer): void => void counted.push(chunk.toString());
        req.addListener('data', (chunk: Buffer) => chunks.push(chunk.toString()));
        req.on('data', count);
        req.once('data', () => (seen.firstOnce = true));
        req.pause();
        seen.paused = req.isPaused();
        seen.listeners = req.listenerCount('data');
        req.on('end', () => {
          seen.chunks = chunks.join('');
          seen.counted = counted.length;
          seen.remote = [req.remoteAddress, typeof req.remotePort, req.remoteFamily];
          res.setHeader('X-A', '1');
          seen.headers = { ...res.getHeaders() };
          res.end('done');
        });
        setTimeout(() => {
          seen.whilePaused = chunks.length;
          req.removeListener('data', count);
          req.resume();
        }, 30);
      },
    },
    'pause and resume',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789');
      await client.until((t) => t.endsWith('done'), 'the answer');
      client.close();
    },
  );
  assert.ok(request !== undefined);
  assert.equal(seen, {
    paused: true,
    listeners: 3,
    whilePaused: 0,
    firstOnce: true,
    chunks: '0123456789',
    counted: 0,
    remote: ['127.0.0.1', 'number', 'IPv4'],
    headers: { 'x-a': '1' },
  });
});

test('a write after end() reports ERR_STREAM_WRITE_AFTER_END; flushHeaders and writeContinue send at once', async () => {
  const codes: string[] = [];
  await withHttp(
    {
      handler: async (_req: HttpRequest, res: HttpResponse) => {
        res.writeContinue();
        res.setHeader('Content-Length', 4);
        res.flushHeaders();
        await tick(20);
        res.end('body');
        res.on('error', (error: Error & { code?: string }) => void codes.push(`event ${error.code}`));
        res.write('late', (error?: Error | null) => void codes.push(`callback ${(error as { code?: string } | null)?.code}`));
      },
    },
    'write after end',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((t) => t.includes('\r\n\r\n', t.indexOf('200 OK')), 'the head before the body');
      assert.match(client.text(), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*Content-Length: 4\r\n/);
      assert.ok(client.text().endsWith('\r\n\r\n'), 'the head alone, flushed');
      await client.until((t) => t.endsWith('body'), 'the body');
      client.close();
    },
  );
  await until(() => codes.length === 2, 'the error');
  assert.equal(codes, ['callback ERR_STREAM_WRITE_AFTER_END', 'event ERR_STREAM_WRITE_AFTER_END']);
});

test.run();
