// One behaviour suite, run on every backend (epoll, poll, select) through
// the loop: pipes, eventfds and sockets; readiness, level repetition, edge
// firing once per edge (epoll), hang-ups, stale events, timers, an echo
// server under run(). The wasm core never knows which backend ran, so the
// same script must give the same results.
import { connect, createServer, type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { BACKENDS, EventLoop, Server, echoProtocol, WasmloopError, type WatchEvent } from '../src/index.js';
import { native } from '../src/kernel/native.js';
import { throws } from './helpers/errors.js';
import { HOST, closeAll, isOpen, openFds } from './helpers/fds.js';
import { withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

function newPipe(): [number, number] {
  const fds = native.pipe();
  if (typeof fds === 'number') throw new Error(`pipe failed: ${fds}`);
  return fds;
}

const ONE = new Uint8Array([1]);

function events(loop: EventLoop, turns: number, seen: string[]): string[] {
  for (let i = 0; i < turns; i++) loop.runOnce(0);
  return seen;
}

/** Opens and closes one node:net connection, so Node's lasting first-socket fds exist before counting. */
async function warmNet(): Promise<void> {
  const server = createServer((socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => connect(port, HOST).on('close', () => resolve()).on('error', reject).resume());
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

for (const backend of BACKENDS) {
  test(`${backend}: a pipe is readable once written, and level readiness repeats until drained`, () => {
    const loop = new TestLoop({ backend });
    const [reader, writer] = newPipe();
    const seen: string[] = [];
    try {
      loop.watch(reader, { readable: true }, (event) => seen.push(event));
      assert.equal(events(loop, 2, seen), []);
      assert.is(native.write(writer, ONE, 0, 1), 1);
      assert.equal(events(loop, 3, seen), ['readable', 'readable', 'readable']);
      assert.is(native.read(reader, new Uint8Array(8), 0, 8), 1);
      assert.equal(events(loop, 2, []), []);
    } finally {
      loop.close();
      closeAll(reader, writer);
    }
  });

  test(`${backend}: an eventfd turns readable when signalled and idle once read`, () => {
    const loop = new TestLoop({ backend });
    const efd = native.eventfd(0);
    let fired = 0;
    try {
      loop.watch(efd, { readable: true }, () => {
        fired++;
        native.eventfdRead(efd);
      });
      loop.runOnce(0);
      assert.is(fired, 0);
      assert.is(native.eventfdWrite(efd, 3), 0);
      assert.is(loop.runOnce(1000), 1);
      assert.is(fired, 1);
      loop.runOnce(0);
      assert.is(fired, 1, 'reported again after it was read');
    } finally {
      loop.close();
      closeAll(efd);
    }
  });

  test(`${backend}: closing a pipe's writer hangs the reader up, and the watcher stops`, () => {
    const loop = new TestLoop({ backend });
    const [reader, writer] = newPipe();
    // Each event, with what a read then returned.
    const seen: string[] = [];
    try {
      const watcher = loop.watch(reader, { readable: true }, (event: WatchEvent) => {
        seen.push(event === 'readable' ? `readable ${native.read(reader, new Uint8Array(8), 0, 8)}` : event);
      });
      native.write(writer, ONE, 0, 1);
      native.close(writer);
      for (let i = 0; i < 5 && watcher.active; i++) loop.runOnce(1000);
      if (backend === 'select') {
        // select has no hang-up set: the hang-up shows as readable, a read
        // of 0 at every turn, so its watcher keeps watching until the caller
        // closes it.
        assert.equal(seen, ['readable 1', 'readable 0', 'readable 0', 'readable 0', 'readable 0']);
        assert.is(watcher.active, true);
      } else {
        assert.is(seen[0], 'readable 1', seen.join());
        assert.ok(seen.includes('hangup'), seen.join());
        assert.is(watcher.active, false);
      }
      assert.ok(isOpen(reader), 'the loop closed a watched fd');
    } finally {
      loop.close();
      closeAll(reader);
    }
  });

  test(`${backend}: a socket watched for writing reports writable at once`, () => {
    const loop = new TestLoop({ backend });
    const listener = native.listen(HOST, 0, 16, 0);
    const client = native.connect(HOST, native.localPort(listener));
    const seen: WatchEvent[] = [];
    try {
      loop.watch(client, { writable: true }, (event) => seen.push(event));
      for (let i = 0; i < 50 && seen.length === 0; i++) loop.runOnce(100);
      assert.equal(seen.slice(0, 1), ['writable']);
    } finally {
      loop.close();
      closeAll(client, listener);
    }
  });

  test(`${backend}: an fd removed by an earlier callback in the batch gets no stale event`, () => {
    const loop = new TestLoop({ backend });
    const [r1, w1] = newPipe();
    const [r2, w2] = newPipe();
    const seen: number[] = [];
    try {
      let removed = false;
      const handler = (fd: number) => (): void => {
        seen.push(fd);
        if (!removed) {
          removed = true;
          loop.removeSocket(fd === r1 ? r2 : r1, { close: false });
        }
      };
      loop.watch(r1, { readable: true }, handler(r1));
      loop.watch(r2, { readable: true }, handler(r2));
      native.write(w1, ONE, 0, 1);
      native.write(w2, ONE, 0, 1);
      loop.runOnce(1000);
      assert.is(seen.length, 1, `both ran: ${seen}`);
    } finally {
      loop.close();
      closeAll(r1, w1, r2, w2);
    }
  });

  test(`${backend}: timers fire through the backend's wait, never early`, () => {
    const loop = new TestLoop({ backend });
    try {
      const started = performance.now();
      let firedAt = 0;
      loop.setTimeout(() => (firedAt = performance.now()), 20);
      while (firedAt === 0) loop.runOnce();
      assert.ok(firedAt - started >= 20, `fired after ${firedAt - started} ms`);
      assert.ok(firedAt - started < 1000);
    } finally {
      loop.close();
    }
  });

  test(`${backend}: edge-triggered watching is epoll's alone`, () => {
    const loop = new TestLoop({ backend });
    const [reader, writer] = newPipe();
    try {
      if (backend === 'epoll') {
        const seen: string[] = [];
        loop.watch(reader, { readable: true, trigger: 'edge' }, (event) => seen.push(event));
        native.write(writer, ONE, 0, 1);
        assert.equal(events(loop, 3, seen), ['readable'], 'an edge fired more than once');
        native.write(writer, ONE, 0, 1);
        assert.equal(events(loop, 3, seen), ['readable', 'readable'], 'a new edge did not fire');
      } else {
        throws(() => loop.watch(reader, { readable: true, trigger: 'edge' }, () => {}), { type: WasmloopError, code: 'ERR_EDGE_UNSUPPORTED' });
        assert.is(loop.size, 0);
      }
    } finally {
      loop.close();
      closeAll(reader, writer);
    }
  });

  test(`${backend}: an echo server under run() serves 50 clients byte-exact, and close() leaks nothing`, async () => {
    // Node keeps an fd of its own open after a process's first net socket
    // (seen with stdout on a pipe): count from after one.
    await warmNet();
    const before = openFds();
    const loop = new TestLoop({ backend });
    const server = new Server(loop, echoProtocol);
    const port = server.listen();
    const running = loop.run();
    try {
      const echoes = Array.from({ length: 50 }, (_, i) => new Promise<void>((resolve, reject) => {
        const payload = Buffer.alloc(4096 + i, i);
        const chunks: Buffer[] = [];
        const client = connect(port, HOST, () => client.end(payload));
        client.on('data', (chunk: Buffer) => chunks.push(chunk));
        client.on('close', () => (Buffer.concat(chunks).equals(payload) ? resolve() : reject(new Error(`client ${i}: wrong echo`))));
        client.on('error', reject);
      }));
      await withTimeout(Promise.all(echoes), 'every echo');
    } finally {
      loop.stop();
      await running;
      server.close();
      loop.close();
    }
    assert.is(openFds(), before);
  });
}

test.run();
