// HTTP: wrk (one thread, GET /, keep-alive) for 2 s at 50 and at 1,000
// connections against wasmloop's HTTP server, the node:http and node:net
// peers, the C epoll peer in HTTP mode and nginx when installed. Each trial
// is a fresh server; the server's CPU time is read around the wrk run.
// wrk's own request timeout (2 s) decides what counts as a timeout.
import { spawnSync } from 'node:child_process';

import {
  briefly,
  cpuSeconds,
  fmt,
  interleave,
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
  type Spread,
  type Unavailable,
} from './harness.js';
import { parseWrk, type WrkReport } from './parse.js';
import { cEpoll, MANY_FDS, nginx, nodePeer, wasmloop } from './servers.js';

const CONNECTIONS = [50, 1000];
const SECONDS = 2;

interface Trial extends WrkReport {
  cpuUsPerRequest: number;
}

/** One server at one connection count, over its trials. */
interface Figures {
  perSecond: Spread;
  p50ms: Spread;
  p99ms: Spread;
  cpuUsPerRequest: Spread;
  timeouts: number[];
  socketErrors: number[];
  non2xx: number[];
}

async function trial(spec: ServerSpec, connections: number): Promise<Trial> {
  const server = await startServer(spec);
  try {
    const before = cpuSeconds(server.pid);
    const args = ['-t1', `-c${connections}`, `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${server.port}/`];
    const out = await runToEnd({ file: 'wrk', args, role: 'load', nofile: MANY_FDS }, (SECONDS + 20) * 1000);
    const cpu = cpuSeconds(server.pid) - before;
    const result = parseWrk(out);
    return { ...result, cpuUsPerRequest: result.requests > 0 ? (cpu / result.requests) * 1e6 : 0 };
  } finally {
    await server.stop();
  }
}

export async function run(machine: Machine, cPeerMissing: string | null): Promise<ScenarioReport> {
  const candidates: (ServerSpec | Unavailable)[] = [
    wasmloop('http'),
    nodePeer('node:http', 'node-http.js'),
    nodePeer('node:net', 'net-http.js'),
    cEpoll('http', cPeerMissing),
    nginx(),
  ];
  if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) {
    return { scenario: 'http', markdown: '## HTTP\n\nskipped: wrk is not installed.', goals: goals(null, null) };
  }
  const servers = candidates.filter((s): s is ServerSpec => !('unavailable' in s));
  const configs = CONNECTIONS.flatMap((connections) => servers.map((spec) => ({ connections, spec })));
  const label = ({ connections, spec }: (typeof configs)[number]): string => `${spec.name} c${connections}`;
  const outcomes = await interleave('http', configs, label, ({ spec, connections }) => trial(spec, connections));

  const figures = (name: string, connections: number): Figures | null => {
    const trials = outcomes.get(`${name} c${connections}`)?.trials ?? [];
    if (trials.length === 0) return null;
    const pick = (f: (t: Trial) => number) => summarize(trials.map(f));
    return {
      perSecond: pick((t) => t.perSecond),
      p50ms: pick((t) => t.p50ms),
      p99ms: pick((t) => t.p99ms),
      cpuUsPerRequest: pick((t) => t.cpuUsPerRequest),
      timeouts: trials.map((t) => t.timeouts),
      socketErrors: trials.map((t) => t.socketErrors),
      non2xx: trials.map((t) => t.non2xx),
    };
  };

  const sections = [`## HTTP: wrk -t1 -d${SECONDS}s --latency, GET / → "hello"`];
  const json: Record<string, unknown> = {};
  for (const connections of CONNECTIONS) {
    const ours = figures('wasmloop', connections)?.perSecond.median ?? 0;
    const rows = candidates.map((spec) => {
      const key = `${spec.name} c${connections}`;
      if ('unavailable' in spec) return [spec.name, `unavailable: ${spec.unavailable}`, '', '', '', '', ''];
      const f = figures(spec.name, connections);
      const error = outcomes.get(key)?.error;
      json[key] = { ...f, error };
      if (!f) return [spec.name, `failed: ${briefly(error ?? 'no trial')}`, '', '', '', '', ''];
      return [
        spec.name,
        spread(f.perSecond) + (error ? ' (a trial failed)' : ''),
        fmt(f.p50ms.median),
        `${fmt(f.p99ms.median)} (${fmt(f.p99ms.min)}–${fmt(f.p99ms.max)})`,
        `${f.timeouts.join('/')} · ${f.socketErrors.join('/')} · ${f.non2xx.join('/')}`,
        fmt(f.cpuUsPerRequest.median),
        ratio(ours, f.perSecond.median),
      ];
    });
    sections.push(
      `### ${connections} connections\n\n` +
        table(
          ['server', 'requests/s median (min–max)', 'p50 ms', 'p99 ms median (min–max)', 'timeouts · socket errors · non-2xx, per trial', 'server CPU µs/req', 'wasmloop ÷ row'],
          rows,
        ),
    );
  }

  writeResult('http.json', { machine, seconds: SECONDS, connections: CONNECTIONS, results: json, outcomes: Object.fromEntries(outcomes) });
  return {
    scenario: 'http',
    markdown: sections.join('\n\n'),
    goals: goals(
      { ours: figures('wasmloop', 50), peer: figures('node:http', 50) },
      { ours: figures('wasmloop', 1000), peer: figures('node:http', 1000) },
    ),
  };
}

function goals(at50: { ours: Figures | null; peer: Figures | null } | null, at1000: { ours: Figures | null; peer: Figures | null } | null): Goal[] {
  const missing = 'not measured (wrk missing, or a run failed)';
  const throughput: Goal = { goal: 'HTTP 50 connections: wasmloop ≥ 2.0× node:http', met: null, figures: missing };
  if (at50?.ours && at50.peer) {
    const r = at50.ours.perSecond.median / at50.peer.perSecond.median;
    throughput.met = r >= 2.0;
    throughput.figures = `${r.toFixed(2)}× (${fmt(at50.ours.perSecond.median)} vs ${fmt(at50.peer.perSecond.median)} requests/s)`;
  }
  const tail: Goal = { goal: 'HTTP 1,000 connections: zero timeouts, p99 under node:http', met: null, figures: missing };
  if (at1000?.ours && at1000.peer) {
    const timeouts = at1000.ours.timeouts.reduce((a, b) => a + b, 0);
    const p99 = at1000.ours.p99ms.median;
    const peerP99 = at1000.peer.p99ms.median;
    tail.met = timeouts === 0 && p99 < peerP99;
    tail.figures = `timeouts per trial ${at1000.ours.timeouts.join('/')}; p99 ${fmt(p99)} ms vs node:http ${fmt(peerP99)} ms`;
  }
  return [throughput, tail];
}
