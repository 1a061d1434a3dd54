// The quick suite's before/after mode: how `npm run bench -- --baseline DIR`
// (or BENCH_BASELINE) is read, what it refuses before any server starts,
// and how this checkout's trials are set against the baseline's, round by
// round. A misread option would compare a build against itself, or against
// nothing, and report "unchanged".
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { BASELINE_NAME, parseBenchArgs, UsageError } from '../bench/options.js';
import { pairedRatios, versus, versusText } from '../bench/figures.js';
import { baselineRows, baselineTable, type Measured } from '../bench/report.js';

const SCENARIOS = ['resp', 'http', 'echo', 'idle', 'timers', 'backends'];
const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** A directory shaped like a built checkout of the layout before src/serve/ (build/src/cli.js, no package.json), outside any git repository. */
function fakeCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-baseline-'));
  mkdirSync(join(dir, 'build/src'), { recursive: true });
  writeFileSync(join(dir, 'build/src/cli.js'), '');
  return dir;
}

const refuses = (argv: string[], env: Record<string, string>, message: RegExp): void => {
  assert.throws(
    () => parseBenchArgs(argv, env, SCENARIOS),
    (error: Error) => error instanceof UsageError && message.test(error.message),
  );
};

test('without a baseline every scenario runs, or the ones named, and there is no baseline', () => {
  assert.equal(parseBenchArgs([], {}, SCENARIOS), { scenarios: SCENARIOS, baseline: null });
  assert.equal(parseBenchArgs(['http', 'idle'], {}, SCENARIOS), { scenarios: ['http', 'idle'], baseline: null });
  assert.equal(parseBenchArgs([], { BENCH_BASELINE: '' }, SCENARIOS).baseline, null, 'an empty BENCH_BASELINE is no baseline');
  refuses(['http', 'htp'], {}, /unknown scenario htp; choose from resp, http/);
});

test('--baseline DIR, --baseline=DIR and BENCH_BASELINE name the checkout whose CLI serves as the baseline', () => {
  const dir = fakeCheckout();
  try {
    const expected = { dir, cli: join(dir, 'build/src/cli.js'), commit: null };
    assert.equal(parseBenchArgs(['--baseline', dir], {}, SCENARIOS).baseline, expected);
    assert.equal(parseBenchArgs([`--baseline=${dir}`], {}, SCENARIOS).baseline, expected);
    assert.equal(parseBenchArgs([], { BENCH_BASELINE: dir }, SCENARIOS).baseline, expected);
    // A relative path is taken from the current directory.
    assert.equal(parseBenchArgs(['--baseline', relative(process.cwd(), dir)], {}, SCENARIOS).baseline, expected);
    // The flag may sit among the scenarios.
    assert.equal(parseBenchArgs(['resp', '--baseline', dir, 'http'], {}, SCENARIOS), { scenarios: ['resp', 'http'], baseline: expected });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the flag wins over BENCH_BASELINE', () => {
  const flag = fakeCheckout();
  const env = fakeCheckout();
  try {
    assert.is(parseBenchArgs(['--baseline', flag], { BENCH_BASELINE: env }, SCENARIOS).baseline?.dir, flag);
  } finally {
    rmSync(flag, { recursive: true, force: true });
    rmSync(env, { recursive: true, force: true });
  }
});

test('a git checkout is described by its commit, so the report says what the baseline was', () => {
  const baseline = parseBenchArgs(['--baseline', CHECKOUT], {}, SCENARIOS).baseline!;
  assert.is(baseline.dir, CHECKOUT);
  assert.match(baseline.commit ?? '', /^[0-9a-f]{7,}(-dirty)?$|^.+-g[0-9a-f]+(-dirty)?$/);
});

test('a baseline that is missing, unbuilt, empty or without a value is refused before anything runs', () => {
  const unbuilt = mkdtempSync(join(tmpdir(), 'wasmloop-unbuilt-'));
  try {
    refuses(['--baseline', join(unbuilt, 'nope')], {}, /does not exist/);
    refuses(['--baseline', unbuilt], {}, /has no build\/src\/cli\.js: run npm install in it first/);
    refuses([], { BENCH_BASELINE: unbuilt }, /has no build\/src\/cli\.js/);
    refuses(['--baseline', ' '], {}, /is an empty path/);
    refuses(['--baseline'], {}, /'--baseline <value>' argument missing/);
    refuses(['--base', unbuilt], {}, /Unknown option '--base'/);
  } finally {
    rmSync(unbuilt, { recursive: true, force: true });
  }
});

test("a checkout's CLI is where its package.json's bin says (build/src/serve/cli.js now); without one, build/src/cli.js", () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-baseline-'));
  try {
    mkdirSync(join(dir, 'build/src/serve'), { recursive: true });
    writeFileSync(join(dir, 'build/src/serve/cli.js'), '');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ bin: { wasmloop: './build/src/serve/cli.js' } }));
    assert.is(parseBenchArgs(['--baseline', dir], {}, SCENARIOS).baseline?.cli, join(dir, 'build/src/serve/cli.js'));
    rmSync(join(dir, 'build/src/serve/cli.js'));
    refuses(['--baseline', dir], {}, /has no build\/src\/serve\/cli\.js: run npm install in it first/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const old = fakeCheckout();
  try {
    assert.is(parseBenchArgs(['--baseline', old], {}, SCENARIOS).baseline?.cli, join(old, 'build/src/cli.js'));
  } finally {
    rmSync(old, { recursive: true, force: true });
  }
});

test('new ÷ baseline is taken round by round, over the rounds both finished', () => {
  assert.equal(pairedRatios([110, 90, 100], [100, 100, 100]), { median: 1.0, min: 0.9, max: 1.1 });
  // The baseline stopped after its first round: one pair only.
  assert.equal(pairedRatios([120, 80, 100], [100]), { median: 1.2, min: 1.2, max: 1.2 });
  assert.is(pairedRatios([100], []), null);
  // Rounds pair by position, not by size: the medians' ratio here would be 1.
  const r = pairedRatios([1, 2, 3], [3, 2, 1])!;
  assert.equal([r.min, r.median, r.max].map((x) => +x.toFixed(3)), [0.333, 1, 3]);
});

test('a goal\'s ratio is of the medians, shown beside the ratio of each round', () => {
  // Medians 4 and 2; the rounds' own ratios 2, 2 and 3.
  const v = versus([2, 4, 6], [1, 2, 2])!;
  assert.is(v.ratio, 2);
  assert.equal(v.rounds, { median: 2, min: 2, max: 3 });
  assert.is(versusText(v), '2.00× (by round 2.00×, 2.00–3.00)');
  assert.is(versus([], [1]), null);
  assert.is(versus([1], []), null);
  assert.is(versus([1, 2], [0, 0]), null);
});

test('the baseline rows pair wasmloop with the baseline in each configuration, and the table prints their ratio', () => {
  const measured: Measured[] = [
    { group: '50 connections', server: 'wasmloop', trials: [200, 210, 190] },
    { group: '50 connections', server: BASELINE_NAME, trials: [100, 100, 100] },
    { group: '50 connections', server: 'nginx', trials: [1, 1, 1] },
    { group: '1,000 connections', server: 'wasmloop', trials: [50, 50] },
    { group: '1,000 connections', server: BASELINE_NAME, trials: [] },
    { group: 'only ours', server: 'wasmloop', trials: [1] },
  ];
  const rows = baselineRows('http', 'requests/s', measured);
  assert.equal(rows.map((r) => r.workload), ['http 50 connections', 'http 1,000 connections']);
  const text = baselineTable(rows);
  assert.match(text, /\| http 50 connections \| requests\/s \| 200 \| 100 \| 2\.000× \(1\.900–2\.100\) \| 3 \|/);
  assert.match(text, /\| http 1,000 connections \| requests\/s \| 50\.0 \| – \| – \| 0 \|/);
});

test.run();
