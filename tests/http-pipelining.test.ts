// Pipelined requests: every handler is called as its request arrives, and the
// responses go out in request order even when a later one is finished first
// (an async handler in the middle).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, withHttp } from './helpers/http.js';

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

test('five pipelined requests, the second answered last by an async handler: responses in request order', async () => {
  const finished: string[] = [];
  const started: string[] = [];
  let release!: () => void;
  const slow = new Promise<void>((resolve) => (release = resolve));
  await withHttp(
    {
      handler: async (req, res) => {
        started.push(req.url);
        if (req.url === '/slow') await slow;
        // A handler whose response is held (it is not its turn) still gets 'finish' once it is written.
        res.on('finish', () => finished.push(req.url));
        res.end(`body of ${req.url};`);
      },
    },
    'pipelining',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(get('/a') + get('/slow') + get('/c') + get('/d') + get('/e'));
      await client.until(() => started.length === 5, 'every handler started');
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The first is out; the rest wait behind the slow one.
      const before = client.text();
      assert.equal([...before.matchAll(/body of (\/\w+);/g)].map((m) => m[1]), ['/a']);
      release();
      await client.until((t) => t.includes("body of /e;"), 'every response');
      assert.equal([...client.text().matchAll(/body of (\/\w+);/g)].map((m) => m[1]), ['/a', '/slow', '/c', '/d', '/e']);
      assert.not.ok(client.ended(), 'the connection stays open');
      client.close();
    },
  );
  assert.equal(started, ['/a', '/slow', '/c', '/d', '/e']);
  assert.equal(finished, ['/a', '/slow', '/c', '/d', '/e']);
});

test('a pipelined response written in pieces while an earlier one is pending arrives whole, in its place', async () => {
  let release!: () => void;
  const slow = new Promise<void>((resolve) => (release = resolve));
  await withHttp(
    {
      handler: async (req, res) => {
        if (req.url === '/first') {
          await slow;
          res.end('first');
          return;
        }
        res.write('sec');
        res.write('ond');
        res.end();
      },
    },
    'held pieces',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(get('/first') + get('/second'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.is(client.text(), '', 'nothing before the first response');
      release();
      await client.until((t) => t.endsWith('0\r\n\r\n'), 'both');
      const text = client.text();
      assert.ok(text.indexOf('first') < text.indexOf('3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n'), text);
      client.close();
    },
  );
});

test('large responses between small ones of one read: each small one arrives as it was written', async () => {
  // A large one is written past the read's gathered replies (over 16 KiB),
  // which flushes them in the middle of the read; the next is gathered after,
  // twice in the read: the gathering buffer is lent twice before it is sent.
  const big = 'B'.repeat(20_000);
  await withHttp(
    {
      handler: (req, res) => {
        res.sendDate = false;
        res.end(req.url === '/big' ? big : `body of ${req.url}`);
      },
    },
    'small, large, small, large, small',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(get('/first') + get('/big') + get('/third') + get('/big') + get('/fifth'));
      const small = (path: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${8 + path.length}\r\n\r\nbody of ${path}`;
      const large = `HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n${big}`;
      const expected = small('/first') + large + small('/third') + large + small('/fifth');
      await client.until((text) => text.length >= expected.length, 'five responses');
      assert.is(client.text(), expected);
      client.close();
    },
  );
});

test.run();
