// ioredis with its default options (RESP3 through HELLO 3, the INFO ready
// check, CLIENT SETINFO) against the RESP server on a real socket.
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { ALL_BYTES, recording } from './helpers/resp-clients.js';
import { withServer } from './helpers/servers.js';

test('ioredis, default options: connects, runs commands, binary values, a 100-command pipeline, expiry, quit', async () => {
  const { factory, sent } = recording(respProtocol());
  await withServer(factory, {}, 'ioredis', async (_server, port) => {
    const client = new Redis({ host: HOST, port, lazyConnect: false });
    const errors: Error[] = [];
    client.on('error', (error: Error) => void errors.push(error));
    try {
      assert.is(await client.ping(), 'PONG');
      assert.is(await client.set('greeting', 'hello'), 'OK');
      assert.is(await client.get('greeting'), 'hello');
      assert.is(await client.get('missing'), null);
      assert.is(await client.incrby('n', 5), 5);
      assert.is(await client.decr('n'), 4);
      assert.is(await client.decrby('n', 10), -6);
      assert.is(await client.append('greeting', ' world'), 11);
      assert.is(await client.strlen('greeting'), 11);
      assert.is(await client.type('greeting'), 'string');
      assert.is(await client.mset('a', '1', 'b', '2'), 'OK');
      assert.equal(await client.mget('a', 'nope', 'b'), ['1', null, '2']);
      assert.is(await client.dbsize(), 4);
      assert.is(await client.client('SETNAME', 'tester'), 'OK');
      assert.is(await client.client('GETNAME'), 'tester');

      await client.set(Buffer.from('bin'), ALL_BYTES);
      assert.ok(ALL_BYTES.equals((await client.getBuffer('bin'))!), 'all 256 byte values round-trip');

      const pipeline = client.pipeline();
      for (let i = 0; i < 100; i++) pipeline.incr('counter');
      const results = await pipeline.exec();
      assert.equal(
        results!.map(([error, value]) => [error, value]),
        Array.from({ length: 100 }, (_, i) => [null, i + 1]),
      );

      assert.is(await client.set('short', 'v', 'PX', 100), 'OK');
      const pttl = await client.pttl('short');
      assert.ok(pttl > 0 && pttl <= 100, `PTTL ${pttl}`);
      assert.is(await client.ttl('greeting'), -1);
      assert.is(await client.ttl('nope'), -2);
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.is(await client.get('short'), null, 'expired after 100 ms');
      assert.is(await client.expire('greeting', 100), 1);
      assert.is(await client.persist('greeting'), 1);
      assert.is(await client.flushall(), 'OK');
      assert.is(await client.dbsize(), 0);
      assert.is(await client.quit(), 'OK');
    } finally {
      client.disconnect();
    }
    assert.equal(errors, []);
    const handshake = sent();
    assert.match(handshake, /\$5\r\nHELLO\r\n\$1\r\n3\r\n/i, 'ioredis says HELLO 3');
    assert.match(handshake, /\$4\r\ninfo\r\n/i, 'ioredis runs its INFO ready check');
  });
});

test.run();
