// Echo: the project's load generator (bench/echo-load.ts; 50 connections, one
// message in flight each) with 64 B and 16 KiB messages against wasmloop's
// echo server (and a baseline checkout's), the node:net echo peer and the C
// epoll peer. Each trial is a
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
  type Context,
  type ScenarioReport,
  type ServerSpec,
  type Unavailable,
} from './harness.js';
import { baselineRows, chart, type Measured } from './report.js';
import { cEpoll, nodePeer, wasmloops } from './servers.js';

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

export async function run({ machine, cPeerMissing, baseline }: Context): Promise<ScenarioReport> {
  const candidates: (ServerSpec | Unavailable)[] = [...wasmloops('echo', baseline), nodePeer('node:net', 'net-echo.js'), cEpoll('echo', cPeerMissing)];
  const servers = candidates.filter((s): s is ServerSpec => !('unavailable' in s));
  const configs = SIZES.flatMap((size) => servers.map((spec) => ({ size, spec })));
  const label = ({ size, spec }: (typeof configs)[number]): string => `${spec.name} ${size} B`;
  const outcomes = await interleave('echo', configs, label, ({ spec, size }) => trial(spec, size));

  const rows: string[][] = [];
  const json: Record<string, unknown> = {};
  const rates: Measured[] = [];
  const cpus: Measured[] = [];
  const sizeName = (size: number): string => (size >= 1024 ? `${size / 1024} KiB` : `${size} B`);
  for (const size of SIZES) {
    const oursTrials = outcomes.get(`wasmloop ${size} B`)?.trials ?? [];
    const ours = oursTrials.length ? { rate: summarize(oursTrials.map((t) => t.perSecond)).median, cpu: summarize(oursTrials.map((t) => t.cpuUsPerTrip)).median } : null;
    for (const spec of candidates) {
      const key = `${spec.name} ${size} B`;
      if ('unavailable' in spec) {
        rows.push([sizeName(size), spec.name, `unavailable: ${spec.unavailable}`, '', '', '', '', '']);
        continue;
      }
      const { trials, error } = outcomes.get(key)!;
      rates.push({ group: sizeName(size), server: spec.name, trials: trials.map((t) => t.perSecond) });
      cpus.push({ group: sizeName(size), server: spec.name, trials: trials.map((t) => t.cpuUsPerTrip) });
      if (trials.length === 0) {
        rows.push([sizeName(size), spec.name, `failed: ${briefly(error ?? 'no trial')}`, '', '', '', '', '']);
        continue;
      }
      const pick = (f: (t: Trial) => number) => summarize(trials.map(f));
      const rate = pick((t) => t.perSecond);
      const cpu = pick((t) => t.cpuUsPerTrip);
      json[key] = { perSecond: rate, p50us: pick((t) => t.p50us), p99us: pick((t) => t.p99us), cpuUsPerTrip: cpu, error };
      rows.push([
        sizeName(size),
        spec.name,
        spread(rate) + (error ? ' (a trial failed)' : ''),
        fmt(pick((t) => t.p50us).median),
        fmt(pick((t) => t.p99us).median),
        spread(cpu),
        ratio(ours?.rate ?? 0, rate.median),
        ratio(ours?.cpu ?? 0, cpu.median),
      ]);
    }
  }
  writeResult('echo.json', { machine, baseline, connections: CONNECTIONS, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, results: json, outcomes: Object.fromEntries(outcomes) });
  const markdown =
    `## Echo: bench/echo-load, ${CONNECTIONS} connections, one message in flight each, ${SECONDS} s after ${WARMUP_SECONDS} s warm-up\n\n` +
    "The last two columns divide wasmloop's median by the row's: above 1 is more round trips/s, below 1 less CPU per trip.\n\n" +
    table(
      ['payload', 'server', 'round trips/s median (min–max)', 'p50 µs', 'p99 µs', 'server CPU µs/trip median (min–max)', 'trips/s: wasmloop ÷ row', 'CPU/trip: wasmloop ÷ row'],
      rows,
    );
  const title = `Echo, ${CONNECTIONS} connections`;
  return {
    scenario: 'echo',
    markdown,
    goals: [],
    charts: {
      'echo-throughput.svg': chart(`${title}: throughput`, 'message size', 'round trips/s', rates),
      'echo-cpu.svg': chart(`${title}: server CPU per round trip`, 'message size', 'server CPU µs/round trip', cpus),
    },
    baseline: [...baselineRows('echo', 'round trips/s', rates), ...baselineRows('echo', 'server CPU µs/trip', cpus)],
  };
}
