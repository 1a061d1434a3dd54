// HTTP's requestTimeoutMs: the whole request, body included, must arrive
// within it of its first byte. A header section trickled with the headers
// timeout off gets 408 with Connection: close at the request timeout. A body
// trickled after headers that came in time closes the connection gently at
// the request timeout (not at the headers timeout) and with no 408: this
// server answers once the header section is in, and a second answer would
// read as the answer to the next request (node:http, too, only closes once
// its response is under way). Virtual clock, real sockets.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { HOST } from './helpers/fds.js';
import { record, type Seen } from './helpers/limits.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';

const HEADERS_TIMEOUT_MS = 500;
const REQUEST_TIMEOUT_MS = 2000;
const STEP_MS = 40;
/**
 * How late a close may come, in virtual time: a sweep period, plus the steps
 * the clock moves while a byte is on its way (the clock moves in real time,
 * so a loaded machine makes this grow). The lower bound, never early, is
 * exact.
 */
const LATE_MS = 1000;

/** Sends `head`, then trickles `trickle` a byte per STEP_MS of virtual time until the server closes; when it did, from the first byte. */
async function trickle(client: Socket, seen: Seen, clock: { ms: number }, head: string, bytes: string): Promise<number> {
  let endedAt = -1;
  client.on('end', () => (endedAt = clock.ms));
  const startedAt = clock.ms;
  client.write(head);
  for (let i = 0; i < bytes.length && endedAt < 0; i++) {
    await tick(3);
    clock.ms += STEP_MS;
    client.write(bytes[i]!);
  }
  await until(() => seen.isClosed, 'the close', () => {
    clock.ms += STEP_MS;
    return tick(3);
  });
  return endedAt - startedAt;
}

test('a header section trickled with the headers timeout off: 408 at the request timeout, then a gentle close', async () => {
  const clock = { ms: 0 };
  const protocol = httpProtocol({ headersTimeoutMs: 0, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  await withServer(protocol, { idleTimeoutMs: 0 }, 'header trickle, request timeout', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    const after = await trickle(client, seen, clock, 'GET / HTTP/1.1\r\n', 'X-Slow: ' + 'a'.repeat(2000));
    assert.match(seen.text(), /^HTTP\/1\.1 408 Request Timeout\r\n[^]*Connection: close\r\n\r\nrequest timeout\n$/);
    assert.ok(seen.ended, 'a FIN after the 408');
    assert.is(seen.error, undefined, 'no reset');
    assert.ok(after >= REQUEST_TIMEOUT_MS, `closed after ${after} ms, before the ${REQUEST_TIMEOUT_MS} ms timeout`);
    assert.ok(after <= REQUEST_TIMEOUT_MS + LATE_MS, `closed after ${after} ms, ${after - REQUEST_TIMEOUT_MS} ms late`);
  }, { clock: () => clock.ms });
});

test('a body trickled one byte per 40 ms: a gentle close at the request timeout, after the one answer', async () => {
  const clock = { ms: 0 };
  const protocol = httpProtocol({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  await withServer(protocol, { idleTimeoutMs: 0 }, 'body trickle', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    const after = await trickle(client, seen, clock, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n', 'b'.repeat(1000));
    assert.match(seen.text(), /^HTTP\/1\.1 405 Method Not Allowed\r\n[^]*method not allowed\n$/);
    assert.not.match(seen.text(), /408/);
    assert.ok(seen.ended, 'a FIN');
    assert.is(seen.error, undefined, 'no reset');
    assert.ok(after >= REQUEST_TIMEOUT_MS, `closed after ${after} ms, before the ${REQUEST_TIMEOUT_MS} ms timeout`);
    assert.ok(after <= REQUEST_TIMEOUT_MS + LATE_MS, `closed after ${after} ms, ${after - REQUEST_TIMEOUT_MS} ms late`);
  }, { clock: () => clock.ms });
});

test('a body that completes in time is answered, and the next request has a deadline of its own', async () => {
  const clock = { ms: 0 };
  const protocol = httpProtocol({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n';
  const answers = (seen: Seen): number => seen.text().split('405 Method Not Allowed').length - 1;
  await withServer(protocol, { idleTimeoutMs: 0 }, 'body in time', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    client.write(head);
    await until(() => answers(seen) === 1, 'the first answer');
    for (let round = 2; round <= 3; round++) {
      // 1.5 s into a request whose body is still to come: within the 2 s,
      // and past it for the request before, had its deadline carried over.
      clock.ms += 1500;
      await tick(20);
      // Its body, and the next request's head: the answer to that proves the body was read.
      client.write('b'.repeat(10) + head);
      await until(() => answers(seen) === round, () => `answer ${round}, got: ${seen.text()}`);
    }
    client.write('b'.repeat(10));
    clock.ms += 5 * REQUEST_TIMEOUT_MS;
    await tick(50);
    assert.not.ok(seen.isClosed, 'closed, though every request completed in time');
    assert.not.match(seen.text(), /408/);
    client.destroy();
  }, { clock: () => clock.ms });
});

test.run();
