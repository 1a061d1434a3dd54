// `npm run bench`: the echo benchmark. wasmloop's echo server against a
// node:net echo server, measured in the same run with the same load
// generator, each trial a fresh pair of processes, trials interleaved so
// drift on a noisy machine hits both alike. Reports the median round trips
// per second with min–max, latency, the server's CPU time per round trip
// (from /proc), and the ratio to node:net.
//
// BENCH_TRIALS (3) and BENCH_SECONDS (3) override the defaults.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

interface Trial {
  perSecond: number;
  p50us: number;
  p99us: number;
  cpuUsPerTrip: number;
}

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = 50;
const SIZES = [64, 16384];
const here = (path: string): string => new URL(path, import.meta.url).pathname;
const SERVERS: Record<string, string[]> = {
  wasmloop: [here('../src/cli.js'), 'serve', '--protocol', 'echo', '--port', '0'],
  'node:net': [here('./peers/net-echo.js')],
};
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime + stime
}

function startServer(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error(`server did not start: ${args.join(' ')}`)), 10_000);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

function runLoad(port: number, size: number): Promise<{ perSecond: number; roundTrips: number; p50us: number; p99us: number }> {
  const args = [here('./echo-load.js'), '--port', String(port), '--size', String(size), '--connections', String(CONNECTIONS), '--seconds', String(SECONDS)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 30) * 1000);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`load generator exited with ${code}`));
    });
  });
}

async function trial(server: string, size: number): Promise<Trial> {
  const { child, port } = await startServer(SERVERS[server]!);
  try {
    const before = cpuSeconds(child.pid!);
    const load = await runLoad(port, size);
    // CPU over the whole load run (including its 1 s warm-up), per measured trip,
    // scaled to the measured share: close enough, and identical for both servers.
    const cpu = cpuSeconds(child.pid!) - before;
    const trips = load.roundTrips * ((SECONDS + 1) / SECONDS);
    return { perSecond: load.perSecond, p50us: load.p50us, p99us: load.p99us, cpuUsPerTrip: (cpu / trips) * 1e6 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));

async function main(): Promise<void> {
  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, kernel: release(), node: process.version };
  console.log(`echo benchmark: ${CONNECTIONS} connections, ${TRIALS} trials of ${SECONDS} s, one request in flight per connection`);
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}\n`);
  const results: Record<string, Record<string, Trial[]>> = {};
  for (const size of SIZES) {
    const bySize: Record<string, Trial[]> = {};
    for (let i = 0; i < TRIALS; i++) {
      for (const server of Object.keys(SERVERS)) (bySize[server] ??= []).push(await trial(server, size));
    }
    results[size] = bySize;
  }

  console.log('| payload | server | round trips/s (median, min–max) | p50 µs | p99 µs | server CPU µs/trip | vs node:net |');
  console.log('|---|---|---|---|---|---|---|');
  for (const size of SIZES) {
    const peer = median(results[size]!['node:net']!.map((t) => t.perSecond));
    for (const [server, trials] of Object.entries(results[size]!)) {
      const rates = trials.map((t) => t.perSecond);
      console.log(
        `| ${size} B | ${server} | ${fmt(median(rates))} (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}) ` +
          `| ${fmt(median(trials.map((t) => t.p50us)))} | ${fmt(median(trials.map((t) => t.p99us)))} ` +
          `| ${median(trials.map((t) => t.cpuUsPerTrip)).toFixed(2)} | ${(median(rates) / peer).toFixed(2)}× |`,
      );
    }
  }
  mkdirSync(here('../results'), { recursive: true });
  const file = here('../results/echo.json');
  writeFileSync(file, JSON.stringify({ machine, connections: CONNECTIONS, seconds: SECONDS, trials: TRIALS, results }, null, 2));
  console.log(`\nraw figures: ${file}`);
}

await main();
