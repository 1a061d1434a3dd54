// HTTP's headersTimeoutMs: the header section must arrive within it of the
// request's first byte. A trickle that keeps the connection busy does not
// reset it (the idle timeout would be reset by every byte): the client gets
// 408 with Connection: close, then a gentle close, never before the
// deadline and within one sweep period after it. Time is a virtual clock
// the test moves, while the sockets are real; another client is served
// meanwhile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { HOST } from './helpers/fds.js';
import { record } from './helpers/limits.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';

const HEADERS_TIMEOUT_MS = 1000;
/** Virtual time per trickled byte. */
const STEP_MS = 40;
/**
 * How late the 408 may come, in virtual time: a sweep period (an eighth of
 * the timeout), plus the steps the clock moves while a byte is on its way
 * (the clock moves in real time, so a loaded machine makes this grow). The
 * lower bound, never early, is exact.
 */
const LATE_MS = 1000;
const TIMEOUT_REPLY = 'HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\nrequest timeout\n';

test('a header trickled one byte per 40 ms: 408 and a gentle close at the headers timeout, another client served meanwhile', async () => {
  const clock = { ms: 0 };
  const protocol = httpProtocol({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: 10 * HEADERS_TIMEOUT_MS });
  await withServer(protocol, { idleTimeoutMs: 0 }, 'headers trickle', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    let repliedAt = -1;
    client.on('data', () => {
      if (repliedAt < 0) repliedAt = clock.ms;
    });
    const bystander = await connected(HOST, port);
    const bystanderSeen = record(bystander);
    const startedAt = clock.ms;
    const header = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(200);
    for (let i = 0; i < header.length && !seen.isClosed; i++) {
      client.write(header[i]!);
      // Let the byte reach the server at this virtual time, then move on.
      await tick(3);
      clock.ms += STEP_MS;
      if (i === 5) bystander.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      if (repliedAt >= 0) break;
    }
    await until(() => seen.isClosed, 'the close', () => {
      clock.ms += STEP_MS;
      return tick(3);
    });
    assert.is(seen.text(), TIMEOUT_REPLY);
    assert.ok(seen.ended, 'a FIN after the 408');
    assert.is(seen.error, undefined, 'no reset');
    const after = repliedAt - startedAt;
    assert.ok(after >= HEADERS_TIMEOUT_MS, `408 after ${after} ms, before the ${HEADERS_TIMEOUT_MS} ms timeout`);
    assert.ok(after <= HEADERS_TIMEOUT_MS + LATE_MS, `408 after ${after} ms, ${after - HEADERS_TIMEOUT_MS} ms late`);
    assert.match(bystanderSeen.text(), /^HTTP\/1\.1 200 OK\r\n/);
    bystander.destroy();
  }, { clock: () => clock.ms });
});

test('requests that arrive whole are never timed out, however long the connection lives', async () => {
  const clock = { ms: 0 };
  const protocol = httpProtocol({ headersTimeoutMs: HEADERS_TIMEOUT_MS });
  await withServer(protocol, { idleTimeoutMs: 0 }, 'keep-alive', async (server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    for (let i = 0; i < 5; i++) {
      client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => seen.text().split('200 OK').length - 1 === i + 1, 'a reply');
      clock.ms += HEADERS_TIMEOUT_MS;
      await tick(3);
    }
    assert.not.ok(seen.isClosed);
    // Nothing pending: the loop keeps no deadline timer.
    assert.is(server.loop.timerCount, 0);
    client.destroy();
  }, { clock: () => clock.ms });
});

test('options are checked: headersTimeoutMs at most requestTimeoutMs, 0 turns each off', () => {
  assert.throws(() => httpProtocol({ headersTimeoutMs: 2000, requestTimeoutMs: 1000 }), RangeError);
  assert.throws(() => httpProtocol({ headersTimeoutMs: -1 }), RangeError);
  httpProtocol({ headersTimeoutMs: 2000, requestTimeoutMs: 0 });
  httpProtocol({ headersTimeoutMs: 0, requestTimeoutMs: 0 });
});

test.run();
