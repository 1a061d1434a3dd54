// Slowloris: a client that trickles its header section one byte every 40 ms
// must be answered 408 and closed once --headers-timeout-ms has passed since
// the request's first byte; the trickle does not reset that clock (an idle
// timeout, reset by every read, never fires on it). Other clients are served
// all along, and the server lets go of the connection's fd and memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, parseResponse, RawClient, servedMeanwhile, withServe } from './helpers/hostile.js';
import { tick } from './helpers/waiting.js';

const HEADERS_TIMEOUT_MS = 2000;
const TRICKLE_MS = 40;
/**
 * Long enough that the trickle would take 8 s, four times the timeout, to
 * finish the header section: the server must cut it, not wait for it.
 */
const HEADER = `GET / HTTP/1.1\r\nHost: slow\r\nX-Padding: ${'p'.repeat(160)}\r\n\r\n`;
/**
 * The close must come no earlier than the timeout (less a little: the clock
 * starts at the server's read of the first byte, shortly after the write),
 * and before the trickle could have ended. The upper bound is generous for a
 * loaded machine; an implementation whose clock the trickle resets never
 * closes within it.
 */
const EARLIEST_MS = HEADERS_TIMEOUT_MS - 50;
const LATEST_MS = HEADERS_TIMEOUT_MS * 3;
/** An attack connection's memory is a few KiB of header; 8 MiB is RSS noise from V8 and malloc. */
const RSS_MARGIN = 8 * MiB;

async function trickle(client: RawClient, text: string): Promise<{ closedAfterMs: number; sent: number }> {
  const started = performance.now();
  let sent = 0;
  while (sent < text.length && !client.ended && !client.closed) {
    await client.write(text[sent++]!);
    await tick(TRICKLE_MS);
  }
  await client.untilGone('the server to close the trickling connection', LATEST_MS + 5000);
  return { closedAfterMs: performance.now() - started, sent };
}

test('a header trickled one byte per 40 ms gets 408 and a close at --headers-timeout-ms, while others are served', async () => {
  await withServe('http', ['--headers-timeout-ms', String(HEADERS_TIMEOUT_MS)], async (server) => {
    const before = await baseline(server);
    const attackers = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(server.port)));
    const { value: outcomes, roundTrips } = await servedMeanwhile('http', server.port, Promise.all(attackers.map((a) => trickle(a, HEADER))));
    for (const [i, { closedAfterMs, sent }] of outcomes.entries()) {
      assert.ok(closedAfterMs >= EARLIEST_MS, `attacker ${i} closed after ${closedAfterMs.toFixed(0)} ms, before the ${HEADERS_TIMEOUT_MS} ms timeout`);
      assert.ok(closedAfterMs <= LATEST_MS, `attacker ${i} closed after ${closedAfterMs.toFixed(0)} ms (${sent} bytes trickled); the timeout is ${HEADERS_TIMEOUT_MS} ms`);
      assert.ok(sent < HEADER.length, `attacker ${i} finished its header`);
      const reply = parseResponse(attackers[i]!.text());
      assert.ok(reply, `attacker ${i} got no whole reply: ${JSON.stringify(attackers[i]!.text())}`);
      assert.is(reply.status, 'HTTP/1.1 408 Request Timeout');
      assert.equal(reply.headers.get('connection'), ['close']);
      assert.is(reply.rest, '', 'bytes after the 408');
      assert.ok(attackers[i]!.ended, `attacker ${i} was reset, not closed after its 408`);
    }
    assert.ok(roundTrips.length >= 3, `only ${roundTrips.length} round trips during the attack`);
    for (const attacker of attackers) attacker.destroy();
    await comesBack(server, before, RSS_MARGIN, 'after the trickling clients left');
  });
});

test('a keep-alive connection silent between requests for longer than the headers timeout is not cut', async () => {
  // The clock starts at a request's first byte, not at the connection or at the last reply.
  await withServe('http', ['--headers-timeout-ms', String(HEADERS_TIMEOUT_MS)], async (server) => {
    const client = await RawClient.open(server.port);
    await client.write('GET / HTTP/1.1\r\nHost: idle\r\n\r\n');
    await client.until((c) => parseResponse(c.text()) !== undefined, 'the first reply');
    await tick(HEADERS_TIMEOUT_MS + 500);
    assert.ok(!client.ended && !client.closed, 'the server closed a keep-alive connection that sent nothing');
    await client.write('GET / HTTP/1.1\r\nHost: idle\r\n\r\n');
    await client.until((c) => (c.text().match(/HTTP\/1\.1 200 OK/g) ?? []).length === 2 || c.ended, 'the second reply');
    assert.is((client.text().match(/HTTP\/1\.1 200 OK/g) ?? []).length, 2, client.text());
    client.destroy();
  });
});

test.run();
