// The quick suite's command line: which scenarios to run, and the baseline
// a before/after run measures this checkout against. No side effects beyond
// looking at the baseline's files, so tests can hold it to its rules.
//
//   npm run bench -- [SCENARIO...] [--baseline DIR]
//   BENCH_BASELINE=DIR npm run bench      (the flag wins over the variable)
//
// DIR is another checkout of wasmloop, built (`npm install` in it): its CLI
// (package.json's "bin"; build/src/cli.js, where the CLI was built before
// src/serve/, when there is no package.json to say) serves as one more server of the same run, "wasmloop
// (baseline)", e.g. `git worktree add /tmp/base <commit> && (cd /tmp/base
// && npm install)`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** The label the baseline's server carries in every table, chart and JSON file. */
export const BASELINE_NAME = 'wasmloop (baseline)';

export interface Baseline {
  /** The checkout, absolute. */
  dir: string;
  /** Its CLI, which serves every protocol the suite measures. */
  cli: string;
  /** `git describe --always --dirty` in it; null when it is not a git checkout. */
  commit: string | null;
}

export interface BenchOptions {
  scenarios: string[];
  baseline: Baseline | null;
}

/** A command line the suite refuses: the message says why and what to do. */
export class UsageError extends Error {}

export const USAGE = 'usage: npm run bench -- [SCENARIO...] [--baseline DIR]   (or BENCH_BASELINE=DIR)';

/** Reads the command line and the environment; throws UsageError on anything the suite cannot run. */
export function parseBenchArgs(argv: string[], env: Record<string, string | undefined>, scenarios: readonly string[]): BenchOptions {
  let values: { baseline?: string | undefined };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { baseline: { type: 'string' } }, allowPositionals: true, strict: true }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  const unknown = positionals.filter((name) => !scenarios.includes(name));
  if (unknown.length > 0) throw new UsageError(`unknown scenario ${unknown.join(', ')}; choose from ${scenarios.join(', ')}`);
  const given = values.baseline ?? (env.BENCH_BASELINE || undefined);
  return { scenarios: positionals.length > 0 ? positionals : [...scenarios], baseline: given === undefined ? null : baselineAt(given) };
}

function baselineAt(given: string): Baseline {
  const source = 'the baseline (--baseline or BENCH_BASELINE)';
  if (given.trim() === '') throw new UsageError(`${source} is an empty path`);
  const dir = resolve(given);
  if (!existsSync(dir)) throw new UsageError(`${source} ${dir} does not exist`);
  const bin = cliOf(dir);
  const cli = resolve(dir, bin);
  if (!existsSync(cli)) throw new UsageError(`${source} ${dir} has no ${bin}: run npm install in it first`);
  const git = spawnSync('git', ['-C', dir, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  return { dir, cli, commit: git.status === 0 ? git.stdout.trim() : null };
}

/** Where a checkout's CLI is built, relative to it: its package.json's bin, else the layout before src/serve/. */
function cliOf(dir: string): string {
  try {
    const pkg = JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')) as { bin?: Record<string, string> };
    const bin = pkg.bin?.['wasmloop'];
    if (typeof bin === 'string') return bin.replace(/^\.\//, '');
  } catch {
    // No package.json: fall back on the old layout.
  }
  return 'build/src/cli.js';
}
