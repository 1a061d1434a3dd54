// RESP: redis-benchmark (50 clients; PING multibulk, SET, GET) at one request
// in flight per client and pipelined 16 deep, against wasmloop's RESP server,
// the node:net RESP peer, redis-server when installed, and the C epoll peer
// as the one-core ceiling. Each trial is a fresh server: a short PING run
// first warms it (JIT, TCP windows) and measures its rate, so each test's
// request count is sized to TEST_SECONDS for that server; then one
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
  writeResult,
  type Goal,
  type Machine,
  type ScenarioReport,
  type ServerSpec,
  type Unavailable,
} from './harness.js';
import { parseRedisBenchmark } from './parse.js';
import { cEpoll, nodePeer, redisServer, wasmloop } from './servers.js';

const CLIENTS = 50;
const PIPELINES = [1, 16];
const TESTS = ['ping_mbulk', 'set', 'get'] as const;
/** Seconds per test: with the warm-up probe, about 1.5 s of load per server and depth, which keeps the suite within its 3 minutes. */
const TEST_SECONDS = 0.35;
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
    const requests = Math.max(CLIENTS * pipeline * 20, Math.round((probe.perSecond * TEST_SECONDS) / 1000) * 1000);
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

export async function run(machine: Machine, cPeerMissing: string | null): Promise<ScenarioReport> {
  const candidates: (ServerSpec | Unavailable)[] = [
    wasmloop('resp'),
    nodePeer('node:net', 'net-resp.js'),
    redisServer(),
    cEpoll('resp', cPeerMissing),
  ];
  if (spawnSync('sh', ['-c', 'command -v redis-benchmark']).status !== 0) {
    return { scenario: 'resp', markdown: '## RESP\n\nskipped: redis-benchmark is not installed.', goals: [goalOf(null)] };
  }
  const servers = candidates.filter((s): s is ServerSpec => !('unavailable' in s));
  const configs = PIPELINES.flatMap((pipeline) => servers.map((spec) => ({ pipeline, spec })));
  const label = ({ pipeline, spec }: (typeof configs)[number]): string => `${spec.name} -P ${pipeline}`;
  const outcomes = await interleave('resp', configs, label, ({ spec, pipeline }) => trial(spec, pipeline));

  const figures = (name: string, pipeline: number, test: (typeof TESTS)[number]) => {
    const trials = outcomes.get(`${name} -P ${pipeline}`)?.trials ?? [];
    if (trials.length === 0) return null;
    const pick = (f: (t: TestTrial) => number) => summarize(trials.map((t) => f(t[test])));
    return {
      perSecond: pick((t) => t.perSecond),
      p50ms: pick((t) => t.p50ms),
      p99ms: pick((t) => t.p99ms),
      cpuUsPerRequest: pick((t) => t.cpuUsPerRequest),
      requests: trials[0]![test].requests,
    };
  };

  const sections = [
    `## RESP: redis-benchmark, ${CLIENTS} clients, ~${TEST_SECONDS} s per test\n\n` +
      'At -P 1 the single-threaded redis-benchmark saturates before the faster servers do; -P 16 is the comparison of servers.',
  ];
  const json: Record<string, unknown> = {};
  for (const pipeline of PIPELINES) {
    const rows: string[][] = [];
    for (const test of TESTS) {
      const ours = figures('wasmloop', pipeline, test)?.perSecond.median ?? 0;
      for (const spec of candidates) {
        const key = `${spec.name} -P ${pipeline}`;
        if ('unavailable' in spec) {
          rows.push([test, spec.name, `unavailable: ${spec.unavailable}`, '', '', '', '']);
          continue;
        }
        const f = figures(spec.name, pipeline, test);
        const error = outcomes.get(key)?.error;
        json[`${key} ${test}`] = { ...f, error };
        if (!f) {
          rows.push([test, spec.name, `failed: ${briefly(error ?? 'no trial')}`, '', '', '', '']);
          continue;
        }
        rows.push([
          test,
          spec.name,
          spread(f.perSecond) + (error ? ' (a trial failed)' : ''),
          fmt(f.p50ms.median),
          fmt(f.p99ms.median),
          fmt(f.cpuUsPerRequest.median),
          ratio(ours, f.perSecond.median),
        ]);
      }
    }
    sections.push(
      `### -P ${pipeline}\n\n` +
        table(['test', 'server', 'requests/s median (min–max)', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'wasmloop ÷ row'], rows),
    );
  }

  const ratios = TESTS.map((test) => {
    const ours = figures('wasmloop', 16, test)?.perSecond.median;
    const redis = figures('redis-server', 16, test)?.perSecond.median;
    return { test, value: ours !== undefined && redis !== undefined ? ours / redis : null };
  });
  const goal = goalOf(
    ratios.some((r) => r.value === null)
      ? null
      : { met: ratios.every((r) => r.value! >= 1.0), text: ratios.map((r) => `${r.test} ${r.value!.toFixed(2)}×`).join(', ') },
  );
  writeResult('resp.json', { machine, clients: CLIENTS, pipelines: PIPELINES, tests: TESTS, testSeconds: TEST_SECONDS, results: json, outcomes: Object.fromEntries(outcomes) });
  return { scenario: 'resp', markdown: sections.join('\n\n'), goals: [goal] };
}

function goalOf(result: { met: boolean; text: string } | null): Goal {
  return {
    goal: 'RESP -P 16: wasmloop ≥ 1.0× redis-server (every test)',
    met: result?.met ?? null,
    figures: result?.text ?? 'not measured (redis-server or redis-benchmark missing, or a run failed)',
  };
}
