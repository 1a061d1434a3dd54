#!/usr/bin/env node
// Builds the C bench peer (bench/peers/c-epoll-echo.c) with gcc -O2 into
// build/bench-peers/, at bench time: the binary is never committed, and the
// library itself needs no C compiler beyond the addon's.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = `${root}build/bench-peers`;
mkdirSync(outDir, { recursive: true });
const cc = process.env.CC ?? 'gcc';
const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-o', `${outDir}/c-epoll-echo`, `${root}bench/peers/c-epoll-echo.c`];
const result = spawnSync(cc, args, { stdio: 'inherit' });
if (result.error) {
  console.error(`build-bench-peers: cannot run ${cc}: ${result.error.message}`);
  process.exit(1);
}
if (result.status === 0) console.log(`build-bench-peers: ${outDir}/c-epoll-echo`);
process.exit(result.status ?? 1);
