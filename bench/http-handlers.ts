// HTTP through a handler API: the same route on each server (`GET /` → 200,
// "hello", 5 bytes, headers built once, no Date header) written as its users
// write it — wasmloop's httpProtocol({ handler }) (bench/peers/wasmloop-handler.ts),
// node:http (peers/node-http.ts), Fastify (peers/fastify.ts; Fastify adds its
// Date and Keep-Alive headers, which it does not let a route turn off) — and
// nginx's `return 200`. wrk -t1 for 2 s at 50 and 1,000 connections after a
// warm-up of the same load, the server's CPU read around each run, as in http.ts.
import { spawnSync } from 'node:child_process';

import { fmt, interleave, ratio, spread, table, versus, versusText, writeResult, type Context, type Goal, type ScenarioReport, type ServerSpec, type Unavailable, type Versus } from './harness.js';
import { figuresOf, trial, WARMUP_SECONDS } from './http.js';
import { chart, type Measured } from './report.js';
import { nginx, nodePeer } from './servers.js';

const CONNECTIONS = [50, 1000];
const OURS = 'wasmloop handler';

export async function run({ machine }: Context): Promise<ScenarioReport> {
  if (spawnSync('sh', ['-c', 'command -v wrk']).status !== 0) {
    return { scenario: 'handlers', markdown: '## HTTP handlers\n\nskipped: wrk is not installed.', goals: [] };
  }
  const candidates: (ServerSpec | Unavailable)[] = [
    nodePeer(OURS, 'wasmloop-handler.js'),
    nodePeer('node:http', 'node-http.js'),
    nodePeer('Fastify', 'fastify.js'),
    nginx(),
  ];
  const servers = candidates.filter((s): s is ServerSpec => !('unavailable' in s));
  const configs = CONNECTIONS.flatMap((connections) => servers.map((spec) => ({ connections, spec })));
  const outcomes = await interleave('handlers', configs, ({ connections, spec }) => `${spec.name} c${connections}`, ({ spec, connections }) => trial(spec, connections));
  const figures = figuresOf(outcomes);

  const sections = [`## HTTP handlers: wrk -t1 -d2s after ${WARMUP_SECONDS} s of the same load, GET / → 200 "hello" from each server's handler API\n\nThe last two columns divide ${OURS}'s median by the row's.`];
  const rates: Measured[] = [];
  const cpus: Measured[] = [];
  for (const connections of CONNECTIONS) {
    const ours = figures(OURS, connections);
    const group = `${connections.toLocaleString('en-US')} connections`;
    const rows = candidates.map((spec) => {
      if ('unavailable' in spec) return [spec.name, `unavailable: ${spec.unavailable}`, '', '', '', '', ''];
      const trials = outcomes.get(`${spec.name} c${connections}`)?.trials ?? [];
      rates.push({ group, server: spec.name, trials: trials.map((t) => t.perSecond) });
      cpus.push({ group, server: spec.name, trials: trials.map((t) => t.cpuUsPerRequest) });
      const f = figures(spec.name, connections);
      if (!f) return [spec.name, `failed: ${outcomes.get(`${spec.name} c${connections}`)?.error ?? 'no trial'}`, '', '', '', '', ''];
      return [
        spec.name,
        spread(f.perSecond),
        `${fmt(f.p99ms.median)} (${fmt(f.p99ms.min)}–${fmt(f.p99ms.max)})`,
        `${f.timeouts.join('/')} · ${f.socketErrors.join('/')} · ${f.non2xx.join('/')}`,
        spread(f.cpuUsPerRequest),
        ratio(ours?.perSecond.median ?? 0, f.perSecond.median),
        ratio(ours?.cpuUsPerRequest.median ?? 0, f.cpuUsPerRequest.median),
      ];
    });
    sections.push(
      `### ${connections} connections\n\n` +
        table(['server', 'requests/s median (min–max)', 'p99 ms median (min–max)', 'timeouts · socket errors · non-2xx', 'server CPU µs/req median (min–max)', `req/s: ${OURS} ÷ row`, `CPU/req: ${OURS} ÷ row`], rows),
    );
  }
  writeResult('http-handlers.json', { machine, connections: CONNECTIONS, results: Object.fromEntries(outcomes) });

  const against = (peer: string, figure: 'perSecond' | 'cpuUsPerRequest'): Versus | null => {
    const ours = figures(OURS, 50)?.trials;
    const theirs = figures(peer, 50)?.trials;
    return ours === undefined || theirs === undefined ? null : versus(ours.map((t) => t[figure]), theirs.map((t) => t[figure]));
  };
  const goal = (text: string, r: Versus | null, passes: (r: number) => boolean): Goal =>
    r === null ? { goal: text, met: null, figures: 'not measured (a server missing or a run failed)' } : { goal: text, met: passes(r.ratio), figures: versusText(r) };
  const title = 'HTTP handlers, wrk -t1 -d2s GET /';
  return {
    scenario: 'handlers',
    markdown: sections.join('\n\n'),
    goals: [
      goal('HTTP handler API, 50 connections: throughput ≥ 2.0× node:http', against('node:http', 'perSecond'), (r) => r >= 2.0),
      goal('HTTP handler API, 50 connections: server CPU per request ≤ 0.5× node:http', against('node:http', 'cpuUsPerRequest'), (r) => r <= 0.5),
      goal("HTTP handler API, 50 connections: server CPU per request within 1.3× nginx's", against('nginx', 'cpuUsPerRequest'), (r) => r <= 1.3),
    ],
    charts: {
      'http-handlers-throughput.svg': chart(`${title}: throughput`, 'connections', 'requests/s', rates),
      'http-handlers-cpu.svg': chart(`${title}: server CPU per request`, 'connections', 'server CPU µs/request', cpus),
    },
  };
}
