// A process that embeds a loop exits by itself when nothing keeps it alive,
// as with Node's own handles: close(), unref() and an AbortSignal let it go;
// a started or running loop that is referenced holds it. Each case runs in
// a child process (tests/fixtures/embed-exit.ts).
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { spawnFixture } from './helpers/embedding.js';
import { tick, withTimeout } from './helpers/waiting.js';

/** The repository's root, from build/tests. */
const ROOT = new URL('../../', import.meta.url);

/** A fixture's code as docs/embedding.md shows it: without its header comment, importing 'wasmloop'. */
function asDocumented(fixture: string): string {
  const source = readFileSync(new URL(`tests/fixtures/${fixture}.ts`, ROOT), 'utf8');
  const lines = source.split('\n');
  while (lines[0]!.startsWith('//')) lines.shift();
  return lines.join('\n').replaceAll("'../../src/index.js'", "'wasmloop'").trim();
}

/** How long a process that should exit may take after "ready" (this machine starts Node in ~0.1–0.7 s). */
const EXIT_WITHIN_MS = 5000;
/** How long a process that should stay alive is watched before it is killed. */
const ALIVE_FOR_MS = 1000;

/** Runs a scenario that must end by itself; returns its exit code and stdout lines. */
async function exitsByItself(scenario: string): Promise<{ code: number | null; lines: string[] }> {
  const fixture = spawnFixture('embed-exit', [scenario]);
  try {
    await fixture.line('ready');
    const { code, signal } = await withTimeout(fixture.exited, `${scenario} to exit by itself`, EXIT_WITHIN_MS);
    assert.is(signal, null);
    assert.is(fixture.stderr(), '', `${scenario} wrote to stderr`);
    return { code, lines: fixture.lines };
  } finally {
    fixture.child.kill();
  }
}

/** Runs a scenario that must keep its process alive; kills it after ALIVE_FOR_MS. */
async function staysAlive(scenario: string): Promise<void> {
  const fixture = spawnFixture('embed-exit', [scenario]);
  let exited = false;
  void fixture.exited.then(() => { exited = true; });
  try {
    await fixture.line('ready');
    await tick(ALIVE_FOR_MS);
    assert.is(exited, false, `${scenario} exited: ${fixture.stderr()}`);
  } finally {
    fixture.child.kill();
    await fixture.exited;
  }
}

test('start() then close(): the process exits 0', async () => {
  assert.is((await exitsByItself('start-close')).code, 0);
});

test('start() then unref(), with a loop timer pending: the process exits 0 and the timer never fires', async () => {
  const { code, lines } = await exitsByItself('start-unref');
  assert.is(code, 0);
  assert.not.ok(lines.includes('timer fired'));
});

test('a started loop, referenced, keeps the process alive', async () => {
  await staysAlive('start-referenced');
});

test('start(), unref(), ref(): the loop holds the process again', async () => {
  await staysAlive('start-unref-ref');
});

test('unref() before start(), then ref() and unref() while started: the process exits 0', async () => {
  assert.is((await exitsByItself('start-ref-unref')).code, 0);
});

test('run() after unref() under a top-level await: the process exits with 13 (unsettled top-level await); the promise never settles', async () => {
  const { code, lines } = await exitsByItself('run-unref-await');
  assert.is(code, 13);
  assert.not.ok(lines.includes('run settled'));
});

test('run() after unref() without awaiting it: the process exits 0; the promise never settles', async () => {
  const { code, lines } = await exitsByItself('run-unref-then');
  assert.is(code, 0);
  assert.not.ok(lines.includes('run settled'));
});

test('run(), unref(), ref(): the loop holds the process again', async () => {
  await staysAlive('run-unref-ref');
});

test('run({ signal: AbortSignal.timeout(50) }): run() resolves and the process exits 0', async () => {
  const { code, lines } = await exitsByItself('run-abort');
  assert.is(code, 0);
  assert.ok(lines.includes('run resolved'));
});

test('a fatal error (fatalErrors) in a started loop is an uncaught exception: the process exits 1 and prints it', async () => {
  const fixture = spawnFixture('embed-exit', ['start-fatal']);
  try {
    await fixture.line('ready');
    const { code } = await withTimeout(fixture.exited, 'start-fatal to exit', EXIT_WITHIN_MS);
    assert.is(code, 1);
    assert.match(fixture.stderr(), 'fatal in a loop timer');
  } finally {
    fixture.child.kill();
  }
});

test("docs/embedding.md's examples are the fixtures these tests run", () => {
  const blocks = [...readFileSync(new URL('docs/embedding.md', ROOT), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  assert.ok(blocks.includes(asDocumented('embedding-example-start')), 'the start() example differs from tests/fixtures/embedding-example-start.ts');
  assert.ok(blocks.includes(asDocumented('embedding-example-run')), 'the run() example differs from tests/fixtures/embedding-example-run.ts');
});

test('the start() example serves node:http and RESP, then exits 0 by itself', async () => {
  const fixture = spawnFixture('embedding-example-start');
  try {
    const { code } = await withTimeout(fixture.exited, 'the start() example to exit', 10_000);
    assert.is(fixture.stderr(), '');
    assert.is(code, 0);
    assert.equal(fixture.lines, ['api says ok', 'cache says +PONG']);
  } finally {
    fixture.child.kill();
  }
});

test('the run() example serves RESP until SIGINT, then exits 0', async () => {
  const fixture = spawnFixture('embedding-example-run');
  try {
    const port = Number(/:(\d+)$/.exec(await fixture.line('listening on'))![1]);
    const client = connect(port, '127.0.0.1');
    client.write('PING\r\n');
    const reply = await withTimeout(new Promise<string>((resolve) => client.once('data', (data) => resolve(data.toString()))), 'PONG');
    client.destroy();
    assert.is(reply, '+PONG\r\n');
    fixture.child.kill('SIGINT');
    const { code, signal } = await withTimeout(fixture.exited, 'the run() example to exit', EXIT_WITHIN_MS);
    assert.is(signal, null, 'SIGINT killed it: its handler did not run');
    assert.is(fixture.stderr(), '');
    assert.is(code, 0);
    assert.equal(fixture.lines.slice(1), ['served 1 connections']);
  } finally {
    fixture.child.kill();
  }
});

test.run();
