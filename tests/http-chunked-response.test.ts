// A response written in pieces without a Content-Length is chunked (HTTP/1.1),
// and node:http reads it back whole; with a Content-Length set it is sent as
// is; 204 and 304 carry no body and no framing headers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { fetchReply, rawSession, withHttp } from './helpers/http.js';

test('pieces without a length: Transfer-Encoding: chunked, each write one chunk, the last chunk at end()', async () => {
  await withHttp(
    {
      handler: async (req, res) => {
        if (req.url === '/length') {
          res.setHeader('Content-Length', 10);
          res.write('01234');
          res.end('56789');
          return;
        }
        res.statusCode = 201;
        res.write('one ');
        await new Promise((resolve) => setTimeout(resolve, 5));
        res.write(Buffer.from('two, twenty bytes:  '));
        res.write('');
        res.end('three');
      },
    },
    'chunked response',
    async (port) => {
      const reply = await fetchReply(port);
      assert.is(reply.status, 201);
      assert.is(reply.headers['transfer-encoding'], 'chunked');
      assert.is(reply.headers['content-length'], undefined);
      assert.is(reply.body.toString(), 'one two, twenty bytes:  three');

      const raw = await rawSession(port);
      raw.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await raw.until((t) => t.endsWith('0\r\n\r\n'), 'the last chunk');
      assert.match(raw.text(), /\r\n\r\n4\r\none \r\n14\r\ntwo, twenty bytes:  \r\n5\r\nthree\r\n0\r\n\r\n$/);
      raw.close();

      const fixed = await fetchReply(port, { path: '/length' });
      assert.is(fixed.headers['content-length'], '10');
      assert.is(fixed.headers['transfer-encoding'], undefined);
      assert.is(fixed.body.toString(), '0123456789');
    },
  );
});

test('204 and 304: no body, no Content-Length, no chunks', async () => {
  await withHttp(
    {
      handler: (req, res) => {
        res.statusCode = req.url === '/304' ? 304 : 204;
        res.end('ignored');
      },
    },
    'no body statuses',
    async (port) => {
      const raw = await rawSession(port);
      raw.socket.write('GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\n');
      await raw.until((t) => (t.match(/\r\n\r\n/g) ?? []).length === 2, 'both heads');
      await new Promise((resolve) => setTimeout(resolve, 20));
      const text = raw.text();
      assert.match(text, /^HTTP\/1\.1 204 No Content\r\n[^]*\r\n\r\nHTTP\/1\.1 304 Not Modified\r\n[^]*\r\n\r\n$/);
      assert.not.match(text, /ignored|Content-Length|Transfer-Encoding/);
      raw.close();
    },
  );
});

test.run();
