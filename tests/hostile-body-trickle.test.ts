// A body trickled one byte every 40 ms after a prompt header section: the
// headers timeout is met, so what cuts it is --request-timeout-ms, counted
// from the request's first byte over the whole request. 408, a close, others
// served meanwhile, fd and memory back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, parseResponse, RawClient, servedMeanwhile, withServe } from './helpers/hostile.js';
import { tick } from './helpers/waiting.js';

/** Below the request timeout, as node:http requires; the header section below arrives at once. */
const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2500;
const TRICKLE_MS = 40;
/** 400 body bytes at 40 ms take 16 s: far past the timeout, so only the server can end the request. */
const BODY_BYTES = 400;
const EARLIEST_MS = REQUEST_TIMEOUT_MS - 50;
/** Generous for a loaded machine; a clock reset by each byte never fires within it. */
const LATEST_MS = REQUEST_TIMEOUT_MS * 3;
/** The body is skipped, never stored: what is left is V8 and malloc noise. */
const RSS_MARGIN = 8 * MiB;

test('a body trickled one byte per 40 ms gets 408 and a close at --request-timeout-ms, while others are served', async () => {
  const flags = ['--headers-timeout-ms', String(HEADERS_TIMEOUT_MS), '--request-timeout-ms', String(REQUEST_TIMEOUT_MS)];
  await withServe('http', flags, async (server) => {
    const before = await baseline(server);
    const attacker = await RawClient.open(server.port);
    const attack = (async () => {
      const started = performance.now();
      await attacker.write(`POST / HTTP/1.1\r\nHost: slow\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`);
      let sent = 0;
      while (sent < BODY_BYTES && !attacker.ended && !attacker.closed) {
        await attacker.write('b');
        sent++;
        await tick(TRICKLE_MS);
      }
      await attacker.untilGone('the server to close the trickling connection', LATEST_MS + 5000);
      return { closedAfterMs: performance.now() - started, sent };
    })();
    const { value, roundTrips } = await servedMeanwhile('http', server.port, attack);
    assert.ok(value.closedAfterMs >= EARLIEST_MS, `closed after ${value.closedAfterMs.toFixed(0)} ms, before the ${REQUEST_TIMEOUT_MS} ms request timeout`);
    assert.ok(value.closedAfterMs <= LATEST_MS, `closed after ${value.closedAfterMs.toFixed(0)} ms (${value.sent} body bytes); the request timeout is ${REQUEST_TIMEOUT_MS} ms`);
    assert.ok(value.sent < BODY_BYTES, 'the whole body went out before the server cut it');
    // One request, one response: the server may answer at the end of the header
    // section (405 for a POST), and then it has nothing more to say; if it has not
    // answered yet, the answer is 408 with a close.
    const reply = parseResponse(attacker.text());
    assert.ok(reply, `no whole reply: ${JSON.stringify(attacker.text())}`);
    assert.is(reply.rest, '', `more than one response to one request: ${JSON.stringify(attacker.text())}`);
    assert.ok(['HTTP/1.1 408 Request Timeout', 'HTTP/1.1 405 Method Not Allowed'].includes(reply.status), reply.status);
    if (reply.status.includes('408')) assert.equal(reply.headers.get('connection'), ['close']);
    assert.ok(roundTrips.length >= 3, `only ${roundTrips.length} round trips during the attack`);
    attacker.destroy();
    await comesBack(server, before, RSS_MARGIN, 'after the trickling client left');
  });
});

test('a request whose body arrives within --request-timeout-ms is answered, then the next one starts a fresh clock', async () => {
  const flags = ['--headers-timeout-ms', String(HEADERS_TIMEOUT_MS), '--request-timeout-ms', String(REQUEST_TIMEOUT_MS)];
  await withServe('http', flags, async (server) => {
    const client = await RawClient.open(server.port);
    // Two requests on one connection, each trickled over 1.4 s: 2.8 s in all, past the
    // timeout, which only a clock started per request lets through.
    for (let round = 1; round <= 2; round++) {
      await client.write(`POST / HTTP/1.1\r\nHost: steady\r\nContent-Length: 35\r\n\r\n`);
      for (let i = 0; i < 35; i++) {
        await client.write('b');
        await tick(TRICKLE_MS);
      }
      await client.until((c) => (c.text().match(/HTTP\/1\.1 /g) ?? []).length === round || c.ended, `reply ${round}`);
    }
    const statuses = client.text().match(/HTTP\/1\.1 \d{3}/g);
    assert.equal(statuses, ['HTTP/1.1 405', 'HTTP/1.1 405'], client.text());
    assert.ok(!client.ended, 'the server closed a connection whose requests each came in time');
    client.destroy();
  });
});

test.run();
