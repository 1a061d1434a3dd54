// The parsers of one server's sessions are pooled: a session holds one only
// while a request is partly read (or it has stopped), and gives it back when
// a read leaves it between requests, so an idle connection holds none. What a
// parser carries for its connection must stay with that connection: a request
// cut across reads, the empty lines counted before a request line; and what
// it keeps to reuse strings must never show one connection another's bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol, MAX_EMPTY_LINES, type HttpRequest } from '../src/protocols/http.js';
import type { Protocol } from '../src/net/protocol.js';
import { fakeConnection, type FakeConnection } from './helpers/protocols.js';

interface Client {
  fake: FakeConnection;
  session: Protocol;
  send(text: string): void;
}

/** Sessions of one server (one factory), each on its stand-in connection; `seen` gets every request's URL and headers. */
function server(): { connect(): Client; seen: string[] } {
  const seen: string[] = [];
  const factory = httpProtocol({
    handler: (req: HttpRequest, res) => {
      seen.push(`${req.url} ${JSON.stringify(req.headers)}`);
      res.end('ok');
    },
  });
  return {
    seen,
    connect() {
      const fake = fakeConnection();
      const session = factory(fake.connection);
      return { fake, session, send: (text) => session.data(fake.connection, Buffer.from(text, 'latin1')) };
    },
  };
}

const OK = /^HTTP\/1\.1 200 OK\r\n/;

test('a request cut across reads keeps its parser while other connections are served in between', () => {
  const { connect, seen } = server();
  const a = connect();
  const b = connect();
  a.send('GET /from-a HTTP/1.1\r\nHost: a-host\r\nX-Na');
  b.send('GET /from-b HTTP/1.1\r\nHost: b-host\r\nX-Name: bee\r\n\r\n');
  b.send('GET /again-b HTTP/1.1\r\nHost: b-host\r\nX-Name: bee\r\n\r\n');
  a.send('me: ay\r\n\r\n');
  assert.equal(seen, [
    '/from-b {"host":"b-host","x-name":"bee"}',
    '/again-b {"host":"b-host","x-name":"bee"}',
    '/from-a {"host":"a-host","x-name":"ay"}',
  ]);
  assert.match(a.fake.output(), OK);
  assert.is(b.fake.output().match(/HTTP\/1\.1 200 OK/g)?.length, 2);
});

test('empty lines counted on one connection stay its own while another is served', () => {
  const { connect, seen } = server();
  const a = connect();
  const b = connect();
  a.send('\r\n'.repeat(MAX_EMPTY_LINES - 3));
  b.send('GET /b HTTP/1.1\r\nHost: b\r\n\r\n');
  // A's count goes on from where it was: past the bound, a 400.
  a.send('\r\n'.repeat(4));
  assert.match(a.fake.output(), /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.ok(a.fake.ended);
  // B's own count started at zero: its bound is whole.
  b.send('\r\n'.repeat(MAX_EMPTY_LINES) + 'GET /b2 HTTP/1.1\r\nHost: b\r\n\r\n');
  assert.equal(seen, ['/b {"host":"b"}', '/b2 {"host":"b"}']);
  assert.not.ok(b.fake.ended);
});

test("a parser back from the pool never shows a connection another's header values or URL", () => {
  const { connect, seen } = server();
  const a = connect();
  const b = connect();
  a.send('GET /alpha HTTP/1.1\r\nHost: h\r\nX-Name: alpha\r\n\r\n');
  // Same lengths, other bytes: the strings kept to reuse do not match.
  b.send('GET /alphb HTTP/1.1\r\nHost: h\r\nX-Name: alphb\r\n\r\n');
  a.send('GET /alpha HTTP/1.1\r\nHost: h\r\nX-Name: alpha\r\n\r\n');
  assert.equal(seen, [
    '/alpha {"host":"h","x-name":"alpha"}',
    '/alphb {"host":"h","x-name":"alphb"}',
    '/alpha {"host":"h","x-name":"alpha"}',
  ]);
});

test('a connection that closes in the middle of a request takes its parser with it; the others go on', () => {
  const { connect, seen } = server();
  const a = connect();
  const b = connect();
  a.send('GET /cut HTTP/1.1\r\nHost: a\r\n');
  a.session.close?.(a.fake.connection, 'reset');
  b.send('GET /b HTTP/1.1\r\nHost: b\r\n\r\n');
  const c = connect();
  c.send('GET /c HTTP/1.1\r\nHost: c\r\n\r\n');
  assert.equal(seen, ['/b {"host":"b"}', '/c {"host":"c"}']);
});

test.run();
