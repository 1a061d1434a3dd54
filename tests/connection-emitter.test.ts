// The connection's emitter behaves as node:events' where it does the same
// job: on/once/off and their other names, order, a listener removed or added
// during an emit taking effect from the next one, listenerCount, a non-function
// refused; and an emit with nobody listening reports false.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Emitter } from '../src/net/emitter.js';
import { throws, typeErr } from './helpers/errors.js';

type Events = { ping: (n: number) => void; other: () => void };

test('listeners run in the order added; once() runs once; off() and removeListener() remove either kind', () => {
  const emitter = new Emitter<Events>();
  const seen: string[] = [];
  const a = (n: number): void => void seen.push(`a${n}`);
  const b = (n: number): void => void seen.push(`b${n}`);
  const c = (n: number): void => void seen.push(`c${n}`);
  assert.is(emitter.emit('ping', 0), false, 'nobody listens yet');
  assert.is(emitter.on('ping', a).addListener('ping', b).once('ping', c), emitter);
  assert.is(emitter.listenerCount('ping'), 3);
  assert.ok(emitter.emit('ping', 1));
  assert.ok(emitter.emit('ping', 2));
  assert.equal(seen, ['a1', 'b1', 'c1', 'a2', 'b2']);
  emitter.once('ping', c);
  emitter.off('ping', c).removeListener('ping', a).off('other', a as never);
  emitter.emit('ping', 3);
  assert.equal(seen.slice(5), ['b3']);
  emitter.removeAllListeners('ping');
  assert.is(emitter.emit('ping', 4), false);
  emitter.on('other', () => seen.push('other'));
  emitter.removeAllListeners();
  assert.is(emitter.emit('other'), false);
  assert.is(emitter.listenerCount('other'), 0);
});

test('a listener removed or added during an emit takes effect from the next emit', () => {
  const emitter = new Emitter<Events>();
  const seen: string[] = [];
  const late = (): void => void seen.push('late');
  const second = (): void => void seen.push('second');
  emitter.on('ping', () => {
    seen.push('first');
    emitter.off('ping', second);
    emitter.on('ping', late);
  });
  emitter.on('ping', second);
  emitter.emit('ping', 0);
  assert.equal(seen, ['first', 'second']);
  seen.length = 0;
  emitter.emit('ping', 0);
  assert.equal(seen, ['first', 'late']);
});

test('a listener that is no function is a TypeError', () => {
  const emitter = new Emitter<Events>();
  throws(() => emitter.on('ping', 'nope' as never), typeErr);
  throws(() => emitter.once('ping', undefined as never), typeErr);
});

test.run();
