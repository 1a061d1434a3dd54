// A batch's reads in one crossing (src/net/batch-reads.ts): sockets ready
// together are read by one native.readMany, each connection is given its own
// bytes, and bytes read ahead for a connection that stops reading before its
// turn wait for it, in order, and reach it when it reads again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Connection } from '../src/net/connection.js';
import { Server, type ServerOptions } from '../src/net/server.js';
import type { Protocol } from '../src/net/protocol.js';
import { native } from '../src/kernel/native.js';
import { sockets } from '../src/index.js';
import { closeAll, closeServed, connectAccepted, HOST, sleep, tcpSocket, turnUntil, waitUnread } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

const KiB = 1024;

/** Counts native.readMany's calls and the sockets each one read, while `body` runs. */
function countingReadMany<T>(body: (crossings: number[]) => T): T {
  const original = native.readMany;
  const crossings: number[] = [];
  native.readMany = (memory, count, dataOffset, slotSize) => {
    crossings.push(count);
    return original(memory, count, dataOffset, slotSize);
  };
  try {
    return body(crossings);
  } finally {
    native.readMany = original;
  }
}

interface Served {
  connection: Connection;
  bytes: Buffer[];
  ended: boolean;
}

/** A server whose connections record what they are given; `onData` runs before each read is recorded. */
function recordingServer(options: ServerOptions, onData?: (served: Served, all: Served[]) => void) {
  const loop = new TestLoop();
  const all: Served[] = [];
  const server = new Server(
    loop,
    (connection): Protocol => {
      const served: Served = { connection, bytes: [], ended: false };
      all.push(served);
      return {
        data(_, bytes) {
          onData?.(served, all);
          served.bytes.push(Buffer.from(bytes));
        },
        end(c) {
          served.ended = true;
          c.end();
        },
      };
    },
    { host: HOST, port: 0, ...options },
  );
  const port = server.listen();
  return { loop, server, port, all };
}

/** `count` clients connected and accepted, in the order the server took them. */
const clients = (loop: TestLoop, port: number, all: Served[], count: number): number[] => connectAccepted(loop, port, count, () => all.length);

const text = (served: Served): string => Buffer.concat(served.bytes).toString('latin1');

test('sockets ready in one batch are read in one crossing, each connection given its own bytes', () => {
  const { loop, server, port, all } = recordingServer({});
  const fds = clients(loop, port, all, 8);
  try {
    const sent = fds.map((_, i) => `client ${i}: ${'x'.repeat(i * 7)}`);
    fds.forEach((fd, i) => sockets.write(fd, Buffer.from(sent[i]!)));
    waitUnread(fds, port, (i) => sent[i]!.length);
    countingReadMany((crossings) => {
      loop.runOnce(1000);
      assert.equal(crossings, [8], 'one crossing read the eight sockets');
    });
    assert.equal(all.map(text), sent);
  } finally {
    closeServed(fds, server, loop);
  }
});

test('a connection paused by an earlier callback of the batch keeps what was read ahead for it, and gets it, in order, when it reads again', () => {
  // Whichever connection is served first pauses the other, whose bytes the batch has read already.
  let paused: Served | undefined;
  const { loop, server, port, all } = recordingServer({}, (served, everyone) => {
    if (paused !== undefined) return;
    paused = everyone.find((other) => other !== served)!;
    paused.connection.pauseReading();
  });
  const fds = clients(loop, port, all, 2);
  try {
    const sent = ['first client', 'second client, a little longer'];
    fds.forEach((fd, i) => sockets.write(fd, Buffer.from(sent[i]!)));
    waitUnread(fds, port, (i) => sent[i]!.length);
    countingReadMany((crossings) => {
      loop.runOnce(1000);
      assert.equal(crossings, [2]);
    });
    assert.ok(paused !== undefined);
    const index = all.indexOf(paused!);
    assert.equal(paused!.bytes, [], 'paused before its turn: given nothing');
    const pausedClient = fds[index]!;
    assert.is(tcpSocket(port, sockets.localPort(pausedClient))!.receiveQueue, 0, 'its bytes were read ahead, out of the kernel');
    for (let i = 0; i < 3; i++) loop.runOnce(10);
    assert.equal(paused!.bytes, [], 'nothing while paused');
    assert.is(paused!.connection.bytesRead, 0, 'counted when handed over');

    paused!.connection.resumeReading();
    turnUntil(loop, () => paused!.bytes.length > 0, 'the carried bytes');
    assert.is(text(paused!), sent[index]);
    assert.is(paused!.connection.bytesRead, sent[index]!.length);
    // What the socket receives after them follows them.
    sockets.write(pausedClient, Buffer.from(' and more'));
    turnUntil(loop, () => text(paused!) === `${sent[index]} and more`, 'the bytes after the carried ones');
  } finally {
    closeServed(fds, server, loop);
  }
});

test('a reset the batch read for a connection paused before its turn closes it as a reset (ECONNRESET), as the kernel said, not as an end', () => {
  let victim: Served | undefined;
  const closes: string[] = [];
  const { loop, server, port, all } = recordingServer({}, (served) => {
    if (served !== victim) victim!.connection.pauseReading();
  });
  const fds = clients(loop, port, all, 2);
  victim = all[1]!;
  victim.connection.on('close', (reason, error) => closes.push(`${reason} ${error?.code}`));
  try {
    sockets.write(fds[0]!, Buffer.from('bytes'));
    sockets.write(fds[1]!, Buffer.from('x'));
    waitUnread(fds, port, () => 1);
    countingReadMany((crossings) => {
      // The reset lands between the wait and the batch's reads (the race
      // this covers): the victim's byte is taken here, and its peer closes
      // with a byte it never read, which resets the connection.
      const original = native.readMany;
      native.readMany = (memory, count, dataOffset, slotSize) => {
        const serverFd = victim!.connection.fd;
        const clientPort = sockets.localPort(fds[1]!);
        assert.is(sockets.read(serverFd, Buffer.alloc(8)), 1);
        sockets.write(serverFd, Buffer.from('y'));
        for (let i = 0; i < 100 && (tcpSocket(clientPort, port)?.receiveQueue ?? 0) === 0; i++) sleep(5);
        sockets.close(fds[1]!);
        fds[1] = -1;
        for (let i = 0; i < 100 && tcpSocket(port, clientPort) !== undefined; i++) sleep(5);
        return original(memory, count, dataOffset, slotSize);
      };
      try {
        loop.runOnce(1000);
      } finally {
        native.readMany = original;
      }
      assert.equal(crossings, [2]);
    });
    assert.is(text(all[0]!), 'bytes', 'the first client was served first');
    assert.ok(victim.connection.isReadPaused);
    assert.equal(closes, []);
    // Paused or not, a connection gone both ways closes (the kernel's hang-up), with the error its read said.
    turnUntil(loop, () => closes.length > 0, 'the close');
    assert.equal(closes, ['reset ECONNRESET']);
  } finally {
    closeAll(...fds.filter((fd) => fd >= 0));
    server.close();
    loop.close();
  }
});

test('edge-triggered: a read that fills its slot is read on, and every byte arrives in order', () => {
  const { loop, server, port, all } = recordingServer({ trigger: 'edge' });
  const fds = clients(loop, port, all, 3);
  try {
    // Each more than a slot (16 KiB), less than the socket buffers hold.
    const sent = fds.map((_, i) => Buffer.alloc(40 * KiB + i, 97 + i));
    fds.forEach((fd, i) => assert.is(sockets.write(fd, sent[i]!), sent[i]!.length));
    waitUnread(fds, port, (i) => sent[i]!.length);
    countingReadMany((crossings) => {
      loop.runOnce(1000);
      assert.equal(crossings, [3]);
    });
    // Edge-triggered, nothing more is reported for bytes left behind: they were all read in that turn.
    assert.equal(
      all.map((served) => Buffer.concat(served.bytes).length),
      sent.map((bytes) => bytes.length),
    );
    all.forEach((served, i) => assert.ok(Buffer.concat(served.bytes).equals(sent[i]!)));
  } finally {
    closeServed(fds, server, loop);
  }
});

test('a readBufferSize below the slot size bounds the batch\'s reads too', () => {
  const { loop, server, port, all } = recordingServer({ readBufferSize: 4 });
  const fds = clients(loop, port, all, 2);
  try {
    fds.forEach((fd) => sockets.write(fd, Buffer.from('0123456789')));
    waitUnread(fds, port, () => 10);
    loop.runOnce(1000);
    turnUntil(loop, () => all.every((served) => text(served) === '0123456789'), 'every byte');
    for (const served of all) assert.ok(served.bytes.every((bytes) => bytes.length <= 4), 'no read above readBufferSize');
  } finally {
    closeServed(fds, server, loop);
  }
});

test.run();
