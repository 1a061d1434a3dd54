// The sweep: which trials a run makes, in what order, and what it writes.
//
// The full product (6 batch sizes × 4 backend/trigger modes × 4 connection
// counts × 4 workloads × 2 depths, less select above 100 connections, where
// its fds pass FD_SETSIZE) is 672 wasmloop configurations plus 88 peer ones;
// at 3 trials of 3 s that is about 4.5 hours on this machine. `--quick` is a
// slice chosen to show the batch-size effect where it can exist (10,000
// connections, so 100 are active and a wait can return up to 100 events):
// about 10 minutes on a quiet machine. `--standard` covers every value of every
// axis in under an hour (3 trials of 2 s), in three blocks rather than the whole
// product: see STANDARD. `--only key=v,...` keeps the configurations that match
// (values of one key are alternatives; keys must all match).
//
// Trials are interleaved (trial 1 of every configuration, then trial 2...)
// so drift on a shared machine spreads over all configurations alike.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { lineChart } from './svg.js';
import { fmt, summary } from './stats.js';
import { peersFor, runTrial, type Mode, type TrialConfig, type TrialResult, type Workload } from './trial.js';

export const AXES = {
  maxEvents: [1, 4, 16, 64, 256, 1024],
  mode: ['epoll-level', 'epoll-edge', 'poll-level', 'select-level'] as Mode[],
  connections: [10, 100, 1000, 10000],
  workload: ['resp', 'http', 'echo64', 'echo16k'] as Workload[],
  depth: [1, 16],
};

// Three sizes: one event per wait, a small batch, libuv's 1024. With 100
// connections active a wait never returns more than about 100 events, so
// 256 and 1024 are the same loop; the full sweep has the sizes between.
const QUICK = {
  maxEvents: [1, 16, 1024],
  mode: ['epoll-level', 'epoll-edge', 'poll-level'] as Mode[],
  connections: [10000],
  workload: ['echo64', 'resp'] as Workload[],
  depth: [1],
};

/**
 * The standard sweep: every value of every axis, each where it can show,
 * under an hour at 3 trials of 2 s (by estimateSeconds; tests/lab-sweep.test.ts
 * holds it to that):
 *   - batching: 10,000 connections (100 active, so a wait can return up to
 *     100 events), one batch size per decade of the full sweep's, the three
 *     backend/trigger modes that reach that many fds, every workload;
 *   - backends and depth: 100 connections (1 active: batch size cannot matter,
 *     so only libuv's 1024), every mode, select included, depth 1 and 16;
 *   - pipelining under load: 1,000 connections (10 active) at depth 16,
 *     both epoll triggers, a small batch and a large one, RESP and HTTP.
 * Peers run once per workload, connection count and depth.
 */
const STANDARD: readonly SweepAxes[] = [
  { maxEvents: [1, 16, 1024], mode: ['epoll-level', 'epoll-edge', 'poll-level'], connections: [10000], workload: AXES.workload, depth: [1] },
  { maxEvents: [1024], mode: AXES.mode, connections: [100], workload: AXES.workload, depth: [1, 16] },
  { maxEvents: [16, 1024], mode: ['epoll-level', 'epoll-edge'], connections: [1000], workload: ['resp', 'http'], depth: [16] },
];

/** What a sweep varies: the values of each axis. */
export interface SweepAxes {
  maxEvents: readonly number[];
  mode: readonly Mode[];
  connections: readonly number[];
  workload: readonly Workload[];
  depth: readonly number[];
}

/** full: every combination of AXES; quick: QUICK's slice; standard: STANDARD's blocks. */
export type SweepKind = 'full' | 'quick' | 'standard';

/** select takes fds below 1024 only: with Node's own fds, 100 connections is its largest size here. */
const SELECT_MAX_CONNECTIONS = 100;

export type Only = Map<string, Set<string>>;

export function parseOnly(text: string | undefined): Only {
  const only: Only = new Map();
  if (text === undefined) return only;
  const keys = new Set([...Object.keys(AXES), 'server']);
  for (const part of text.split(',')) {
    const [key, value] = part.split('=');
    if (key === undefined || value === undefined || !keys.has(key)) {
      throw new Error(`--only takes key=value pairs with keys ${[...keys].join(', ')}; got '${part}'`);
    }
    if (!only.has(key)) only.set(key, new Set());
    only.get(key)!.add(value);
  }
  return only;
}

const matches = (only: Only, key: string, value: string | number | undefined): boolean =>
  value === undefined || !only.has(key) || only.get(key)!.has(String(value));

export interface Plan {
  configs: TrialConfig[];
  trials: number;
  seconds: number;
}

export function plan(kind: SweepKind, only: Only, trials: number, seconds: number, availablePeers: ReadonlySet<string>): Plan {
  const blocks = kind === 'quick' ? [QUICK] : kind === 'standard' ? STANDARD : [AXES];
  const configs: TrialConfig[] = [];
  const planned = new Set<string>();
  const add = (config: TrialConfig): void => {
    const key = keyOf(config);
    if (planned.has(key)) return;
    planned.add(key);
    configs.push(config);
  };
  for (const axes of blocks) addBlock(axes, only, availablePeers, add);
  return { configs, trials, seconds };
}

function addBlock(axes: SweepAxes, only: Only, availablePeers: ReadonlySet<string>, add: (config: TrialConfig) => void): void {
  for (const workload of axes.workload.filter((w) => matches(only, 'workload', w))) {
    for (const connections of axes.connections.filter((c) => matches(only, 'connections', c))) {
      for (const depth of axes.depth.filter((d) => matches(only, 'depth', d))) {
        if (matches(only, 'server', 'wasmloop')) {
          for (const mode of axes.mode.filter((m) => matches(only, 'mode', m))) {
            if (mode === 'select-level' && connections > SELECT_MAX_CONNECTIONS) continue;
            for (const maxEvents of axes.maxEvents.filter((n) => matches(only, 'maxEvents', n))) {
              add({ server: 'wasmloop', workload, connections, depth, mode, maxEvents });
            }
          }
        }
        for (const server of peersFor(workload, availablePeers).filter((p) => matches(only, 'server', p))) {
          add({ server, workload, connections, depth });
        }
      }
    }
  }
}

/**
 * Seconds one trial takes beyond its measured part: start-up, warm-up, and
 * opening the idle connections (about 1,500 a second with both CPUs shared,
 * from the first quick run here: 82 trials in 22.8 minutes).
 */
export function overheadSeconds(config: TrialConfig): number {
  return 2.5 + config.connections / 1500;
}

export function estimateSeconds(p: Plan): number {
  return p.configs.reduce((sum, c) => sum + p.trials * (p.seconds + overheadSeconds(c)), 0);
}

export interface ConfigResult {
  config: TrialConfig;
  trials: TrialResult[];
  errors: string[];
}

export const keyOf = (c: TrialConfig): string =>
  [c.server, c.workload, c.connections, c.depth, c.mode ?? '', c.maxEvents ?? '', JSON.stringify(c.loopFlags ?? {}), c.storm ?? ''].join('|');

export const describe = (c: TrialConfig): string =>
  `${c.server} ${c.workload} c${c.connections} P${c.depth}${c.mode ? ` ${c.mode}` : ''}${c.maxEvents ? ` me${c.maxEvents}` : ''}` +
  `${c.loopFlags ? ` ${Object.entries(c.loopFlags).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`;

/** A progress bar on stderr, drawn only when stderr is a terminal. */
export class Progress {
  readonly #total: number;
  readonly #started = performance.now();
  #done = 0;
  constructor(total: number) {
    this.#total = total;
  }
  step(label: string): void {
    this.#done++;
    if (!process.stderr.isTTY) return;
    const width = 30;
    const filled = Math.round((this.#done / this.#total) * width);
    const elapsed = (performance.now() - this.#started) / 1000;
    const eta = (elapsed / this.#done) * (this.#total - this.#done);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total} eta ${Math.floor(eta / 60)}m${String(Math.round(eta % 60)).padStart(2, '0')}s ${label}`;
    process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 100) - 1).padEnd((process.stderr.columns ?? 100) - 1)}`);
    if (this.#done === this.#total) process.stderr.write('\n');
  }
}

/** Runs every trial of `configs`, interleaved; a failed trial is recorded, not fatal. */
export async function runAll(configs: TrialConfig[], trials: number, seconds: number): Promise<ConfigResult[]> {
  const results = configs.map((config) => ({ config, trials: [] as TrialResult[], errors: [] as string[] }));
  const progress = new Progress(configs.length * trials);
  for (let t = 0; t < trials; t++) {
    for (const result of results) {
      try {
        result.trials.push(await runTrial(result.config, seconds));
      } catch (error) {
        result.errors.push((error as Error).message);
      }
      progress.step(describe(result.config));
    }
  }
  return results;
}

// ---- the report ------------------------------------------------------------------

const sliceKey = (c: TrialConfig): string => `${c.workload}|${c.connections}|${c.depth}`;
const sliceName = (c: TrialConfig): string => `${c.workload}, ${c.connections} connections (${Math.max(1, Math.round(c.connections / 100))} active), depth ${c.depth}`;
const rate = (r: ConfigResult): number => summary(r.trials.map((t) => t.perSecond)).median;
const cpuPerRequest = (r: ConfigResult): number => summary(r.trials.map((t) => t.cpuUsPerRequest)).median;

export interface Report {
  markdown: string;
  charts: Record<string, string>;
}

export function report(results: ConfigResult[], header: string): Report {
  const slices = new Map<string, ConfigResult[]>();
  for (const r of results) {
    const key = sliceKey(r.config);
    if (!slices.has(key)) slices.set(key, []);
    slices.get(key)!.push(r);
  }
  const charts: Record<string, string> = {};
  const md: string[] = [header, '', '## Headline: requests/s by batch size (maxEvents), median of the trials', ''];
  const sizes = [...new Set(results.flatMap((r) => (r.config.maxEvents ? [r.config.maxEvents] : [])))].sort((a, b) => a - b);
  md.push(`| slice | mode | ${sizes.map((s) => `me ${s}`).join(' | ')} | best vs node | best vs C epoll |`);
  md.push(`|---|---|${sizes.map(() => '---:').join('|')}|---:|---:|`);
  for (const [, slice] of slices) {
    const peers = new Map(slice.filter((r) => !r.config.mode).map((r) => [r.config.server, rate(r)]));
    const nodePeer = peers.get(slice[0]!.config.workload === 'http' ? 'node:http' : 'node:net');
    const modes = [...new Set(slice.flatMap((r) => (r.config.mode ? [r.config.mode] : [])))];
    for (const mode of modes) {
      const row = sizes.map((s) => rate(slice.find((r) => r.config.mode === mode && r.config.maxEvents === s) ?? { config: slice[0]!.config, trials: [], errors: [] }));
      const best = Math.max(...row.filter(Number.isFinite));
      md.push(`| ${sliceName(slice[0]!.config)} | ${mode} | ${row.map(fmt).join(' | ')} | ${fmt(best / (nodePeer ?? NaN))}× | ${fmt(best / (peers.get('c-epoll') ?? NaN))}× |`);
    }
    for (const [peer, value] of peers) md.push(`| ${sliceName(slice[0]!.config)} | peer ${peer} | ${sizes.map(() => '').join(' | ')} ${fmt(value)} | | |`);
  }

  md.push(...triggerTable(slices));

  md.push('', '## Every configuration', '');
  md.push(
    "Each `vs` column divides the row's medians by that peer's in the same slice: requests/s ratio · server CPU per request ratio (above 1 is faster, below 1 is less CPU).",
    '',
  );
  md.push('| slice | server | mode | maxEvents | req/s median (min–max) | p99 µs | server CPU µs/req median (min–max) | vs node:net | vs node:http | vs redis/nginx | vs C epoll | trials | errors |');
  md.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const [key, slice] of slices) {
    const peers = new Map(slice.filter((r) => !r.config.mode).map((r) => [r.config.server, { rate: rate(r), cpu: cpuPerRequest(r) }]));
    const versus = (row: { rate: number; cpu: number }, ...names: string[]): string => {
      const peer = names.map((name) => peers.get(name)).find((p) => p !== undefined);
      return peer === undefined ? '' : `${fmt(row.rate / peer.rate)}× · ${fmt(row.cpu / peer.cpu)}×`;
    };
    for (const r of slice) {
      const s = summary(r.trials.map((t) => t.perSecond));
      const p99 = summary(r.trials.map((t) => t.p99us)).median;
      const cpu = summary(r.trials.map((t) => t.cpuUsPerRequest));
      const row = { rate: s.median, cpu: cpu.median };
      md.push(
        `| ${sliceName(r.config)} | ${r.config.server} | ${r.config.mode ?? ''} | ${r.config.maxEvents ?? ''} | ${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}) | ${fmt(p99)} | ${fmt(cpu.median)} (${fmt(cpu.min)}–${fmt(cpu.max)}) ` +
          `| ${versus(row, 'node:net')} | ${versus(row, 'node:http')} | ${versus(row, 'redis-server', 'nginx')} | ${versus(row, 'c-epoll')} | ${r.trials.length} | ${r.errors.map((e) => e.replace(/\|/g, '/').slice(0, 80)).join('; ')} |`,
      );
    }
    const first = slice[0]!.config;
    const name = key.replace(/\|/g, '-');
    const modes = [...new Set(slice.flatMap((r) => (r.config.mode ? [r.config.mode] : [])))];
    const series = (figure: (t: TrialResult) => number) =>
      modes.map((mode) => ({
        name: mode,
        points: slice.filter((r) => r.config.mode === mode).map((r): [number, number] => [r.config.maxEvents!, summary(r.trials.map(figure)).median]),
      }));
    const refs = (figure: (t: TrialResult) => number) =>
      slice.filter((r) => !r.config.mode).map((r) => ({ name: r.config.server, y: summary(r.trials.map(figure)).median }));
    if (modes.length === 0) continue;
    charts[`throughput-${name}.svg`] = lineChart({ title: `Throughput: ${sliceName(first)}`, xLabel: 'maxEvents (batch size)', yLabel: 'requests/s', series: series((t) => t.perSecond), references: refs((t) => t.perSecond) });
    charts[`p99-${name}.svg`] = lineChart({ title: `p99 latency: ${sliceName(first)}`, xLabel: 'maxEvents (batch size)', yLabel: 'p99 µs', series: series((t) => t.p99us), references: refs((t) => t.p99us) });
    charts[`cpu-${name}.svg`] = lineChart({ title: `Server CPU per request: ${sliceName(first)}`, xLabel: 'maxEvents (batch size)', yLabel: 'CPU µs/request', series: series((t) => t.cpuUsPerRequest), references: refs((t) => t.cpuUsPerRequest) });
  }
  md.push('', '## Charts', '', ...Object.keys(charts).map((file) => `- [${file}](charts/${file})`));
  return { markdown: md.join('\n') + '\n', charts };
}

/**
 * Edge- against level-triggered epoll, wherever the run has both with all
 * else equal: requests/s and server CPU per request, edge ÷ level (medians).
 */
function triggerTable(slices: Map<string, ConfigResult[]>): string[] {
  const rows: string[] = [];
  for (const [, slice] of slices) {
    for (const level of slice.filter((r) => r.config.mode === 'epoll-level')) {
      const edge = slice.find((r) => r.config.mode === 'epoll-edge' && r.config.maxEvents === level.config.maxEvents);
      if (edge === undefined || level.trials.length === 0 || edge.trials.length === 0) continue;
      rows.push(
        `| ${sliceName(level.config)} | ${level.config.maxEvents} | ${fmt(rate(level))} | ${fmt(rate(edge))} | ${fmt(rate(edge) / rate(level))}× | ` +
          `${fmt(cpuPerRequest(level))} | ${fmt(cpuPerRequest(edge))} | ${fmt(cpuPerRequest(edge) / cpuPerRequest(level))}× |`,
      );
    }
  }
  if (rows.length === 0) return [];
  return [
    '',
    '## Edge- against level-triggered epoll',
    '',
    'Medians; the ratios are edge ÷ level (requests/s above 1: edge is faster; CPU per request below 1: edge spends less).',
    '',
    '| slice | maxEvents | level req/s | edge req/s | edge ÷ level | level CPU µs/req | edge CPU µs/req | edge ÷ level |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ];
}

export function writeRun(dir: string, json: unknown, rep: Report): void {
  mkdirSync(join(dir, 'charts'), { recursive: true });
  writeFileSync(join(dir, 'run.json'), JSON.stringify(json, null, 2));
  writeFileSync(join(dir, 'report.md'), rep.markdown);
  for (const [file, svg] of Object.entries(rep.charts)) writeFileSync(join(dir, 'charts', file), svg);
}
