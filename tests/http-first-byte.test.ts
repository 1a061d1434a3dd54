// An HTTP connection before its first byte holds no session (src/protocols/http/first-byte.ts):
// what the server may tell it then — the peer's end, a resume, a close — does what a
// session with no request would do, and the first bytes are served as on any connection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { fakeConnection } from './helpers/protocols.js';

const REQUEST = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

test('the peer ends before sending a byte: the connection ends, nothing written', () => {
  const fake = fakeConnection();
  const protocol = httpProtocol()(fake.connection);
  protocol.end!(fake.connection);
  assert.ok(fake.ended);
  assert.equal(fake.writes, []);
});

test('a resume before the first byte does nothing; the first request is then served', () => {
  const fake = fakeConnection();
  const protocol = httpProtocol()(fake.connection);
  protocol.resume!(fake.connection);
  assert.equal(fake.writes, []);
  protocol.data(fake.connection, Buffer.from(REQUEST));
  assert.match(fake.output(), /^HTTP\/1\.1 200 OK\r\n[^]*hello$/);
  assert.not.ok(fake.ended);
});

test('a close before the first byte reaches no handler and writes nothing', () => {
  const fake = fakeConnection();
  let handled = 0;
  const protocol = httpProtocol({ handler: () => void handled++ })(fake.connection);
  protocol.close!(fake.connection, 'reset');
  assert.is(handled, 0);
  assert.equal(fake.writes, []);
});

test('after the first bytes the session answers the end: the pending response first, then the end', () => {
  const fake = fakeConnection();
  const protocol = httpProtocol()(fake.connection);
  protocol.data(fake.connection, Buffer.from(REQUEST));
  protocol.end!(fake.connection);
  assert.match(fake.output(), /^HTTP\/1\.1 200 OK\r\n[^]*hello$/);
  assert.ok(fake.ended);
  assert.equal(fake.lateWrites, []);
});

test.run();
