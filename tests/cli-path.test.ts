// `wasmloop serve --path PATH`: the server listens on a Unix domain socket,
// prints the path in its listening line, removes the socket file when a
// signal stops it, and refuses --path beside --host/--port or with workers.
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { runCli, spawnCli, stopped, waitForOutput } from './helpers/cli.js';
import { onceConnected, withTimeout } from './helpers/waiting.js';

const LISTENING_ON_PATH = /listening on (\/\S+) \(/;

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-cli-path-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('serve --protocol echo --path: a client is echoed over the socket, and SIGTERM removes the socket file', async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, 'echo.sock');
    const child = spawnCli(['serve', '--protocol', 'echo', '--path', path]);
    try {
      const [, printed] = await waitForOutput(child, LISTENING_ON_PATH);
      assert.is(printed, path);
      assert.ok(lstatSync(path).isSocket(), 'no socket file while serving');
      const client = connect({ path });
      await onceConnected(client);
      const chunks: Buffer[] = [];
      client.on('data', (chunk: Buffer) => chunks.push(chunk));
      client.end('over a unix socket');
      await withTimeout(once(client, 'close'), 'the echo');
      assert.is(Buffer.concat(chunks).toString(), 'over a unix socket');
      child.process.kill('SIGTERM');
      const exit = await child.exited;
      assert.is(exit.code, 0, exit.stderr);
      assert.match(exit.stdout, /stopped after serving 1 connections/);
      assert.not.ok(existsSync(path), 'the socket file outlived the server');
    } finally {
      await stopped(child);
    }
  });
});

test('serve --path on an existing file fails with EADDRINUSE and leaves the file', async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, 'taken');
    writeFileSync(path, '');
    const exit = await runCli(['serve', '--path', path]);
    assert.is(exit.code, 1);
    assert.match(exit.stderr, `listen EADDRINUSE: ${path}`);
    assert.ok(existsSync(path));
  });
});

test('serve --path is refused beside --port or --host, with workers, and past 107 bytes: usage errors, exit 2', async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, 'refused.sock');
    const cases: [string[], RegExp][] = [
      [['--path', path, '--port', '7000'], /--path excludes --host and --port/],
      [['--host', '127.0.0.1', '--path', path], /--path excludes --host and --port/],
      [['--path', path, '--workers', '2'], /--path serves on one thread: --workers must be 1/],
      [['--path', join(dir, 'x'.repeat(120))], /--path: path must be at most 107 bytes/],
    ];
    for (const [args, message] of cases) {
      const exit = await runCli(['serve', ...args]);
      assert.is(exit.code, 2, `${args.join(' ')}: ${exit.stderr}`);
      assert.match(exit.stderr, message);
      assert.match(exit.stderr, /Run 'wasmloop --help' for usage/);
      assert.not.ok(existsSync(path), `${args.join(' ')} created the socket file`);
    }
  });
});

test.run();
