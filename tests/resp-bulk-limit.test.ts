// RESP's bulk limit and binary-safe arguments: a bulk over maxBulkLength is
// refused with Redis's "invalid bulk length" and the connection closes
// gently; a value near the limit goes in and comes back byte for byte
// without ever becoming a string; a key over maxKeyLength is refused, and
// message text quotes at most 128 bytes of an argument.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { longestString, record, respCommand } from './helpers/limits.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until, withTimeout } from './helpers/waiting.js';

const BULK = 1024 * 1024;
/** Room for a whole SET of the largest bulk, so the bulk limit and not the request limit is what refuses. */
const REQUEST = 4 * BULK;

test('a bulk over maxBulkLength: invalid bulk length, then a gentle close', async () => {
  await withServer(respProtocol({ maxRequestBytes: REQUEST, maxBulkLength: BULK }), {}, 'bulk limit', async (_server, port) => {
    const client = await connected(HOST, port);
    const seen = record(client);
    client.write(`*2\r\n$3\r\nSET\r\n$${BULK + 1}\r\n`);
    await withTimeout(seen.closed, 'the close');
    assert.is(seen.text(), '-ERR Protocol error: invalid bulk length\r\n');
    assert.ok(seen.ended, 'a FIN after the error');
    assert.is(seen.error, undefined, 'no reset');
  });
});

test('a binary value of maxBulkLength round-trips byte for byte, and never becomes a string', async () => {
  const value = randomBytes(BULK);
  const { result: received, longest } = await longestString(() =>
    withServerResult(async (port) => {
      const client = await connected(HOST, port);
      const seen = record(client);
      const request = respCommand('SET', 'blob', value);
      // In pieces, so the value is assembled in the connection's buffer.
      for (let at = 0; at < request.length; at += 256 * 1024) {
        client.write(request.subarray(at, at + 256 * 1024));
        await tick(1);
      }
      client.write(respCommand('GET', 'blob'));
      const header = `+OK\r\n$${BULK}\r\n`;
      await until(() => seen.bytes().length >= header.length + BULK + 2, 'the GET reply');
      client.destroy();
      const bytes = seen.bytes();
      assert.is(bytes.subarray(0, header.length).toString('latin1'), header);
      return bytes.subarray(header.length, header.length + BULK);
    }),
  );
  assert.ok(received.equals(value), 'the value came back byte for byte');
  assert.ok(longest < 1024, `a string of ${longest} characters was made`);
});

test('a key over maxKeyLength: SET refused, GET finds nothing, and no string of it is made', async () => {
  const key = Buffer.alloc(BULK / 2, 'k');
  const { result: text, longest } = await longestString(() =>
    withServerResult(
      async (port) => {
        const client = await connected(HOST, port);
        const seen = record(client);
        client.write(Buffer.concat([respCommand('SET', key, 'v'), respCommand('GET', key), respCommand('DEL', key), respCommand('PING')]));
        await until(() => seen.text().endsWith('+PONG\r\n'), 'the replies');
        client.destroy();
        return seen.text();
      },
      { maxKeyLength: 1024 },
    ),
  );
  assert.is(text, '-ERR key exceeds maximum allowed size (max-key-length)\r\n$-1\r\n:0\r\n+PONG\r\n');
  assert.ok(longest < 1024, `a string of ${longest} characters was made`);
});

test('an unknown command with a huge argument is quoted to 128 bytes, without a string of its size', async () => {
  const big = Buffer.alloc(BULK, 'x');
  const { result: text, longest } = await longestString(() =>
    withServerResult(async (port) => {
      const client = await connected(HOST, port);
      const seen = record(client);
      client.write(respCommand('NOPE', big));
      await until(() => seen.text().endsWith('\r\n'), 'the reply');
      client.destroy();
      return seen.text();
    }),
  );
  assert.is(text, `-ERR unknown command 'NOPE', with args beginning with: '${'x'.repeat(128)}' \r\n`);
  assert.ok(longest < 1024, `a string of ${longest} characters was made`);
});

/** Runs `body` against a RESP server with this file's limits and returns what it returns. */
async function withServerResult<T>(body: (port: number) => Promise<T>, options: { maxKeyLength?: number } = {}): Promise<T> {
  let result: T | undefined;
  await withServer(respProtocol({ maxRequestBytes: REQUEST, maxBulkLength: BULK, ...options }), {}, 'bulk round trip', async (_server, port) => {
    result = await body(port);
  });
  return result as T;
}

test.run();
