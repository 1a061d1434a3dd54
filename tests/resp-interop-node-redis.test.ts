// node-redis with its default options (RESP3 through HELLO 3, CLIENT
// SETINFO) against the RESP server on a real socket.
import { createClient, RESP_TYPES } from 'redis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { ALL_BYTES, recording } from './helpers/resp-clients.js';
import { withServer } from './helpers/servers.js';

test('node-redis, default options: connects, runs commands, binary values, a 100-command pipeline, expiry, quit', async () => {
  const { factory, sent } = recording(respProtocol());
  await withServer(factory, {}, 'node-redis', async (_server, port) => {
    const client = createClient({ socket: { host: HOST, port, reconnectStrategy: false } });
    const errors: Error[] = [];
    client.on('error', (error: Error) => void errors.push(error));
    await client.connect();
    try {
      assert.is(await client.ping(), 'PONG');
      assert.is(await client.set('greeting', 'hello'), 'OK');
      assert.is(await client.get('greeting'), 'hello');
      assert.is(await client.get('missing'), null);
      assert.is(await client.incrBy('n', 5), 5);
      assert.is(await client.decr('n'), 4);
      assert.is(await client.decrBy('n', 10), -6);
      assert.is(await client.append('greeting', ' world'), 11);
      assert.is(await client.strLen('greeting'), 11);
      assert.is(await client.type('greeting'), 'string');
      assert.is(await client.mSet(['a', '1', 'b', '2']), 'OK');
      assert.equal(await client.mGet(['a', 'nope', 'b']), ['1', null, '2']);
      assert.is(await client.dbSize(), 4);
      assert.is(await client.clientSetName('tester'), 'OK');
      assert.is(await client.clientGetName(), 'tester');
      assert.ok((await client.info('server')).includes('redis_version:'), 'INFO');

      await client.set('bin', ALL_BYTES);
      const binary = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
      assert.ok(ALL_BYTES.equals((await binary.get('bin')) as Buffer), 'all 256 byte values round-trip');

      const multi = client.multi();
      for (let i = 0; i < 100; i++) multi.incr('counter');
      assert.equal(await multi.execAsPipeline(), Array.from({ length: 100 }, (_, i) => i + 1));

      assert.is(await client.set('short', 'v', { expiration: { type: 'PX', value: 100 } }), 'OK');
      const pttl = await client.pTTL('short');
      assert.ok(pttl > 0 && pttl <= 100, `PTTL ${pttl}`);
      assert.is(await client.ttl('greeting'), -1);
      assert.is(await client.ttl('nope'), -2);
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.is(await client.get('short'), null, 'expired after 100 ms');
      assert.is(await client.expire('greeting', 100), 1);
      assert.is(await client.persist('greeting'), 1);
      assert.is(await client.flushAll(), 'OK');
      assert.is(await client.dbSize(), 0);
      assert.is(await client.quit(), 'OK');
    } finally {
      if (client.isOpen) client.destroy();
    }
    assert.equal(errors, []);
    assert.match(sent(), /\$5\r\nHELLO\r\n\$1\r\n3\r\n/i, 'node-redis says HELLO 3');
  });
});

test.run();
