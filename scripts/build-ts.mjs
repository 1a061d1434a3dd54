#!/usr/bin/env node
// Compiles the TypeScript (src/, tests/, bench/) into build/, after removing
// what an earlier compile left there. tsc never deletes an output whose source
// was renamed or removed, and a stale build/tests/*.test.js would still run
// under `npm test` against modules that no longer exist.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';

for (const dir of ['src', 'tests', 'bench']) rmSync(new URL(`../build/${dir}`, import.meta.url), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json', ...process.argv.slice(2)], { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
process.exit(run.status ?? 1);
