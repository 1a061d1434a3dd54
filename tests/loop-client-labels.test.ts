// Client sockets added with one handlers object share the loop's entry for
// them when they have no label; each labelled one keeps its own label, which
// is what a callback's error context names.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets, type CallbackContext } from '../src/index.js';
import { closeAll, pair } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

test('sockets added with the same handlers report their own labels, or none', () => {
  // Errors reported, not fatal: each socket's read throws once.
  const loop = new TestLoop({ fatalErrors: false });
  const pairs = [pair(), pair(), pair(), pair()];
  const labels = ['first', undefined, 'second', undefined];
  const reported = new Map<number, string | undefined>();
  try {
    loop.on('error', (_error: unknown, context: CallbackContext) => void reported.set(context.fd!, context.label));
    const handlers = {
      read(fd: number): void {
        loop.setInterest(fd, { readable: false });
        throw new Error(`read on ${fd}`);
      },
    };
    pairs.forEach(({ local }, i) => loop.addClientSocket(local, handlers, labels[i] === undefined ? {} : { label: labels[i] }));
    for (const { peer } of pairs) sockets.write(peer, Buffer.from('x'));
    for (let turn = 0; turn < 20 && reported.size < pairs.length; turn++) loop.runOnce(100);
    assert.equal(
      pairs.map(({ local }) => reported.get(local)),
      labels,
    );
    assert.equal(pairs.map(({ local }) => reported.has(local)), [true, true, true, true]);
  } finally {
    for (const { local } of pairs) if (loop.isRegistered(local)) loop.removeSocket(local);
    loop.close();
    for (const { peer } of pairs) closeAll(peer);
  }
});

test.run();
