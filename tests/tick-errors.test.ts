// A tick that a loop callback queued and that throws is Node's uncaught
// exception, as after any of Node's own callbacks: 'uncaughtException' gets
// it (the loop's 'error' does not), the callbacks after it run, and the async
// id stack is unwound, so a later AsyncLocalStorage does not make Node abort.
// Each case runs in a child process (tests/fixtures/tick-errors.ts): under
// run() and start(), with Node's tick step called by the loop and, with
// --pending-deprecation, through a native callback scope per callback.
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const FIXTURE = new URL('./fixtures/tick-errors.js', import.meta.url).pathname;
const KINDS = ['deferred', 'labelled', 'read', 'timeout', 'timer', 'watch'];

interface Outcome {
  uncaught: string[];
  loopErrors: string[];
  idBefore: number;
  idAfter: number;
  ranAfter: string[];
}

function runFixture(mode: 'run' | 'start', extra: string, flags: string[] = []): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [...flags, FIXTURE, mode, extra], { encoding: 'utf8', timeout: 30_000 });
  return { status: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr };
}

function outcome(mode: 'run' | 'start', extra: string, flags: string[] = []): Outcome {
  const child = runFixture(mode, extra, flags);
  assert.is(child.signal, null, `killed by ${child.signal}: ${child.stderr}`);
  assert.is(child.status, 0, child.stderr);
  return JSON.parse(child.stdout.trim()) as Outcome;
}

for (const mode of ['run', 'start'] as const) {
  for (const [how, flags] of [['the loop runs ticks', []], ['a native scope per callback', ['--pending-deprecation']]] as const) {
    test(`${mode}(), ${how}: every kind of callback's throwing tick reaches 'uncaughtException', not the loop's 'error'`, () => {
      const { uncaught, loopErrors, idBefore, idAfter } = outcome(mode, 'none', [...flags]);
      assert.equal(uncaught, KINDS);
      assert.equal(loopErrors, []);
      // A throwing tick's own id left on the stack would be every later callback's.
      assert.is(idAfter, idBefore);
    });

    test(`${mode}(), ${how}: AsyncLocalStorage enabled after throwing ticks, every kind of callback still runs`, () => {
      const { uncaught, ranAfter } = outcome(mode, 'als', [...flags]);
      assert.equal(uncaught, KINDS);
      assert.equal(ranAfter, KINDS);
    });
  }

  test(`${mode}(): with no 'uncaughtException' listener, a throwing tick ends the process as in Node (exit 1, the error printed)`, () => {
    const child = runFixture(mode, 'unhandled');
    assert.is(child.signal, null, child.stderr);
    assert.is(child.status, 1, child.stderr);
    assert.match(child.stderr, /Error: (timer|labelled|timeout|deferred|read|watch)\n/);
    assert.not.match(child.stderr, /wasmloop: uncaught error/);
  });
}

test.run();
