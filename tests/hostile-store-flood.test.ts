// A client that SETs new keys without end, against `--max-memory 8 MiB`: once
// the store passes the limit its writes get Redis's -OOM, what was stored can
// still be read and deleted, other clients are served all the while, and the
// server's memory stops growing. Without the bound the same client grows the
// store by every byte it sends (here up to 256 MiB, 32 times the limit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, MiB, RawClient, resp, rssOf, RSS_COUNTS, servedMeanwhile, withServe } from './helpers/hostile.js';

const LIMIT = 8 * MiB;
const CAP = 256 * MiB;
const VALUE = Buffer.alloc(64 * 1024, 'v');
/** SETs sent before their replies are awaited: 1 MiB of requests. */
const PER_BATCH = 16;
const OK = '+OK\r\n';
const OOM = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
/** What the server holds besides the store: V8's heap, the read buffers, slack for a collection not yet run. */
const SLACK = 48 * MiB;

/** SETs key:0, key:1, ... in batches until one is refused or CAP bytes went; the keys stored and the peak RSS. */
async function flood(attacker: RawClient, pid: number): Promise<{ stored: number; sent: number; peakRss: number }> {
  let sent = 0;
  let key = 0;
  let replies = 0;
  let peakRss = 0;
  const repliesIn = (): number => attacker.text().split('\r\n').length - 1;
  while (sent < CAP && !attacker.text().includes('-OOM')) {
    const batch = Buffer.concat(Array.from({ length: PER_BATCH }, () => resp('SET', `key:${key++}`, VALUE)));
    await attacker.write(batch);
    sent += batch.length;
    replies += PER_BATCH;
    await attacker.until((c) => repliesIn() >= replies || c.closed, `${replies} replies to the SETs`);
    peakRss = Math.max(peakRss, rssOf(pid));
  }
  return { stored: attacker.text().split(OK).length - 1, sent, peakRss };
}

test('SETs without end under --max-memory 8 MiB: -OOM past it, reads and DEL go on, others served, RSS bounded', async () => {
  await withServe('resp', ['--max-memory', String(LIMIT)], async (server) => {
    const before = await baseline(server);
    const attacker = await RawClient.open(server.port);
    const { value: flooded, roundTrips } = await servedMeanwhile('resp', server.port, flood(attacker, server.pid));
    assert.ok(attacker.text().includes(OOM), `no -OOM after ${(flooded.sent / MiB).toFixed(0)} MiB of SETs`);
    assert.ok(flooded.sent < LIMIT + 4 * MiB, `${(flooded.sent / MiB).toFixed(0)} MiB of SETs taken before the refusal`);
    assert.ok(flooded.stored >= LIMIT / VALUE.length - 8, `only ${flooded.stored} keys stored`);
    assert.ok(roundTrips.length >= 3);
    const grown = flooded.peakRss - before.rss;
    assert.ok(!RSS_COUNTS || grown < LIMIT + SLACK, `RSS grew ${(grown / MiB).toFixed(1)} MiB under an ${LIMIT / MiB} MiB store limit`);

    // The connection lives on: a read of a stored key, a DEL that makes room, a SET that fits again.
    const reader = await RawClient.open(server.port);
    try {
      await reader.write(resp('STRLEN', 'key:0'));
      await reader.until((c) => c.text().endsWith('\r\n'), 'STRLEN');
      assert.is(reader.text(), `:${VALUE.length}\r\n`);
      await reader.write(Buffer.concat([resp('SET', 'fresh', 'x'), resp('DEL', 'key:0', 'key:1', 'key:2', 'key:3'), resp('SET', 'fresh', 'x')]));
      await reader.until((c) => c.text().split('\r\n').length - 1 >= 4, 'the SET, DEL, SET replies');
      assert.is(reader.text().slice(`:${VALUE.length}\r\n`.length), `${OOM}:4\r\n${OK}`);
    } finally {
      reader.destroy();
      attacker.destroy();
    }
  });
});

test.run();
