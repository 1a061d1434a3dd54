// Key expiry on the loop's clock: lazy (an expired key is gone when read)
// and active (the sweep frees keys nobody reads), TTL and PTTL as Redis
// answers them. The loop runs on a virtual clock over real sockets: time
// moves only when the test moves it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { SWEEP_INTERVAL_MS } from '../src/protocols/resp-keyspace.js';
import { HOST } from './helpers/fds.js';
import { rawClient } from './helpers/resp-clients.js';
import { withServer } from './helpers/servers.js';
import { connected, until } from './helpers/waiting.js';

function virtualClock(): { ms: number; clock(): number } {
  const state = { ms: 1000, clock: () => state.ms };
  return state;
}

test('EXPIRE, PEXPIRE, TTL, PTTL, PERSIST and SET EX/PX follow the loop clock; an expired key is gone when read', async () => {
  const time = virtualClock();
  const factory = respProtocol();
  await withServer(factory, {}, 'lazy expiry', async (_server, port) => {
    const socket = await connected(HOST, port);
    try {
      const client = rawClient(socket);
      const check = async (input: string, expected: string, what: string): Promise<void> => {
        assert.is(await client.exchange(input, expected), expected, what);
      };
      await check('SET k v\r\nTTL k\r\nPTTL k\r\nTTL none\r\nPTTL none\r\n', '+OK\r\n:-1\r\n:-1\r\n:-2\r\n:-2\r\n', 'no deadline, no key');
      await check('EXPIRE k 10\r\nTTL k\r\nPTTL k\r\nEXPIRE none 10\r\n', ':1\r\n:10\r\n:10000\r\n:0\r\n', 'EXPIRE');
      time.ms += 2500;
      await check('TTL k\r\nPTTL k\r\n', ':8\r\n:7500\r\n', 'TTL rounds to the nearest second');
      await check('PERSIST k\r\nPERSIST k\r\nTTL k\r\n', ':1\r\n:0\r\n:-1\r\n', 'PERSIST');
      await check('PEXPIRE k 100\r\nSET p v PX 50\r\nSET e v EX 1\r\nPTTL p\r\n', ':1\r\n+OK\r\n+OK\r\n:50\r\n', 'PEXPIRE, SET PX and EX');
      await check('EXPIRE k 5 NX\r\nEXPIRE k 5 GT\r\nEXPIRE k 1 LT\r\nPTTL k\r\nEXPIRE k 1 XX GT\r\nEXPIRE k 1 NX XX\r\nEXPIRE k 1 GT LT\r\nEXPIRE k 1 BOGUS\r\n',
        ':0\r\n:1\r\n:1\r\n:1000\r\n:0\r\n-ERR NX and XX, GT or LT options at the same time are not compatible\r\n-ERR GT and LT options at the same time are not compatible\r\n-ERR Unsupported option BOGUS\r\n', 'EXPIRE options');
      await check('SET forever v\r\nEXPIRE forever 5 GT\r\nEXPIRE forever 5 XX\r\nEXPIRE forever 5 LT\r\nTTL forever\r\n', '+OK\r\n:0\r\n:0\r\n:1\r\n:5\r\n', 'no deadline is an infinite one: GT and XX refuse, LT sets');
      await check('EXPIRE k x\r\nEXPIRE k 9223372036854775807\r\n', "-ERR value is not an integer or out of range\r\n-ERR invalid expire time in 'expire' command\r\n", 'EXPIRE errors');
      await check('SET keep v EX 100\r\nSET keep w KEEPTTL\r\nTTL keep\r\nSET keep 5\r\nTTL keep\r\nEXPIRE keep 100\r\nINCR keep\r\nTTL keep\r\nAPPEND keep 0\r\nTTL keep\r\n', '+OK\r\n+OK\r\n:100\r\n+OK\r\n:-1\r\n:1\r\n:6\r\n:100\r\n:2\r\n:100\r\n', 'KEEPTTL, INCR and APPEND keep the deadline, a plain SET drops it');
      time.ms += 50;
      await check('GET p\r\nEXISTS p\r\nTTL p\r\nPTTL e\r\n', '$-1\r\n:0\r\n:-2\r\n:950\r\n', 'expired at its deadline exactly');
      time.ms += 949;
      await check('GET e\r\n', '$1\r\nv\r\n', 'live one ms before');
      time.ms += 1;
      await check('GET e\r\nEXPIRE keep -1\r\nEXISTS keep\r\n', '$-1\r\n:1\r\n:0\r\n', 'gone at the deadline; a past deadline deletes');
    } finally {
      socket.destroy();
    }
  }, { clock: time.clock });
});

test('the sweep frees expired keys that nobody reads, a bounded number per period', async () => {
  const time = virtualClock();
  const factory = respProtocol();
  await withServer(factory, {}, 'active expiry', async (_server, port) => {
    const socket = await connected(HOST, port);
    try {
      const client = rawClient(socket);
      let input = '';
      for (let i = 0; i < 1000; i++) input += `SET k${i} v PX 10\r\n`;
      input += 'SET forever v\r\nDBSIZE\r\n';
      await client.exchange(input, '+OK\r\n'.repeat(1001) + ':1001\r\n');
      assert.is(factory.store.size, 1001);
      // One sweep, the first after the keys expired, checks 16 rounds of 20 keys: 320 freed, no more.
      time.ms += SWEEP_INTERVAL_MS + 10;
      await until(() => factory.store.size < 1001, 'the first sweep', () => new Promise((resolve) => setTimeout(resolve, 20)));
      assert.is(factory.store.size, 1001 - 320, 'one sweep frees at most 320 keys');
      await until(() => { time.ms += SWEEP_INTERVAL_MS; return factory.store.size === 1; }, () => `the sweep to free every expired key (${factory.store.size} left)`, () => new Promise((resolve) => setTimeout(resolve, 20)));
      assert.ok(factory.store.has('forever'));
    } finally {
      socket.destroy();
    }
  }, { clock: time.clock });
});

test.run();
