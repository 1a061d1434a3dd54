// The addon against callers that do what the host never does: JS that runs in
// the middle of a call and detaches a buffer already looked at, more arguments
// than a call copies, a handle used after it was let go. Each of these once
// read freed or foreign memory: in a plain build as wrong bytes, wrong
// arguments or a crash, and under `npm run test:asan` as a sanitizer report
// that aborts the run.
import { constants as osConstants } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { native, type StartHandle } from '../src/kernel/native.js';
import { sockets } from '../src/index.js';
import { throws } from './helpers/errors.js';
import { closeAll, pair } from './helpers/fds.js';

const { EAGAIN, EINVAL } = osConstants.errno;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Detaches `bytes`'s buffer and frees its memory at once: a message to a closed port is serialized (taking the buffer) and dropped. */
function detachAndFree(bytes: Uint8Array): void {
  const { port1 } = new MessageChannel();
  port1.close();
  const buffer = bytes.buffer as ArrayBuffer;
  port1.postMessage(buffer, [buffer]);
}

/** Everything the peer has received so far, without blocking. */
function received(fd: number): number[] {
  const out: number[] = [];
  const chunk = new Uint8Array(65536);
  for (;;) {
    const n = native.read(fd, chunk, 0, chunk.length);
    if (n <= 0) {
      assert.ok(n === 0 || n === -EAGAIN, `read = ${n}`);
      return out;
    }
    out.push(...chunk.subarray(0, n));
  }
}

/** A list whose element 1 is a getter: it runs `effect` before it hands out `second`. */
function listWithGetter(first: Uint8Array, second: Uint8Array, effect: () => void): Uint8Array[] {
  const list = [first];
  Object.defineProperty(list, 1, { get: () => (effect(), second), enumerable: true });
  return list;
}

/** A turn of Node's loop that passes its close phase: an immediate queued from an immediate runs in the next iteration. */
async function afterCloseCallbacks(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

// ---- readMany -------------------------------------------------------------------

test('readMany: no ArrayBuffer, a plan past the data\'s offset, slots past the buffer\'s end, a slot of 0, an unaligned offset, a detached buffer: EINVAL, and nothing is read', () => {
  const { peer, local } = pair();
  try {
    sockets.write(peer, Buffer.from('kept'));
    // The plan: 2 int32s, then the data from byte 8: two slots of 8.
    const memory = new ArrayBuffer(24);
    new Int32Array(memory, 0, 2).fill(local);
    assert.is(native.readMany(new Int32Array(memory) as unknown as ArrayBuffer, 1, 8, 8), -EINVAL);
    assert.is(native.readMany(memory, 3, 8, 8), -EINVAL, 'three fds do not fit before byte 8');
    assert.is(native.readMany(memory, 2, 8, 9), -EINVAL, 'two slots of 9 after byte 8 pass the end');
    assert.is(native.readMany(memory, 1, 8, 0), -EINVAL);
    assert.is(native.readMany(memory, 1, 6, 8), -EINVAL);
    assert.is(native.readMany(memory, -1, 8, 8), -EINVAL);
    const gone = new ArrayBuffer(24);
    new Int32Array(gone, 0, 1)[0] = local;
    detachAndFree(new Uint8Array(gone));
    assert.is(native.readMany(gone, 1, 8, 8), -EINVAL);
    // The bytes are still there for a call that is right.
    assert.is(native.readMany(memory, 1, 8, 8), 1);
    assert.is(new Int32Array(memory, 0, 1)[0], 4);
    assert.is(Buffer.from(memory, 8, 4).toString(), 'kept');
  } finally {
    closeAll(peer, local);
  }
});

// ---- writeMany ------------------------------------------------------------------

test('writeMany: no ArrayBuffer, a plan past the data\'s offset, lengths past the buffer\'s end or negative, an unaligned offset, a detached buffer: EINVAL, and nothing is written', () => {
  const { peer, local } = pair();
  try {
    // The plan: one entry (fd, length) in 8 bytes, then the data from byte 8.
    const memory = new ArrayBuffer(16);
    const plan = new Int32Array(memory, 0, 2);
    plan[0] = local;
    plan[1] = 8;
    Buffer.from(memory, 8, 8).write('8 bytes!');
    assert.is(native.writeMany(new Int32Array(memory) as unknown as ArrayBuffer, 1, 8), -EINVAL);
    assert.is(native.writeMany(memory, 2, 8), -EINVAL, 'two entries do not fit before byte 8');
    assert.is(native.writeMany(memory, 1, 6), -EINVAL);
    assert.is(native.writeMany(memory, 1, 20), -EINVAL, 'the data would begin past the end');
    assert.is(native.writeMany(memory, -1, 8), -EINVAL);
    plan[1] = 9;
    assert.is(native.writeMany(memory, 1, 8), -EINVAL, '9 bytes from byte 8 pass the end');
    plan[1] = -1;
    assert.is(native.writeMany(memory, 1, 8), -EINVAL);
    const gone = new ArrayBuffer(16);
    new Int32Array(gone, 0, 2).set([local, 1]);
    detachAndFree(new Uint8Array(gone));
    assert.is(native.writeMany(gone, 1, 8), -EINVAL);
    assert.is(sockets.read(peer, Buffer.alloc(16)), null, 'nothing was sent');
    // A plan that is right is written, and each length becomes its result.
    plan[1] = 8;
    assert.is(native.writeMany(memory, 1, 8), 1);
    assert.is(plan[1], 8);
    const got = Buffer.alloc(16);
    assert.is(got.toString('latin1', 0, sockets.read(peer, got)!), '8 bytes!');
  } finally {
    closeAll(peer, local);
  }
});

// ---- writev ---------------------------------------------------------------------

test('writev: a getter that detaches (and frees) an earlier buffer gets EINVAL, and nothing is sent', () => {
  const { peer, local } = pair();
  try {
    const first = new Uint8Array(4096).fill(0x41);
    const second = new Uint8Array(16).fill(0x42);
    const list = listWithGetter(first, second, () => detachAndFree(first));
    assert.is(native.writev(local, list), -EINVAL);
    assert.is(first.byteLength, 0, 'the getter did not run');
    assert.equal(received(peer), []);
  } finally {
    closeAll(peer, local);
  }
});

test('writev: a getter that moves an earlier buffer elsewhere (structuredClone transfer) gets EINVAL', () => {
  const { peer, local } = pair();
  try {
    const first = new Uint8Array(64).fill(0x41);
    let moved: ArrayBuffer | undefined;
    const list = listWithGetter(first, new Uint8Array(8), () => (moved = structuredClone(first.buffer, { transfer: [first.buffer as ArrayBuffer] })));
    assert.is(native.writev(local, list), -EINVAL);
    assert.is(moved?.byteLength, 64);
    assert.equal(received(peer), []);
  } finally {
    closeAll(peer, local);
  }
});

test('writev: a getter that detaches nothing still sends every byte, in order', () => {
  const { peer, local } = pair();
  try {
    let ran = 0;
    const list = listWithGetter(new Uint8Array([1, 2, 3]), new Uint8Array([4, 5]), () => ran++);
    assert.is(native.writev(local, list), 5);
    assert.is(ran, 1);
    assert.equal(received(peer), [1, 2, 3, 4, 5]);
  } finally {
    closeAll(peer, local);
  }
});

test('writev: a detached buffer is refused, not sent as nothing; a getter\'s replacement that is no Uint8Array is refused', () => {
  const { peer, local } = pair();
  try {
    const gone = new Uint8Array(8);
    detachAndFree(gone);
    assert.is(native.writev(local, [new Uint8Array([1]), gone]), -EINVAL);
    const list = listWithGetter(new Uint8Array([1]), 'two' as unknown as Uint8Array, () => undefined);
    assert.is(native.writev(local, list), -EINVAL);
    assert.equal(received(peer), []);
  } finally {
    closeAll(peer, local);
  }
});

test('sockets.writev: a getter that detaches an earlier buffer is a writev EINVAL error', () => {
  const { peer, local } = pair();
  try {
    const first = new Uint8Array(256).fill(0x41);
    const list = listWithGetter(first, new Uint8Array(4), () => first.byteLength > 0 && detachAndFree(first));
    throws(() => sockets.writev(local, list), { type: Error, code: 'EINVAL', syscall: 'writev' });
    assert.equal(received(peer), []);
  } finally {
    closeAll(peer, local);
  }
});

// ---- invoke ---------------------------------------------------------------------

test('invoke passes every argument, past the ones it copies on the stack, and the receiver', () => {
  const recv = { name: 'recv' };
  function collect(this: unknown, ...args: unknown[]): unknown[] {
    return [this, ...args];
  }
  assert.equal(native.invoke(recv, collect, 1, 2, 3, 4), [recv, 1, 2, 3, 4]);
  const many = Array.from({ length: 20 }, (_, i) => `arg ${i}`);
  assert.equal(native.invoke(recv, collect, ...many), [recv, ...many]);
  assert.equal(native.invoke(recv, collect), [recv]);
});

test('invoke without a function to call is refused with a TypeError, not ignored', () => {
  const call = native.invoke as (...args: unknown[]) => unknown;
  throws(() => call(), { type: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
  throws(() => call({}), { type: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
  throws(() => call({}, 42, 1), { type: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
});

// ---- start() handles ------------------------------------------------------------

/** A start() handle watching `fd`. */
function attach(fd: number): StartHandle {
  const handle = native.startAttach(fd, () => undefined);
  if (typeof handle === 'number') assert.unreachable(`startAttach = ${handle}`);
  return handle as StartHandle;
}

/**
 * Collects what is garbage, then holds zeroed blocks of a handle pair's size
 * (malloc'd: Node's unsafe buffers skip calloc), so that memory freed too
 * early is likely handed out again and reads as a live pair: in a plain build
 * too, a call through a freed pair then goes wrong instead of reading stale
 * bytes that still say "released".
 */
function reuseFreedMemory(): Buffer[] {
  gc();
  return Array.from({ length: 256 }, () => Buffer.allocUnsafeSlow(368).fill(0));
}

test('a start() handle used after startDetach, once libuv has closed its handles and GC ran, answers EINVAL to every call', async () => {
  const fd = native.eventfd(0);
  try {
    const handle = attach(fd);
    assert.is(native.startArm(handle, 1000), 0);
    assert.is(native.startDetach(handle), 0);
    // Right away, while libuv is closing the handles...
    assert.is(native.startArm(handle, 5), -EINVAL);
    // ...and once it has closed them, after other memory came and went.
    await afterCloseCallbacks();
    const held = reuseFreedMemory();
    assert.is(native.startArm(handle, 5), -EINVAL);
    assert.is(native.startArm(handle, -1), -EINVAL);
    assert.is(native.startRef(handle, false), -EINVAL);
    assert.is(native.startDetach(handle), -EINVAL);
    assert.ok(held.every((block) => block[0] === 0), 'a call wrote into memory it had freed');
  } finally {
    native.close(fd);
  }
});

test('a start() handle collected before or after libuv closes its handles is freed once, by whichever lets go last', async () => {
  // Under ASan, freeing too early shows in the close callback (handle
  // collected first) or in a later call; freeing twice, in the finalizer.
  const fds = [native.eventfd(0), native.eventfd(0)];
  const collected: string[] = [];
  const registry = new FinalizationRegistry<string>((name) => collected.push(name));
  const held: { early?: StartHandle; late?: StartHandle } = { early: attach(fds[0]!), late: attach(fds[1]!) };
  registry.register(held.early!, 'early');
  registry.register(held.late!, 'late');
  try {
    // Collected first: in a timer callback, so that Node runs the finalizer
    // in this iteration's check phase, before libuv's close phase; detached
    // in a function of its own, whose frame holds the last reference and is
    // gone by the time GC runs.
    const detachEarly = (): number => {
      const rc = native.startDetach(held.early!);
      delete held.early;
      return rc;
    };
    const detached = await new Promise<number>((resolve) => setTimeout(() => {
      const rc = detachEarly();
      gc();
      resolve(rc);
    }, 0));
    assert.is(detached, 0);
    await afterCloseCallbacks();
    // Closed first.
    assert.is(native.startDetach(held.late!), 0);
    await afterCloseCallbacks();
    assert.is(native.startRef(held.late!, true), -EINVAL);
    delete held.late;
    for (let i = 0; i < 20 && collected.length < 2; i++) {
      reuseFreedMemory();
      await afterCloseCallbacks();
    }
    assert.equal(collected.sort(), ['early', 'late']);
  } finally {
    for (const fd of fds) native.close(fd);
  }
});

test.run();
