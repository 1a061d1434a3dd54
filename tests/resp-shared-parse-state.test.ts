// A RESP server's sessions share one request being parsed (its arguments and
// multibulk state): a session holds its own only while a request of its is
// cut by the end of a read. Two sessions interleaving cut requests, and a
// session refused in the middle of a request, must leave each other's
// requests whole.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { respCommand as command } from './helpers/limits.js';
import { fakeConnection } from './helpers/protocols.js';

function sessions(count: number) {
  const factory = respProtocol();
  return Array.from({ length: count }, () => {
    const fake = fakeConnection();
    const protocol = factory(fake.connection);
    return { fake, send: (bytes: Buffer | string) => protocol.data(fake.connection, Buffer.from(bytes)) };
  });
}

test('requests cut at every byte in two sessions at once, interleaved with whole ones, each answered as sent', () => {
  const request = command('SET', 'key-a', 'value-a');
  for (let cut = 1; cut < request.length; cut++) {
    const [a, b] = sessions(2);
    a!.send(request.subarray(0, cut));
    b!.send(command('SET', 'key-b', 'value-b'));
    b!.send(command('MGET', 'key-a', 'key-b').subarray(0, 9));
    a!.send(request.subarray(cut));
    a!.send(command('GET', 'key-a'));
    b!.send(command('MGET', 'key-a', 'key-b').subarray(9));
    assert.is(a!.fake.output(), '+OK\r\n$7\r\nvalue-a\r\n', `cut at ${cut}`);
    assert.is(b!.fake.output(), '+OK\r\n*2\r\n$7\r\nvalue-a\r\n$7\r\nvalue-b\r\n', `cut at ${cut}`);
  }
});

test('a session refused half-way through a request leaves no state for the next', () => {
  const [a, b] = sessions(2);
  // Two arguments read of three, then a bulk that is not one: refused.
  a!.send('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$x\r\n');
  assert.match(a!.fake.output(), /^-ERR Protocol error: invalid bulk length\r\n$/);
  assert.ok(a!.fake.ended);
  b!.send(command('PING'));
  b!.send('PING\r\n');
  assert.is(b!.fake.output(), '+PONG\r\n+PONG\r\n');
});

test.run();
