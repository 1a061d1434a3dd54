// ECONNRESET and EPIPE in the middle of a write: peers that send a lot, read
// nothing, and reset while the server has a large queued write to them. Each
// reset closes that connection and is counted (server.stats.resets); the
// other clients' echoes complete byte-exact.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoProtocol } from '../src/protocols/echo.js';
import { HOST } from './helpers/fds.js';
import { echoRoundTrip, patterned, withServer } from './helpers/servers.js';
import { connected, until, withTimeout } from './helpers/waiting.js';

const RESETTERS = 8;
const READERS = 40;
/** Far more than the socket buffers of both ends hold, so the server must queue. */
const FLOOD_BYTES = 8 * 1024 * 1024;

for (const trigger of ['level', 'edge'] as const) {
  test(`${trigger}: peers resetting with a queued write are counted as resets; the others are echoed byte-exact`, async () => {
    await withServer(echoProtocol, { host: HOST, trigger }, 'resets mid-write', async (server, port) => {
      const errors: unknown[] = [];
      server.loop.on('error', (error) => errors.push(error));
      const resetters: Socket[] = [];
      for (let i = 0; i < RESETTERS; i++) {
        const socket = await connected(HOST, port);
        socket.on('error', () => {});
        socket.pause(); // reads nothing: the echo backs up in the server
        socket.write(patterned(FLOOD_BYTES, 1000 + i));
        resetters.push(socket);
      }
      const queuedOnAll = (): boolean => {
        const stuck = server.connections.filter((c) => c.queuedBytes > 0 && c.isReadPaused);
        return stuck.length === RESETTERS;
      };
      await until(queuedOnAll, 'every flooding peer to have a queued write past the high watermark');
      const queuedBefore = server.connections.reduce((sum, c) => sum + c.queuedBytes, 0);
      assert.ok(queuedBefore >= RESETTERS * 64 * 1024, `only ${queuedBefore} bytes queued`);

      const payloads = Array.from({ length: READERS }, (_, i) => patterned(64 * 1024 + i, i + 1));
      const echoes = Promise.all(payloads.map((p) => echoRoundTrip(port, p)));
      for (const socket of resetters) socket.resetAndDestroy();

      const echoed = await withTimeout(echoes, `${READERS} echoes beside the resets`);
      echoed.forEach((bytes, i) => assert.ok(bytes.equals(payloads[i]!), `reader ${i}: echo differs`));
      await until(() => server.stats.resets === RESETTERS, `${RESETTERS} resets (have ${server.stats.resets})`);
      await until(() => server.stats.active === 0, 'every connection to close');
      assert.is(server.stats.accepted, RESETTERS + READERS);
      assert.equal(errors, [], 'a reset surfaced as a loop error');
    });
  });
}

test.run();
