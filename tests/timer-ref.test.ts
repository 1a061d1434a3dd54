// Timers and the process's life: timer.ref(), unref(), hasRef(), the ref
// option of every timer call, and what they mean for a loop run by run() or
// start() (a child process each, tests/fixtures/timer-liveness.ts) and for
// runOnce() (in process: a timer's ref never changes what runOnce waits for).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { spawnFixture } from './helpers/embedding.js';
import { virtualClockLoop } from './helpers/mock-loops.js';
import { tick, withTimeout } from './helpers/waiting.js';

/** How long a process that should exit may take after "ready" (this machine starts Node in ~0.1–0.7 s). */
const EXIT_WITHIN_MS = 5000;
/** How long a process that should stay alive is watched before it is killed. */
const ALIVE_FOR_MS = 1000;

async function exitsByItself(scenario: string): Promise<string[]> {
  const fixture = spawnFixture('timer-liveness', [scenario]);
  try {
    await fixture.line('ready');
    const { code, signal } = await withTimeout(fixture.exited, `${scenario} to exit by itself`, EXIT_WITHIN_MS);
    assert.is(signal, null);
    assert.is(fixture.stderr(), '', `${scenario} wrote to stderr`);
    assert.is(code, 0, `${scenario} exit code`);
    return fixture.lines;
  } finally {
    fixture.child.kill();
  }
}

async function staysAlive(scenario: string): Promise<string[]> {
  const fixture = spawnFixture('timer-liveness', [scenario]);
  let exited = false;
  void fixture.exited.then(() => {
    exited = true;
  });
  try {
    await fixture.line('ready');
    await tick(ALIVE_FOR_MS);
    assert.is(exited, false, `${scenario} exited: ${fixture.stderr()}`);
    return fixture.lines;
  } finally {
    fixture.child.kill();
    await fixture.exited;
  }
}

// ---- the calls --------------------------------------------------------------------------

test('hasRef() is true by default; unref() and ref() return the timer and toggle it, on any timer in any state', () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const timeout = loop.setTimeout(() => {}, 5);
    const interval = loop.setInterval(() => {}, 5, { label: 'tick' });
    assert.is(timeout.hasRef(), true);
    assert.is(timeout.unref(), timeout);
    assert.is(timeout.hasRef(), false);
    assert.is(timeout.unref().hasRef(), false, 'twice');
    assert.is(timeout.ref(), timeout);
    assert.is(timeout.hasRef(), true);
    assert.is(interval.unref().hasRef(), false);
    assert.is(loop.setTimeout(() => {}, 5, { ref: false }).hasRef(), false);
    clock.ms = 5;
    loop.runOnce(0);
    assert.is(interval.hasRef(), false, 'an interval keeps its ref across firings');
    assert.is(timeout.active, false);
    timeout.unref();
    assert.is(timeout.hasRef(), false, 'a timer that fired can be unref\'d');
    timeout.refresh();
    assert.is(timeout.hasRef(), false, 'and refreshing keeps it so');
    timeout.cancel();
    assert.is(timeout.ref().hasRef(), true, 'a cancelled one too');
  } finally {
    loop.close();
  }
});

test('the ref option: a boolean for setTimeout, setInterval, timeout and sleep', async () => {
  const { loop } = virtualClockLoop();
  try {
    const noop = (): void => {};
    for (const bad of ['no', 0, {}]) {
      assert.throws(() => loop.setTimeout(noop, 1, { ref: bad as unknown as boolean }), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_TYPE');
      assert.throws(() => loop.setInterval(noop, 1, { ref: bad as unknown as boolean }), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_TYPE');
      assert.throws(() => loop.timeout(noop, 1, undefined, { ref: bad as unknown as boolean }), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_TYPE');
      const rejected = await loop.sleep(1, undefined, { ref: bad as unknown as boolean }).then(() => undefined, (error: Error & { code?: string }) => error.code);
      assert.is(rejected, 'ERR_INVALID_ARG_TYPE');
    }
    assert.is(loop.timerCount, 0);
  } finally {
    loop.close();
  }
});

test('runOnce(-1) waits for the next timer whether it holds the process or not, and fires it', () => {
  const { loop, mock, clock } = virtualClockLoop();
  try {
    const fired: string[] = [];
    loop.setTimeout(() => fired.push('unref timer'), 40).unref();
    loop.timeout(() => fired.push('unref timeout'), 60, undefined, { ref: false });
    loop.runOnce(-1);
    assert.is(mock.waits.at(-1), 40, 'the wait ends at the unref\'d timer');
    clock.ms = 40;
    loop.runOnce(-1);
    assert.equal(fired, ['unref timer']);
    loop.runOnce(-1);
    assert.is(mock.waits.at(-1), 20, 'and then at the unref\'d timeout');
    clock.ms = 60;
    loop.runOnce(-1);
    assert.equal(fired, ['unref timer', 'unref timeout']);
  } finally {
    loop.close();
  }
});

// ---- start() and run(): the process ------------------------------------------------------

test('start(): a loop whose only work is an unref\'d timer lets the process exit; the timer never fires', async () => {
  assert.not.ok((await exitsByItself('start-unref-timer')).includes('timer fired'));
});

test('start(): the same with { ref: false } on an interval, a handle-free timeout and a sleep', async () => {
  assert.not.ok((await exitsByItself('start-unref-option')).includes('interval fired'));
  assert.not.ok((await exitsByItself('start-unref-timeout')).includes('timeout fired'));
  assert.not.ok((await exitsByItself('start-unref-sleep')).includes('sleep resolved'));
});

test('start(): a timer unref\'d and ref\'d again holds the process', async () => {
  await staysAlive('start-unref-ref');
});

test('start(): once the referenced timer fired, the unref\'d one left lets the process exit', async () => {
  const lines = await exitsByItself('start-ref-then-unref-left');
  assert.ok(lines.includes('ref fired'));
  assert.not.ok(lines.includes('unref fired'));
});

test('start(): the referenced timer cancelled from Node\'s own code, outside the loop\'s turns, lets the process exit', async () => {
  const lines = await exitsByItself('start-cancel-from-node');
  assert.ok(lines.includes('cancelled'));
  assert.not.ok(lines.includes('ref fired') || lines.includes('unref fired'));
});

test('start(): a watched fd holds the process beside unref\'d timers', async () => {
  await staysAlive('start-unref-with-fd');
});

test('start(): after loop.unref() not even a referenced timer holds the process', async () => {
  assert.not.ok((await exitsByItself('start-loop-unref')).includes('timer fired'));
});

test('run(): a loop whose only work is an unref\'d timer lets the process exit; run() never settles', async () => {
  const lines = await exitsByItself('run-unref-timer');
  assert.not.ok(lines.includes('timer fired') || lines.includes('run settled'));
});

test('run(): once the referenced timer fired, the unref\'d one left lets the process exit', async () => {
  const lines = await exitsByItself('run-ref-then-unref-left');
  assert.ok(lines.includes('ref fired'));
  assert.not.ok(lines.includes('unref fired') || lines.includes('run settled'));
});

test('run(): a referenced timer holds the process', async () => {
  await staysAlive('run-ref-timer');
});

test.run();
