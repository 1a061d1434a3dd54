// HTTP's maxHeaderBytes bounds a header section however it arrives: sent a
// byte per read, one that never ends gets 431 once it reaches the limit,
// and the connection ends (414 when the request line alone is that long);
// one just within it is served.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { fakeConnection } from './helpers/protocols.js';

const LIMIT = 1024;

/** Feeds `text` a byte per read; returns how many bytes went in before the connection ended (all, if it never did) and the output. */
function trickle(text: string): { fed: number; output: string; ended: boolean } {
  const fake = fakeConnection();
  const protocol = httpProtocol({ maxHeaderBytes: LIMIT })(fake.connection);
  let fed = 0;
  for (; fed < text.length && !fake.ended; fed++) protocol.data(fake.connection, Buffer.from(text[fed]!, 'latin1'));
  return { fed, output: fake.output(), ended: fake.ended };
}

test('a header section trickled a byte per read past maxHeaderBytes: 431 at the limit, then the end', () => {
  const { fed, output, ended } = trickle('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(10 * LIMIT));
  assert.match(output, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n[^]*Connection: close\r\n/);
  assert.ok(ended);
  assert.is(fed, LIMIT, `ended after ${fed} bytes`);
});

test('a request line trickled past maxHeaderBytes: 414 URI Too Long at the limit', () => {
  const { fed, output, ended } = trickle('GET /' + 'a'.repeat(10 * LIMIT));
  assert.match(output, /^HTTP\/1\.1 414 URI Too Long\r\n[^]*Connection: close\r\n/);
  assert.ok(ended);
  assert.is(fed, LIMIT, `ended after ${fed} bytes`);
});

test('a header section just within the limit, a byte per read, is served', () => {
  const head = 'GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ';
  const request = head + 'a'.repeat(LIMIT - head.length - 4) + '\r\n\r\n';
  assert.is(request.length, LIMIT);
  const { output, ended } = trickle(request);
  assert.match(output, /^HTTP\/1\.1 200 OK\r\n/);
  assert.not.ok(ended);
});

test.run();
