#!/usr/bin/env node
// `npm run test:asan`: builds the addon with AddressSanitizer and
// UndefinedBehaviorSanitizer into build/asan/, then runs the whole test suite
// against it. Any invalid access, overflow or undefined behaviour in native/
// aborts the run with the sanitizer's report.
//
// node itself is not instrumented, so the ASan runtime is preloaded
// (LD_PRELOAD) to be first in the process. Leak detection is off: V8 and
// Node keep memory until exit on purpose, and would drown any real report.
//
// The preload is inherited by every child process, and some real clients
// (curl) hang with it: a folder of wrappers put first on PATH runs each
// external client without it. The 10,000-connection stress test is left
// out: its RSS bounds cannot hold under ASan's quarantine and shadow memory.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const nodedir = path.resolve(process.execPath, '../..');
const out = path.join(root, 'build', 'asan', 'wasmloop.node');
const cc = process.env.CC || 'gcc';
mkdirSync(path.dirname(out), { recursive: true });

const sources = readdirSync(path.join(root, 'native')).filter((f) => f.endsWith('.c')).map((f) => path.join(root, 'native', f));
execFileSync(cc, [
  '-shared', '-fPIC', '-O1', '-g', '-fno-omit-frame-pointer',
  '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined',
  '-D_GNU_SOURCE', '-DNAPI_VERSION=8', '-Wall', '-Wextra',
  `-I${path.join(nodedir, 'include', 'node')}`,
  ...sources, '-o', out,
], { stdio: 'inherit' });
console.log(`test:asan: built ${path.relative(root, out)}`);

const runtime = execFileSync(cc, ['-print-file-name=libasan.so']).toString().trim();

const wrappers = path.join(root, 'build', 'asan', 'bin');
mkdirSync(wrappers, { recursive: true });
for (const tool of ['curl', 'wrk', 'redis-cli', 'redis-benchmark', 'redis-server', 'nginx']) {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`]).stdout?.toString().trim();
  if (!found) continue;
  const wrapper = path.join(wrappers, tool);
  writeFileSync(wrapper, `#!/bin/sh\nunset LD_PRELOAD\nexec ${found} "$@"\n`);
  chmodSync(wrapper, 0o755);
}
const result = spawnSync('npx', ['uvu', 'build/tests', '^(?!stress-).*\\.test\\.js$'], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    WASMLOOP_ADDON: out,
    PATH: `${wrappers}:${process.env.PATH}`,
    LD_PRELOAD: runtime,
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  },
});
process.exit(result.status ?? 1);
