// Duplicate and conflicting framing headers, each on a connection of its
// own, all at once, while a well-behaved client is served. A second Host is
// 400 (RFC 9112 3.2); Content-Length with Transfer-Encoding is refused and the
// connection closed (RFC 9112 6.1), so a request smuggled in the body is
// never answered; differing Content-Lengths are 400 (RFC 9112 6.3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, parseResponse, RawClient, servedMeanwhile, withServe } from './helpers/hostile.js';

/** The request a smuggling attempt hides in the body: answered, it would be a 404. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

interface Variant {
  name: string;
  request: string;
  /** The statuses RFC 9112 allows for it. */
  statuses: string[];
}

const BAD = ['HTTP/1.1 400 Bad Request'];
/** CL with TE: a server may reject (400) or refuse the transfer coding it does not do (411); either way it closes. */
const BAD_OR_LENGTH_REQUIRED = ['HTTP/1.1 400 Bad Request', 'HTTP/1.1 411 Length Required'];

const VARIANTS: Variant[] = [
  { name: 'Host twice, same value', request: 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n', statuses: BAD },
  { name: 'Host twice, different values', request: 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', statuses: BAD },
  { name: 'Host and host', request: 'GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', statuses: BAD },
  { name: 'an empty Host and a Host', request: 'GET / HTTP/1.1\r\nHost:\r\nHost: a\r\n\r\n', statuses: BAD },
  { name: 'Host twice in HTTP/1.0', request: 'GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n', statuses: BAD },
  { name: 'Host twice, between others', request: 'GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nUser-Agent: x\r\nHOST: b\r\n\r\n', statuses: BAD },
  {
    name: 'Content-Length then Transfer-Encoding (CL.TE)',
    request: `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    statuses: BAD_OR_LENGTH_REQUIRED,
  },
  {
    name: 'Transfer-Encoding then Content-Length (TE.CL)',
    request: `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    statuses: BAD_OR_LENGTH_REQUIRED,
  },
  {
    name: 'Transfer-Encoding twice with Content-Length',
    request: `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    statuses: BAD_OR_LENGTH_REQUIRED,
  },
  {
    name: 'two Content-Lengths that differ',
    request: `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    statuses: BAD,
  },
  {
    name: 'a Content-Length list',
    request: `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    statuses: BAD,
  },
];

test('every duplicate-header variant is refused with its status and a close; nothing smuggled is answered; others served', async () => {
  await withServe('http', [], async (server) => {
    const before = await baseline(server);
    const attack = Promise.all(
      VARIANTS.map(async (variant) => {
        // Many of each, so the refusals overlap one another and the well-behaved client.
        const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.open(server.port)));
        await Promise.all(clients.map((c) => c.write(variant.request)));
        await Promise.all(clients.map((c) => c.untilGone(`the server to close after "${variant.name}"`, 5000)));
        return { variant, texts: clients.map((c) => c.text()), ended: clients.every((c) => c.ended), clients };
      }),
    );
    const { value: outcomes, roundTrips } = await servedMeanwhile('http', server.port, attack);
    for (const { variant, texts, ended, clients } of outcomes) {
      for (const text of texts) {
        const reply = parseResponse(text);
        assert.ok(reply, `${variant.name}: no whole reply: ${JSON.stringify(text)}`);
        assert.ok(variant.statuses.includes(reply.status), `${variant.name}: got "${reply.status}", expected ${variant.statuses.join(' or ')}`);
        assert.equal(reply.headers.get('connection'), ['close'], `${variant.name}: no Connection: close`);
        assert.is(reply.rest, '', `${variant.name}: answered more than one request (smuggled?): ${JSON.stringify(reply.rest)}`);
      }
      assert.ok(ended, `${variant.name}: a connection was reset instead of closed`);
      for (const client of clients) client.destroy();
    }
    assert.ok(roundTrips.length >= 3);
    await comesBack(server, before, 8 * MiB, 'after the duplicate-header clients');
  });
});

// llhttp (node:http's parser) refuses a repeated Content-Length even when the
// values agree, where RFC 9110 8.6 lets a server take it as one: stricter, and
// documented in docs/protocols.md.
test('the same Content-Length twice: llhttp refuses it (400) and the connection closes, nothing after it answered', async () => {
  await withServe('http', [], async (server) => {
    const client = await RawClient.open(server.port);
    await client.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await client.until((c) => c.ended || c.closed, 'the close');
    assert.equal(client.text().match(/HTTP\/1\.1 \d{3}/g), ['HTTP/1.1 400'], client.text());
    client.destroy();
  });
});

test.run();
