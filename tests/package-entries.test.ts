// The package's entry points, as a user's code resolves them: `wasmloop` is
// the product, `wasmloop/testing` the fake kernel, the reference core and the
// testing build of the wasm core. The product imports neither the testing
// entry nor the benchmarks, and the CLI runs from a copy of the library alone.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import * as local from '../src/testing/index.js';

test("import('wasmloop/testing') gives MockKernel, EPOLL, the reference core and the testing core's loader", async () => {
  const testing = await import('wasmloop/testing');
  assert.is(testing.MockKernel, local.MockKernel, 'the package resolves to this build');
  assert.is(typeof testing.ReferenceCore, 'function');
  assert.is(typeof testing.createTestingCore, 'function');
  assert.is(testing.EPOLL.IN, 1);
  const mock = new testing.MockKernel();
  assert.is(mock.name, 'mock');
});

test('the main entry exports the loop and no test scaffolding', async () => {
  const main: Record<string, unknown> = await import('wasmloop');
  assert.is(typeof main['EventLoop'], 'function');
  for (const name of ['MockKernel', 'EPOLL', 'ReferenceCore', 'createTestingCore']) {
    assert.not.ok(name in main, `wasmloop exports ${name}`);
  }
});

test("the main entry's Server has no connection callbacks on it, and the unchecked socket calls stay inside", async () => {
  const main: Record<string, unknown> = await import('wasmloop');
  const server = (main['Server'] as { prototype: object }).prototype;
  for (const name of ['closed', 'lingering']) assert.not.ok(name in server, `Server.prototype.${name}`);
  const sockets = main['sockets'] as Record<string, unknown>;
  assert.is(typeof sockets['read'], 'function');
  for (const name of Object.keys(main).concat(Object.keys(sockets))) assert.not.match(name, /Unchecked$/, `wasmloop exports ${name}`);
});

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

test('nothing in src/ outside src/testing/ imports the benchmarks or the testing entry', () => {
  const offending: string[] = [];
  for (const file of sources(SRC)) {
    if (file.startsWith(join(SRC, 'testing'))) continue;
    const text = readFileSync(file, 'utf8');
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      if (/(^|\/)(bench|testing)(\/|$)/.test(specifier!)) offending.push(`${file.slice(SRC.length)} imports ${specifier}`);
    }
  }
  assert.equal(offending, []);
});

/** src/'s folders in data-path order (docs/design.md, "The map"): each may import only from those before it. */
const DATA_PATH = ['kernel', 'core', 'loop', 'net', 'protocols', 'serve', 'testing'];

test("no folder of src/ imports from one below it on the data path (kernel, core, loop, net, protocols, serve, testing)", () => {
  const folders = readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  assert.equal(folders, [...DATA_PATH].sort(), 'every folder of src/ has its place in the order');
  const upward: string[] = [];
  for (const file of sources(SRC)) {
    const [folder, ...rest] = file.slice(SRC.length).split('/');
    if (rest.length === 0) continue; // src/index.ts and its neighbours sit below every folder
    const text = readFileSync(file, 'utf8');
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const target = join(file, '..', specifier!).slice(SRC.length).split('/');
      if (target.length === 1) continue; // src/errors.ts, for every folder
      if (DATA_PATH.indexOf(target[0]!) > DATA_PATH.indexOf(folder!)) upward.push(`${file.slice(SRC.length)} imports ${specifier}`);
    }
  }
  assert.equal(upward, []);
});

test('the CLI runs from the library alone; wasmloop bench then says where the laboratory is', () => {
  const build = fileURLToPath(new URL('../', import.meta.url));
  const root = mkdtempSync(join(tmpdir(), 'wasmloop-alone-'));
  try {
    cpSync(join(build, 'src'), join(root, 'build', 'src'), { recursive: true });
    copyFileSync(join(build, 'core.wasm'), join(root, 'build', 'core.wasm'));
    copyFileSync(join(build, 'llhttp.wasm'), join(root, 'build', 'llhttp.wasm'));
    symlinkSync(join(build, 'Release'), join(root, 'build', 'Release'));
    copyFileSync(join(build, '..', 'package.json'), join(root, 'package.json'));
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'build', 'src', 'serve', 'cli.js'), ...args], { encoding: 'utf8', timeout: 20_000 });
    const help = cli('--help');
    assert.is(help.status, 0, help.stderr);
    assert.match(help.stdout, /Usage: wasmloop serve/);
    const bench = cli('bench', '--help');
    assert.is(bench.status, 1, bench.stderr);
    assert.match(bench.stderr, /not part of this installation/);
    assert.match(bench.stderr, /npm run lab -- --help/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
