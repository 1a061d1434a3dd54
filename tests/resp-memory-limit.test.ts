// maxMemory (Redis's maxmemory, noeviction): past it, commands that add data
// are refused with Redis's -OOM error while reads, DEL and FLUSHALL go on,
// so one client cannot fill the process's memory; freed keys make room
// again. The count (resp-values.ts's usedBytes) follows pages, large values
// and keys through every command that writes or frees them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_MAX_MEMORY, respProtocol } from '../src/protocols/resp.js';
import { KEY_ENTRY_BYTES, PAGE_SIZE } from '../src/protocols/resp-values.js';
import { respSession } from './helpers/protocols.js';

const OOM = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";

const session = respSession;

test('a client filling the store gets -OOM once it passes maxMemory; reads and DEL go on, and freed keys make room', () => {
  const limit = 4 * PAGE_SIZE;
  const { store, send, pages } = session({ maxMemory: limit });
  const value = 'v'.repeat(100);
  let stored = 0;
  let refused = '';
  for (let i = 0; i < 100_000 && refused === ''; i++) {
    const reply = send('SET', `key:${i}`, value);
    if (reply === '+OK\r\n') stored++;
    else refused = reply;
  }
  assert.is(refused, OOM);
  assert.ok(stored > 100, `only ${stored} keys stored under ${limit} bytes`);
  assert.is(store.size, stored);
  // The SET that crossed the limit ran, as in Redis: the count is past it by less than one key and one page.
  assert.ok(pages.usedBytes > limit && pages.usedBytes <= limit + PAGE_SIZE + KEY_ENTRY_BYTES + 16, `used ${pages.usedBytes}`);
  for (const refusedCommand of [['SET', 'other', 'x'], ['MSET', 'a', '1', 'b', '2'], ['APPEND', 'key:0', 'x'], ['INCR', 'n'], ['INCRBY', 'n', '2'], ['DECR', 'n'], ['DECRBY', 'n', '2']]) {
    assert.is(send(...refusedCommand), OOM, refusedCommand.join(' '));
  }
  assert.is(send('GET', 'key:0'), `$100\r\n${value}\r\n`);
  assert.is(send('EXISTS', 'key:1'), ':1\r\n');
  assert.is(send('EXPIRE', 'key:1', '100'), ':1\r\n', 'EXPIRE adds no data');
  const before = pages.usedBytes;
  const half = Math.ceil(stored / 2);
  for (let i = 0; i < half; i++) assert.is(send('DEL', `key:${i}`), ':1\r\n');
  assert.ok(pages.usedBytes < before, 'DEL gave nothing back');
  assert.is(send('SET', 'other', 'x'), '+OK\r\n', 'room again after DEL');
  assert.is(send('FLUSHALL'), '+OK\r\n');
  assert.is(pages.usedBytes, 0);
});

test('usedBytes counts each key once, its characters and its entry, its value by size class and large values by their buffers', () => {
  const { send, pages } = session();
  assert.is(pages.usedBytes, 0);
  send('SET', 'k', 'abc');
  assert.is(pages.usedBytes, PAGE_SIZE + 1 + KEY_ENTRY_BYTES, 'the first value takes a page');
  send('SET', 'k', 'x'.repeat(40));
  send('SET', 'k', 'xyz');
  send('APPEND', 'k', 'more');
  send('INCR', 'counter');
  send('INCRBY', 'counter', '5');
  const keys = 1 + KEY_ENTRY_BYTES + 'counter'.length + KEY_ENTRY_BYTES;
  // Two size classes in use now (16 and 64 bytes were both touched, the 64 one given back but its first page).
  const pagesHeld = pages.pageBytes;
  assert.is(pages.usedBytes, pagesHeld + keys, 'a key rewritten is still counted once');
  send('SET', 'big', 'b'.repeat(5000));
  assert.is(pages.usedBytes, pagesHeld + keys + 'big'.length + KEY_ENTRY_BYTES + 8192, 'a large value counts its power-of-two buffer');
  send('DEL', 'big');
  assert.is(pages.usedBytes, pagesHeld + keys);
  send('DEL', 'k', 'counter');
  assert.is(pages.usedBytes, pages.pageBytes, 'no key is counted once all are gone');
});

test('a key that expires stops being counted, and keys put into the Map by others are not counted', () => {
  const store = new Map<string, Uint8Array>([['theirs', Buffer.from('not ours')]]);
  const { send, pages } = session({ store });
  assert.is(pages.usedBytes, 0, "another writer's key");
  send('SET', 'kept', 'x');
  const kept = pages.usedBytes;
  send('SET', 'soon', 'x', 'PX', '1');
  assert.is(pages.usedBytes, kept + 'soon'.length + KEY_ENTRY_BYTES);
  // No loop here: the keyspace's clock is performance.now(), and GET expires the key lazily.
  const until = performance.now() + 5;
  while (performance.now() < until);
  assert.is(send('GET', 'soon'), '$-1\r\n');
  assert.is(pages.usedBytes, kept, 'the expired key is still counted');
  send('SET', 'theirs', 'ours now');
  assert.is(pages.usedBytes, kept + 'theirs'.length + KEY_ENTRY_BYTES, 'a key taken over from another writer is counted from then on');
  send('DEL', 'theirs');
  assert.is(pages.usedBytes, kept);
});

test('CONFIG GET maxmemory and maxmemory-policy, INFO memory: Redis-shaped', () => {
  const { send } = session({ maxMemory: 123_456 });
  assert.is(send('CONFIG', 'GET', 'maxmemory'), '*2\r\n$9\r\nmaxmemory\r\n$6\r\n123456\r\n');
  assert.is(send('CONFIG', 'GET', 'maxmemory-policy'), '*2\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n');
  send('SET', 'k', 'v');
  const info = send('INFO', 'memory');
  assert.match(info, /# Memory\r\nused_memory:65707\r\nmaxmemory:123456\r\nmaxmemory_policy:noeviction\r\n/);
  assert.is(session().send('CONFIG', 'GET', 'maxmemory'), `*2\r\n$9\r\nmaxmemory\r\n$10\r\n${DEFAULT_MAX_MEMORY}\r\n`);
});

test('maxMemory 0 is no limit; a bad maxMemory is refused with ERR_OUT_OF_RANGE or ERR_INVALID_ARG_TYPE', () => {
  const { send } = session({ maxMemory: 0 });
  for (let i = 0; i < 100; i++) assert.is(send('SET', `k${i}`, 'x'.repeat(5000)), '+OK\r\n');
  for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
    assert.throws(() => respProtocol({ maxMemory: bad }), (error: NodeJS.ErrnoException) => error.code === 'ERR_OUT_OF_RANGE');
  }
  assert.throws(() => respProtocol({ maxMemory: '1gb' as unknown as number }), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_TYPE');
});

test.run();
