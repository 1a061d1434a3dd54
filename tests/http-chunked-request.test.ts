// Chunked request bodies: decoded for the handler (chunk sizes in hex,
// extensions ignored, trailers on req.trailers), whichever way the bytes
// are cut; a bad chunk size is 400 and the connection closes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { HttpRequest } from '../src/protocols/http.js';
import { rawSession, readBody, statuses, withHttp } from './helpers/http.js';
import { until } from './helpers/waiting.js';

const HEAD = 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
const CHUNKS = '5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nchunked wor\r\n2\r\nld\r\n0\r\nX-Checksum: abc\r\n\r\n';

async function collect(req: HttpRequest): Promise<{ body: string; trailers: unknown; complete: boolean }> {
  const body = (await readBody(req)).toString('latin1');
  return { body, trailers: { ...req.trailers }, complete: req.complete };
}

test('a chunked body reaches the handler decoded, trailers included, sent whole or a byte at a time', async () => {
  const seen: { body: string; trailers: unknown; complete: boolean }[] = [];
  await withHttp(
    {
      handler: async (req, res) => {
        const got = await collect(req);
        seen.push(got);
        res.end(`${got.body.length}`);
      },
    },
    'chunked upload',
    async (port) => {
      const whole = await rawSession(port);
      whole.socket.write(HEAD + CHUNKS);
      await whole.until((t) => t.endsWith('\r\n\r\n19'), 'the reply to the whole body');
      whole.close();

      const trickled = await rawSession(port);
      const bytes = HEAD + CHUNKS;
      for (let i = 0; i < bytes.length; i += 3) {
        trickled.socket.write(bytes.slice(i, i + 3));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await trickled.until((t) => t.endsWith('\r\n\r\n19'), 'the reply to the trickled body');
      trickled.close();
    },
  );
  assert.equal(seen, [
    { body: 'hello chunked world', trailers: { 'x-checksum': 'abc' }, complete: true },
    { body: 'hello chunked world', trailers: { 'x-checksum': 'abc' }, complete: true },
  ]);
});

test('a bad chunk size gets 400 and a close; a handler already running sees its request aborted', async () => {
  const errors: string[] = [];
  let called = false;
  await withHttp(
    {
      handler: (req, res) => {
        called = true;
        req.on('error', (error: Error & { code?: string }) => errors.push(`${error.code} ${error.message}`));
        req.on('data', () => {});
        req.on('end', () => res.end('unreachable'));
      },
    },
    'bad chunk',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(HEAD + '5\r\nhello\r\n');
      await until(() => called, 'the handler');
      client.socket.write('zz\r\n');
      await client.until((_t) => false, 'the close');
      assert.equal(statuses(client.text()), [400]);
      assert.ok(client.ended());
      client.close();
    },
  );
  assert.equal(errors, ['ECONNRESET aborted']);
});

test.run();
