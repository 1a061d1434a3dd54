// RESP: redis-benchmark (50 clients; PING multibulk, SET, GET) at one request
// in flight per client and pipelined 16 deep, against wasmloop's RESP server
// (and a baseline checkout's), the node:net RESP peer, redis-server when
// installed, and the C epoll peer as the one-core ceiling. Each trial is a fresh server: a short PING run
// measures its rate, so that each run after it is sized in seconds for that
// server; then WARM_SECONDS of the three tests (the JIT's warm-up, TCP
// windows: what a server that runs for hours has done long before) and one
// redis-benchmark run per test, the server's CPU time read around each.
import { spawnSync } from 'node:child_process';

import {
  briefly,
  interleave,
  cpuSeconds,
  fmt,
  ratio,
  runToEnd,
  spread,
  startServer,
  summarize,
  table,
  versus,
  versusText,
  writeResult,
  type Context,
  type Goal,
  type ScenarioReport,
  type ServerSpec,
  type Unavailable,
} from './harness.js';
import { parseRedisBenchmark } from './parse.js';
import { baselineRows, chart, type Measured } from './report.js';
import { cEpoll, nodePeer, redisServer, wasmloops } from './servers.js';

const CLIENTS = 50;
const PIPELINES = [1, 16];
const TESTS = ['ping_mbulk', 'set', 'get'] as const;
/**
 * Seconds per test (BENCH_RESP_SECONDS): with the warm-up, about 2 s of load
 * per server and depth, which keeps the suite within its 4 minutes. Longer
 * runs read the server's CPU time (in 10 ms ticks) to a finer share: 2 s for
 * figures to quote.
 */
const TEST_SECONDS = Number(process.env.BENCH_RESP_SECONDS ?? 0.35);
if (!(TEST_SECONDS > 0)) throw new Error(`BENCH_RESP_SECONDS must be a positive number of seconds, not '${process.env.BENCH_RESP_SECONDS}'`);
/**
 * Seconds of load before the measured runs, split over the three tests, for
 * every server alike (the HTTP scenarios warm for 1 s too). Without it a
 * fresh wasmloop server's -P16 runs after the probe cost 0.97–1.09 µs of CPU
 * per request, 0.74–0.97 a second later (docs/performance.md, "The RESP
 * figures warmed"): V8's tier-up, not the server a long run meets.
 */
const WARM_SECONDS = 1;
/** Requests per client of the warm-up probe, times the pipeline depth: a fraction of a second on any server here. */
const PROBE_PER_CLIENT = 50;

interface TestTrial {
  requests: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  cpuUsPerRequest: number;
}

type Trial = Record<(typeof TESTS)[number], TestTrial>;

async function benchmark(port: number, test: string, requests: number, pipeline: number): Promise<Omit<TestTrial, 'cpuUsPerRequest'>> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-q', '--csv', '-c', String(CLIENTS), '-n', String(requests), '-P', String(pipeline), '-t', test];
  const out = await runToEnd({ file: 'redis-benchmark', args, role: 'load' }, 60_000);
  return { requests, ...parseRedisBenchmark(out, test) };
}

async function trial(spec: ServerSpec, pipeline: number): Promise<Trial> {
  const server = await startServer(spec);
  try {
    const probe = await benchmark(server.port, 'ping_mbulk', CLIENTS * PROBE_PER_CLIENT * pipeline, pipeline);
    const sized = (seconds: number): number => Math.max(CLIENTS * pipeline * 20, Math.round((probe.perSecond * seconds) / 1000) * 1000);
    for (const test of TESTS) await benchmark(server.port, test, sized(WARM_SECONDS / TESTS.length), pipeline);
    const requests = sized(TEST_SECONDS);
    const result: Partial<Trial> = {};
    for (const test of TESTS) {
      const before = cpuSeconds(server.pid);
      const run = await benchmark(server.port, test, requests, pipeline);
      result[test] = { ...run, cpuUsPerRequest: ((cpuSeconds(server.pid) - before) / requests) * 1e6 };
    }
    return result as Trial;
  } finally {
    await server.stop();
  }
}

export async function run({ machine, cPeerMissing, baseline }: Context): Promise<ScenarioReport> {
  const candidates: (ServerSpec | Unavailable)[] = [
    ...wasmloops('resp', baseline),
    nodePeer('node:net', 'net-resp.js'),
    redisServer(),
    cEpoll('resp', cPeerMissing),
  ];
  if (spawnSync('sh', ['-c', 'command -v redis-benchmark']).status !== 0) {
    return { scenario: 'resp', markdown: '## RESP\n\nskipped: redis-benchmark is not installed.', goals: goalsOf(() => null) };
  }
  const servers = candidates.filter((s): s is ServerSpec => !('unavailable' in s));
  const configs = PIPELINES.flatMap((pipeline) => servers.map((spec) => ({ pipeline, spec })));
  const label = ({ pipeline, spec }: (typeof configs)[number]): string => `${spec.name} -P ${pipeline}`;
  const outcomes = await interleave('resp', configs, label, ({ spec, pipeline }) => trial(spec, pipeline));

  const trialsOf = (name: string, pipeline: number, test: (typeof TESTS)[number]): TestTrial[] =>
    (outcomes.get(`${name} -P ${pipeline}`)?.trials ?? []).map((t) => t[test]);
  const figures = (name: string, pipeline: number, test: (typeof TESTS)[number]) => {
    const trials = trialsOf(name, pipeline, test);
    if (trials.length === 0) return null;
    const pick = (f: (t: TestTrial) => number) => summarize(trials.map(f));
    return {
      perSecond: pick((t) => t.perSecond),
      p50ms: pick((t) => t.p50ms),
      p99ms: pick((t) => t.p99ms),
      cpuUsPerRequest: pick((t) => t.cpuUsPerRequest),
      requests: trials[0]!.requests,
      trials,
    };
  };

  const sections = [
    `## RESP: redis-benchmark, ${CLIENTS} clients, ~${TEST_SECONDS} s per test after ~${WARM_SECONDS} s of the three\n\n` +
      'At -P 1 the single-threaded redis-benchmark saturates before the faster servers do; -P 16 is the comparison of servers. ' +
      'The last two columns divide wasmloop\'s median by the row\'s: above 1 is more requests/s, below 1 less CPU per request.',
  ];
  const json: Record<string, unknown> = {};
  const rates: Measured[] = [];
  const cpus: Measured[] = [];
  for (const pipeline of PIPELINES) {
    const rows: string[][] = [];
    for (const test of TESTS) {
      const ours = figures('wasmloop', pipeline, test);
      for (const spec of candidates) {
        const key = `${spec.name} -P ${pipeline}`;
        if ('unavailable' in spec) {
          rows.push([test, spec.name, `unavailable: ${spec.unavailable}`, '', '', '', '', '']);
          continue;
        }
        const trials = trialsOf(spec.name, pipeline, test);
        rates.push({ group: `${test} -P ${pipeline}`, server: spec.name, trials: trials.map((t) => t.perSecond) });
        cpus.push({ group: `${test} -P ${pipeline}`, server: spec.name, trials: trials.map((t) => t.cpuUsPerRequest) });
        const f = figures(spec.name, pipeline, test);
        const error = outcomes.get(key)?.error;
        json[`${key} ${test}`] = { ...f, error };
        if (!f) {
          rows.push([test, spec.name, `failed: ${briefly(error ?? 'no trial')}`, '', '', '', '', '']);
          continue;
        }
        rows.push([
          test,
          spec.name,
          spread(f.perSecond) + (error ? ' (a trial failed)' : ''),
          fmt(f.p50ms.median),
          fmt(f.p99ms.median),
          spread(f.cpuUsPerRequest),
          ratio(ours?.perSecond.median ?? 0, f.perSecond.median),
          ratio(ours?.cpuUsPerRequest.median ?? 0, f.cpuUsPerRequest.median),
        ]);
      }
    }
    sections.push(
      `### -P ${pipeline}\n\n` +
        table(
          ['test', 'server', 'requests/s median (min–max)', 'p50 ms', 'p99 ms', 'server CPU µs/req median (min–max)', 'req/s: wasmloop ÷ row', 'CPU/req: wasmloop ÷ row'],
          rows,
        ),
    );
  }

  writeResult('resp.json', { machine, baseline, clients: CLIENTS, pipelines: PIPELINES, tests: TESTS, testSeconds: TEST_SECONDS, results: json, outcomes: Object.fromEntries(outcomes) });
  const title = `RESP, redis-benchmark -c ${CLIENTS}`;
  return {
    scenario: 'resp',
    markdown: sections.join('\n\n'),
    goals: goalsOf((name, pipeline, test) => figures(name, pipeline, test)),
    // One chart per depth: -P 16's figures would be slivers on the scale of -P 1's CPU per request.
    charts: Object.fromEntries(
      PIPELINES.flatMap((pipeline) => {
        const at = (measured: Measured[]) => measured.filter((m) => m.group.endsWith(` -P ${pipeline}`)).map((m) => ({ ...m, group: m.group.replace(/ -P \d+$/, '') }));
        return [
          [`resp-p${pipeline}-throughput.svg`, chart(`${title} -P ${pipeline}: throughput`, 'test', 'requests/s', at(rates))],
          [`resp-p${pipeline}-cpu.svg`, chart(`${title} -P ${pipeline}: server CPU per request`, 'test', 'server CPU µs/request', at(cpus))],
        ];
      }),
    ),
    baseline: [...baselineRows('resp', 'requests/s', rates), ...baselineRows('resp', 'server CPU µs/req', cpus)],
  };
}

type Figures = (name: string, pipeline: number, test: (typeof TESTS)[number]) => { trials: TestTrial[] } | null;

/** wasmloop's figure ÷ the peer's, per test; `met` when every test's ratio passes. */
function goal(text: string, peer: string, pipeline: number, figure: 'perSecond' | 'cpuUsPerRequest', passes: (ratio: number) => boolean, figures: Figures): Goal {
  const ratios = TESTS.map((test) => {
    const ours = figures('wasmloop', pipeline, test)?.trials;
    const theirs = figures(peer, pipeline, test)?.trials;
    return { test, value: ours === undefined || theirs === undefined ? null : versus(ours.map((t) => t[figure]), theirs.map((t) => t[figure])) };
  });
  if (ratios.some((r) => r.value === null)) {
    return { goal: text, met: null, figures: `not measured (${peer} or redis-benchmark missing, or a run failed)` };
  }
  return { goal: text, met: ratios.every((r) => passes(r.value!.ratio)), figures: ratios.map((r) => `${r.test} ${versusText(r.value!)}`).join('; ') };
}

function goalsOf(figures: Figures): Goal[] {
  return [
    goal('RESP -P 16: wasmloop ≥ 1.0× redis-server (every test)', 'redis-server', 16, 'perSecond', (r) => r >= 1.0, figures),
    goal('RESP -P 16: server CPU per request ≤ 1.0× redis-server (every test)', 'redis-server', 16, 'cpuUsPerRequest', (r) => r <= 1.0, figures),
    goal('RESP -P 1: server CPU per request ≤ 1.15× the C epoll server (every test)', 'C epoll', 1, 'cpuUsPerRequest', (r) => r <= 1.15, figures),
  ];
}
