// A handler that reads the request's body and sends it back: 1 MiB through
// node:http, read with for await and with 'data'/'end', and echoed in
// pieces with write() (chunked) as well as in one end().
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { fetchReply, readBody, withHttp } from './helpers/http.js';

const MiB = 1024 * 1024;

test('1 MiB body, read with for await, echoed in one end(): the same bytes, with a Content-Length', async () => {
  const body = randomBytes(MiB);
  await withHttp(
    {
      maxBodyBytes: 2 * MiB,
      handler: async (req, res) => {
        const received = await readBody(req);
        res.setHeader('content-type', 'application/octet-stream');
        res.end(received);
      },
    },
    'echo 1 MiB',
    async (port) => {
      const reply = await fetchReply(port, { method: 'POST', path: '/echo', body });
      assert.is(reply.status, 200);
      assert.is(reply.headers['content-length'], String(MiB));
      assert.ok(reply.body.equals(body), 'echoed bytes');
    },
  );
});

test("1 MiB body, read with 'data' and 'end', echoed piece by piece with write(): chunked, the same bytes", async () => {
  const body = randomBytes(MiB);
  const pieces: number[] = [];
  await withHttp(
    {
      maxBodyBytes: 2 * MiB,
      handler: (req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        req.on('data', (chunk: Buffer) => {
          pieces.push(chunk.length);
          res.write(chunk);
        });
        req.on('end', () => res.end());
      },
    },
    'streamed echo',
    async (port) => {
      const reply = await fetchReply(port, { method: 'PUT', body: [body.subarray(0, MiB / 2), body.subarray(MiB / 2)] });
      assert.is(reply.status, 200);
      assert.is(reply.headers['transfer-encoding'], 'chunked');
      assert.ok(reply.body.equals(body), 'echoed bytes');
    },
  );
  assert.ok(pieces.length > 1, `the body came in ${pieces.length} pieces`);
  assert.is(pieces.reduce((a, b) => a + b, 0), MiB);
});

test.run();
