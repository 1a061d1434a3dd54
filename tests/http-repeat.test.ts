// A request that repeats the last one byte for byte (same URL, same header
// lines: what keep-alive clients send on and on) is not parsed again: the
// parser keeps the last bodiless request's bytes and what they meant. Each
// repeat must still be its own request (its own rawHeaders array, in order,
// pipelined or not), and nothing else may pass for one: a request that
// differs in one byte, one with a body, or the tail of a request cut across
// reads.
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol, type HttpRequest } from '../src/protocols/http.js';
import { fakeConnection } from './helpers/protocols.js';

/** One session on a stand-in connection; `seen` gets each request's method, URL, raw headers and body. */
function session(mutate = false) {
  const seen: string[] = [];
  const factory = httpProtocol({
    handler: (req: HttpRequest, res) => {
      const line = `${req.method} ${req.url} ${JSON.stringify(req.rawHeaders)}`;
      // A handler may change the array it is given; the next request must not see it.
      if (mutate) req.rawHeaders.push('X-Changed', 'by the handler');
      const body: Buffer[] = [];
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', async () => {
        seen.push(`${line} ${Buffer.concat(body).toString('latin1')}`.trimEnd());
        res.end('ok');
      });
    },
  });
  const fake = fakeConnection();
  const protocol = factory(fake.connection);
  return {
    seen,
    fake,
    /** One read; then the handlers' bodies end and their responses go out (events after a turn of Node's loop). */
    send: async (text: string) => {
      protocol.data(fake.connection, Buffer.from(text, 'latin1'));
      await turn();
      await turn();
    },
    statuses: () => [...fake.output().matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1])),
  };
}

const SHORT = 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n';
const SHORT_SEEN = 'GET /a ["Host","h"]';
const B = 'GET /b HTTP/1.1\r\nHost: h\r\n\r\n';
const B_SEEN = 'GET /b ["Host","h"]';
const AGENT = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
const LONG = `GET /long?q=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ${AGENT}\r\nAccept: */*\r\n\r\n`;
const LONG_SEEN = `GET /long?q=1 ["Host","h","User-Agent","${AGENT}","Accept","*/*"]`;

test('the same request in reads of its own and pipelined: each served, in order, its own', async () => {
  const s = session();
  await s.send(SHORT);
  await s.send(SHORT);
  // Three repeats, another request, the first again, all in one read.
  await s.send(SHORT + SHORT + SHORT + B + SHORT);
  // A repeat, then the start of one more, finished by the next read.
  await s.send(SHORT + 'GET /a HTTP/1.1\r\nHo');
  await s.send('st: h\r\n\r\n');
  // Another request, then the first: twice, the same pair.
  await s.send(B + SHORT);
  await s.send(B + SHORT);
  assert.equal(s.seen, [SHORT_SEEN, SHORT_SEEN, SHORT_SEEN, SHORT_SEEN, SHORT_SEEN, B_SEEN, SHORT_SEEN, SHORT_SEEN, SHORT_SEEN, B_SEEN, SHORT_SEEN, B_SEEN, SHORT_SEEN]);
  assert.equal(s.statuses(), Array(13).fill(200));
  assert.not.ok(s.fake.ended);
});

test("a handler that changes req.rawHeaders changes its own request's, not the next one's", async () => {
  const s = session(true);
  await s.send(SHORT);
  await s.send(SHORT);
  await s.send(SHORT + SHORT);
  assert.equal(s.seen, [SHORT_SEEN, SHORT_SEEN, SHORT_SEEN, SHORT_SEEN]);
});

test('one byte different, in a short request and in a long one: parsed as what it is', async () => {
  const s = session();
  await s.send(SHORT);
  await s.send(SHORT.replace('Host: h', 'Host: i'));
  await s.send(LONG);
  await s.send(LONG);
  await s.send(LONG.replace('Firefox/120', 'Firefox/121'));
  await s.send(LONG + LONG.replace('*/*', '*/x'));
  assert.equal(s.seen, [
    SHORT_SEEN,
    'GET /a ["Host","i"]',
    LONG_SEEN,
    LONG_SEEN,
    LONG_SEEN.replace('Firefox/120', 'Firefox/121'),
    LONG_SEEN,
    LONG_SEEN.replace('*/*', '*/x'),
  ]);
});

test('requests with a body are parsed every time: each gets its body', async () => {
  const s = session();
  const post = 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc';
  const chunked = 'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n';
  const empty = 'POST /e HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n';
  await s.send(post);
  await s.send(post);
  // Empty lines after the body, where a bodiless request's header section would end.
  await s.send(post + '\r\n\r\n');
  await s.send(post + '\r\n\r\n');
  await s.send(chunked);
  await s.send(chunked + chunked);
  await s.send(empty);
  await s.send(empty + empty);
  assert.equal(s.seen, [
    'POST /p ["Host","h","Content-Length","3"] abc',
    'POST /p ["Host","h","Content-Length","3"] abc',
    'POST /p ["Host","h","Content-Length","3"] abc',
    'POST /p ["Host","h","Content-Length","3"] abc',
    'POST /c ["Host","h","Transfer-Encoding","chunked"] xyz',
    'POST /c ["Host","h","Transfer-Encoding","chunked"] xyz',
    'POST /c ["Host","h","Transfer-Encoding","chunked"] xyz',
    'POST /e ["Host","h","Transfer-Encoding","chunked"]',
    'POST /e ["Host","h","Transfer-Encoding","chunked"]',
    'POST /e ["Host","h","Transfer-Encoding","chunked"]',
  ]);
  assert.equal(s.statuses(), Array(10).fill(200));
});

test('a header section that does not end with its last value and CRLF CRLF is not kept: a request that only begins like it is refused', async () => {
  const s = session();
  // The last span is the name (the value is empty): the bytes after it are not CRLF CRLF.
  const empty = 'GET /v HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n';
  await s.send(empty);
  await s.send(empty);
  // The same up to the blank line's CR, then a byte no request has there.
  await s.send(empty.slice(0, -1) + 'Z');
  assert.equal(s.seen, ['GET /v ["Host","h","X-Empty",""]', 'GET /v ["Host","h","X-Empty",""]']);
  assert.equal(s.statuses(), [200, 200, 400]);
});

test('a request cut across reads is not kept: its tail alone is no request', async () => {
  const s = session();
  await s.send('GET /cut HTTP/1.1\r\nHost: ab');
  await s.send('c\r\n\r\n');
  await s.send('c\r\n\r\n');
  assert.equal(s.seen, ['GET /cut ["Host","abc"]']);
  assert.equal(s.statuses(), [200, 400]);
  assert.ok(s.fake.ended);
});

test.run();
