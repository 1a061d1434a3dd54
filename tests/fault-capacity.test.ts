// Tables at capacity: fds, timers, deferred callbacks. Each refusal is a
// clear error naming the option to raise; nothing breaks, and the table
// takes new entries again once old ones go.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { WasmloopError, sockets } from '../src/index.js';
import { echoProtocol } from '../src/protocols/echo.js';
import { rangeErr, throws } from './helpers/errors.js';
import { HOST, closeAll } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const SMALL_MAX_FDS = 64;

test('registering an fd at or beyond maxFds is a RangeError naming maxFds; smaller fds still register', () => {
  const loop = new TestLoop({ maxFds: SMALL_MAX_FDS });
  const held: number[] = [];
  try {
    while (held.length === 0 || held.at(-1)! < SMALL_MAX_FDS) held.push(sockets.listen(HOST, 0));
    const beyond = held.at(-1)!;
    const error = throws(() => loop.addServerSocket(beyond, () => {}), rangeErr);
    assert.match(error.message, `maxFds ${SMALL_MAX_FDS}`);
    throws(() => loop.addClientSocket(beyond, { read() {} }), rangeErr);
    throws(() => loop.watch(beyond, { readable: true }, () => {}), rangeErr);
    const within = held.find((fd) => fd < SMALL_MAX_FDS)!;
    loop.addServerSocket(within, () => {});
    assert.ok(loop.isRegistered(within));
    assert.is(loop.size, 1);
  } finally {
    loop.close();
    closeAll(...held);
  }
});

/**
 * Connects, sends `message`, and resolves with 'served' when it comes back
 * or 'refused' when the server closes the connection instead.
 */
async function tryEcho(port: number, message: string, keep: Socket[]): Promise<'served' | 'refused'> {
  const socket = await connected(HOST, port);
  keep.push(socket);
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text === message) resolve('served');
    });
    socket.on('error', () => resolve('refused'));
    socket.on('close', () => resolve(text === message ? 'served' : 'refused'));
    socket.write(message);
  });
}

test(`a Server on a loop with maxFds ${SMALL_MAX_FDS}: connections accepted beyond it are closed and reported, the rest served`, async () => {
  await withServer(echoProtocol, { host: HOST }, 'a server at fd capacity', async (server, port) => {
    const errors: unknown[] = [];
    server.loop.on('error', (error, context) => errors.push({ error, kind: context.kind }));
    const clients: Socket[] = [];
    try {
      const outcomes: string[] = [];
      // One at a time, so the fd numbers climb past the limit in order.
      for (let i = 0; i < 40; i++) outcomes.push(await withTimeout(tryEcho(port, `hello ${i}`, clients), `client ${i}`));
      const served = outcomes.filter((o) => o === 'served').length;
      const refused = outcomes.length - served;
      assert.ok(served >= 1 && refused >= 1, `served ${served}, refused ${refused}: the limit was not reached`);
      assert.is(outcomes.indexOf('refused') > outcomes.lastIndexOf('served'), true, `a client was served after the limit: ${outcomes.join(' ')}`);
      assert.is(server.stats.accepted, served);
      assert.is(errors.length, refused);
      for (const { error, kind } of errors as { error: Error & { code?: string }; kind: string }[]) {
        assert.instance(error, RangeError);
        assert.is(error.code, 'ERR_OUT_OF_RANGE');
        assert.match(error.message, `maxFds ${SMALL_MAX_FDS}`);
        assert.is(kind, 'accept');
      }

      // Freeing low numbers lets the next connections in.
      for (const client of clients.splice(0)) client.destroy();
      const again = await withTimeout(tryEcho(port, 'after the others left', clients), 'a client after the others left');
      assert.is(again, 'served');
      assert.is(server.stats.accepted, served + 1);
    } finally {
      for (const client of clients) client.destroy();
    }
  }, { maxFds: SMALL_MAX_FDS, fatalErrors: false });
});

test('a full timer table is a RangeError naming maxTimers; it takes timers again once some fire or are cancelled', () => {
  let now = 0;
  const loop = new TestLoop({ maxTimers: 8, clock: () => now });
  try {
    const fired: number[] = [];
    const timers = Array.from({ length: 8 }, (_, i) => loop.setTimeout(() => fired.push(i), 10 + i));
    const error = throws(() => loop.setTimeout(() => {}, 5), rangeErr);
    assert.match(error.message, /timer table full \(capacity 8\)/);
    assert.match(error.message, 'maxTimers');
    throws(() => loop.setInterval(() => {}, 5), rangeErr);
    assert.is(loop.timerCount, 8);

    timers[7]!.cancel();
    const replacement = loop.setTimeout(() => fired.push(100), 1);
    assert.ok(replacement !== undefined);
    now = 30;
    loop.runOnce(0);
    assert.equal(fired, [100, 0, 1, 2, 3, 4, 5, 6]);
    assert.is(loop.timerCount, 0);
    for (let i = 0; i < 8; i++) loop.setTimeout(() => {}, 1);
    throws(() => loop.setTimeout(() => {}, 1), rangeErr);
  } finally {
    loop.close();
  }
});

test('a full deferred queue throws ERR_DEFER_QUEUE_FULL naming maxDeferred; it takes callbacks again once they ran', () => {
  const loop = new TestLoop({ maxDeferred: 4 });
  try {
    const ran: number[] = [];
    for (let i = 0; i < 4; i++) loop.defer(() => ran.push(i));
    const error = throws(() => loop.defer(() => ran.push(99)), { type: WasmloopError, code: 'ERR_DEFER_QUEUE_FULL' });
    assert.match(error.message, 'maxDeferred 4');
    loop.runOnce(0);
    assert.equal(ran, [0, 1, 2, 3]);
    for (let i = 4; i < 8; i++) loop.defer(() => ran.push(i));
    loop.runOnce(0);
    assert.equal(ran, [0, 1, 2, 3, 4, 5, 6, 7]);
  } finally {
    loop.close();
  }
});

test.run();
