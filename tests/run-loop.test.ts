// run(): the loop owns the thread while Node's timers and sockets keep
// working; stop(), close() and handler errors end it; misuse is refused.
import { once } from 'node:events';
import { connect as netConnect, createServer, type AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoProtocol, Server, WasmloopError, sockets } from '../src/index.js';
import { spawnFixture } from './helpers/embedding.js';
import { HOST, pair } from './helpers/fds.js';
import { withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

/** The WasmloopError code `fn` throws (fails if it does not throw one). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.instance(error, WasmloopError);
    return (error as WasmloopError).code;
  }
  assert.unreachable('expected a WasmloopError');
  return '';
}

test('a Node setTimeout fires while run() is active; its stop() resolves the promise', async () => {
  const loop = new TestLoop();
  try {
    let fired = false;
    let runningWhenFired = false;
    const running = loop.run();
    assert.ok(loop.isRunning);
    setTimeout(() => {
      fired = true;
      runningWhenFired = loop.isRunning;
      loop.stop();
    }, 20);
    assert.is(await withTimeout(running, 'run() to resolve after stop()'), undefined);
    assert.ok(fired);
    assert.ok(runningWhenFired, 'run() was not active when the timer fired');
    assert.is(loop.isRunning, false);
  } finally {
    loop.stop();
    loop.close();
  }
});

test('a node:net server and client in the same process exchange data while run() is active', async () => {
  const loop = new TestLoop();
  const server = createServer((socket) => socket.pipe(socket));
  const { peer, local } = pair();
  try {
    // Something of the loop's own too, so both loops really share the thread.
    let loopBytes = '';
    loop.addClientSocket(local, {
      read(fd) {
        const buffer = Buffer.alloc(64);
        const n = sockets.read(fd, buffer);
        if (n) loopBytes += buffer.toString('latin1', 0, n);
      },
    });
    const running = loop.run();
    server.listen(0, HOST);
    await withTimeout(once(server, 'listening'), 'the node:net server to listen');
    const client = netConnect((server.address() as AddressInfo).port, HOST);
    try {
      let echoed = '';
      client.setEncoding('latin1');
      client.on('data', (chunk: string) => { echoed += chunk; });
      await withTimeout(once(client, 'connect'), 'the node:net client to connect');
      client.write('ping over node:net');
      assert.is(sockets.write(peer, Buffer.from('ping over wasmloop')), 18);
      await withTimeout(new Promise<void>((resolve) => {
        const check = (): void => {
          if (echoed === 'ping over node:net' && loopBytes === 'ping over wasmloop') resolve();
          else setTimeout(check, 5);
        };
        check();
      }), 'both exchanges');
      assert.ok(loop.isRunning, 'run() ended early');
      assert.is(echoed, 'ping over node:net');
      assert.is(loopBytes, 'ping over wasmloop');
    } finally {
      client.destroy();
    }
    loop.stop();
    await withTimeout(running, 'run() to resolve');
  } finally {
    loop.stop();
    loop.close();
    sockets.close(peer);
    server.close();
  }
});

test('run() rejects with the error a handler threw (fatalErrors), and the loop is usable afterwards', async () => {
  const loop = new TestLoop({ fatalErrors: true });
  const { peer, local } = pair();
  try {
    const boom = new Error('handler failed');
    loop.addClientSocket(local, {
      read(fd) {
        sockets.read(fd, Buffer.alloc(64)); // drained: nothing left to report later
        throw boom;
      },
    });
    assert.is(sockets.write(peer, Buffer.from('x')), 1);
    let rejection: unknown;
    await withTimeout(loop.run().catch((error: unknown) => { rejection = error; }), 'run() to reject');
    assert.is(rejection, boom);
    assert.is(loop.isRunning, false);
    assert.is(loop.isClosed, false);
    assert.ok(loop.isRegistered(local));
    assert.is(loop.size, 1, 'run() left Node\'s fd registered');
    assert.is(loop.runOnce(0), 0);

    // And it runs again.
    const again = loop.run();
    setTimeout(() => loop.stop(), 10);
    await withTimeout(again, 'the second run() to resolve');
  } finally {
    loop.stop();
    loop.close();
    sockets.close(peer);
  }
});

test('run() while run() is active throws ERR_LOOP_RUNNING; the first run goes on', async () => {
  const loop = new TestLoop();
  try {
    const running = loop.run();
    assert.is(codeOf(() => loop.run()), 'ERR_LOOP_RUNNING');
    assert.ok(loop.isRunning);
    let stillRunning = false;
    setTimeout(() => {
      stillRunning = loop.isRunning;
      loop.stop();
    }, 10);
    await withTimeout(running, 'run() to resolve');
    assert.ok(stillRunning);
  } finally {
    loop.stop();
    loop.close();
  }
});

test('runOnce() during run() (from a Node timer) throws ERR_LOOP_RUNNING', async () => {
  const loop = new TestLoop();
  try {
    const running = loop.run();
    let thrown: unknown;
    setTimeout(() => {
      try {
        loop.runOnce(0);
      } catch (error) {
        thrown = error;
      }
      loop.stop();
    }, 10);
    await withTimeout(running, 'run() to resolve');
    assert.is(codeOf(() => { throw thrown; }), 'ERR_LOOP_RUNNING');
  } finally {
    loop.stop();
    loop.close();
  }
});

test("a second loop's run() while the first runs throws ERR_RUN_ACTIVE and leaves it unchanged", async () => {
  const first = new TestLoop();
  const second = new TestLoop();
  try {
    const running = first.run();
    assert.is(codeOf(() => second.run()), 'ERR_RUN_ACTIVE');
    assert.is(second.isRunning, false);
    assert.is(second.size, 0);
    assert.ok(first.isRunning);
    setTimeout(() => first.stop(), 10);
    await withTimeout(running, 'the first run() to resolve');

    // Once the first has stopped, the second may run.
    const secondRun = second.run();
    setTimeout(() => second.stop(), 10);
    await withTimeout(secondRun, 'the second run() to resolve');
  } finally {
    first.stop();
    second.stop();
    first.close();
    second.close();
  }
});

test('close() from a handler during run() stops the loop and closes it', async () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  try {
    let calls = 0;
    let closedInHandler: boolean | undefined;
    loop.addClientSocket(local, {
      read(fd) {
        calls++;
        sockets.read(fd, Buffer.alloc(8)); // unread data would turn the close into a reset
        loop.close();
        closedInHandler = loop.isClosed;
      },
    });
    assert.is(sockets.write(peer, Buffer.from('x')), 1);
    await withTimeout(loop.run(), 'run() to resolve after close()');
    assert.is(calls, 1);
    assert.is(closedInHandler, false, 'closed before run() unwound');
    assert.is(loop.isRunning, false);
    assert.is(loop.isClosed, true);
    assert.is(codeOf(() => loop.runOnce(0)), 'ERR_LOOP_CLOSED');
    // The loop closed the registered socket: the peer sees EOF.
    const buffer = Buffer.alloc(8);
    let n: number | null = null;
    for (let i = 0; i < 200 && n === null; i++) {
      n = sockets.read(peer, buffer);
      if (n === null) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.is(n, 0, 'peer did not see the socket closed');
  } finally {
    loop.stop();
    loop.close();
    sockets.close(peer);
  }
});

test('an idle run() uses little CPU (no busy spin)', async () => {
  // In a process of its own: here, what other tests left open wakes Node.
  const fixture = spawnFixture('idle-run');
  const { code } = await withTimeout(fixture.exited, 'the idle run() process to exit');
  assert.is(code, 0, fixture.stderr());
  const { wallMs, waits, onCpuMs, wantedMs } = JSON.parse(fixture.lines[0]!) as { wallMs: number; waits: number; onCpuMs: number; wantedMs: number };
  const usage = `idle run() made ${waits} waits and wanted the CPU for ${wantedMs.toFixed(0)} ms (${onCpuMs.toFixed(0)} ms on it) in ${wallMs.toFixed(0)} ms`;
  assert.ok(wallMs >= 290, `run() ended early: ${wallMs.toFixed(0)} ms`);
  assert.ok(wantedMs < wallMs * 0.5, usage);
  assert.ok(waits < 30, usage);
});

test('stop() when not running does nothing, and does not end a later run() early', async () => {
  const loop = new TestLoop();
  try {
    loop.stop();
    assert.is(loop.isRunning, false);
    assert.is(loop.runOnce(0), 0);
    const running = loop.run();
    let runningLater = false;
    setTimeout(() => {
      runningLater = loop.isRunning;
      loop.stop();
    }, 30);
    await withTimeout(running, 'run() to resolve');
    assert.ok(runningLater, 'an earlier stop() ended run() early');
  } finally {
    loop.stop();
    loop.close();
  }
});

test('microtasks and nextTicks a handler queues run after its turn, before any further event', async () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  const order: string[] = [];
  try {
    loop.addClientSocket(local, {
      read(fd) {
        sockets.read(fd, Buffer.alloc(16));
        order.push('read');
        process.nextTick(() => order.push('tick'));
        void Promise.resolve().then(() => {
          order.push('microtask');
          // Nothing else will happen on the loop: only a microtask can stop it.
          loop.stop();
        });
      },
    });
    // Written from a Node timer once run() is blocking in its wait, so the
    // handler runs on a turn where nothing else would hand the thread back.
    setTimeout(() => sockets.write(peer, Buffer.from('x')), 50);
    const started = performance.now();
    await withTimeout(loop.run(), 'run() to stop from a microtask', 5000);
    const elapsed = performance.now() - started;
    assert.equal(order, ['read', 'tick', 'microtask']);
    // Were microtasks held until Node's next timer, this would take the 5 s
    // of withTimeout's own timer.
    assert.ok(elapsed < 2000, `run() stopped after ${elapsed.toFixed(0)} ms`);
  } finally {
    loop.close();
    sockets.close(peer);
  }
});

test('an immediate a handler queues runs promptly while run() is active', async () => {
  const loop = new TestLoop();
  const { peer, local } = pair();
  try {
    let ranAt = 0;
    let readAt = 0;
    loop.addClientSocket(local, {
      read(fd) {
        sockets.read(fd, Buffer.alloc(16));
        readAt = performance.now();
        setImmediate(() => {
          ranAt = performance.now();
          loop.stop();
        });
      },
    });
    setTimeout(() => sockets.write(peer, Buffer.from('x')), 50);
    await withTimeout(loop.run(), 'run() to stop from an immediate', 5000);
    assert.ok(ranAt > 0);
    assert.ok(ranAt - readAt < 2000, `the immediate ran ${(ranAt - readAt).toFixed(0)} ms after the read`);
  } finally {
    loop.close();
    sockets.close(peer);
  }
});

test("back-to-back run()s serve at once: Node's own poll never sleeps on the loop's ready sockets", async () => {
  // Each round starts run() right after the previous one settled, then a
  // client connects and sends. Were Node's poll allowed to block while run()
  // is active, the loop's ready sockets would wait for Node's next timer
  // (here, withTimeout's 5 s one).
  for (let round = 0; round < 3; round++) {
    const loop = new TestLoop();
    const server = new Server(loop, echoProtocol, { port: 0 });
    const port = server.listen();
    const running = loop.run();
    try {
      const started = performance.now();
      const echoed = await withTimeout(
        new Promise<string>((resolve, reject) => {
          const client = netConnect({ host: HOST, port }, () => client.end('hello'));
          let text = '';
          client.on('data', (chunk: Buffer) => (text += chunk.toString()));
          client.on('close', () => resolve(text));
          client.on('error', reject);
        }),
        `round ${round} to echo`,
        5000,
      );
      const elapsed = performance.now() - started;
      assert.is(echoed, 'hello');
      assert.ok(elapsed < 2000, `round ${round} took ${elapsed.toFixed(0)} ms`);
    } finally {
      loop.stop();
      await running;
      server.close();
      loop.close();
    }
  }
});

test.run();
