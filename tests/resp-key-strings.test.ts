// A RESP key's string comes from a small cache of the keys seen last
// (src/protocols/resp-key-strings.ts): whatever the cache holds, the string
// is the key's bytes, one character per byte — keys of one length that share
// a slot, every byte value, keys too long to be cached.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { KEY_STRING_MAX, keyString } from '../src/protocols/resp-key-strings.js';
import { respProtocol } from '../src/protocols/resp.js';
import { respCommand as command } from './helpers/limits.js';
import { fakeConnection } from './helpers/protocols.js';
import { random } from './helpers/random.js';

test('the string is the bytes: 20,000 random keys of one length (slots shared many times over), read twice, at an offset', () => {
  const next = random(7);
  const keys: Buffer[] = [];
  for (let i = 0; i < 20_000; i++) {
    const key = Buffer.alloc(12);
    for (let k = 0; k < key.length; k++) key[k] = Math.floor(next() * 256);
    keys.push(key);
  }
  for (let round = 0; round < 2; round++) {
    for (const key of keys) {
      const framed = Buffer.concat([Buffer.from('$12\r\n'), key, Buffer.from('\r\n')]);
      assert.is(keyString(framed, 5, 17), key.toString('latin1'));
    }
  }
});

test('keys that differ in their first byte only, or their last, 256 of each: slots they share still tell them apart', () => {
  for (const at of [0, 9]) {
    for (let group = 0; group < 20; group++) {
      const keys: Buffer[] = [];
      for (let b = 0; b < 256; b++) {
        const key = Buffer.from(`x${String(group).padStart(8, '0')}x`, 'latin1');
        key[at] = b;
        keys.push(key);
      }
      for (let round = 0; round < 2; round++) for (const key of keys) assert.is(keyString(key, 0, key.length), key.toString('latin1'));
    }
  }
});

test('keys differing in the last byte only, or a prefix of another, and keys past KEY_STRING_MAX', () => {
  const bytes = Buffer.from('user:1000user:1001user:100');
  assert.is(keyString(bytes, 0, 9), 'user:1000');
  assert.is(keyString(bytes, 9, 18), 'user:1001');
  assert.is(keyString(bytes, 0, 9), 'user:1000');
  assert.is(keyString(bytes, 18, 26), 'user:100');
  assert.is(keyString(bytes, 0, 0), '');
  const long = Buffer.from('k'.repeat(KEY_STRING_MAX) + 'x' + 'k'.repeat(KEY_STRING_MAX) + 'y');
  assert.is(keyString(long, 0, KEY_STRING_MAX + 1), 'k'.repeat(KEY_STRING_MAX) + 'x');
  assert.is(keyString(long, KEY_STRING_MAX + 1, long.length), 'k'.repeat(KEY_STRING_MAX) + 'y');
});

test('through the server: 5,000 keys of one length, each GET answers its own SET', () => {
  const store = new Map<string, Uint8Array>();
  const fake = fakeConnection();
  const protocol = respProtocol({ store })(fake.connection);
  for (let i = 0; i < 5000; i++) protocol.data(fake.connection, command('SET', `key:${String(i).padStart(6, '0')}`, `v${i}`));
  const before = fake.output().length;
  for (let i = 0; i < 5000; i++) protocol.data(fake.connection, command('GET', `key:${String(i).padStart(6, '0')}`));
  const replies = fake.output().slice(before);
  let expected = '';
  for (let i = 0; i < 5000; i++) expected += `$${String(`v${i}`).length}\r\nv${i}\r\n`;
  assert.ok(replies === expected, 'a GET answered another key');
  assert.is(store.size, 5000);
  assert.ok(store.has('key:004999'));
});

test.run();
