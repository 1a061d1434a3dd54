// The RESP store keeps values in slab pages (src/protocols/resp-values.ts):
// a SET writes over its old value when the new one is of the same size class,
// a freed slot is the next one given out, and pages follow the live values,
// not the number of writes. Checked against a plain model of the store
// through the commands that write values (SET, MSET, APPEND, INCR, DEL,
// expiry, FLUSHALL), every byte value included.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { PAGE_SIZE, SLAB_MAX } from '../src/protocols/resp-values.js';
import { respSession } from './helpers/protocols.js';
import { random } from './helpers/random.js';

const session = (store = new Map<string, Uint8Array>()) => respSession({ store });

test('a SET of the same length writes over the stored Buffer; one of another size class moves it', () => {
  const { store, send } = session();
  assert.is(send('SET', 'k', 'abc'), '+OK\r\n');
  const first = store.get('k')!;
  assert.is(send('SET', 'k', 'xyz'), '+OK\r\n');
  assert.is(store.get('k'), first, 'the same length took new storage');
  assert.is(Buffer.from(first).toString(), 'xyz');
  assert.is(send('SET', 'k', 'twelve bytes'), '+OK\r\n');
  const sameSlot = store.get('k')!;
  assert.is.not(sameSlot, first);
  assert.is(sameSlot.buffer, first.buffer, 'a length of the same size class left its slot');
  assert.is(sameSlot.byteOffset, first.byteOffset);
  assert.is(send('SET', 'k', 'x'.repeat(100)), '+OK\r\n');
  assert.is(send('GET', 'k'), `$100\r\n${'x'.repeat(100)}\r\n`);
});

test('SET ... GET answers the old value though the new one takes its place', () => {
  const { send } = session();
  send('SET', 'k', 'old');
  assert.is(send('SET', 'k', 'new', 'GET'), '$3\r\nold\r\n');
  assert.is(send('GET', 'k'), '$3\r\nnew\r\n');
});

test('values put in the store by its owner are never written over', () => {
  const mine = Buffer.from('abc');
  const { store, send } = session(new Map([['k', mine]]));
  assert.is(send('SET', 'k', 'xyz'), '+OK\r\n');
  assert.is(mine.toString(), 'abc', "the owner's buffer was written over");
  assert.is(Buffer.from(store.get('k')!).toString(), 'xyz');
  assert.is(send('APPEND', 'k', 'def'), ':6\r\n');
  assert.is(send('GET', 'k'), '$6\r\nxyzdef\r\n');
});

test('random writes of every size agree with a model of the store, bytes exact; pages follow the live values', () => {
  const { send, pages } = session();
  const next = random(15);
  const model = new Map<string, Buffer>();
  const KEYS = 40;
  let mostPageBytes = 0;
  for (let step = 0; step < 4000; step++) {
    const key = `key${Math.floor(next() * KEYS)}`;
    const pick = next();
    // Sizes of every class, a few past the slab, bytes of every value.
    const size = pick < 0.05 ? SLAB_MAX + Math.floor(next() * 3000) : Math.floor(next() ** 3 * SLAB_MAX);
    const value = Buffer.alloc(size);
    for (let i = 0; i < size; i++) value[i] = Math.floor(next() * 256);
    const op = next();
    if (op < 0.45) {
      assert.is(send('SET', key, value), '+OK\r\n');
      model.set(key, value);
    } else if (op < 0.55) {
      const other = `key${Math.floor(next() * KEYS)}`;
      assert.is(send('MSET', key, value, other, value.subarray(0, size >> 1)), '+OK\r\n');
      model.set(key, value);
      model.set(other, value.subarray(0, size >> 1));
    } else if (op < 0.7) {
      const tail = value.subarray(0, Math.min(size, 300));
      const joined = Buffer.concat([model.get(key) ?? Buffer.alloc(0), tail]);
      assert.is(send('APPEND', key, tail), `:${joined.length}\r\n`);
      model.set(key, joined);
    } else if (op < 0.8) {
      const stored = model.get(key);
      const counter = stored !== undefined && /^(0|-?[1-9][0-9]{0,14})$/.test(stored.toString('latin1'));
      const reply = send('INCRBY', key, '7');
      if (stored === undefined || counter) {
        const expected = String((stored === undefined ? 0 : Number(stored.toString('latin1'))) + 7);
        assert.is(reply, `:${expected}\r\n`);
        model.set(key, Buffer.from(expected, 'latin1'));
      } else assert.is(reply, '-ERR value is not an integer or out of range\r\n');
    } else if (op < 0.9) {
      assert.is(send('DEL', key), `:${model.delete(key) ? 1 : 0}\r\n`);
    } else {
      const stored = model.get(key);
      const expected = stored === undefined ? '$-1\r\n' : `$${stored.length}\r\n${stored.toString('latin1')}\r\n`;
      assert.is(send('GET', key), expected, `GET ${key} at step ${step}`);
    }
    mostPageBytes = Math.max(mostPageBytes, pages.pageBytes);
  }
  for (const [key, value] of model) assert.is(send('GET', key), `$${value.length}\r\n${value.toString('latin1')}\r\n`, key);
  assert.is(send('DBSIZE'), `:${model.size}\r\n`);
  // At most 40 keys live: a page or two for each of the 9 classes, not one per SET (about 2,200 of them here).
  assert.ok(mostPageBytes <= 9 * 2 * PAGE_SIZE, `pages grew to ${mostPageBytes} bytes`);
  assert.is(send('FLUSHALL'), '+OK\r\n');
  assert.is(pages.pageBytes, 0, 'FLUSHALL kept pages');
  assert.is(pages.slots, 0);
});

test("another store's values, a view of a value, and values from before a FLUSHALL are never written over", () => {
  const other = session();
  other.send('SET', 'k', 'abc');
  const theirs = other.store.get('k')!;
  const { store, send } = session(new Map([['k', theirs]]));
  assert.is(send('SET', 'k', 'xyz'), '+OK\r\n');
  assert.is(Buffer.from(theirs).toString(), 'abc', "another store's value was written over");
  assert.is(other.send('GET', 'k'), '$3\r\nabc\r\n');

  const value = store.get('k')!;
  const view = value.subarray(0, 3);
  store.set('v', view);
  assert.is(send('SET', 'v', 'def'), '+OK\r\n');
  assert.is(Buffer.from(value).toString(), 'xyz', 'a view of a value was taken for the value');

  assert.is(send('FLUSHALL'), '+OK\r\n');
  store.set('old', value);
  assert.is(send('SET', 'new', 'ghi'), '+OK\r\n');
  assert.is(send('SET', 'old', 'jkl'), '+OK\r\n');
  assert.is(send('DEL', 'old'), ':1\r\n');
  assert.is(send('SET', 'another', 'mno'), '+OK\r\n');
  assert.is(send('GET', 'new'), '$3\r\nghi\r\n', 'a value from before the FLUSHALL was taken as ours: its slot was given out twice');
  assert.ok(Buffer.isBuffer(store.get('new')), 'a stored value is a Buffer');
});

test('a freed slot is the next one given out: set and delete forever, one page', () => {
  const { send, pages } = session();
  for (let i = 0; i < 10_000; i++) {
    send('SET', `k${i}`, 'v'.repeat(20));
    if (i >= 10) send('DEL', `k${i - 10}`);
  }
  assert.is(pages.slots, 10);
  assert.is(pages.pageBytes, PAGE_SIZE);
  for (let i = 9990; i < 10_000; i++) send('DEL', `k${i}`);
  assert.is(pages.slots, 0);
  // The class's first page is kept, so one key moving between two sizes does not take and drop a page per SET.
  assert.is(pages.pageBytes, PAGE_SIZE);
});

test('an expired key gives its slot back when looked up', async () => {
  const { send, pages, factory } = session();
  assert.is(send('SET', 'short', 'value', 'PX', '1'), '+OK\r\n');
  assert.is(pages.slots, 1);
  // Without a loop the keyspace's clock is performance.now().
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.is(send('GET', 'short'), '$-1\r\n');
  assert.is(pages.slots, 0);
  assert.is(factory.store.size, 0);
});

test.run();
