import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol, DEFAULT_MAX_HEADER_BYTES, type HttpOptions, type HttpProtocolFactory } from '../src/protocols/http.js';
import type { Protocol } from '../src/net/protocol.js';
import { rangeErr, throws, typeErr } from './helpers/errors.js';
import { fakeConnection, splitMismatches, type FakeConnection } from './helpers/protocols.js';
import { withServer } from './helpers/servers.js';

const HELLO = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
const HELLO_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n';
const NOT_FOUND = 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n';
const NOT_ALLOWED =
  'HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 19\r\nAllow: GET, HEAD\r\n\r\nmethod not allowed\n';

function get(path: string, headers = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\n${headers}\r\n`;
}

/** Once a session has ended its connection, a request in a later read gets no reply and is not counted. */
function assertIgnoredAfterEnd(factory: HttpProtocolFactory, fake: FakeConnection, protocol: Protocol): void {
  const requests = factory.requests;
  protocol.data(fake.connection, Buffer.from(get('/') + get('/metrics')));
  assert.equal(fake.lateWrites.map((write) => write.toString('latin1')), [], 'written after the end');
  assert.is(factory.requests, requests, 'a request after the end was answered');
}

/**
 * Feeds `input` in one read to a fresh protocol; returns the replies and
 * whether the connection ended. An ended session is then fed more, which it
 * must ignore.
 */
function send(input: string | Buffer, options?: HttpOptions): { output: string; ended: boolean; writes: number; requests: number } {
  const factory = httpProtocol(options);
  const fake = fakeConnection();
  const protocol = factory(fake.connection);
  protocol.data(fake.connection, typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  const result = { output: fake.output(), ended: fake.ended, writes: fake.writes.length, requests: factory.requests };
  if (fake.ended) assertIgnoredAfterEnd(factory, fake, protocol);
  return result;
}

test('pipelined requests are answered in order, in one write, however the stream is split into two reads', () => {
  const stream =
    get('/') +
    'HEAD / HTTP/1.1\r\nhost: x\r\n\r\n' +
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world' +
    get('/nowhere?x=1') +
    'GET /?query HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent:  spaces around  \r\n\r\n' +
    '\r\n' +
    get('/', 'Connection: keep-alive, close\r\n') +
    get('/', 'X-After-Close: ignored\r\n');
  const metrics = (): string => 'up 1\n';
  const { whole, mismatches } = splitMismatches(() => httpProtocol({ metrics }), Buffer.from(stream));
  const metricsReply = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 5\r\n\r\nup 1\n';
  const closing = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';
  assert.is(whole, HELLO + HELLO_HEAD + NOT_ALLOWED + NOT_FOUND + HELLO + metricsReply + closing + '<end>');
  assert.equal(mismatches, [], 'split points whose replies differ');
});

test('HTTP/1.1 keeps the connection open by default and says nothing about it', () => {
  const { output, ended } = send(get('/') + get('/'));
  assert.is(output, HELLO + HELLO);
  assert.not.ok(ended);
});

test('Connection: close (any case) gets Connection: close and the connection ends after the reply', () => {
  const { output, ended } = send(get('/', 'connection: CLOSE\r\n') + get('/'));
  assert.is(output, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
  assert.ok(ended);
});

test('HTTP/1.0 closes by default and keeps alive when asked, saying so', () => {
  const closed = send('GET / HTTP/1.0\r\n\r\n');
  assert.match(closed.output, /\r\nConnection: close\r\n\r\nhello$/);
  assert.ok(closed.ended);
  const kept = send('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.is(kept.output, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello'.repeat(2));
  assert.not.ok(kept.ended);
});

test('HEAD gets the headers of GET, Content-Length included, and no body, on every route', () => {
  const { output } = send('HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n', {
    metrics: () => 'abc',
  });
  assert.is(
    output,
    HELLO_HEAD +
      'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 3\r\n\r\n',
  );
});

test('other methods on known paths get 405 with Allow, on unknown paths 404', () => {
  const { output } = send('DELETE / HTTP/1.1\r\nHost: x\r\n\r\nPUT /metrics HTTP/1.1\r\nHost: x\r\n\r\nPOST /x HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.is(output, NOT_ALLOWED + NOT_ALLOWED + NOT_FOUND);
});

// Where llhttp is stricter than the hand-written parser it replaced (docs/protocols.md):
// a method is one of llhttp's, in upper case; a line ends with CRLF; a
// repeated Content-Length is refused even when the values agree.
const stricter: [string, string][] = [
  ['a method in lower case', 'get / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a bare LF line end', 'GET / HTTP/1.1\nHost: bare-LF\n\n'],
  ['two equal Content-Lengths', 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab'],
];
for (const [what, request] of stricter) {
  test(`llhttp is stricter: 400 for ${what}`, () => {
    const { output, ended } = send(get('/') + request + get('/'));
    assert.is(output, HELLO + 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad request\n');
    assert.ok(ended);
  });
}

test('a Content-Length body spread over several reads is skipped, and the next request answered', () => {
  const fake = fakeConnection();
  const protocol = httpProtocol()(fake.connection);
  protocol.data(fake.connection, Buffer.from('POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\nGET / '));
  assert.is(fake.output(), NOT_FOUND, 'answered before the body arrives');
  protocol.data(fake.connection, Buffer.alloc(10000, 'G'));
  protocol.data(fake.connection, Buffer.alloc(9994, 'G'));
  protocol.data(fake.connection, Buffer.from(get('/')));
  assert.is(fake.output(), NOT_FOUND + HELLO);
  assert.not.ok(fake.ended);
});

const badRequests: [string, string][] = [
  ['no spaces', 'GET\r\nHost: x\r\n\r\n'],
  ['no version', 'GET /\r\nHost: x\r\n\r\n'],
  ['empty target', 'GET  HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a control byte in the target', 'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a method that is not a token', 'G(T / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a version that is not HTTP', 'GET / FTP/1.1\r\nHost: x\r\n\r\n'],
  ['a version with a letter', 'GET / HTTP/1.x\r\nHost: x\r\n\r\n'],
  ['a header without a colon', 'GET / HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n'],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'],
  ['a folded header line', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n'],
  ['a control byte in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n'],
  ['a non-numeric Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n'],
  ['a negative Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
  ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n'],
];
for (const [what, request] of badRequests) {
  test(`400 for ${what}, then the connection closes and later requests are not answered`, () => {
    const { output, ended } = send(get('/') + request + get('/'));
    assert.is(output, HELLO + 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad request\n');
    assert.ok(ended);
  });
}

test('a chunked body is read past (no more 411), and the next request answered, split at any byte', () => {
  const stream = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' + get('/');
  const { whole, mismatches } = splitMismatches(() => httpProtocol(), Buffer.from(stream));
  assert.is(whole, NOT_ALLOWED + HELLO);
  assert.equal(mismatches, []);
});

test('HTTP/2.0 and HTTP/1.2 get 505 and the connection closes', () => {
  for (const version of ['HTTP/2.0', 'HTTP/1.2']) {
    const { output, ended } = send(`GET / ${version}\r\nHost: x\r\n\r\n`);
    assert.match(output, /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/, version);
    assert.ok(ended, version);
  }
});

test('a header section past the limit gets 431 and the connection closes, complete or not', () => {
  const padding = (bytes: number): string => `X-Pad: ${'p'.repeat(bytes - 9)}\r\n`;
  const request = get('/');
  // Exactly at the limit: accepted.
  const exactly = get('/', padding(DEFAULT_MAX_HEADER_BYTES - request.length));
  assert.is(exactly.length, DEFAULT_MAX_HEADER_BYTES);
  assert.is(send(exactly).output, HELLO);
  const over = send(get('/', padding(DEFAULT_MAX_HEADER_BYTES - request.length + 1)));
  assert.match(over.output, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
  assert.ok(over.ended);

  // Still arriving: refused as soon as the limit is passed, without waiting for the end.
  const factory = httpProtocol({ maxHeaderBytes: 100 });
  const fake = fakeConnection();
  const protocol = factory(fake.connection);
  protocol.data(fake.connection, Buffer.from(`GET / HTTP/1.1\r\nX-Long: ${'a'.repeat(75)}`));
  assert.is(fake.writes.length, 0, '99 bytes: still waiting');
  protocol.data(fake.connection, Buffer.from('a'));
  assert.match(fake.output(), /^HTTP\/1\.1 431 /);
  assert.ok(fake.ended);
  assertIgnoredAfterEnd(factory, fake, protocol);
});

test('GET /metrics calls the metrics function each time; the default counts requests', () => {
  let calls = 0;
  const custom = send(get('/metrics') + get('/metrics?x'), { metrics: () => `calls ${++calls} é\n` });
  assert.is(calls, 2);
  assert.ok(custom.output.includes('Content-Length: 11\r\n\r\ncalls 2 \xc3\xa9\n'), 'body is UTF-8 and its length in bytes');
  const builtIn = send(get('/') + get('/nope') + get('/metrics'));
  assert.match(builtIn.output, /\r\n\r\n# TYPE wasmloop_http_requests_total counter\nwasmloop_http_requests_total 3\n$/);
  assert.is(builtIn.requests, 3);
});

test('a metrics function that throws gets 500 for that request and the connection closes', () => {
  const { output, ended } = send(get('/metrics') + get('/'), {
    metrics: () => {
      throw new Error('broken');
    },
  });
  assert.match(output, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
  assert.not.match(output, /hello/);
  assert.ok(ended);
});

test('requests counts every answered request, malformed ones included', () => {
  assert.is(send(get('/') + get('/x') + 'BAD\r\n\r\n').requests, 3);
});

test('options are checked: an object, a function for metrics, a header limit in range', () => {
  throws(() => httpProtocol(null as unknown as HttpOptions), typeErr);
  throws(() => httpProtocol({ metrics: 'text' as unknown as () => string }), typeErr);
  throws(() => httpProtocol({ maxHeaderBytes: 10 }), rangeErr);
});

test('through a real server: 1,000 pipelined requests in one write get 1,000 replies in order', async () => {
  const factory = httpProtocol();
  await withServer(factory, {}, 'HTTP over a socket', async (_server, port) => {
    const socket = connect({ host: '127.0.0.1', port });
    const requests = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? get('/') : get(`/missing/${i}`))).join('');
    const expected = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? HELLO : NOT_FOUND)).join('');
    let received = '';
    const done = new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.length >= expected.length) resolve();
      });
    });
    socket.write(requests);
    await done;
    socket.destroy();
    assert.is(received, expected);
    assert.is(factory.requests, 1000);
  });
});

test.run();
