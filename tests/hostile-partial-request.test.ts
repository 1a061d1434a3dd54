// A request that is streamed and never finished: a multibulk announcing a
// million arguments, sent one 64 KiB argument after another, each within the
// bulk limit, so only a limit on the connection's unfinished request stops
// it (--max-request-bytes); an inline line without its end; an HTTP header
// section without its end. Each is refused with the protocol's error and
// closed, the memory comes back after close, and others are served meanwhile.
// Before the bounds, 256 MiB streamed grew the RESP server's RSS by 517 MiB
// (doubling copies), not given back after close.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, RawClient, RSS_COUNTS, servedMeanwhile, streamUntilRefused, withServe } from './helpers/hostile.js';

const ARGUMENT = Buffer.concat([Buffer.from(`$${64 * 1024}\r\n`), Buffer.alloc(64 * 1024, 'a'), Buffer.from('\r\n')]);
/** Sixteen arguments per write: about 1 MiB. */
const ARGUMENTS = Buffer.concat(Array.from({ length: 16 }, () => ARGUMENT));
/** A million arguments of 64 KiB: 64 GiB, which no one finishes. */
const HEAD = '*1048576\r\n$3\r\nSET\r\n$1\r\nk\r\n';
const PROTOCOL_ERROR = /^-ERR Protocol error[^\r\n]*\r\n$/;
/** As in hostile-giant-bulk: 2 MiB stands for any limit; 64 MiB streamed shows an unbounded buffer. */
const LIMIT = 2 * MiB;
const CAP = 64 * MiB;
const KERNEL_SLACK = 16 * MiB;

test('RESP: a multibulk never finished is refused at --max-request-bytes, closed, memory back', async () => {
  await withServe('resp', ['--max-request-bytes', String(LIMIT)], async (server) => {
    const before = await baseline(server);
    const attacker = await RawClient.open(server.port);
    const { value: streamed, roundTrips } = await servedMeanwhile('resp', server.port, streamUntilRefused(attacker, server.pid, HEAD, ARGUMENTS, CAP));
    await attacker.untilGone('the server to close the connection after its error');
    assert.ok(streamed.sent < LIMIT + KERNEL_SLACK, `${(streamed.sent / MiB).toFixed(0)} MiB streamed before the server refused (limit ${LIMIT / MiB} MiB)`);
    assert.match(attacker.text(), PROTOCOL_ERROR);
    assert.ok(attacker.ended, 'reset instead of closed after the error');
    const grown = streamed.peakRss - before.rss;
    assert.ok(!RSS_COUNTS || grown < LIMIT + 24 * MiB, `RSS grew ${(grown / MiB).toFixed(1)} MiB with a ${LIMIT / MiB} MiB request limit`);
    assert.ok(roundTrips.length >= 3);
    attacker.destroy();
    await comesBack(server, before, 16 * MiB, 'after the partial request was refused');
  });
});

test('RESP: 256 MiB of a request never finished, against the defaults: refused, closed, memory back after close', async () => {
  // The figure; the default request limit is below it.
  await withServe('resp', [], async (server) => {
    const before = await baseline(server);
    const attacker = await RawClient.open(server.port);
    const { value: streamed } = await servedMeanwhile('resp', server.port, streamUntilRefused(attacker, server.pid, HEAD, ARGUMENTS, 256 * MiB));
    await attacker.untilGone('the server to refuse the 256 MiB partial request', 5000);
    assert.match(attacker.text(), PROTOCOL_ERROR);
    assert.ok(streamed.sent <= 256 * MiB);
    attacker.destroy();
    await comesBack(server, before, 32 * MiB, 'after the 256 MiB partial request', 15_000);
  });
});

test('RESP: an inline request without its line end is refused past 64 KiB', async () => {
  await withServe('resp', [], async (server) => {
    const before = await baseline(server);
    const attacker = await RawClient.open(server.port);
    const { value: streamed } = await servedMeanwhile('resp', server.port, streamUntilRefused(attacker, server.pid, 'SET k ', Buffer.alloc(16 * 1024, 'v'), 16 * MiB));
    await attacker.untilGone('the server to refuse the endless inline line');
    assert.is(attacker.text(), '-ERR Protocol error: too big inline request\r\n');
    assert.ok(streamed.sent < 8 * MiB, `${streamed.sent} bytes streamed before the refusal`);
    attacker.destroy();
    await comesBack(server, before, 8 * MiB, 'after the inline line was refused');
  });
});

test('HTTP: a header section without its end gets 431 past the header limit, and a close', async () => {
  await withServe('http', [], async (server) => {
    const before = await baseline(server);
    const attacker = await RawClient.open(server.port);
    const { value: streamed } = await servedMeanwhile('http', server.port, streamUntilRefused(attacker, server.pid, 'GET / HTTP/1.1\r\nX-Endless: ', Buffer.alloc(4096, 'h'), 16 * MiB));
    await attacker.untilGone('the server to refuse the endless header');
    assert.is(
      attacker.text(),
      'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nrequest header fields too large\n',
    );
    assert.ok(streamed.sent < 8 * MiB, `${streamed.sent} bytes streamed before the refusal`);
    attacker.destroy();
    await comesBack(server, before, 8 * MiB, 'after the header section was refused');
  });
});

test.run();
