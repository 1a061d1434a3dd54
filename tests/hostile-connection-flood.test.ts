// A flood of connections past --max-connections N: each one over the cap is
// told (RESP `-ERR max number of clients reached`, HTTP 503 with
// Connection: close, echo a plain close) and closed; the N clients already
// in are served all along; accepting goes on, so once one of them leaves a
// new client is served again; afterwards every fd is back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, parseResponse, RawClient, withServe, type Protocol, type ServeChild } from './helpers/hostile.js';

const MAX_CONNECTIONS = 8;
/** Well past the cap, and a few times the accepts one readiness event takes, so accepting must go on. */
const FLOOD = 100;
/** Refused connections leave nothing behind: what is left is V8 and malloc noise. */
const RSS_MARGIN = 8 * MiB;

const EXCHANGE: Record<Protocol, { request: string; reply: string }> = {
  echo: { request: 'still here\n', reply: 'still here\n' },
  resp: { request: '*1\r\n$4\r\nPING\r\n', reply: '+PONG\r\n' },
  http: { request: 'GET / HTTP/1.1\r\nHost: in\r\n\r\n', reply: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello' },
};

/** What a client over the cap receives before its close. */
function assertRefused(protocol: Protocol, text: string, which: string): void {
  if (protocol === 'resp') assert.is(text, '-ERR max number of clients reached\r\n', which);
  else if (protocol === 'echo') assert.is(text, '', which);
  else {
    const reply = parseResponse(text);
    assert.ok(reply, `${which}: no whole reply: ${JSON.stringify(text)}`);
    assert.is(reply.status, 'HTTP/1.1 503 Service Unavailable', which);
    assert.equal(reply.headers.get('connection'), ['close'], which);
    assert.is(reply.rest, '', `${which}: bytes after the 503`);
  }
}

/** One exchange on a connection that is already open; resolves once its exact reply is in. */
async function exchange(client: RawClient, protocol: Protocol, what: string): Promise<void> {
  const { request, reply } = EXCHANGE[protocol];
  const expected = client.received + reply.length;
  const from = client.received;
  await client.write(request);
  await client.until((c) => c.received >= expected || c.ended || c.closed, what, 5000);
  assert.is(client.bytes().subarray(from).toString('latin1'), reply, what);
}

async function flood(server: ServeChild): Promise<void> {
  const { protocol, port } = server;
  const before = await baseline(server);
  const members: RawClient[] = [];
  for (let i = 0; i < MAX_CONNECTIONS; i++) {
    const client = await RawClient.open(port);
    await exchange(client, protocol, `member ${i} before the flood`);
    members.push(client);
  }
  // The flood sends nothing: a refused client that had sent bytes could lose the
  // server's message to the reset its unread bytes cause.
  const floods = await Promise.all(Array.from({ length: FLOOD }, () => RawClient.open(port)));
  // The members are served while the flood is turned away.
  let rounds = 0;
  const refusals = Promise.all(floods.map((c, i) => c.untilGone(`flood client ${i} to be closed`)));
  let refused = false;
  void refusals.finally(() => (refused = true));
  while (!refused || rounds < 3) {
    await exchange(members[rounds % MAX_CONNECTIONS]!, protocol, `member ${rounds % MAX_CONNECTIONS} during the flood`);
    rounds++;
  }
  await refusals;
  floods.forEach((c, i) => {
    assertRefused(protocol, c.text(), `flood client ${i}`);
    assert.ok(c.ended, `flood client ${i} was reset, not closed`);
  });

  // One member leaves: accepting went on, so the next client gets in (once the
  // server has seen the member's close, which a retry waits for).
  members.pop()!.destroy();
  let admitted: RawClient | undefined;
  for (let attempt = 0; admitted === undefined; attempt++) {
    assert.ok(attempt < 100, 'no new client was served after a member left');
    const client = await RawClient.open(port);
    const { request, reply } = EXCHANGE[protocol];
    await client.write(request);
    await client.until((c) => c.received >= reply.length || c.ended || c.closed, 'the new client to be served or refused', 5000);
    if (client.text() === reply && !client.ended) admitted = client;
    else {
      assertRefused(protocol, client.text(), `new client, attempt ${attempt}`);
      client.destroy();
    }
  }
  await exchange(admitted, protocol, 'the new client, a second time');
  // And the cap holds again with it in.
  const over = await RawClient.open(port);
  await over.untilGone('the client over the cap to be closed');
  assertRefused(protocol, over.text(), 'the client over the cap again');

  for (const client of [...members, admitted, over, ...floods]) client.destroy();
  await comesBack(server, before, RSS_MARGIN, 'after the flood');
}

for (const protocol of ['resp', 'http', 'echo'] as const) {
  test(`${protocol}: ${FLOOD} connections past --max-connections ${MAX_CONNECTIONS} are told and closed; members served; a new one gets in once one leaves`, async () => {
    await withServe(protocol, ['--max-connections', String(MAX_CONNECTIONS)], flood);
  });
}

test.run();
