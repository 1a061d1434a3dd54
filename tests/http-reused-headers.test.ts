// A header object built once and given to writeHead() for every response (the
// responses reuse its encoded lines): what each response sends follows the
// object as it is at that call — a changed value, an added or removed header,
// a value made invalid (refused as setHeader refuses it) — and getHeader()
// and getHeaders() after writeHead() see its headers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, withHttp } from './helpers/http.js';
import type { OutgoingHeaders } from '../src/protocols/http.js';

const REQUEST = 'GET / HTTP/1.1\r\nHost: example\r\n\r\n';
const ROUNDS = 6;

test('writeHead with one header object reused: each response sends the object as it is then', async () => {
  const shared: OutgoingHeaders = { 'Content-Type': 'text/plain', 'Content-Length': 2, 'X-Round': 'same' };
  const seen: unknown[] = [];
  let round = 0;
  await withHttp(
    {
      handler: (_req, res) => {
        res.sendDate = false;
        round++;
        if (round === 3) shared['X-Round'] = 'changed';
        if (round === 4) shared['X-Added'] = 'yes';
        if (round === 5) delete shared['X-Added'];
        if (round === 6) shared['X-Round'] = 'bad\r\nInjected: yes';
        try {
          // Round 2: another status, the same message.
          if (round === 2) res.writeHead(201, 'OK', shared);
          else res.writeHead(200, shared);
        } catch (error) {
          seen.push((error as { code?: string }).code);
          res.writeHead(500, { 'Content-Length': 2 });
        }
        seen.push([res.getHeader('x-round'), res.hasHeader('X-Added'), Object.keys(res.getHeaders())]);
        res.end(`r${round}`);
      },
    },
    'a reused header object',
    async (port) => {
      const client = await rawSession(port);
      for (let i = 1; i <= ROUNDS; i++) {
        client.socket.write(REQUEST);
        await client.until((t) => t.split('\r\n\r\n').length > i && t.endsWith(`r${i}`), `response ${i}`);
      }
      client.close();
      const heads = client
        .text()
        .split(/r\d(?=HTTP|$)/)
        .filter((h) => h !== '');
      assert.equal(heads, [
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Round: same\r\n\r\n',
        'HTTP/1.1 201 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Round: same\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Round: changed\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Round: changed\r\nX-Added: yes\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nX-Round: changed\r\n\r\n',
        'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\n',
      ]);
    },
  );
  assert.equal(seen, [
    ['same', false, ['content-type', 'content-length', 'x-round']],
    ['same', false, ['content-type', 'content-length', 'x-round']],
    ['changed', false, ['content-type', 'content-length', 'x-round']],
    ['changed', true, ['content-type', 'content-length', 'x-round', 'x-added']],
    ['changed', false, ['content-type', 'content-length', 'x-round']],
    'ERR_INVALID_CHAR',
    [undefined, false, ['content-length']],
  ]);
});

test.run();
