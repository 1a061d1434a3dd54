// A client that pipelines many requests in one write and never reads. Its
// replies count against the high watermark (1 MiB by default) as they are
// produced, so the server holds about one watermark for it, not the sum of
// its replies; other clients are served meanwhile; once it reads, every reply
// arrives, in order; after it leaves, fds and memory are back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  baseline,
  comesBack,
  footprint,
  ioOf,
  MiB,
  pattern,
  RawClient,
  resp,
  rssOf,
  RSS_COUNTS,
  servedMeanwhile,
  steady,
  withServe,
} from './helpers/hostile.js';

/** The default high watermark, as docs/api.md gives it. */
const HIGH_WATER_MARK = 1 * MiB;

test('RESP: 300 GETs of a 1 MiB value, never read, cost about one watermark; replies resume in order once read', async () => {
  await withServe('resp', [], async (server) => {
    // Three values, so a reply out of order or from the wrong key shows.
    const values = [0, 1, 2].map((seed) => pattern(MiB, seed + 1));
    const setter = await RawClient.open(server.port);
    await setter.write(Buffer.concat(values.map((value, i) => resp('SET', `big${i}`, value))));
    await setter.until((c) => c.text() === '+OK\r\n'.repeat(3), 'the three SETs');
    // A GET of each first, so the reply path's buffers are in the baseline.
    await setter.write(Buffer.concat([0, 1, 2].map((i) => resp('GET', `big${i}`))));
    await setter.until((c) => c.received === 15 + 3 * (MiB + 12), 'the three GETs');
    setter.destroy();
    const before = await baseline(server);

    /**
     * 300 requests of a few bytes ask for 300 MiB: the issue's figure. Unbounded,
     * the server built all of it (RSS +600 MiB measured); bounded, it holds one
     * watermark and the reply in progress. The 32 MiB margin over those 2 MiB is
     * for V8 and malloc under the well-behaved clients' traffic.
     */
    const GETS = 300;
    const attacker = await RawClient.open(server.port, { paused: true });
    const requests = Array.from({ length: GETS }, (_, i) => resp('GET', `big${i % 3}`));
    await attacker.write(Buffer.concat([...requests, resp('PING')]));
    await steady(() => rssOf(server.pid), "the server's RSS with the unread replies");
    const stuck = footprint(server.pid);
    const grown = stuck.rss - before.rss;
    assert.ok(!RSS_COUNTS || grown < 32 * MiB, `RSS grew ${(grown / MiB).toFixed(1)} MiB for a client that reads nothing (bound: about one ${HIGH_WATER_MARK / MiB} MiB watermark)`);

    const { roundTrips } = await servedMeanwhile('resp', server.port, Promise.resolve());
    assert.ok(roundTrips.length >= 3);

    const reply = (i: number): Buffer => Buffer.concat([Buffer.from(`$${MiB}\r\n`), values[i % 3]!, Buffer.from('\r\n')]);
    const replyLength = MiB + 12;
    const total = GETS * replyLength + '+PONG\r\n'.length;
    attacker.socket.resume();
    await attacker.until((c) => c.received >= total || c.ended || c.closed, 'every reply once the client reads', 15_000);
    const bytes = attacker.bytes();
    assert.is(bytes.length, total, 'bytes received');
    for (let i = 0; i < GETS; i++) {
      if (!bytes.subarray(i * replyLength, (i + 1) * replyLength).equals(reply(i))) assert.unreachable(`reply ${i} differs from GET big${i % 3}`);
    }
    assert.is(bytes.subarray(GETS * replyLength).toString('latin1'), '+PONG\r\n');
    attacker.destroy();
    // The store's 3 MiB were in the baseline. 300 MiB of replies have passed through
    // the server's buffers, and V8 collects what is left of them at its next full GC;
    // with the serve command's 1 MiB semi-spaces more of them reach the old space
    // first (32.6 MiB left over was seen under the gcov addon): 64 MiB is allowance
    // for that and malloc, a fifth of what a kept queue would hold.
    await comesBack(server, before, 64 * MiB, 'after the pipelining client left');
  });
});

test('HTTP: 100,000 pipelined GETs, never read, queue about one watermark; all answered in order once read', async () => {
  await withServe('http', [], async (server) => {
    const before = await baseline(server);
    // Alternate two paths, so order is visible in the replies (200, 404, 200, ...).
    const pair = Buffer.from('GET / HTTP/1.1\r\nHost:x\r\n\r\nGET /missing HTTP/1.1\r\nHost:x\r\n\r\n');
    const replies = Buffer.from(
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello' +
        'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n',
    );
    /**
     * 100,000 requests (2.9 MB) ask for 7.5 MB of replies: more than the
     * kernel's socket buffers take (a few MiB on loopback), so an unbounded
     * server would queue megabytes; a bounded one queues about a watermark.
     */
    const PAIRS = 50_000;
    const attacker = await RawClient.open(server.port, { paused: true });
    const io0 = ioOf(server.pid);
    void attacker.write(Buffer.concat(Array.from({ length: PAIRS }, () => pair)));
    await steady(() => {
      const io = ioOf(server.pid);
      return io.read + io.written;
    }, "the server's reads and writes for the unread client");
    const io1 = ioOf(server.pid);
    // What the server produced for what it read, less what the kernel took: its queue.
    const produced = ((io1.read - io0.read) / pair.length) * replies.length;
    const queued = produced - (io1.written - io0.written);
    assert.ok(queued < HIGH_WATER_MARK + 512 * 1024, `about ${(queued / MiB).toFixed(2)} MiB queued (read ${io1.read - io0.read}, written ${io1.written - io0.written} bytes); bound: about one ${HIGH_WATER_MARK / MiB} MiB watermark`);
    const grown = rssOf(server.pid) - before.rss;
    assert.ok(!RSS_COUNTS || grown < 16 * MiB, `RSS grew ${(grown / MiB).toFixed(1)} MiB (bound 16: a watermark and V8 and malloc noise)`);

    const { roundTrips } = await servedMeanwhile('http', server.port, Promise.resolve());
    assert.ok(roundTrips.length >= 3);

    attacker.socket.resume();
    const total = PAIRS * replies.length;
    await attacker.until((c) => c.received >= total || c.ended || c.closed, 'every reply once the client reads', 15_000);
    const bytes = attacker.bytes();
    assert.is(bytes.length, total, 'bytes received');
    for (let i = 0; i < PAIRS; i++) {
      if (!bytes.subarray(i * replies.length, (i + 1) * replies.length).equals(replies)) assert.unreachable(`replies ${2 * i} and ${2 * i + 1} out of order or wrong`);
    }
    attacker.destroy();
    // 100,000 replies (about 8 MiB) and the requests held back with them
    // (about 3 MiB) passed through the server's buffers; V8 collects what is
    // left of them at its next full GC, which an idle server may not run soon.
    await comesBack(server, before, 16 * MiB, 'after the pipelining client left');
  });
});

test.run();
