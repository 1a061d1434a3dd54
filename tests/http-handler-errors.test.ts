// A handler that throws or rejects: 500 in its place (Connection: close), the
// error on the loop's 'error', the connection ended, and the next request —
// on a new connection — served; a handler that fails after sending its head
// has its connection closed instead. Other connections are not touched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { fetchReply, rawSession, withHttp } from './helpers/http.js';
import { until } from './helpers/waiting.js';
import type { Server } from '../src/net/server.js';

function errorsOf(server: Server): string[] {
  const seen: string[] = [];
  server.loop.on('error', (error: unknown) => void seen.push((error as Error).message));
  return seen;
}

test('throw and reject: 500 with Connection: close, reported; the next request is served', async () => {
  let errors: string[] = [];
  await withHttp(
    {
      handler: async (req, res) => {
        if (req.url === '/throw') throw new Error('thrown');
        if (req.url === '/reject') {
          await new Promise((resolve) => setTimeout(resolve, 5));
          throw new Error('rejected');
        }
        res.end('fine');
      },
    },
    'throwing handler',
    async (port, server) => {
      errors = errorsOf(server);
      for (const path of ['/throw', '/reject']) {
        const reply = await fetchReply(port, { path });
        assert.is(reply.status, 500, path);
        assert.is(reply.headers.connection, 'close', path);
        const next = await fetchReply(port, { path: '/' });
        assert.is(next.status, 200);
        assert.is(next.body.toString(), 'fine');
      }
    },
    {},
    { fatalErrors: false },
  );
  assert.equal(errors, ['thrown', 'rejected']);
});

test('a pipelined request after the failing one is not answered; the one before is', async () => {
  await withHttp(
    {
      handler: (req, res) => {
        if (req.url === '/bad') throw new Error('bad');
        res.end(req.url);
      },
    },
    'pipelined failure',
    async (port, server) => {
      errorsOf(server);
      const client = await rawSession(port);
      client.socket.write(['/ok', '/bad', '/after'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      await client.until(() => false, 'the close');
      const text = client.text();
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*\/okHTTP\/1\.1 500 Internal Server Error\r\n/);
      assert.not.match(text, /\/after/);
      client.close();
    },
    {},
    { fatalErrors: false },
  );
});

test('a failure after the head was sent closes the connection; a client on another connection is unaffected', async () => {
  let errors: string[] = [];
  await withHttp(
    {
      handler: async (req, res) => {
        if (req.url === '/half') {
          res.writeHead(200, { 'content-length': '100' });
          res.write('partial');
          await new Promise((resolve) => setTimeout(resolve, 5));
          throw new Error('half way');
        }
        res.end('whole');
      },
    },
    'late failure',
    async (port, server) => {
      errors = errorsOf(server);
      const other = await rawSession(port);
      const client = await rawSession(port);
      client.socket.write('GET /half HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until(() => false, 'the close');
      assert.match(client.text(), /^HTTP\/1\.1 200 OK\r\n[^]*partial$/);
      other.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await other.until((t) => t.endsWith('whole'), 'the other client');
      assert.not.ok(other.ended());
      other.close();
      client.close();
    },
    {},
    { fatalErrors: false },
  );
  await until(() => errors.length === 1, 'the report');
  assert.equal(errors, ['half way']);
});

test.run();
