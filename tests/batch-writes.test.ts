// A pass's replies in one crossing (src/net/batch-writes.ts): connections the
// batch read together have their replies written by one native.writeMany
// when the pass's callbacks are done, each to its own socket; what the
// kernel does not take is sent first when it can; a connection that closes
// before the crossing is left out of it (its fd may be another's by then);
// what a held connection is given meanwhile follows its held bytes.
import { openSync, closeSync, fstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Connection } from '../src/net/connection.js';
import { SEND_ENTRIES } from '../src/net/batch-writes.js';
import { Server, type ServerOptions } from '../src/net/server.js';
import type { Protocol } from '../src/net/protocol.js';
import { native } from '../src/kernel/native.js';
import { sockets } from '../src/index.js';
import { closeServed, connectAccepted, HOST, sleep, tcpSocket, turnUntil, waitUnread } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

const KiB = 1024;

/** Counts native.writeMany's crossings (the entries of each) and native.write's calls while `body` runs. */
function countingWrites<T>(body: (crossings: number[], writes: { count: number }) => T): T {
  const originalMany = native.writeMany;
  const originalWrite = native.write;
  const crossings: number[] = [];
  const writes = { count: 0 };
  native.writeMany = (memory, count, dataOffset) => {
    crossings.push(count);
    return originalMany(memory, count, dataOffset);
  };
  native.write = (fd, bytes, offset, length) => {
    writes.count++;
    return originalWrite(fd, bytes, offset, length);
  };
  try {
    return body(crossings, writes);
  } finally {
    native.writeMany = originalMany;
    native.write = originalWrite;
  }
}

interface Served {
  connection: Connection;
  index: number;
}

/** A server whose protocol calls `onData(served, bytes, all)` for each read; connections are numbered as accepted. */
function server(onData: (served: Served, bytes: Uint8Array, all: Served[]) => void, options: ServerOptions = {}, resume?: (served: Served) => void) {
  const loop = new TestLoop();
  const all: Served[] = [];
  const srv = new Server(
    loop,
    (connection): Protocol => {
      const served: Served = { connection, index: all.length };
      all.push(served);
      return { data: (_, bytes) => onData(served, bytes, all), resume: resume && (() => resume(served)) };
    },
    { host: HOST, port: 0, ...options },
  );
  const port = srv.listen();
  return { loop, server: srv, port, all };
}

/** `count` clients connected and accepted, in the order the server took them. */
const clients = (loop: TestLoop, port: number, all: Served[], count: number): number[] => connectAccepted(loop, port, count, () => all.length);

/**
 * Two connections: the first served writes `own` (held for the crossing);
 * the second writes `second`, then 'relayed;' to the first, then calls
 * `then(first, relayed)`.
 */
function relayServer(own: string, second: string, then?: (first: Served, relayed: Buffer) => void) {
  let first: Served | undefined;
  const { loop, server: srv, port, all } = server((served) => {
    if (first === undefined) {
      first = served;
      served.connection.write(Buffer.from(own));
      return;
    }
    served.connection.write(Buffer.from(second));
    const relayed = Buffer.from('relayed;');
    first.connection.write(relayed);
    then?.(first, relayed);
  });
  return { loop, srv, port, all, first: (): Served => first! };
}

/** Each client sends `request`; once every server socket holds it, one pass of the loop. What native.writeMany and native.write were called for in it. */
function onePass(loop: TestLoop, fds: number[], port: number, request: string): { crossings: number[]; writes: number } {
  fds.forEach((fd) => sockets.write(fd, Buffer.from(request)));
  waitUnread(fds, port, request.length);
  return countingWrites((crossings, writes) => {
    loop.runOnce(1000);
    return { crossings, writes: writes.count };
  });
}


/** Reads what `fd` has (non-blocking) until `length` bytes came, within ~5 s. */
function readAll(fd: number, length: number): Buffer {
  const chunks: Buffer[] = [];
  let got = 0;
  const buffer = Buffer.alloc(256 * KiB);
  for (let i = 0; got < length && i < 2000; i++) {
    const n = sockets.read(fd, buffer);
    if (n === null) {
      sleep(2);
      continue;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
    got += n;
  }
  return Buffer.concat(chunks);
}

test('the replies of connections served in one pass go out in one crossing, each to its own socket', () => {
  const { loop, server: srv, port, all } = server((served, bytes, _) => {
    served.connection.write(Buffer.from(`reply ${served.index} to ${Buffer.from(bytes).toString()}${'.'.repeat(served.index * 5)}`));
  });
  const fds = clients(loop, port, all, 8);
  try {
    fds.forEach((fd, i) => sockets.write(fd, Buffer.from(`request ${i}`)));
    waitUnread(fds, port, 'request 0'.length);
    countingWrites((crossings, writes) => {
      loop.runOnce(1000);
      assert.equal(crossings, [8], 'one crossing wrote the eight replies');
      assert.is(writes.count, 0, 'and no write of their own');
    });
    fds.forEach((fd, i) => {
      const expected = `reply ${i} to request ${i}${'.'.repeat(i * 5)}`;
      assert.is(readAll(fd, expected.length).toString(), expected);
    });
    for (const { connection } of all) {
      assert.is(connection.queuedBytes, 0);
      assert.ok(connection.bytesWritten > 0, 'counted as written');
    }
  } finally {
    closeServed(fds, srv, loop);
  }
});

test('a pass of more connections than a crossing holds makes a crossing per SEND_ENTRIES, the first when the region fills', () => {
  const { loop, server: srv, port, all } = server((served) => served.connection.write(Buffer.from(`reply ${served.index}`)));
  const fds = clients(loop, port, all, SEND_ENTRIES + 6);
  try {
    const { crossings, writes } = onePass(loop, fds, port, 'x');
    assert.equal(crossings, [SEND_ENTRIES, 6]);
    assert.is(writes, 0);
    fds.forEach((fd, i) => assert.is(readAll(fd, `reply ${i}`.length).toString(), `reply ${i}`));
  } finally {
    closeServed(fds, srv, loop);
  }
});

/**
 * `count` clients each send a byte, and the pass that serves them has every
 * native.writeMany throw: the turn reports it (the test loop throws it).
 * Then the replies are written as before.
 */
function failingPass(count: number): { loop: TestLoop; srv: Server; port: number; all: Served[]; fds: number[] } {
  const { loop, server: srv, port, all } = server((served) => served.connection.write(Buffer.from(`reply ${served.index}`)));
  const fds = clients(loop, port, all, count);
  const original = native.writeMany;
  try {
    fds.forEach((fd) => sockets.write(fd, Buffer.from('x')));
    waitUnread(fds, port, 1);
    native.writeMany = () => {
      throw new Error('the crossing failed');
    };
    assert.throws(() => loop.runOnce(1000), /the crossing failed/);
  } catch (error) {
    closeServed(fds, srv, loop);
    throw error;
  } finally {
    native.writeMany = original;
  }
  turnUntil(loop, () => all.every((s) => s.connection.bytesWritten === `reply ${s.index}`.length), 'every reply written');
  fds.forEach((fd, i) => assert.is(readAll(fd, `reply ${i}`.length).toString(), `reply ${i}`));
  return { loop, srv, port, all, fds };
}

test('a crossing that fails leaves no connection held: the replies are written as before, and the failure is reported', () => {
  const { loop, srv, port, all, fds } = failingPass(3);
  try {
    for (const { connection } of all) assert.is(connection.queuedBytes, 0);
    // And the next pass holds and writes as usual.
    const { crossings } = onePass(loop, fds, port, 'y');
    assert.equal(crossings, [3]);
    fds.forEach((fd, i) => assert.is(readAll(fd, `reply ${i}`.length).toString(), `reply ${i}`));
  } finally {
    closeServed(fds, srv, loop);
  }
});

test('a crossing that fails when the region fills, mid-pass: the connection being served is still held or written, and every reply arrives', () => {
  const { loop, srv, fds } = failingPass(SEND_ENTRIES + 6);
  closeServed(fds, srv, loop);
});

test('a reply of a connection served alone is written at once, as before', () => {
  const { loop, server: srv, port, all } = server((served) => served.connection.write(Buffer.from('alone')));
  const fds = clients(loop, port, all, 1);
  try {
    const { crossings, writes } = onePass(loop, fds, port, 'x');
    assert.equal(crossings, []);
    assert.is(writes, 1);
    assert.is(readAll(fds[0]!, 5).toString(), 'alone');
  } finally {
    closeServed(fds, srv, loop);
  }
});

test('a connection closed by a later callback of the pass is left out of the crossing: its fd, reused meanwhile, gets nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-batch-writes-'));
  let victimFd = -1;
  let reused = -1;
  const opened: number[] = [];
  const { loop, server: srv, port, all } = server((served, _bytes, everyone) => {
    if (victimFd < 0) {
      // The first served writes its reply (held for the crossing)...
      served.connection.write(Buffer.from('held reply'));
      victimFd = served.connection.fd;
      return;
    }
    // ...and the second closes it, then takes its fd number for a file, and replies (so the crossing is made).
    everyone.find((other) => other !== served)!.connection.destroy();
    served.connection.write(Buffer.from('second'));
    for (let i = 0; i < 64 && reused < 0; i++) {
      const fd = openSync(join(dir, `file-${i}`), 'w');
      if (fd === victimFd) reused = fd;
      else opened.push(fd);
    }
  });
  const fds = clients(loop, port, all, 2);
  try {
    const { crossings } = onePass(loop, fds, port, 'go');
    assert.equal(crossings, [2], 'the victim\'s entry is in the crossing, skipped');
    assert.ok(reused >= 0, 'a file took the closed connection\'s fd number');
    assert.is(fstatSync(reused).size, 0, 'the held reply was not written to the fd\'s new owner');
    const victimIndex = all.findIndex((s) => s.connection.isClosed);
    assert.is(readAll(fds[victimIndex]!, 1).length, 0, 'its peer got no reply, only the close');
    assert.is(readAll(fds[1 - victimIndex]!, 6).toString(), 'second');
  } finally {
    for (const fd of [...opened, reused]) if (fd >= 0) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
    closeServed(fds, srv, loop);
  }
});

test('what a held connection is written meanwhile follows its held bytes, copied when written (the caller may reuse its buffer)', () => {
  const { loop, srv, port, all, first } = relayServer('own reply;', 'second;', (held, relayed) => {
    relayed.fill(0x7a);
    // Neither moves its bytes ahead of the held ones.
    held.connection.flush();
    held.connection.uncork();
  });
  const fds = clients(loop, port, all, 2);
  try {
    const { crossings } = onePass(loop, fds, port, 'go');
    assert.equal(crossings, [2]);
    assert.is(readAll(fds[first().index]!, 'own reply;relayed;'.length).toString(), 'own reply;relayed;');
    assert.is(first().connection.queuedBytes, 0);
    assert.is(readAll(fds[1 - first().index]!, 'second;'.length).toString(), 'second;');
  } finally {
    closeServed(fds, srv, loop);
  }
});

test('a crossing that wrote part of a held reply: its rest goes out before what the connection was written meanwhile', () => {
  const { loop, srv, port, all, first } = relayServer('own reply, in two parts;', 'second reply, in two parts;');
  const fds = clients(loop, port, all, 2);
  const original = native.writeMany;
  try {
    fds.forEach((fd) => sockets.write(fd, Buffer.from('go')));
    waitUnread(fds, port, 2);
    // The kernel takes each entry's first 4 bytes only, as full socket buffers would.
    native.writeMany = (memory, count, dataOffset) => {
      assert.is(count, 2);
      const plan = new Int32Array(memory, 0, count * 2);
      for (let i = 0, at = dataOffset; i < count; i++) {
        const length = plan[2 * i + 1]!;
        plan[2 * i + 1] = native.write(plan[2 * i]!, new Uint8Array(memory), at, 4);
        at += length;
      }
      return count;
    };
    loop.runOnce(1000);
    native.writeMany = original;
    turnUntil(loop, () => all.every((s) => s.connection.queuedBytes === 0), 'the rests written');
    const expected = 'own reply, in two parts;relayed;';
    assert.is(readAll(fds[first().index]!, expected.length).toString(), expected);
    const second = 'second reply, in two parts;';
    assert.is(readAll(fds[1 - first().index]!, second.length).toString(), second);
  } finally {
    native.writeMany = original;
    closeServed(fds, srv, loop);
  }
});

test('a held reply the kernel takes only in part: the rest goes out before what was written after it, byte for byte', () => {
  // Each read is answered with REPLY bytes numbered by round; the clients do
  // not read until the server sockets' send buffers are full.
  const REPLY = 48 * KiB;
  const rounds = [0, 0];
  const replyOf = (round: number): Buffer => Buffer.alloc(REPLY, `<${round}>`);
  const { loop, server: srv, port, all } = server((served) => {
    served.connection.write(replyOf(rounds[served.index]!++));
  });
  const fds = clients(loop, port, all, 2);
  try {
    let partialInCrossing = false;
    for (let round = 0; round < 400 && !partialInCrossing; round++) {
      fds.forEach((fd) => sockets.write(fd, Buffer.from('n')));
      waitUnread(fds, port, 1);
      countingWrites((crossings) => {
        const queuedBefore = all.map((s) => s.connection.queuedBytes);
        loop.runOnce(1000);
        // A connection with nothing queued before the pass that has bytes queued after it: the crossing's write was partial.
        partialInCrossing = crossings.length === 1 && all.some((s, i) => queuedBefore[i] === 0 && s.connection.queuedBytes > 0);
      });
    }
    assert.ok(partialInCrossing, 'a crossing wrote part of a reply');
    // One more round (unless reading paused at the watermark), written behind what is queued.
    const before = [...rounds];
    fds.forEach((fd) => sockets.write(fd, Buffer.from('n')));
    for (let i = 0; i < 50 && all.some((s, n) => rounds[n] === before[n] && !s.connection.isReadPaused); i++) loop.runOnce(10);
    assert.ok(all.some((s, n) => rounds[n]! > before[n]! && s.connection.queuedBytes > REPLY), 'a reply was queued behind the rest');
    // Read everything while the loop drains the queues.
    all.forEach((s, i) => {
      const expected = Buffer.concat(Array.from({ length: rounds[i]! }, (_, round) => replyOf(round)));
      const got: Buffer[] = [];
      let length = 0;
      const buffer = Buffer.alloc(256 * KiB);
      for (let spin = 0; length < expected.length && spin < 20_000; spin++) {
        const n = sockets.read(fds[i]!, buffer);
        if (n === null || n === 0) {
          loop.runOnce(1);
          continue;
        }
        got.push(Buffer.from(buffer.subarray(0, n)));
        length += n;
      }
      assert.is(length, expected.length, `connection ${i}: every byte`);
      assert.ok(Buffer.concat(got).equals(expected), `connection ${i}: in order`);
      assert.is(s.connection.queuedBytes, 0);
    });
  } finally {
    closeServed(fds, srv, loop);
  }
});

test('a held reply past the high watermark: once the crossing drains it, the protocol resumes and answers what it kept back', () => {
  // One 2 KiB answer per request byte; at the watermark (1 KiB) the protocol keeps the rest for resume().
  const ANSWER = 2 * KiB;
  const pending = new Map<Served, number>();
  const answered = [0, 0];
  const answer = (served: Served): void => {
    while ((pending.get(served) ?? 0) > 0 && !served.connection.needsDrain) {
      pending.set(served, pending.get(served)! - 1);
      served.connection.write(Buffer.alloc(ANSWER, 0x61 + answered[served.index]!++));
    }
  };
  const { loop, server: srv, port, all } = server(
    (served, bytes) => {
      pending.set(served, (pending.get(served) ?? 0) + bytes.length);
      answer(served);
    },
    { highWaterMark: KiB, lowWaterMark: 512 },
    answer,
  );
  const fds = clients(loop, port, all, 2);
  try {
    const { crossings } = onePass(loop, fds, port, 'qqq');
    assert.equal(crossings, [2], 'the first answers went out in one crossing');
    turnUntil(loop, () => answered[0] === 3 && answered[1] === 3, 'the kept-back requests answered');
    fds.forEach((fd) => {
      const expected = Buffer.concat([0x61, 0x62, 0x63].map((c) => Buffer.alloc(ANSWER, c)));
      assert.ok(readAll(fd, expected.length).equals(expected));
    });
  } finally {
    closeServed(fds, srv, loop);
  }
});

test('a peer that reset before the crossing: its connection closes as a reset, and the others of the pass get their replies', () => {
  let victim: Served | undefined;
  const closes: string[] = [];
  let victimClient = -1;
  const { loop, server: srv, port, all } = server((served) => {
    if (victim === undefined) {
      victim = served;
      served.connection.on('close', (reason, error) => closes.push(`${reason} ${error?.code}`));
      served.connection.write(Buffer.from('too late'));
      // Its peer closes with a byte it never read: the kernel resets the connection before the crossing writes.
      sockets.close(victimClient === -1 ? fdsOf(served) : victimClient);
      return;
    }
    served.connection.write(Buffer.from('on time'));
  });
  const fds = clients(loop, port, all, 2);
  const fdsOf = (served: Served): number => {
    victimClient = fds[served.index]!;
    fds[served.index] = -1;
    return victimClient;
  };
  try {
    // A byte each client will not have read when it closes.
    for (const { connection } of all) connection.write(Buffer.from('!'));
    turnUntil(loop, () => fds.every((fd) => (tcpSocket(sockets.localPort(fd), port)?.receiveQueue ?? 0) === 1), 'the unread bytes');
    const { crossings, writes } = onePass(loop, fds, port, 'go');
    assert.equal(crossings, [2]);
    assert.is(writes, 0, 'the crossing\'s error closed it: no write of its own found it out');
    assert.equal(closes.length, 1);
    assert.match(closes[0]!, /^reset (EPIPE|ECONNRESET)$/);
    const other = all.find((s) => s !== victim)!;
    assert.is(readAll(fds[other.index]!, '!on time'.length).toString(), '!on time');
    assert.is(other.connection.isClosed, false);
  } finally {
    closeServed(fds, srv, loop);
  }
});

test.run();
