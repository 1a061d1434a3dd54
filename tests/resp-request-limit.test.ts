// RESP's request buffer limit: one unfinished request keeps at most
// maxRequestBytes between reads. Past it, or as soon as a bulk's `$N` line
// announces that the request would pass it, the client gets the protocol
// error and the connection closes gently (a FIN after the error, no reset);
// other clients are served meanwhile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { record, respCommand } from './helpers/limits.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until, withTimeout } from './helpers/waiting.js';

const LIMIT = 4096;
const ERROR = '-ERR Protocol error: client reached max query buffer length\r\n';

test('a request that grows past maxRequestBytes over many reads: the error, then a gentle close', async () => {
  await withServer(respProtocol({ maxRequestBytes: LIMIT, maxBulkLength: 1024 }), {}, 'request limit', async (server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    const bystander = await connected(HOST, port);
    const bystanderSeen = record(bystander);
    // 1,000 small arguments, 9 bytes each: far past the limit, sent a piece at a time.
    client.write('*1000\r\n');
    for (let i = 0; i < 60 && !seen.isClosed; i++) {
      client.write('$3\r\nabc\r\n'.repeat(10));
      await tick(2);
      if (i === 10) bystander.write(respCommand('PING'));
    }
    await withTimeout(seen.closed, 'the close');
    assert.is(seen.text(), ERROR);
    assert.ok(seen.ended, 'a FIN after the error');
    assert.is(seen.error, undefined, 'no reset');
    await until(() => bystanderSeen.text() === '+PONG\r\n', 'the other client served');
    await until(() => server.stats.active === 1, 'the connection gone');
    bystander.destroy();
  });
});

test('an inline request that grows past the limit without its line end: the same error and close', async () => {
  await withServer(respProtocol({ maxRequestBytes: LIMIT, maxBulkLength: 1024 }), {}, 'inline limit', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    client.write('SET k ');
    for (let i = 0; i < 20 && !seen.isClosed; i++) {
      client.write('x'.repeat(500));
      await tick(2);
    }
    await withTimeout(seen.closed, 'the close');
    assert.is(seen.text(), ERROR);
    assert.ok(seen.ended, 'a FIN after the error');
    assert.is(seen.error, undefined, 'no reset');
  });
});

test('a bulk whose $N line would carry the request past the limit is refused at once, before its data', async () => {
  await withServer(respProtocol({ maxRequestBytes: LIMIT, maxBulkLength: LIMIT }), {}, 'announced too big', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    // Within maxBulkLength, but with its own header the request would take LIMIT + 20 bytes.
    client.write(`*2\r\n$3\r\nSET\r\n$${LIMIT}\r\n`);
    await withTimeout(seen.closed, 'the close');
    assert.is(seen.text(), ERROR);
    assert.ok(seen.ended, 'a FIN after the error');
    assert.is(seen.error, undefined, 'no reset');
  });
});

test('a request just within the limit, in many reads, is served', async () => {
  await withServer(respProtocol({ maxRequestBytes: LIMIT, maxBulkLength: LIMIT }), {}, 'within the limit', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    const request = respCommand('SET', 'k', Buffer.alloc(LIMIT - 40, 0xab));
    assert.ok(request.length <= LIMIT);
    for (let at = 0; at < request.length; at += 500) {
      client.write(request.subarray(at, at + 500));
      await tick(2);
    }
    client.write(respCommand('GET', 'k'));
    const expected = `+OK\r\n$${LIMIT - 40}\r\n${'\xab'.repeat(LIMIT - 40)}\r\n`;
    await until(() => seen.bytes().length >= expected.length, 'the replies');
    assert.is(seen.text(), expected);
    assert.not.ok(seen.isClosed);
    client.destroy();
  });
});

test.run();
