import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoProtocol } from '../src/protocols/echo.js';
import { httpProtocol } from '../src/protocols/http.js';
import { DEFAULT_IDLE_TIMEOUT_MS, Server } from '../src/net/server.js';
import { rangeErr, throws, valueErr } from './helpers/errors.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const IDLE_MS = 200;

/** Resolves at 'close' with what the client saw. */
function closedBy(socket: Socket): Promise<{ at: number; sawEnd: boolean; error: Error | undefined; received: string }> {
  let sawEnd = false;
  let error: Error | undefined;
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => (received += text));
  socket.on('end', () => (sawEnd = true));
  socket.on('error', (e) => (error = e));
  return new Promise((resolve) => socket.on('close', () => resolve({ at: performance.now(), sawEnd, error, received })));
}

test('a client that sends half an HTTP request and stalls is closed by the idle timeout, not before', async () => {
  await withServer(httpProtocol(), { idleTimeoutMs: IDLE_MS }, 'half request', async (server, port) => {
    const client = await connected(HOST, port);
    const closed = closedBy(client);
    const sent = performance.now();
    client.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const result = await closed;
    const silentFor = result.at - sent;
    assert.ok(silentFor >= IDLE_MS, `closed after ${silentFor.toFixed(1)} ms, before the ${IDLE_MS} ms timeout`);
    assert.is(result.error, undefined);
    assert.ok(result.sawEnd, 'a clean close (FIN)');
    assert.is(result.received, '', 'no reply to a request that never completed');
    assert.is(server.stats.idleClosed, 1);
    assert.is(server.stats.active, 0);
    assert.is(server.stats.resets, 0);
  });
});

test('reads keep a connection alive past the timeout; once silent it is closed', async () => {
  await withServer(echoProtocol, { idleTimeoutMs: IDLE_MS }, 'chatty client', async (server, port) => {
    const client = await connected(HOST, port);
    const closed = closedBy(client);
    // Three timeouts' worth of traffic, a byte every quarter timeout.
    let lastWrite = 0;
    for (let i = 0; i < 12; i++) {
      client.write('x');
      lastWrite = performance.now();
      await tick(IDLE_MS / 4);
    }
    assert.is(server.stats.active, 1, 'a connection that keeps sending stays open');
    assert.is(server.stats.idleClosed, 0);
    const result = await closed;
    assert.ok(result.at - lastWrite >= IDLE_MS, `closed ${(result.at - lastWrite).toFixed(1)} ms after the last byte`);
    assert.is(result.received, 'x'.repeat(12));
    assert.is(server.stats.idleClosed, 1);
  });
});

test('idleTimeoutMs 0 turns the timeout off', async () => {
  await withServer(echoProtocol, { idleTimeoutMs: 0 }, 'no idle timeout', async (server, port) => {
    const client = await connected(HOST, port);
    await until(() => server.stats.active === 1, 'the accept');
    // The loop keeps no timer for the connection at all.
    assert.is(server.loop.timerCount, 0);
    await tick(300);
    assert.is(server.stats.active, 1);
    assert.is(server.stats.idleClosed, 0);
    client.destroy();
  });
});

test('no timer per connection: one idle sweep per server, gone when the server closes', async () => {
  await withServer(echoProtocol, {}, 'idle timers', async (server, port) => {
    const clients = await Promise.all([0, 1, 2].map(() => connected(HOST, port)));
    await until(() => server.stats.active === 3, 'three accepts');
    assert.is(server.loop.timerCount, 1, 'one idle sweep, whatever the connections');
    for (const client of clients) client.destroy();
    await until(() => server.stats.active === 0, 'three closes');
    assert.is(server.loop.timerCount, 1);
    server.close();
    assert.is(server.loop.timerCount, 0);
  });
});

test('idleTimeoutMs defaults to 120 s and is checked', () => {
  assert.is(DEFAULT_IDLE_TIMEOUT_MS, 120_000);
  const loop = new TestLoop();
  try {
    throws(() => new Server(loop, echoProtocol, { idleTimeoutMs: -1 }), rangeErr);
    throws(() => new Server(loop, echoProtocol, { idleTimeoutMs: 1.5 }), rangeErr);
    throws(() => new Server(loop, echoProtocol, { fdExhaustion: 'drop' as 'shed' }), valueErr);
  } finally {
    loop.close();
  }
});

test.run();
