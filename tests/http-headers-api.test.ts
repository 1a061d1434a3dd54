// The header API on both sides, as node:http has it: req.headers in lower
// case with repeated headers joined by node:http's rules, rawHeaders as sent;
// res.setHeader/getHeader/hasHeader/removeHeader/getHeaders, writeHead's
// headers over setHeader's, arrays as repeated lines, headersSent, and the
// errors for a header set after the head or holding CR/LF.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, withHttp } from './helpers/http.js';
import type { HttpRequest, HttpResponse } from '../src/protocols/http.js';

const REQUEST =
  'GET /h?q=1 HTTP/1.1\r\nHost: example\r\nX-Multi: a\r\nx-multi: b\r\nSet-Cookie: s=1\r\nSet-Cookie: t=2\r\n' +
  'Cookie: a=1\r\nCookie: b=2\r\nUser-Agent: first\r\nUser-Agent: second\r\nContent-Type: text/plain\r\nX-Empty:\r\nX-Trail: v  \r\n\r\n';

test('req.headers: lower case; set-cookie an array, cookie joined with "; ", singletons keep the first, others joined with ", "', async () => {
  let seen: { headers: unknown; raw: string[]; url: string; version: string; method: string } | undefined;
  await withHttp(
    {
      handler: (req: HttpRequest, res: HttpResponse) => {
        seen = { headers: { ...req.headers }, raw: req.rawHeaders, url: req.url, version: req.httpVersion, method: req.method };
        res.end();
      },
    },
    'request headers',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(REQUEST);
      await client.until((t) => t.includes('\r\n\r\n'), 'the response');
      client.close();
    },
  );
  assert.equal(seen!.headers, {
    host: 'example',
    'x-multi': 'a, b',
    'set-cookie': ['s=1', 't=2'],
    cookie: 'a=1; b=2',
    'user-agent': 'first',
    'content-type': 'text/plain',
    'x-empty': '',
    'x-trail': 'v',
  });
  assert.equal(seen!.raw.slice(0, 6), ['Host', 'example', 'X-Multi', 'a', 'x-multi', 'b']);
  assert.is(seen!.url, '/h?q=1');
  assert.is(seen!.version, '1.1');
  assert.is(seen!.method, 'GET');
});

test('res: set, get, has, remove; writeHead wins; arrays are repeated lines; headersSent; errors', async () => {
  const checks: Record<string, unknown> = {};
  await withHttp(
    {
      handler: (_req, res) => {
        res.setHeader('X-Kept', 'kept');
        res.setHeader('X-Removed', 'gone');
        res.setHeader('X-Over', 'from setHeader');
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.removeHeader('x-removed');
        checks.get = res.getHeader('x-kept');
        checks.has = [res.hasHeader('X-KEPT'), res.hasHeader('x-removed')];
        checks.names = res.getHeaderNames();
        checks.injection = (() => {
          try {
            res.setHeader('X-Bad', 'a\r\nInjected: yes');
            return 'accepted';
          } catch (error) {
            return (error as { code?: string }).code;
          }
        })();
        checks.badName = (() => {
          try {
            res.setHeader('Bad Name', 'x');
            return 'accepted';
          } catch (error) {
            return (error as { code?: string }).code;
          }
        })();
        checks.before = res.headersSent;
        res.writeHead(202, 'Taken', { 'X-Over': 'from writeHead', 'Content-Type': 'text/plain' });
        checks.after = res.headersSent;
        checks.late = (() => {
          try {
            res.setHeader('X-Late', 'x');
            return 'accepted';
          } catch (error) {
            return (error as { code?: string }).code;
          }
        })();
        res.end('ok');
      },
    },
    'response headers',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((t) => t.endsWith('0\r\n\r\n'), 'the response');
      const text = client.text();
      assert.match(text, /^HTTP\/1\.1 202 Taken\r\n/);
      assert.match(text, /\r\nX-Kept: kept\r\n/);
      assert.match(text, /\r\nX-Over: from writeHead\r\n/);
      assert.match(text, /\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n/);
      assert.match(text, /\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
      // As node:http: writeHead() fixes the head, so end(body) after it cannot add a length: chunked.
      assert.match(text, /\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n$/);
      assert.not.match(text, /X-Removed|Injected|X-Late/);
      client.close();
    },
  );
  assert.equal(checks, {
    get: 'kept',
    has: [true, false],
    names: ['x-kept', 'x-over', 'set-cookie'],
    injection: 'ERR_INVALID_CHAR',
    badName: 'ERR_INVALID_HTTP_TOKEN',
    before: false,
    after: true,
    late: 'ERR_HTTP_HEADERS_SENT',
  });
});

test.run();
