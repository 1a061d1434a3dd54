// HTTP: wrk (one thread, GET /, keep-alive) for 2 s at 50 and at 1,000
// connections against wasmloop's HTTP server (and a baseline checkout's),
// the node:http and node:net peers, the C epoll peer in HTTP mode and nginx
// when installed. Each trial
// is a fresh server, warmed by WARMUP_SECONDS of the same load (the JIT, the
// accept burst of the connections, TCP windows: the main job is a server that
// runs on and on), then measured; the server's CPU time is read around the
// measured wrk run.
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
  versus,
  versusText,
  writeResult,
  type Context,
  type Goal,
  type ScenarioReport,
  type ServerSpec,
  type Spread,
  type Unavailable,
  type Versus,
} from './harness.js';
import { parseWrk, type WrkReport } from './parse.js';
import { baselineRows, chart, type Measured } from './report.js';
import { cEpoll, MANY_FDS, nginx, nodePeer, wasmloops } from './servers.js';

const CONNECTIONS = [50, 1000];
const SECONDS = 2;
/**
 * The same load before the measured run, not counted. Without it a -c1000
 * trial of a fresh JS server is mostly its start: measured here, wasmloop
 * cold 71k req/s with p99 83 ms, after 2 s of load 100k with p99 11 ms
 * (docs/performance.md); nginx and the C peer are steady from the start.
 */
export const WARMUP_SECONDS = 1;

export interface Trial extends WrkReport {
  cpuUsPerRequest: number;
}

/** One server at one connection count, over its trials. */
export interface Figures {
  perSecond: Spread;
  p50ms: Spread;
  p99ms: Spread;
  cpuUsPerRequest: Spread;
  timeouts: number[];
  socketErrors: number[];
  non2xx: number[];
  /** The trials, in round order (a goal's per-round ratios). */
  trials: Trial[];
}

export async function trial(spec: ServerSpec, connections: number): Promise<Trial> {
  const server = await startServer(spec);
  try {
    const url = `http://127.0.0.1:${server.port}/`;
    await runToEnd({ file: 'wrk', args: ['-t1', `-c${connections}`, `-d${WARMUP_SECONDS}s`, url], role: 'load', nofile: MANY_FDS }, (WARMUP_SECONDS + 20) * 1000);
    const before = cpuSeconds(server.pid);
    const args = ['-t1', `-c${connections}`, `-d${SECONDS}s`, '--latency', url];
    const out = await runToEnd({ file: 'wrk', args, role: 'load', nofile: MANY_FDS }, (SECONDS + 20) * 1000);
    const cpu = cpuSeconds(server.pid) - before;
    const result = parseWrk(out);
    return { ...result, cpuUsPerRequest: result.requests > 0 ? (cpu / result.requests) * 1e6 : 0 };
  } finally {
    await server.stop();
  }
}

export async function run({ machine, cPeerMissing, baseline }: Context): Promise<ScenarioReport> {
  const candidates: (ServerSpec | Unavailable)[] = [
    ...wasmloops('http', baseline),
    nodePeer('node:http', 'node-http.js'),
    nodePeer('node:net', 'net-http.js'),
    cEpoll('http', cPeerMissing),
    nginx(),
  ];
  if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) {
    return { scenario: 'http', markdown: '## HTTP\n\nskipped: wrk is not installed.', goals: goals(() => null) };
  }
  const servers = candidates.filter((s): s is ServerSpec => !('unavailable' in s));
  const configs = CONNECTIONS.flatMap((connections) => servers.map((spec) => ({ connections, spec })));
  const label = ({ connections, spec }: (typeof configs)[number]): string => `${spec.name} c${connections}`;
  const outcomes = await interleave('http', configs, label, ({ spec, connections }) => trial(spec, connections));

  const figures = figuresOf(outcomes);

  const sections = [
    `## HTTP: wrk -t1 -d${SECONDS}s --latency after ${WARMUP_SECONDS} s of the same load, GET / → "hello"\n\n` +
      "The last two columns divide wasmloop's median by the row's: above 1 is more requests/s, below 1 less CPU per request.",
  ];
  const json: Record<string, unknown> = {};
  const rates: Measured[] = [];
  const cpus: Measured[] = [];
  for (const connections of CONNECTIONS) {
    const ours = figures('wasmloop', connections);
    const group = `${connections.toLocaleString('en-US')} connections`;
    const rows = candidates.map((spec) => {
      const key = `${spec.name} c${connections}`;
      if ('unavailable' in spec) return [spec.name, `unavailable: ${spec.unavailable}`, '', '', '', '', '', ''];
      const trials = outcomes.get(key)?.trials ?? [];
      rates.push({ group, server: spec.name, trials: trials.map((t) => t.perSecond) });
      cpus.push({ group, server: spec.name, trials: trials.map((t) => t.cpuUsPerRequest) });
      const f = figures(spec.name, connections);
      const error = outcomes.get(key)?.error;
      json[key] = { ...f, error };
      if (!f) return [spec.name, `failed: ${briefly(error ?? 'no trial')}`, '', '', '', '', '', ''];
      return [
        spec.name,
        spread(f.perSecond) + (error ? ' (a trial failed)' : ''),
        fmt(f.p50ms.median),
        `${fmt(f.p99ms.median)} (${fmt(f.p99ms.min)}–${fmt(f.p99ms.max)})`,
        `${f.timeouts.join('/')} · ${f.socketErrors.join('/')} · ${f.non2xx.join('/')}`,
        spread(f.cpuUsPerRequest),
        ratio(ours?.perSecond.median ?? 0, f.perSecond.median),
        ratio(ours?.cpuUsPerRequest.median ?? 0, f.cpuUsPerRequest.median),
      ];
    });
    sections.push(
      `### ${connections} connections\n\n` +
        table(
          [
            'server',
            'requests/s median (min–max)',
            'p50 ms',
            'p99 ms median (min–max)',
            'timeouts · socket errors · non-2xx, per trial',
            'server CPU µs/req median (min–max)',
            'req/s: wasmloop ÷ row',
            'CPU/req: wasmloop ÷ row',
          ],
          rows,
        ),
    );
  }

  writeResult('http.json', { machine, baseline, seconds: SECONDS, connections: CONNECTIONS, results: json, outcomes: Object.fromEntries(outcomes) });
  const title = `HTTP, wrk -t1 -d${SECONDS}s GET /`;
  return {
    scenario: 'http',
    markdown: sections.join('\n\n'),
    goals: goals(figures),
    charts: {
      'http-throughput.svg': chart(`${title}: throughput`, 'connections', 'requests/s', rates),
      'http-cpu.svg': chart(`${title}: server CPU per request`, 'connections', 'server CPU µs/request', cpus),
    },
    baseline: [...baselineRows('http', 'requests/s', rates), ...baselineRows('http', 'server CPU µs/req', cpus)],
  };
}

/** Each server's figures at a connection count, from the trials `interleave` ran (labelled `<name> c<connections>`). */
export function figuresOf(outcomes: Map<string, { trials: Trial[] }>): (name: string, connections: number) => Figures | null {
  return (name, connections) => {
    const trials = outcomes.get(`${name} c${connections}`)?.trials ?? [];
    if (trials.length === 0) return null;
    const pick = (f: (t: Trial) => number): Spread => summarize(trials.map(f));
    return {
      perSecond: pick((t) => t.perSecond),
      p50ms: pick((t) => t.p50ms),
      p99ms: pick((t) => t.p99ms),
      cpuUsPerRequest: pick((t) => t.cpuUsPerRequest),
      timeouts: trials.map((t) => t.timeouts),
      socketErrors: trials.map((t) => t.socketErrors),
      non2xx: trials.map((t) => t.non2xx),
      trials,
    };
  };
}

/** wasmloop's figure against the peer's (versus), or null when either is missing. */
function against(figures: (name: string, connections: number) => Figures | null, peer: string, connections: number, figure: 'perSecond' | 'cpuUsPerRequest' | 'p99ms'): Versus | null {
  const ours = figures('wasmloop', connections)?.trials;
  const theirs = figures(peer, connections)?.trials;
  return ours === undefined || theirs === undefined ? null : versus(ours.map((t) => t[figure]), theirs.map((t) => t[figure]));
}

function goals(figures: (name: string, connections: number) => Figures | null): Goal[] {
  const missing = 'not measured (wrk or the peer missing, or a run failed)';
  const ratioGoal = (goal: string, peer: string, connections: number, figure: 'perSecond' | 'cpuUsPerRequest', passes: (r: number) => boolean): Goal => {
    const r = against(figures, peer, connections, figure);
    return r === null ? { goal, met: null, figures: missing } : { goal, met: passes(r.ratio), figures: versusText(r) };
  };
  const throughput = ratioGoal('HTTP 50 connections: wasmloop ≥ 2.0× node:http', 'node:http', 50, 'perSecond', (r) => r >= 2.0);
  const at1000 = figures('wasmloop', 1000);
  const peer1000 = figures('node:http', 1000);
  const tail: Goal = { goal: 'HTTP 1,000 connections: zero timeouts, p99 under node:http', met: null, figures: missing };
  if (at1000 && peer1000) {
    const timeouts = at1000.timeouts.reduce((a, b) => a + b, 0);
    tail.met = timeouts === 0 && at1000.p99ms.median < peer1000.p99ms.median;
    tail.figures = `timeouts per trial ${at1000.timeouts.join('/')}; p99 ${fmt(at1000.p99ms.median)} ms vs node:http ${fmt(peer1000.p99ms.median)} ms`;
  }
  const versusNginx: Goal = { goal: 'HTTP 1,000 connections: throughput ≥ 0.9× nginx, p99 ≤ 1.5× nginx, zero timeouts', met: null, figures: missing };
  const rate = against(figures, 'nginx', 1000, 'perSecond');
  const p99 = against(figures, 'nginx', 1000, 'p99ms');
  if (at1000 && rate !== null && p99 !== null) {
    const timeouts = at1000.timeouts.reduce((a, b) => a + b, 0);
    versusNginx.met = rate.ratio >= 0.9 && p99.ratio <= 1.5 && timeouts === 0;
    versusNginx.figures = `throughput ${versusText(rate)}, p99 ${versusText(p99)}, timeouts per trial ${at1000.timeouts.join('/')}`;
  }
  return [
    throughput,
    tail,
    ratioGoal('HTTP 50 connections: server CPU per request ≤ 1.15× the C epoll server', 'C epoll', 50, 'cpuUsPerRequest', (r) => r <= 1.15),
    ratioGoal('HTTP 50 connections: server CPU per request ≤ nginx', 'nginx', 50, 'cpuUsPerRequest', (r) => r <= 1.0),
    versusNginx,
  ];
}
