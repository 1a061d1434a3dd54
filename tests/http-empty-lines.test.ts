// HTTP's bound on empty lines before a request line (RFC 9112 2.2: a server
// should skip at least one): up to MAX_EMPTY_LINES are skipped, CRLF or bare
// LF, whole or split across reads; one more is a 400 and the connection
// ends. The count starts over with each request.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol, MAX_EMPTY_LINES } from '../src/protocols/http.js';
import { splitMismatches } from './helpers/protocols.js';

const REQUEST = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
const OK = /^HTTP\/1\.1 200 OK\r\n[^]*hello$/;
const BAD_REQUEST = /^HTTP\/1\.1 400 Bad Request\r\n[^]*Connection: close\r\n\r\nbad request\n<end>$/;

test('a small bound: 8 lines, RFC 9112 asks for at least one', () => {
  assert.is(MAX_EMPTY_LINES, 8);
});

test('up to MAX_EMPTY_LINES empty lines before a request line are skipped, split at any byte', () => {
  for (const line of ['\r\n', '\n']) {
    const { whole, mismatches } = splitMismatches(() => httpProtocol(), Buffer.from(line.repeat(MAX_EMPTY_LINES) + REQUEST));
    assert.match(whole, OK);
    assert.equal(mismatches, []);
  }
});

test('one more is a 400 and the end of the connection, split at any byte', () => {
  for (const line of ['\r\n', '\n']) {
    const { whole, mismatches } = splitMismatches(() => httpProtocol(), Buffer.from(line.repeat(MAX_EMPTY_LINES + 1) + REQUEST));
    assert.match(whole, BAD_REQUEST);
    assert.equal(mismatches, []);
  }
  // Without a request line at all: the 400 comes as soon as the bound is passed.
  const { whole } = splitMismatches(() => httpProtocol(), Buffer.from('\r\n'.repeat(1000)));
  assert.match(whole, BAD_REQUEST);
});

test('the count starts over with each request', () => {
  const blanks = '\r\n'.repeat(MAX_EMPTY_LINES);
  const { whole, mismatches } = splitMismatches(() => httpProtocol(), Buffer.from(blanks + REQUEST + blanks + REQUEST));
  assert.is(whole.split('200 OK').length - 1, 2, whole);
  assert.not.match(whole, /<end>/);
  assert.equal(mismatches, []);
});

test.run();
