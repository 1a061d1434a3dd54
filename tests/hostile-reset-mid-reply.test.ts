// Clients that ask for far more than the socket buffers hold, read a little,
// and reset (RST) while the server is still sending: each connection is
// closed by the failed write or the reset, the server goes on serving the
// others, and its fds and memory come back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, pattern, RawClient, resp, servedMeanwhile, withServe, type Protocol } from './helpers/hostile.js';

const RESETTERS = 8;
/** Each resetter reads this much of its replies first: a reset mid-reply, not before it. */
const READ_FIRST = 256 * 1024;

/** What each resetter asks for: many MiB of replies, so the server is mid-write when it resets. */
const ASKS: Record<Protocol, { setup?: Buffer; request: Buffer }> = {
  // 16 × a 1 MiB GET: 16 MiB, four times what loopback's socket buffers take.
  resp: { setup: resp('SET', 'big', pattern(MiB, 7)), request: Buffer.concat(Array.from({ length: 16 }, () => resp('GET', 'big'))) },
  // 100,000 GETs: 6.9 MB of replies.
  http: { request: Buffer.from('GET / HTTP/1.1\r\nHost:x\r\n\r\n'.repeat(100_000)) },
  // 8 MiB echoed back.
  echo: { request: pattern(8 * MiB, 3) },
};

for (const protocol of ['resp', 'http', 'echo'] as const) {
  test(`${protocol}: ${RESETTERS} clients resetting mid-reply are dropped; others served; fds and memory back`, async () => {
    await withServe(protocol, [], async (server) => {
      const { setup, request } = ASKS[protocol];
      if (setup) {
        const setter = await RawClient.open(server.port);
        await setter.write(setup);
        await setter.until((c) => c.text() === '+OK\r\n', 'the SET');
        setter.destroy();
      }
      const before = await baseline(server);
      const attack = Promise.all(
        Array.from({ length: RESETTERS }, async () => {
          const client = await RawClient.open(server.port);
          void client.write(request);
          await client.until((c) => c.received >= READ_FIRST || c.ended || c.closed, 'the first replies');
          const early = client.ended || client.closed;
          client.socket.resetAndDestroy();
          return early;
        }),
      );
      const { value: early, roundTrips } = await servedMeanwhile(protocol, server.port, attack);
      assert.equal(early, Array(RESETTERS).fill(false), 'a server closed a connection before its client reset it');
      assert.ok(roundTrips.length >= 3);
      // A reset connection's queued replies are dropped with it. 64 MiB (echo)
      // or 128 MiB (RESP) of replies passed through the server's buffers, and
      // V8 collects what is left of them at its next full GC, which an idle
      // server may not run soon (17 MiB were still held once, on a loaded
      // machine): 32 MiB allows for that, half of what keeping it all would hold.
      await comesBack(server, before, 32 * MiB, 'after the resets');
    });
  });
}

test.run();
