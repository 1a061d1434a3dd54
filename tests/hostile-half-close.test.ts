// A client that sends its requests, half-closes (FIN: it will send no more)
// and keeps reading. Every request sent before the FIN is answered, in order,
// even when the replies outgrow the high watermark so the server must pause
// and resume with the FIN already waiting; then the server closes its side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, pattern, RawClient, resp, servedMeanwhile, withServe, type Protocol } from './helpers/hostile.js';

interface Case {
  setup?: Buffer;
  request: Buffer;
  /** Everything the client must get before the server's FIN. */
  replies: Buffer;
}

const value = pattern(MiB, 11);
const bulk = Buffer.concat([Buffer.from(`$${MiB}\r\n`), value, Buffer.from('\r\n')]);
const hello = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
const echoed = pattern(8 * MiB, 5);

const CASES: Record<Protocol, Case> = {
  // 40 MiB of replies: forty watermarks, far more than the kernel holds.
  resp: {
    setup: resp('SET', 'big', value),
    request: Buffer.concat([...Array.from({ length: 40 }, () => resp('GET', 'big')), resp('PING')]),
    replies: Buffer.concat([...Array.from({ length: 40 }, () => bulk), Buffer.from('+PONG\r\n')]),
  },
  // 20,000 GETs and the last one's reply.
  http: {
    request: Buffer.from('GET / HTTP/1.1\r\nHost:x\r\n\r\n'.repeat(20_000)),
    replies: Buffer.from(hello.repeat(20_000)),
  },
  echo: { request: echoed, replies: echoed },
};
/**
 * A client that reads only once its FIN is out cannot send more than the
 * kernel and the server's watermark hold between them: echo's replies are
 * its requests, so past that both sides wait on each other, as they would
 * with any server that applies backpressure. 1 MiB fits.
 */
const echoedLate = pattern(MiB, 5);

for (const protocol of ['resp', 'http', 'echo'] as const) {
  for (const readsLate of [false, true]) {
    test(`${protocol}: a client that half-closes gets every reply, then the server's FIN${readsLate ? ' (it starts reading only after its FIN)' : ''}`, async () => {
      await withServe(protocol, [], async (server) => {
        const { setup, request, replies } = protocol === 'echo' && readsLate ? { setup: undefined, request: echoedLate, replies: echoedLate } : CASES[protocol];
        if (setup) {
          const setter = await RawClient.open(server.port);
          await setter.write(setup);
          await setter.until((c) => c.text() === '+OK\r\n', 'the SET');
          setter.destroy();
        }
        const before = await baseline(server);
        const clients = await Promise.all(Array.from({ length: 4 }, () => RawClient.open(server.port, { paused: readsLate })));
        const attack = Promise.all(
          clients.map(async (client) => {
            client.socket.end(request);
            if (readsLate) {
              await client.until(() => client.socket.writableFinished, 'the FIN to go out');
              client.socket.resume();
            }
            await client.until((c) => c.ended || c.closed, 'the server to close after the last reply', 15_000);
          }),
        );
        const { roundTrips } = await servedMeanwhile(protocol, server.port, attack);
        clients.forEach((client, i) => {
          assert.ok(client.error === undefined, `client ${i}: ${client.error?.message}`);
          assert.is(client.received, replies.length, `client ${i}: bytes before the FIN`);
          assert.ok(client.bytes().equals(replies), `client ${i}: replies differ`);
          assert.ok(client.ended, `client ${i}: no FIN from the server`);
        });
        assert.ok(roundTrips.length >= 3);
        for (const client of clients) client.destroy();
        // 160 MiB of RESP replies passed through the server's buffers; V8
        // collects what is left of them at its next full GC (seen: 32 MiB
        // still held on an idle server after 10 s). A kept queue would hold
        // all 160.
        await comesBack(server, before, 48 * MiB, 'after the half-closed clients');
      });
    });
  }
}

test.run();
