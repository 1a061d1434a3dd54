// A signal interrupting the wait (EINTR) is retried with the time that
// remains: the wait neither ends early nor loses the event that ends it.
// The signals come from another process, at about 300 Hz. Every backend is
// tried through the addon; epoll through the EventLoop as well.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets } from '../src/index.js';
import { native } from '../src/kernel/native.js';
import { until } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const EPOLLIN = 0x001;
const BACKENDS = ['epoll', 'poll', 'select'] as const;

/** A backend with `fd` registered for reading; its events land in a buffer of its own. */
function backendWatching(name: string, fd: number): { id: number; view: DataView } {
  const memory = new ArrayBuffer(4 * native.EVENT_SIZE);
  const id = native.backendCreate(name, memory, 0, 4);
  assert.ok(id >= 0, `backendCreate(${name}) = ${id}`);
  assert.is(native.backendAdd(id, fd, EPOLLIN, 1), 0);
  return { id, view: new DataView(memory) };
}

let caught = 0;
const onSignal = (): void => {
  caught++;
};

/** Sends SIGUSR2 to this process `count` times, every 3 ms, then runs `then` (bash). */
function signalStorm(count: number, then = ''): ChildProcess {
  const script = `for i in $(seq ${count}); do kill -USR2 ${process.pid}; sleep 0.003; done; ${then}`;
  return spawn('bash', ['-c', script], { stdio: 'ignore' });
}

const exited = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));

/** Signals per storm that must span a 300 ms wait: at least 3 ms apart, so it lasts longer. */
const STORM_SIGNALS = 120;

/**
 * Whether process `pid` is still running, from the kernel's view: Node
 * learns of a child's exit only when its own loop turns, which a
 * synchronous wait keeps it from doing.
 */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * After a wait that began once the storm had started (`before` signals
 * caught by then): the storm was still going when the wait ended, so it
 * signalled the process during the wait, and Node, which runs its signal
 * handlers once the thread is back, sees more of them.
 */
async function stormReachedWait(storm: ChildProcess, before: number): Promise<void> {
  assert.ok(running(storm.pid!), 'the storm ended before the wait did');
  await until(() => caught > before, 'a signal sent during the wait');
}

test.before(() => {
  process.on('SIGUSR2', onSignal);
});

test.after(() => {
  process.off('SIGUSR2', onSignal);
});

test('a signal storm during runOnce(300) neither ends the wait early nor fails it', async () => {
  const loop = new TestLoop();
  caught = 0;
  const storm = signalStorm(STORM_SIGNALS);
  try {
    await until(() => caught > 0, 'the storm to start');
    const before = caught;
    const started = performance.now();
    const events = loop.runOnce(300);
    const elapsed = performance.now() - started;
    assert.is(events, 0);
    assert.ok(elapsed >= 299, `wait ended early: ${elapsed.toFixed(1)} ms`);
    assert.ok(elapsed < 3000, `wait ran long: ${elapsed.toFixed(1)} ms`);
    await stormReachedWait(storm, before);
  } finally {
    await exited(storm);
    loop.close();
  }
});

test('an event that arrives during a signal storm ends the wait, and is delivered', async () => {
  const loop = new TestLoop();
  const listener = sockets.listen('127.0.0.1', 0);
  const port = sockets.localPort(listener);
  const accepted: number[] = [];
  loop.addServerSocket(listener, (fd) => {
    accepted.push(fd);
    sockets.close(fd);
  });
  // After ~50 signals, the storm process connects to the listener.
  const storm = signalStorm(50, `exec 3<>/dev/tcp/127.0.0.1/${port}; sleep 1`);
  try {
    const started = performance.now();
    let events = 0;
    while (accepted.length === 0 && performance.now() - started < 10_000) events += loop.runOnce(5000);
    assert.is(accepted.length, 1, 'the connection was not accepted');
    assert.ok(events >= 1);
  } finally {
    storm.kill('SIGKILL');
    await exited(storm);
    loop.close();
  }
});

for (const name of BACKENDS) {
  test(`${name}: a signal storm during a 300 ms wait neither ends it early nor fails it`, async () => {
    const idle = native.eventfd(0);
    const { id } = backendWatching(name, idle);
    caught = 0;
    const storm = signalStorm(STORM_SIGNALS);
    try {
      await until(() => caught > 0, 'the storm to start');
      const before = caught;
      const started = performance.now();
      const events = native.backendWait(id, 300);
      const elapsed = performance.now() - started;
      assert.is(events, 0);
      assert.ok(elapsed >= 299, `wait ended early: ${elapsed.toFixed(1)} ms`);
      assert.ok(elapsed < 3000, `wait ran long: ${elapsed.toFixed(1)} ms`);
      await stormReachedWait(storm, before);
    } finally {
      await exited(storm);
      native.backendFree(id);
      native.close(idle);
    }
  });

  test(`${name}: a connection arriving during a signal storm ends the wait and is reported`, async () => {
    const listener = sockets.listen('127.0.0.1', 0);
    const port = sockets.localPort(listener);
    const { id, view } = backendWatching(name, listener);
    const storm = signalStorm(50, `exec 3<>/dev/tcp/127.0.0.1/${port}; sleep 1`);
    try {
      const started = performance.now();
      let events = 0;
      while (events === 0 && performance.now() - started < 10_000) events = native.backendWait(id, 5000);
      assert.is(events, 1, 'the connection was not reported');
      assert.is(view.getUint32(0, true), EPOLLIN);
      assert.is(view.getUint32(native.EVENT_DATA_OFFSET, true), listener);
    } finally {
      storm.kill('SIGKILL');
      await exited(storm);
      native.backendFree(id);
      sockets.close(listener);
    }
  });
}

test.run();
