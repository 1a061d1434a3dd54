// The loops tests make fail their test when a callback throws
// (tests/test-loop.ts): each way of making one (TestLoop, mockLoop,
// virtualClockLoop, withServer), each kind of callback, each way of running
// it; and no test, helper or fixture makes the product's EventLoop itself,
// which would only print the error and go on.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets, type EventLoop, type ProtocolFactory } from '../src/index.js';
import { EPOLL } from '../src/testing/index.js';
import { stderrLogger } from '../src/serve/log.js';
import { closeAll, HOST, pair } from './helpers/fds.js';
import { mockLoop, virtualClockLoop } from './helpers/mock-loops.js';
import { withServer } from './helpers/servers.js';
import { connected, withTimeout } from './helpers/waiting.js';
import { TestLoop, UNCAUGHT_LOOP_ERROR } from './test-loop.js';

const ROOT = new URL('../../', import.meta.url);

/** Files under tests/ that may construct the product's EventLoop, and why. */
const DIRECT_LOOPS = new Map([
  ['tests/test-loop.ts', 'it defines TestLoop'],
  ['tests/fixtures/embedding-example-run.ts', "docs/embedding.md's example, verbatim; its test fails on anything on the child's stderr"],
  ['tests/fixtures/embedding-example-start.ts', "docs/embedding.md's example, verbatim; its test fails on anything on the child's stderr"],
]);

/** A line that makes a loop other than through TestLoop. */
const DIRECT_LOOP = /\bnew\s+EventLoop\b|\bextends\s+EventLoop\b/;

/** Every .ts file under `dir` (relative to the root), recursively. */
function sources(dir: string): string[] {
  return readdirSync(new URL(`${dir}/`, ROOT), { withFileTypes: true }).flatMap((entry) => {
    const file = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

/** `file:line: text` for each line of `file` that makes a loop directly. */
function directLoops(file: string): string[] {
  return readFileSync(new URL(file, ROOT), 'utf8').split('\n').flatMap((line, i) => (DIRECT_LOOP.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
}

/** What `fn` threw, or undefined. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

test('no test, helper or fixture makes an EventLoop but through TestLoop', () => {
  const files = sources('tests');
  // The helpers that make loops (acceptOne, mockLoop, withServer) and a fixture are among them.
  for (const file of ['tests/helpers/fds.ts', 'tests/helpers/mock-loops.ts', 'tests/helpers/servers.ts', 'tests/fixtures/fault-server.ts']) {
    assert.ok(files.includes(file), `${file} not scanned: ${files.join(' ')}`);
  }
  const found = files.filter((file) => !DIRECT_LOOPS.has(file)).flatMap(directLoops);
  assert.equal(found, [], `make these loops with new TestLoop(...) from tests/test-loop.ts:\n${found.join('\n')}`);
  // The scan sees a direct loop where there is one.
  for (const file of DIRECT_LOOPS.keys()) assert.ok(directLoops(file).length > 0, `${file} is allowed a direct loop but makes none`);
});

test('every loop a helper makes is fatal; fatalErrors: false opts out', async () => {
  const made: EventLoop[] = [new TestLoop(), new TestLoop({ backend: 'poll' }), mockLoop().loop, virtualClockLoop().loop];
  await withServer(() => ({ data: () => {} }), { host: HOST }, 'an idle server', async (server) => {
    made.push(server.loop);
  });
  for (const loop of made) {
    assert.instance(loop, TestLoop);
    assert.is(loop.fatalErrors, true);
    loop.close();
  }
  const quiet = new TestLoop({ fatalErrors: false });
  assert.is(quiet.fatalErrors, false);
  quiet.close();
});

/** A callback that fails an assert, as a test's own would. */
const failingAssert = (): void => assert.is(1, 2, 'an assert inside a callback');

for (const backend of ['mock', 'epoll'] as const) {
  test(`${backend}: an assert that fails in a watch, timer or deferred callback makes runOnce() throw it`, () => {
    const made = backend === 'mock' ? mockLoop() : { loop: new TestLoop(), mock: undefined };
    const { loop, mock } = made;
    const { peer, local } = backend === 'mock' ? { peer: -1, local: 10 } : pair();
    try {
      const watcher = loop.watch(local, { readable: true }, failingAssert);
      if (mock !== undefined) mock.ready(local, EPOLL.IN);
      else sockets.write(peer, Buffer.from('x'));
      const fromWatch = thrown(() => loop.runOnce(1000));
      watcher.close();
      loop.setTimeout(failingAssert, 0);
      const fromTimer = thrown(() => {
        for (let i = 0; i < 100 && loop.timerCount > 0; i++) loop.runOnce(10);
      });
      loop.defer(failingAssert);
      const fromDeferred = thrown(() => loop.runOnce(0));
      for (const [what, error] of [['watch', fromWatch], ['timer', fromTimer], ['deferred', fromDeferred]] as const) {
        assert.instance(error, assert.Assertion, `${what}: ${String(error)}`);
        assert.match((error as Error).message, 'an assert inside a callback');
      }
      assert.is(loop.metrics().errors, 3);
    } finally {
      loop.close();
      if (backend !== 'mock') closeAll(peer, local);
    }
  });
}

test('run() rejects with the assert that failed in a timer callback', async () => {
  const loop = new TestLoop();
  try {
    loop.setTimeout(failingAssert, 1);
    const rejection = await withTimeout(loop.run().then(() => undefined, (error: unknown) => error), 'run() to settle');
    assert.instance(rejection, assert.Assertion);
    assert.is(loop.isRunning, false);
  } finally {
    loop.close();
  }
});

test('a protocol that throws under withServer fails the test: withServer rejects with its error', async () => {
  const failure = new Error('the protocol failed');
  const throwing: ProtocolFactory = () => ({
    data: () => {
      throw failure;
    },
  });
  let rejection: unknown;
  let client: Awaited<ReturnType<typeof connected>> | undefined;
  await withServer(throwing, { host: HOST }, 'a throwing protocol', async (_, port) => {
    client = await connected(HOST, port);
    // Ends when the server closes the connection, after withServer gave up on the loop.
    await new Promise((resolve) => {
      client!.once('close', resolve);
      client!.write('anything');
    });
  }).catch((error: unknown) => {
    rejection = error;
  });
  client?.destroy();
  assert.is(rejection, failure);
});

for (const mode of ['start', 'run'] as const) {
  test(`a ${mode === 'start' ? 'started' : 'running'} loop whose callback throws ends a uvu run with the error at once, not a wait`, async () => {
    const uvu = fileURLToPath(new URL('node_modules/uvu/bin.js', ROOT));
    const child = spawn(process.execPath, [uvu, 'build/tests/fixtures', 'uvu-loop-throws\\.js$'], {
      cwd: fileURLToPath(ROOT),
      env: { ...process.env, LOOP_MODE: mode },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    try {
      const code = await withTimeout(new Promise<number | null>((resolve) => child.once('close', resolve)), `the ${mode} fixture's uvu to end`);
      assert.ok(code !== 0 && code !== null, `uvu exited ${code}:\n${output}`);
      assert.match(output, 'thrown by a loop callback');
    } finally {
      child.kill('SIGKILL');
    }
  });
}

/** Runs `fn` with process.stderr.write captured; returns what was written. */
function captureStderr(fn: () => void): string {
  let written = '';
  const original = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    written += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return written;
}

test("UNCAUGHT_LOOP_ERROR is what a loop prints for an error nobody hears, directly or through the CLI's logger, and what npm test looks for", () => {
  const printed = captureStderr(() => {
    const { loop, mock } = mockLoop({ fatalErrors: false });
    loop.watch(7, { readable: true, label: 'seven' }, () => { throw new Error('unheard'); });
    mock.ready(7, EPOLL.IN);
    loop.runOnce(0);
    loop.close();
    for (const prefix of ['wasmloop', 'wasmloop[2]']) {
      const logged = mockLoop({ fatalErrors: false, logger: stderrLogger('warn', prefix) });
      logged.loop.defer(() => { throw new Error('unheard'); });
      logged.loop.runOnce(0);
      logged.loop.close();
    }
  });
  // One print per loop: the direct one, then each logger's.
  assert.is(printed.match(new RegExp(UNCAUGHT_LOOP_ERROR.source, 'g'))?.length, 3, printed);
  assert.match(printed, 'wasmloop[2]: error: uncaught error in a callback');
  assert.not.match('wasmloop: warn: slow callback {"kind":"read"}', UNCAUGHT_LOOP_ERROR);
  const runner = readFileSync(new URL('scripts/test.mjs', ROOT), 'utf8');
  assert.ok(runner.includes(`/${UNCAUGHT_LOOP_ERROR.source}/`), "scripts/test.mjs looks for other text than UNCAUGHT_LOOP_ERROR");
});

test.run();
