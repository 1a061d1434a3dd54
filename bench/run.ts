// `npm run bench`: the quick suite, every server on this machine in one run,
// in about three minutes on two cores. Scenarios, one file each:
//   resp      redis-benchmark -P 1 and -P 16 (bench/resp.ts)
//   http      wrk at 50 and 1,000 connections (bench/http.ts)
//   handlers  the handler APIs: wasmloop, node:http, Fastify, nginx, wrk at 50 and 1,000 (bench/http-handlers.ts)
//   echo      the project's echo load, 64 B and 16 KiB (bench/echo.ts)
//   idle      RSS of 10,000 idle connections (bench/idle.ts)
//   timers    bench/timers.js, scaled down
//   backends  bench/backends.js, scaled down
// `npm run bench -- http idle` runs only those. Writes
// build/results/<scenario>.json, the scenarios' charts
// (build/results/<scenario>-*.svg) and build/results/summary.md.
//
// BENCH_TRIALS (3) sets the trials per configuration of the server scenarios.
// `--baseline DIR` (or BENCH_BASELINE=DIR) adds another checkout's wasmloop
// to the server scenarios, and the summary compares the two (options.ts).
import { readdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';

import * as echo from './echo.js';
import { describeMachine, here, progress, readResult, RESULTS_DIR, runToEnd, table, writeResult, type Context, type ScenarioReport } from './harness.js';
import * as http from './http.js';
import * as handlers from './http-handlers.js';
import * as idle from './idle.js';
import { parseBenchArgs, UsageError, type BenchOptions } from './options.js';
import { baselineTable, timerGoals, type TimerResults } from './report.js';
import * as resp from './resp.js';
import { buildCPeer } from './servers.js';

/** The in-process benchmarks' own knobs, scaled so each takes under ~10 s here. */
const TIMERS_ENV = { BENCH_TRIALS: '3', BENCH_TIMERS: '100000' };
const BACKENDS_ENV = { BENCH_TRIALS: '3', BENCH_ITERATIONS: '300' };
/** What the quick suite should take here (RESP's warm-up brought it from about 200 s to about 225). */
const BUDGET_SECONDS = 240;

type Runner = (context: Context) => Promise<ScenarioReport>;

/** Runs timers.js or backends.js in a child (pinned like a server) and keeps what it printed. */
async function inProcess(scenario: string, title: string, env: Record<string, string>): Promise<string> {
  // A figure left by an earlier run must not pass for this run's.
  rmSync(`${RESULTS_DIR}/${scenario}.json`, { force: true });
  progress(`${scenario}: ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const out = await runToEnd({ file: process.execPath, args: ['--expose-gc', here(`./${scenario}.js`)], role: 'server', env }, 120_000);
  progress('');
  const body = out.split('\n').filter((line) => !/^(raw figures|written):/.test(line)).join('\n').trim();
  const settings = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(', ');
  return `## ${title} (${settings})\n\n${scenario === 'backends' ? `\`\`\`\n${body}\n\`\`\`` : body}`;
}

const SCENARIOS: Record<string, Runner> = {
  resp: resp.run,
  http: http.run,
  handlers: handlers.run,
  echo: echo.run,
  idle: idle.run,
  timers: async () => ({
    scenario: 'timers',
    markdown: await inProcess('timers', 'Timers: wasm wheel vs Node setTimeout', TIMERS_ENV),
    goals: timerGoals(readResult('timers.json') as TimerResults | null),
  }),
  backends: async () => ({
    scenario: 'backends',
    markdown: await inProcess('backends', 'Backends: one wait with 1% of the fds ready', BACKENDS_ENV),
    goals: [],
  }),
};

const verdict = (met: boolean | null): string => (met === null ? 'not measured' : met ? 'met' : 'NOT met');

/** Charts an earlier run left for `scenario`: removed first, so that none passes for this run's. */
function removeCharts(scenario: string): void {
  let files: string[];
  try {
    files = readdirSync(RESULTS_DIR);
  } catch {
    return;
  }
  for (const file of files) if (file.startsWith(`${scenario}-`) && file.endsWith('.svg')) rmSync(`${RESULTS_DIR}/${file}`, { force: true });
}

async function main(): Promise<void> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2), process.env, Object.keys(SCENARIOS));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  const { baseline } = options;
  const started = performance.now();
  const machine = describeMachine();
  const versions = Object.entries(machine.versions).map(([tool, v]) => `${tool} ${v ?? 'not installed'}`).join(', ');
  const header = [
    `machine: ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}`,
    `tools: ${versions}`,
    `pinning: ${machine.pinning}`,
    `load average at start: ${machine.loadAverage.join(' ')} (other work shares this machine: figures are noisy; compare ratios within this run)`,
    'reading: where every server reaches about the same rate, the load generator is the limit; server CPU µs per request still tells the servers apart',
    ...(baseline ? [`baseline: ${baseline.dir} (${baseline.commit ?? 'not a git checkout'}), as "wasmloop (baseline)" in every server scenario`] : []),
  ];
  console.log(`${header.join('\n')}\n`);
  const context: Context = { machine, cPeerMissing: buildCPeer(), baseline };

  const reports: ScenarioReport[] = [];
  for (const name of options.scenarios) {
    const scenarioStart = performance.now();
    removeCharts(name);
    let report: ScenarioReport;
    try {
      report = await SCENARIOS[name]!(context);
    } catch (error) {
      progress('');
      report = { scenario: name, markdown: `## ${name}\n\nfailed: ${(error as Error).message}`, goals: [] };
      process.exitCode = 1;
    }
    const charts = Object.entries(report.charts ?? {});
    for (const [file, svg] of charts) writeResult(file, svg);
    if (charts.length > 0) report.markdown += `\n\nCharts: ${charts.map(([file]) => `[${file}](${file})`).join(', ')}`;
    report.markdown += `\n\n(${name}: ${((performance.now() - scenarioStart) / 1000).toFixed(0)} s)`;
    console.log(`${report.markdown}\n`);
    reports.push(report);
  }

  const goals = reports.flatMap((r) => r.goals);
  const goalTable = table(['goal', 'verdict', 'figures'], goals.map((g) => [g.goal, verdict(g.met), g.figures]));
  const baselineRows = reports.flatMap((r) => r.baseline ?? []);
  const versusBaseline = baseline
    ? `## wasmloop against the baseline\n\n${baseline.dir} (${baseline.commit ?? 'not a git checkout'}). ` +
      'Each round runs both, one right after the other (in alternating order from round to round); the ratio is taken per round, ' +
      'and a change is within noise where the min–max range holds 1.00.\n\n' +
      (baselineRows.length > 0 ? baselineTable(baselineRows) : 'no scenario measured both.')
    : null;
  const seconds = (performance.now() - started) / 1000;
  const footer = `suite: ${seconds.toFixed(0)} s${seconds > BUDGET_SECONDS ? ` (over the ${BUDGET_SECONDS} s budget)` : ''}; load average at end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
  if (goals.length > 0) console.log(`## Goals\n\n${goalTable}\n`);
  if (versusBaseline) console.log(`${versusBaseline}\n`);
  console.log(footer);
  const summary = [
    '# wasmloop quick benchmark',
    header.map((line) => `- ${line}`).join('\n'),
    ...(goals.length > 0 ? [`## Goals\n\n${goalTable}`] : []),
    ...(versusBaseline ? [versusBaseline] : []),
    ...reports.map((r) => r.markdown),
    footer,
  ].join('\n\n');
  console.log(`\nwritten: ${writeResult('summary.md', `${summary}\n`)} and the scenarios' JSON and SVG charts beside it`);
}

await main();
