// One trial: a fresh server process on the server CPU, idle connections
// opened first, a warm-up, then the measured load from a real client on the
// client CPU. The server's CPU time is read from /proc around the measured
// part only, so accepting 10,000 idle connections does not count per request.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { cpuSeconds, freePort, runClient, startHelper, startServer, stop } from './processes.js';

export type Workload = 'resp' | 'http' | 'echo64' | 'echo16k';
export type Mode = 'epoll-level' | 'epoll-edge' | 'poll-level' | 'select-level';

/** What one trial runs. `server` is 'wasmloop', 'wasmloop-lab' or a peer's name. */
export interface TrialConfig {
  server: string;
  workload: Workload;
  connections: number;
  depth: number;
  mode?: Mode;
  maxEvents?: number;
  /** Loop options for the lab server (bench/lab/server.ts), as its flags without the dashes. */
  loopFlags?: Record<string, number>;
  /** Every connection active (the guard experiments) instead of 1%. */
  allActive?: boolean;
  /** Connection storms run beside the load (the accepts-per-event experiment): connections per storm. */
  storm?: number;
}

export interface TrialResult {
  perSecond: number;
  p50us: number;
  p99us: number;
  cpuUsPerRequest: number;
  requests: number;
  /** What the lab server printed at exit (timer probe, loop metrics). */
  server?: unknown;
  storms?: number;
}

export const ACTIVE_SHARE = 0.01;
const root = new URL('../../../', import.meta.url).pathname;
const build = (path: string): string => join(root, 'build', path);
const NODE = process.execPath;

export const activeConnections = (config: TrialConfig): number =>
  config.allActive ? config.connections : Math.max(1, Math.round(config.connections * ACTIVE_SHARE));

const protocolOf = (workload: Workload): 'resp' | 'http' | 'echo' => (workload === 'resp' || workload === 'http' ? workload : 'echo');

/** The peers that speak a workload, in report order. */
export function peersFor(workload: Workload, available: ReadonlySet<string>): string[] {
  const peers =
    workload === 'resp' ? ['node:net', 'redis-server', 'c-epoll'] : workload === 'http' ? ['node:http', 'node:net', 'nginx', 'c-epoll'] : ['node:net', 'c-epoll'];
  return peers.filter((peer) => available.has(peer));
}

function nginxConfig(port: number): string {
  const dir = join(tmpdir(), `wasmloop-lab-nginx-${process.pid}`);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const file = join(dir, `nginx-${port}.conf`);
  // One worker: the one-core comparison. Logs off, keep-alive unlimited.
  writeFileSync(
    file,
    `worker_processes 1;\ndaemon off;\nmaster_process on;\npid ${dir}/nginx-${port}.pid;\nerror_log ${dir}/logs/error.log crit;\n` +
      `events { worker_connections 20000; }\nworker_rlimit_nofile 20000;\n` +
      `http {\n  access_log off;\n  keepalive_requests 100000000;\n  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};\n` +
      `  server {\n    listen 127.0.0.1:${port} backlog=4096;\n    location / { default_type text/plain; return 200 'hello'; }\n  }\n}\n`,
  );
  return file;
}

/** The command that starts `config`'s server, and the port to pass (0: it picks and prints one). */
async function serverCommand(config: TrialConfig): Promise<{ command: string; args: string[]; port: number }> {
  const protocol = protocolOf(config.workload);
  const [backend, trigger] = (config.mode ?? 'epoll-level').split('-') as [string, string];
  switch (config.server) {
    case 'wasmloop':
      return {
        command: NODE,
        args: [build('src/serve/cli.js'), 'serve', '--protocol', protocol, '--port', '0', '--backend', backend, '--trigger', trigger, '--max-events', String(config.maxEvents ?? 1024)],
        port: 0,
      };
    case 'wasmloop-lab': {
      const flags = Object.entries({ 'max-events': config.maxEvents ?? 1024, ...config.loopFlags }).flatMap(([k, v]) => [`--${k}`, String(v)]);
      return {
        command: NODE,
        args: [build('bench/lab/server.js'), '--protocol', protocol, '--port', '0', '--backend', backend, '--trigger', trigger, '--probe-ms', '10', ...flags],
        port: 0,
      };
    }
    case 'node:net': {
      const peer = { echo: 'net-echo.js', http: 'net-http.js', resp: 'net-resp.js' }[protocol];
      return { command: NODE, args: [build(`bench/peers/${peer}`)], port: 0 };
    }
    case 'node:http':
      return { command: NODE, args: [build('bench/peers/node-http.js')], port: 0 };
    case 'c-epoll': {
      const port = await freePort();
      return { command: build('bench-peers/c-epoll-echo'), args: ['--port', String(port), '--mode', protocol], port };
    }
    case 'redis-server': {
      const port = await freePort();
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--maxclients', '15000', '--daemonize', 'no', '--loglevel', 'warning'];
      return { command: 'redis-server', args, port };
    }
    case 'nginx': {
      const port = await freePort();
      return { command: 'nginx', args: ['-c', nginxConfig(port), '-e', '/dev/null'], port };
    }
    default:
      throw new Error(`unknown server '${config.server}'`);
  }
}

export function peerAvailable(peer: string, tools: { redis: boolean; nginx: boolean }): boolean {
  if (peer === 'c-epoll') return existsSync(build('bench-peers/c-epoll-echo'));
  if (peer === 'redis-server') return tools.redis;
  if (peer === 'nginx') return tools.nginx;
  return true;
}

/** Requests per second a previous trial of the same shape reached, to size redis-benchmark's -n. */
const rateSeen = new Map<string, number>();

const wrkLatencyUs = (text: string, quantile: string): number => {
  const match = new RegExp(`^\\s*${quantile}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(text);
  if (!match) return NaN;
  return Number(match[1]) * { us: 1, ms: 1e3, s: 1e6 }[match[2] as 'us' | 'ms' | 's'];
};

async function measureWithTool(config: TrialConfig, port: number, server: ChildProcess, seconds: number): Promise<TrialResult> {
  const active = activeConnections(config);
  if (config.workload === 'http') {
    const args = ['-t1', `-c${active}`, '--latency', '-s', join(root, 'bench/lab/wrk-pipeline.lua'), `http://127.0.0.1:${port}/`];
    const env = { ...process.env, WRK_DEPTH: String(config.depth) };
    await runClient('wrk', ['-d1s', ...args], 30, undefined, env);
    const before = cpuSeconds(server.pid!);
    const run = await runClient('wrk', [`-d${seconds}s`, ...args], seconds + 30, undefined, env);
    const cpu = cpuSeconds(server.pid!) - before;
    const requests = Number(/(\d+) requests in/.exec(run.stdout)?.[1] ?? NaN);
    const perSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(run.stdout)?.[1] ?? NaN);
    if (!Number.isFinite(perSecond)) throw new Error(`wrk: ${run.stderr.trim() || run.stdout.trim()}`);
    return { perSecond, p50us: wrkLatencyUs(run.stdout, '50'), p99us: wrkLatencyUs(run.stdout, '99'), cpuUsPerRequest: (cpu / requests) * 1e6, requests };
  }
  const key = `${config.server}/${config.connections}/${config.depth}`;
  const requests = Math.max(20_000, Math.round((rateSeen.get(key) ?? 20_000 * config.depth) * seconds));
  const base = ['-h', '127.0.0.1', '-p', String(port), '-c', String(active), '-P', String(config.depth), '-t', 'ping_mbulk', '--csv'];
  // A short warm-up: the JIT and the TCP windows, not a second measurement.
  await runClient('redis-benchmark', [...base, '-n', String(Math.min(Math.round(requests / 4), 20_000))], 60);
  const before = cpuSeconds(server.pid!);
  const run = await runClient('redis-benchmark', [...base, '-n', String(requests)], seconds * 10 + 30);
  const cpu = cpuSeconds(server.pid!) - before;
  const row = run.stdout.split('\n').find((line) => line.startsWith('"PING_MBULK"'));
  if (row === undefined) throw new Error(`redis-benchmark: ${run.stderr.trim() || run.stdout.trim()}`);
  const cells = row.split(',').map((cell) => Number(cell.replace(/"/g, '')));
  const perSecond = cells[1]!;
  rateSeen.set(key, perSecond);
  return { perSecond, p50us: cells[4]! * 1000, p99us: cells[6]! * 1000, cpuUsPerRequest: (cpu / requests) * 1e6, requests };
}

async function measureEcho(config: TrialConfig, port: number, server: ChildProcess, seconds: number): Promise<TrialResult> {
  const active = activeConnections(config);
  const idle = config.allActive ? 0 : config.connections - active;
  const size = config.workload === 'echo16k' ? 16384 : 64;
  const args = [build('bench/echo-load.js'), '--port', String(port), '--connections', String(active), '--idle', String(idle)];
  args.push('--depth', String(config.depth), '--size', String(size), '--seconds', String(seconds), '--warmup', '1');
  let before = NaN;
  let storms = 0;
  let storming: Promise<void> | undefined;
  let measuring = true;
  const run = await runClient(NODE, args, seconds + 120, (line) => {
    if (line !== 'measuring') return;
    before = cpuSeconds(server.pid!);
    if (config.storm === undefined) return;
    // Storms one after another while the load runs: each opens `storm`
    // connections at once and closes them when all are open.
    storming = (async () => {
      while (measuring) {
        const storm = await runClient(NODE, [build('bench/echo-load.js'), '--port', String(port), '--connections', '0', '--idle', String(config.storm), '--seconds', '0'], 60);
        if (storm.code === 0) storms++;
      }
    })();
  });
  const cpu = cpuSeconds(server.pid!) - before;
  measuring = false;
  await storming;
  const last = run.stdout.trim().split('\n').pop() ?? '';
  if (run.code !== 0 || !last.startsWith('{')) throw new Error(`echo-load exited with ${run.code}: ${run.stderr.trim().slice(-400)}`);
  const result = JSON.parse(last) as { perSecond: number; p50us: number; p99us: number; roundTrips: number };
  return { perSecond: result.perSecond, p50us: result.p50us, p99us: result.p99us, cpuUsPerRequest: (cpu / result.roundTrips) * 1e6, requests: result.roundTrips, storms };
}

/** Runs one trial; the server is stopped whatever happens. */
export async function runTrial(config: TrialConfig, seconds: number): Promise<TrialResult> {
  const { command, args, port: requestedPort } = await serverCommand(config);
  const server = await startServer(command, args, requestedPort);
  let holder: ChildProcess | undefined;
  try {
    let result: TrialResult;
    if (config.workload === 'echo64' || config.workload === 'echo16k') {
      result = await measureEcho(config, server.port, server.child, seconds);
    } else {
      const idle = config.allActive ? 0 : config.connections - activeConnections(config);
      if (idle > 0) {
        const holderArgs = [build('bench/echo-load.js'), '--port', String(server.port), '--connections', '0', '--idle', String(idle), '--seconds', '3600'];
        holder = await startHelper(NODE, holderArgs, /"idle":\d+/);
      }
      result = await measureWithTool(config, server.port, server.child, seconds);
    }
    if (config.server === 'wasmloop-lab') {
      await stop(server.child);
      const last = server.stdout().trim().split('\n').pop() ?? '';
      if (last.startsWith('{')) result.server = JSON.parse(last);
    }
    return result;
  } finally {
    if (holder !== undefined) await stop(holder);
    await stop(server.child);
  }
}
