// Echo: the project's load generator (bench/echo-load.ts; 50 connections, one
// message in flight each) with 64 B and 16 KiB messages against wasmloop's
// echo server, the node:net echo peer and the C epoll peer. Each trial is a
// fresh server; its CPU time is read from the end of the warm-up to the end
// of the measured run.
import {
  briefly,
  cpuSeconds,
  fmt,
  here,
  interleave,
  ratio,
  runToEnd,
  spread,
  startServer,
  summarize,
  table,
  writeResult,
  type Machine,
  type ScenarioReport,
  type ServerSpec,
  type Unavailable,
} from './harness.js';
import { cEpoll, nodePeer, wasmloop } from './servers.js';

const CONNECTIONS = 50;
const SIZES = [64, 16384];
const SECONDS = 0.8;
const WARMUP_SECONDS = 0.3;

interface Trial {
  perSecond: number;
  p50us: number;
  p99us: number;
  cpuUsPerTrip: number;
}

async function trial(spec: ServerSpec, size: number): Promise<Trial> {
  const server = await startServer(spec);
  try {
    let cpuAtStart = cpuSeconds(server.pid);
    const args = [
      here('./echo-load.js'),
      ...['--port', String(server.port), '--size', String(size), '--connections', String(CONNECTIONS)],
      ...['--seconds', String(SECONDS), '--warmup', String(WARMUP_SECONDS)],
    ];
    const out = await runToEnd({ file: process.execPath, args, role: 'load' }, (SECONDS + WARMUP_SECONDS + 30) * 1000, (line) => {
      if (line === 'measuring') cpuAtStart = cpuSeconds(server.pid);
    });
    // The load generator exits right after its run, so the server idles from
    // there: CPU read now adds no work to the measured trips.
    const cpu = cpuSeconds(server.pid) - cpuAtStart;
    const load = JSON.parse(out.trim().split('\n').pop()!) as { roundTrips: number; perSecond: number; p50us: number; p99us: number };
    return { perSecond: load.perSecond, p50us: load.p50us, p99us: load.p99us, cpuUsPerTrip: (cpu / load.roundTrips) * 1e6 };
  } finally {
    await server.stop();
  }
}

export async function run(machine: Machine, cPeerMissing: string | null): Promise<ScenarioReport> {
  const candidates: (ServerSpec | Unavailable)[] = [wasmloop('echo'), nodePeer('node:net', 'net-echo.js'), cEpoll('echo', cPeerMissing)];
  const servers = candidates.filter((s): s is ServerSpec => !('unavailable' in s));
  const configs = SIZES.flatMap((size) => servers.map((spec) => ({ size, spec })));
  const label = ({ size, spec }: (typeof configs)[number]): string => `${spec.name} ${size} B`;
  const outcomes = await interleave('echo', configs, label, ({ spec, size }) => trial(spec, size));

  const rows: string[][] = [];
  const json: Record<string, unknown> = {};
  for (const size of SIZES) {
    const oursTrials = outcomes.get(`wasmloop ${size} B`)?.trials ?? [];
    const ours = oursTrials.length ? summarize(oursTrials.map((t) => t.perSecond)).median : 0;
    for (const spec of candidates) {
      const key = `${spec.name} ${size} B`;
      if ('unavailable' in spec) {
        rows.push([`${size} B`, spec.name, `unavailable: ${spec.unavailable}`, '', '', '', '']);
        continue;
      }
      const { trials, error } = outcomes.get(key)!;
      if (trials.length === 0) {
        rows.push([`${size} B`, spec.name, `failed: ${briefly(error ?? 'no trial')}`, '', '', '', '']);
        continue;
      }
      const pick = (f: (t: Trial) => number) => summarize(trials.map(f));
      const rate = pick((t) => t.perSecond);
      json[key] = { perSecond: rate, p50us: pick((t) => t.p50us), p99us: pick((t) => t.p99us), cpuUsPerTrip: pick((t) => t.cpuUsPerTrip), error };
      rows.push([
        `${size} B`,
        spec.name,
        spread(rate) + (error ? ' (a trial failed)' : ''),
        fmt(pick((t) => t.p50us).median),
        fmt(pick((t) => t.p99us).median),
        fmt(pick((t) => t.cpuUsPerTrip).median),
        ratio(ours, rate.median),
      ]);
    }
  }
  writeResult('echo.json', { machine, connections: CONNECTIONS, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, results: json, outcomes: Object.fromEntries(outcomes) });
  const markdown =
    `## Echo: bench/echo-load, ${CONNECTIONS} connections, one message in flight each, ${SECONDS} s after ${WARMUP_SECONDS} s warm-up\n\n` +
    table(['payload', 'server', 'round trips/s median (min–max)', 'p50 µs', 'p99 µs', 'server CPU µs/trip', 'wasmloop ÷ row'], rows);
  return { scenario: 'echo', markdown, goals: [] };
}
