#!/usr/bin/env node
// The batch-size laboratory: `npm run lab -- ARGS` (node build/bench/lab/cli.js
// ARGS) from a checkout, or `wasmloop bench ARGS`, which runs this file when
// it is there. The library never imports it.
//
//   wasmloop bench --sweep [--quick | --standard] [--trials N] [--seconds S] [--out DIR] [--only key=v,...]
//   wasmloop bench --guards [--trials N] [--seconds S] [--out DIR] [--only guard,...]
//   wasmloop bench --core [--trials N] [--out DIR]
//   wasmloop bench --report DIR
//
// Every run writes DIR/run.json (machine, versions, parameters, figures) and
// DIR/report.md, and the sweep DIR/charts/*.svg. DIR defaults to
// build/lab/<kind>-<time>.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { coreOverheadMarkdown, measureCoreOverhead } from './core-overhead.js';
import { guardConfigs, guardsMarkdown, GUARDS } from './guards.js';
import { PINNED, toolVersion } from './processes.js';
import { estimateSeconds, overheadSeconds, parseOnly, plan, report, runAll, writeRun, AXES, type ConfigResult, type SweepKind } from './sweep.js';
import { peerAvailable } from './trial.js';

const USAGE = `Usage: wasmloop bench --sweep [--quick | --standard] [--trials N] [--seconds S] [--out DIR] [--only key=v,...]
       wasmloop bench --guards [--trials N] [--seconds S] [--out DIR] [--only guard,...]
       wasmloop bench --core [--trials N] [--out DIR]
       wasmloop bench --report DIR

--sweep   maxEvents × backend/trigger × connections (1% active) × workload × depth,
          each trial a fresh server on CPU 1 and the client on CPU 0, beside the peers
          (node:net, node:http, redis-server, nginx, the C epoll server).
          Full: ~4.5 h at 3 trials of 3 s. --quick: a slice of ~10 min (2 trials of 2 s).
          --standard: every value of every axis in three blocks, under an hour (3 trials of 2 s).
          --only keys: ${Object.keys(AXES).join(', ')}, server; e.g. --only workload=http,connections=1000
--guards  the starvation guards (${Object.keys(GUARDS).join(', ')}), one at a time, echo at 100 and 1,000
          active connections with a 10 ms timer probe. ~9 min at 2 trials of 2 s.
--report  writes a sweep's report.md and charts again from its run.json (after the report gains a section).
--core    dispatch ns per event (wasm core vs the reference core in TypeScript) and each crossing's cost.

From a checkout, the same without the wasmloop command: npm run lab -- --sweep --quick
`;

const root = new URL('../../../', import.meta.url).pathname;

function machine(): Record<string, unknown> {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root });
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    loadAverageAtStart: loadavg(),
    pinned: PINNED,
    node: process.version,
    wasmloop: pkg.version,
    commit: git.status === 0 ? git.stdout.toString().trim() : null,
    tools: {
      wrk: toolVersion('wrk', ['-v']),
      redisBenchmark: toolVersion('redis-benchmark', ['--version']),
      redisServer: toolVersion('redis-server', ['--version']),
      nginx: toolVersion('nginx', ['-v']),
    },
  };
}

function outDir(given: string | undefined, kind: string): string {
  const dir = given ?? join(root, 'build', 'lab', `${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function ensureCPeer(): void {
  if (existsSync(join(root, 'build/bench-peers/c-epoll-echo'))) return;
  const built = spawnSync(process.execPath, [join(root, 'scripts/build-bench-peers.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) console.error('wasmloop bench: the C epoll peer did not build; it is left out');
}

/** What a run.json holds that its report is made from. */
interface RunRecord {
  machine: Record<string, unknown>;
  kind: string;
  startedAt: string;
  elapsedSeconds: number;
  parameters: { trials: number; seconds: number };
  results: ConfigResult[];
}

function reportHeader(run: RunRecord): string {
  const pinned = run.machine.pinned !== false;
  return (
    `# wasmloop lab: ${run.kind}\n\n${run.startedAt}, ${minutes(run.elapsedSeconds)}; ${run.parameters.trials} trials of ${run.parameters.seconds} s per configuration; ` +
    `server on CPU 1, load on CPU 0${pinned ? '' : ' (not pinned: no taskset)'}.\n\nMachine: \`${JSON.stringify(run.machine)}\``
  );
}

/** --report DIR: the sweep's report and charts, made again from DIR/run.json. */
function rewriteReport(dir: string): number {
  const file = join(dir, 'run.json');
  if (!existsSync(file)) throw new Error(`--report needs a lab run's folder: ${file} does not exist`);
  const run = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  if (run.kind === 'guards' || run.kind === 'core') throw new Error(`--report remakes sweep reports; ${file} is a ${run.kind} run`);
  writeRun(dir, run, report(run.results, reportHeader(run)));
  console.log(`wasmloop bench: report ${join(dir, 'report.md')} written again from ${file}`);
  return 0;
}

const minutes = (s: number): string => `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sweep: { type: 'boolean', default: false },
      guards: { type: 'boolean', default: false },
      core: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      standard: { type: 'boolean', default: false },
      trials: { type: 'string' },
      seconds: { type: 'string' },
      out: { type: 'string' },
      only: { type: 'string' },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.report !== undefined) return rewriteReport(values.report);
  if (values.help || (!values.sweep && !values.guards && !values.core)) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const whole = (name: string, text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1) throw new Error(`--${name} must be a whole number >= 1, got '${text}'`);
    return n;
  };
  const quick = values.quick;
  if (quick && values.standard) throw new Error('--quick and --standard are two different sweeps: give one');
  const sweepKind: SweepKind = quick ? 'quick' : values.standard ? 'standard' : 'full';
  const trials = whole('trials', values.trials, quick || values.guards ? 2 : 3);
  const seconds = whole('seconds', values.seconds, quick || values.standard || values.guards ? 2 : 3);

  if (values.core) {
    const dir = outDir(values.out, 'core');
    const result = measureCoreOverhead(whole('trials', values.trials, 5));
    const markdown = `# Core overhead\n\n${coreOverheadMarkdown(result)}\n`;
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ machine: machine(), kind: 'core', result }, null, 2));
    writeFileSync(join(dir, 'report.md'), markdown);
    console.log(markdown);
    console.log(`written to ${dir}`);
    return 0;
  }

  ensureCPeer();
  const tools = { redis: toolVersion('redis-server', ['--version']) !== null, nginx: toolVersion('nginx', ['-v']) !== null };
  const available = new Set(['node:net', 'node:http', 'redis-server', 'nginx', 'c-epoll'].filter((p) => peerAvailable(p, tools)));
  const configs = values.guards
    ? guardConfigs(values.only === undefined ? undefined : new Set(values.only.split(',')))
    : plan(sweepKind, parseOnly(values.only), trials, seconds, available).configs;
  if (configs.length === 0) throw new Error('nothing to run: --only matched no configuration');
  const estimate = estimateSeconds({ configs, trials, seconds }) + (values.guards ? configs.filter((c) => c.storm).length * trials : 0);
  const kind = values.guards ? 'guards' : quick ? 'quick' : values.standard ? 'standard' : 'sweep';
  const dir = outDir(values.out, kind);
  console.error(`wasmloop bench: ${configs.length} configurations × ${trials} trials of ${seconds} s, about ${minutes(estimate)}; peers: ${[...available].join(', ')}`);
  if (!PINNED) console.error('wasmloop bench: taskset is missing; processes are not pinned');
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const results = await runAll(configs, trials, seconds);
  const elapsed = (performance.now() - started) / 1000;
  const json = { machine: machine(), kind, startedAt, elapsedSeconds: elapsed, parameters: { argv, trials, seconds, quick, overheadSecondsPerTrial: configs.map(overheadSeconds) }, results };
  const header = reportHeader(json);
  if (values.guards) {
    const markdown = `${header}\n\n${guardsMarkdown(results)}`;
    writeRun(dir, json, { markdown, charts: {} });
  } else {
    writeRun(dir, json, report(results, header));
  }
  const failed = results.reduce((n, r) => n + r.errors.length, 0);
  console.log(`wasmloop bench: ${kind} done in ${minutes(elapsed)}; ${failed} failed trials; report ${join(dir, 'report.md')}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    console.error(`wasmloop bench: ${(error as Error).message}`);
    if (usage) console.error(`Run 'wasmloop bench --help' for usage.`);
    process.exitCode = usage ? 2 : 1;
  },
);
