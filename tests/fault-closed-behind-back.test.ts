// An fd registered with the loop and then closed by the user directly, not
// through removeSocket(), while its peer has data waiting for it. On every
// backend the loop neither spins on it nor crashes: epoll forgets a closed fd
// by itself, poll drops it when it reports POLLNVAL, select when it fails
// with EBADF. removeSocket() later reports EBADF or ENOENT and does not
// close the fd that took the number since; that fd registers like any other,
// and the loop's other fds are served throughout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { EventLoop, sockets, type BackendName, type SystemError } from '../src/index.js';
import { native } from '../src/kernel/native.js';
import { HOST, acceptOne, closeAll, isOpen, pair, turnUntil } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

const BACKENDS: BackendName[] = ['epoll', 'poll', 'select'];

/** A client registration that counts its reads and keeps what it read. */
function reader(loop: EventLoop, fd: number): { reads: number; text: string } {
  const state = { reads: 0, text: '' };
  const buffer = Buffer.alloc(4096);
  loop.addClientSocket(fd, {
    read(ready) {
      state.reads++;
      const count = sockets.read(ready, buffer);
      if (count !== null) state.text += buffer.toString('latin1', 0, count);
    },
  });
  return state;
}

/**
 * Opens listeners until one gets `number` (the process hands out the lowest
 * free number, and lower ones may be free too); closes the others.
 */
function listenerNumbered(number: number): number {
  const others: number[] = [];
  try {
    for (let i = 0; i < 256; i++) {
      const fd = sockets.listen(HOST, 0);
      if (fd === number) return fd;
      others.push(fd);
      if (fd > number) break;
    }
  } finally {
    closeAll(...others);
  }
  throw new Error(`fd ${number} was not free to reuse`);
}

function errorOf(fn: () => unknown): SystemError {
  try {
    fn();
  } catch (error) {
    return error as SystemError;
  }
  throw new Error('expected an error, nothing was thrown');
}

for (const backend of BACKENDS) {
  test(`${backend}: an fd closed behind the loop's back is dropped without a spin, and its number is reused safely`, () => {
    const loop = new TestLoop({ backend });
    const victim = pair();
    const bystander = pair();
    let reused = -1;
    let reusedPeer = -1;
    let reusedLocal = -1;
    try {
      const victimState = reader(loop, victim.local);
      const bystanderState = reader(loop, bystander.local);
      sockets.write(victim.peer, Buffer.from('unread'));
      sockets.close(victim.local); // behind the loop's back, with data waiting

      // No spin: the loop waits out its timeout with nothing to report, and
      // never calls the dead fd's handler.
      const started = performance.now();
      let events = 0;
      for (let i = 0; i < 5; i++) events += loop.runOnce(40);
      const elapsed = performance.now() - started;
      assert.is(events, 0, `${events} events reported for a closed fd`);
      assert.ok(elapsed >= 5 * 40 - 1, `five 40 ms waits took ${elapsed.toFixed(1)} ms: the loop spun`);
      assert.is(victimState.reads, 0);

      sockets.write(bystander.peer, Buffer.from('still served'));
      turnUntil(loop, () => bystanderState.text === 'still served', 'the bystander to be served');

      // The number goes to the next fd the process opens.
      reused = listenerNumbered(victim.local);
      const error = errorOf(() => loop.removeSocket(victim.local));
      assert.ok(error.code === 'EBADF' || error.code === 'ENOENT', `removeSocket reported ${String(error.code)}: ${error.message}`);
      assert.ok(isOpen(reused), 'removeSocket closed the fd that reused the number');
      assert.not.ok(loop.isRegistered(victim.local));

      // The new fd with that number registers and is served.
      let accepted = -1;
      loop.addServerSocket(reused, (fd) => {
        accepted = fd;
      });
      reusedPeer = sockets.connect(HOST, sockets.localPort(reused));
      turnUntil(loop, () => accepted >= 0, 'a connection on the reused number');
      reusedLocal = accepted;
      sockets.write(bystander.peer, Buffer.from('!'));
      turnUntil(loop, () => bystanderState.text === 'still served!', 'the bystander to be served again');
    } finally {
      loop.close();
      closeAll(victim.peer, bystander.peer, reusedPeer, reusedLocal);
    }
  });
}

// A number reused before the loop waits again. epoll keys its interest list
// by the open file, not the number, so the new file is one it was never told
// about. poll and select know only numbers: until removeSocket() they serve
// the new file with the old handlers (a hazard of those backends, as in
// libuv's), but they remember the file's identity, so removeSocket() still
// answers ENOENT and leaves the new fd open.
for (const backend of BACKENDS) test(`${backend}: removeSocket of a number reused before the loop waited again reports ENOENT and spares the new fd`, () => {
  const loop = new TestLoop({ backend });
  const victim = pair();
  const listener = sockets.listen(HOST, 0);
  let reused = -1;
  let reusedPeer = -1;
  try {
    const victimState = reader(loop, victim.local);
    const number = victim.local;
    sockets.close(victim.local);
    // Lower numbers may be free: hold them while connecting, so the new socket gets this one.
    const fillers: number[] = [];
    do fillers.push(native.eventfd(0));
    while (fillers.at(-1)! < number);
    closeAll(fillers.pop()!);
    try {
      reused = sockets.connect(HOST, sockets.localPort(listener));
    } finally {
      closeAll(...fillers);
    }
    assert.is(reused, number, 'the number was not reused (test premise)');
    reusedPeer = acceptOne(listener);
    sockets.write(reusedPeer, Buffer.from('for the new socket'));
    const events = loop.runOnce(100);
    if (backend === 'epoll') {
      assert.is(events, 0);
      assert.is(victimState.reads, 0, "the old handlers read the new socket's data");
    }
    const error = errorOf(() => loop.removeSocket(number));
    assert.is(error.code, 'ENOENT');
    assert.ok(isOpen(reused), 'removeSocket closed the fd that reused the number');
  } finally {
    loop.close();
    closeAll(victim.peer, reusedPeer, reused, listener);
  }
});

for (const backend of BACKENDS) {
  test(`${backend}: close() leaves an fd closed behind its back alone, warns, and releases the rest`, () => {
    const warnings: unknown[] = [];
    const loop = new TestLoop({ backend, logger: { warn: (object) => warnings.push(object) } });
    const gone = pair();
    const kept = pair();
    loop.addClientSocket(gone.local, { read() {} });
    loop.addClientSocket(kept.local, { read() {} });
    native.close(gone.local);
    loop.close();
    assert.equal(warnings, [{ fd: gone.local }]);
    assert.is(isOpen(kept.local), false, 'the other socket was not closed');
    closeAll(gone.peer, kept.peer);
  });
}

test("close() says nothing of a watched fd closed before it: a watched fd is the caller's", () => {
  const warnings: unknown[] = [];
  const loop = new TestLoop({ logger: { warn: (object) => warnings.push(object) } });
  const [readFd, writeFd] = native.pipe() as [number, number];
  const watcher = loop.watch(readFd, { readable: true }, () => {});
  native.close(readFd);
  loop.close();
  assert.equal(warnings, []);
  assert.is(watcher.active, false);
  closeAll(writeFd);
});

test.run();
