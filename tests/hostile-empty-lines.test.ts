// Empty lines before a request line: RFC 9112 2.2 has a server ignore at
// least one, and nothing says how many. Unbounded, a client can keep a
// connection busy forever sending CRLF and never a request. Bounded, the
// flood gets 400 and a close; a request after a few empty lines is still
// answered; others are served meanwhile; the fd and memory come back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { baseline, comesBack, MiB, RawClient, servedMeanwhile, streamUntilRefused, withServe } from './helpers/hostile.js';

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbad request\n';
const HELLO = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
/** 64 KiB of empty lines per write. */
const CRLFS = Buffer.from('\r\n'.repeat(32 * 1024));
/**
 * 1 MiB of empty lines (half a million), 128 times the 8 KiB header limit:
 * any sane bound is far below; an unbounded server skips them all and
 * answers the GET that follows.
 */
const CAP = MiB;

test('a flood of empty lines before the request line gets 400 and a close, and the request after it no answer', async () => {
  await withServe('http', [], async (server) => {
    const before = await baseline(server);
    const attacker = await RawClient.open(server.port);
    const { roundTrips } = await servedMeanwhile('http', server.port, streamUntilRefused(attacker, server.pid, '\r\n', CRLFS, CAP));
    if (!attacker.ended && !attacker.closed) await attacker.write('GET / HTTP/1.1\r\nHost: flood\r\n\r\n');
    await attacker.untilGone('the server to close the empty-line flood', 5000);
    assert.is(attacker.text(), BAD_REQUEST);
    assert.ok(attacker.ended, 'reset instead of closed after the 400');
    // How much the client got into the kernel before the 400 reached it says
    // how loaded the machine is, not what the server took (1 MiB + 2 bytes
    // seen at a load average of 5): the 400 above is the bound's proof, since
    // a server that skipped every empty line would answer the GET with 200.
    assert.ok(roundTrips.length >= 3);
    attacker.destroy();
    await comesBack(server, before, 8 * MiB, 'after the empty-line flood');
  });
});

test('a request after two empty lines is still answered (RFC 9112 2.2)', async () => {
  await withServe('http', [], async (server) => {
    const client = await RawClient.open(server.port);
    await client.write('\r\n\r\nGET / HTTP/1.1\r\nHost: polite\r\n\r\n');
    await client.until((c) => c.received >= HELLO.length || c.ended, 'the reply');
    assert.is(client.text(), HELLO);
    client.destroy();
  });
});

test.run();
