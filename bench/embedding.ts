// `node build/bench/embedding.js`: the cost of embedding. The RESP server of
// bench/embed-server.ts in run() mode against the same server in start()
// mode, loaded by redis-benchmark (GET, 50 connections, pipelines of 1 and
// 16 requests), each trial a fresh server process, modes interleaved so
// drift on a noisy machine hits both alike. Reports requests per second
// (median, min–max), latency, the server's CPU time per request (from
// /proc), and start()'s ratio to run().
//
// Each run is about BENCH_SECONDS long: the request count is calibrated once
// per pipeline depth on a run() server and used for every trial.
// BENCH_TRIALS (3) and BENCH_SECONDS (2) override the defaults.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONNECTIONS = 50;
const PIPELINES = [1, 16];
const MODES = ['run', 'start'] as const;
type Mode = (typeof MODES)[number];
const CALIBRATION_REQUESTS = 20_000;

interface Trial {
  requests: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  cpuUsPerRequest: number;
}

const here = (path: string): string => new URL(path, import.meta.url).pathname;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime + stime
}

function startServer(mode: Mode): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [here('./embed-server.js'), '--mode', mode, '--protocol', 'resp'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const timer = setTimeout(() => reject(new Error(`the ${mode} server did not start`)), 10_000);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`the ${mode} server exited with ${code}`)));
  });
}

/** One redis-benchmark run: requests/s and latency from its CSV line. */
function redisBenchmark(port: number, pipeline: number, requests: number): { perSecond: number; p50ms: number; p99ms: number } {
  const csv = execFileSync('redis-benchmark', [
    '-h', '127.0.0.1', '-p', String(port), '-c', String(CONNECTIONS), '-P', String(pipeline),
    '-n', String(requests), '-t', 'get', '--csv',
  ], { timeout: (SECONDS * 20 + 30) * 1000 }).toString();
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const row = csv.trim().split('\n').find((line) => line.startsWith('"GET"'));
  if (row === undefined) throw new Error(`redis-benchmark printed no GET row:\n${csv}`);
  const cells = row.split(',').map((cell) => Number(cell.replaceAll('"', '')));
  return { perSecond: cells[1]!, p50ms: cells[4]!, p99ms: cells[6]! };
}

async function trial(mode: Mode, pipeline: number, requests: number): Promise<Trial> {
  const { child, port } = await startServer(mode);
  try {
    const before = cpuSeconds(child.pid!);
    const load = redisBenchmark(port, pipeline, requests);
    const cpu = cpuSeconds(child.pid!) - before;
    return { requests, ...load, cpuUsPerRequest: (cpu / requests) * 1e6 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

async function calibrate(pipeline: number): Promise<number> {
  const { child, port } = await startServer('run');
  try {
    const { perSecond } = redisBenchmark(port, pipeline, CALIBRATION_REQUESTS * pipeline);
    return Math.max(CALIBRATION_REQUESTS, Math.round((perSecond * SECONDS) / 1000) * 1000);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

async function main(): Promise<void> {
  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, kernel: release(), node: process.version };
  console.log(`embedding benchmark: RESP GET, redis-benchmark -c ${CONNECTIONS}, ${TRIALS} trials of ~${SECONDS} s per mode and pipeline`);
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}\n`);
  const results: Record<string, Record<Mode, Trial[]>> = {};
  for (const pipeline of PIPELINES) {
    const requests = await calibrate(pipeline);
    const byMode: Record<Mode, Trial[]> = { run: [], start: [] };
    for (let i = 0; i < TRIALS; i++) {
      for (const mode of MODES) byMode[mode].push(await trial(mode, pipeline, requests));
    }
    results[`P${pipeline}`] = byMode;
  }

  const ratios: Record<string, { throughput: number; cpuPerRequest: number }> = {};
  console.log('| pipeline | mode | requests/s (median, min–max) | p50 ms | p99 ms | server CPU µs/request | start ÷ run |');
  console.log('|---|---|---|---|---|---|---|');
  for (const pipeline of PIPELINES) {
    const byMode = results[`P${pipeline}`]!;
    const rate = (mode: Mode): number => median(byMode[mode].map((t) => t.perSecond));
    const cpu = (mode: Mode): number => median(byMode[mode].map((t) => t.cpuUsPerRequest));
    ratios[`P${pipeline}`] = { throughput: rate('start') / rate('run'), cpuPerRequest: cpu('start') / cpu('run') };
    for (const mode of MODES) {
      const rates = byMode[mode].map((t) => t.perSecond);
      const ratio = mode === 'start' ? `${(rate('start') / rate('run')).toFixed(2)}× req/s, ${(cpu('start') / cpu('run')).toFixed(2)}× CPU` : '—';
      console.log(
        `| ${pipeline} | ${mode}() | ${fmt(median(rates))} (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}) ` +
          `| ${fmt(median(byMode[mode].map((t) => t.p50ms)))} | ${fmt(median(byMode[mode].map((t) => t.p99ms)))} ` +
          `| ${cpu(mode).toFixed(2)} | ${ratio} |`,
      );
    }
  }
  mkdirSync(here('../results'), { recursive: true });
  const file = here('../results/embedding.json');
  writeFileSync(file, JSON.stringify({ machine, connections: CONNECTIONS, seconds: SECONDS, trials: TRIALS, results, ratios }, null, 2));
  console.log(`\nraw figures: ${file}`);
}

await main();
