import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Trigger } from '../src/index.js';
import { echoProtocol } from '../src/protocols/echo.js';
import { withServer } from './helpers/servers.js';
import { onceConnected, until } from './helpers/waiting.js';

interface EchoResult {
  received: Buffer;
  sawEnd: boolean;
  error: Error | undefined;
}

/** Collects everything a socket receives until it closes. */
function collect(socket: Socket): Promise<EchoResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let sawEnd = false;
    let error: Error | undefined;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (sawEnd = true));
    socket.on('error', (e) => (error = e));
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), sawEnd, error }));
  });
}

/** One client: connects, sends `payload`, half-closes, and collects the echo. */
function echoClient(port: number, payload: Buffer): Promise<EchoResult> {
  const socket = connect({ host: '127.0.0.1', port });
  const result = collect(socket);
  socket.on('connect', () => socket.end(payload));
  return result;
}

function assertEcho(result: EchoResult, sent: Buffer, who: string): void {
  assert.is(result.error, undefined, `${who}: ${result.error?.message}`);
  assert.is(result.received.length, sent.length, `${who}: echoed length`);
  assert.ok(result.received.equals(sent), `${who}: echoed bytes differ from the bytes sent`);
  assert.ok(result.sawEnd, `${who}: server did not end the connection`);
}

for (const trigger of ['level', 'edge'] as Trigger[]) {
  test(`${trigger}-triggered: 200 simultaneous clients each get exactly their own 64 KiB back`, async () => {
    await withServer(echoProtocol, { trigger }, `200 clients (${trigger})`, async (server, port) => {
      const payloads = Array.from({ length: 200 }, () => randomBytes(64 * 1024));
      const results = await Promise.all(payloads.map((payload) => echoClient(port, payload)));
      results.forEach((result, i) => assertEcho(result, payloads[i]!, `client ${i}`));
      const stats = server.stats;
      assert.is(stats.accepted, 200);
      assert.is(stats.active, 0);
      assert.is(stats.resets, 0);
      assert.is(server.connections.length, 0);
    });
  });
}

test('1,000 writes of 100 bytes each are echoed byte-exact', async () => {
  await withServer(echoProtocol, {}, 'small writes', async (server, port) => {
    const sent = randomBytes(1000 * 100);
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const result = collect(socket);
    await onceConnected(socket);
    // Each write waits for the previous one to be handed to the kernel, so
    // the server sees many small segments rather than one coalesced write.
    for (let offset = 0; offset < sent.length; offset += 100) {
      await new Promise<void>((resolve, reject) =>
        socket.write(sent.subarray(offset, offset + 100), (error) => (error ? reject(error) : resolve())),
      );
    }
    socket.end();
    assertEcho(await result, sent, 'small-writes client');
    assert.is(server.stats.accepted, 1);
    assert.is(server.stats.active, 0);
  });
});

test('a client reset mid-stream does not disturb another client, and active returns to 0', async () => {
  await withServer(echoProtocol, {}, 'reset mid-stream', async (server, port) => {
    // A steady client, connected before the reset and finishing after it.
    const steadyPayload = randomBytes(256 * 1024);
    const steady = connect({ host: '127.0.0.1', port });
    const steadyResult = collect(steady);
    let steadyEchoed = 0;
    steady.on('data', (chunk: Buffer) => (steadyEchoed += chunk.length));
    steady.write(steadyPayload.subarray(0, 128 * 1024));
    await until(() => steadyEchoed === 128 * 1024, 'the first half of the steady echo');

    // The resetting client sends far more than it reads and resets as soon as
    // the first echo proves the server is busy with it.
    const resetter = connect({ host: '127.0.0.1', port });
    const resetterClosed = new Promise<void>((resolve) => resetter.on('close', () => resolve()));
    resetter.on('error', () => {});
    resetter.write(randomBytes(4 * 1024 * 1024));
    resetter.once('data', () => resetter.resetAndDestroy());
    await resetterClosed;

    await until(() => server.stats.active === 1, 'the reset connection to close');
    assert.is(server.stats.accepted, 2);
    assert.is(server.stats.resets, 1, 'the reset connection is counted as a reset');

    // The steady client is still served in full.
    steady.end(steadyPayload.subarray(128 * 1024));
    assertEcho(await steadyResult, steadyPayload, 'steady client');
    assert.is(server.stats.active, 0);
    assert.is(server.connections.length, 0);
  });
});

test.run();
