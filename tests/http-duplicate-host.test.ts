// HTTP's rule on Host (RFC 9112 3.2): a request with more than one Host
// header, in any letter case, is answered 400 and the connection ends; one
// Host is served, and an HTTP/1.1 request without one is a 400 too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { splitMismatches } from './helpers/protocols.js';

const BAD_REQUEST = /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n\r\nbad request\n<end>$/;

function answer(request: string): string {
  const { whole, mismatches } = splitMismatches(() => httpProtocol(), Buffer.from(request));
  assert.equal(mismatches, [], `split reads differ for ${JSON.stringify(request)}`);
  return whole;
}

test('two Host headers: 400 and the end of the connection', () => {
  assert.match(answer('GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n'), BAD_REQUEST);
  assert.match(answer('GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nhOsT: b\r\n\r\n'), BAD_REQUEST);
  assert.match(answer('GET / HTTP/1.0\r\nHOST: a\r\nhost: b\r\n\r\n'), BAD_REQUEST);
});

test('what follows a refused request is not answered', () => {
  const whole = answer('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(whole, BAD_REQUEST);
  assert.is(whole.split('HTTP/1.1 ').length - 1, 1);
});

test('one Host is served; none, in HTTP/1.1, is a 400', () => {
  assert.match(answer('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer('GET / HTTP/1.1\r\nX-Host: a\r\nHost: b\r\n\r\n'), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer('GET / HTTP/1.1\r\n\r\n'), BAD_REQUEST);
});

test.run();
