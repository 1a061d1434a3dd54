// The machinery every scenario of the quick suite shares: start a server in a
// fresh process (pinned to its own CPU), run a load generator against it
// (pinned to another), read the server's CPU time and memory from /proc,
// interleave trials so drift on a noisy machine hits every server alike, and
// summarise trials as median with min–max.
//
// Every child is started in its own process group and remembered until it
// exits, so a failed scenario, a timeout or Ctrl-C kills servers together
// with the workers they forked (nginx) and no process outlives the suite.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { accepts, freePort } from './net-probe.js';
import type { Baseline } from './options.js';
import { cpuSeconds } from './proc.js';
import type { BaselineRow } from './report.js';

export { briefly, fmt, ratio, spread, summarize, table, versus, versusText, type Spread, type Versus } from './figures.js';

export { accepts, cpuSeconds, freePort };

export const here = (path: string): string => new URL(path, import.meta.url).pathname;
export const RESULTS_DIR = here('../results');
/** Trials per configuration; each trial is a fresh server process. */
export const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);

// ---- pinning -------------------------------------------------------------------

export type Role = 'server' | 'load';

/** CPUs per role when taskset works and there are two cores; null runs unpinned. */
export const pinning: Record<Role, string> | null =
  cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0 ? { server: '0', load: '1' } : null;

export const pinningNote = pinning
  ? `servers pinned to CPU ${pinning.server}, load generators to CPU ${pinning.load} (taskset)`
  : 'not pinned (taskset unavailable or fewer than 2 CPUs)';

// ---- processes -----------------------------------------------------------------

const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // The group is gone already.
  }
}

process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

export interface Launch {
  file: string;
  args: string[];
  role: Role;
  /** Raise RLIMIT_NOFILE to at least this in the child's shell (as far as the hard limit allows). */
  nofile?: number;
  env?: Record<string, string>;
  /** Give the child a pipe on stdin (otherwise /dev/null). */
  stdin?: boolean;
}

/**
 * Starts a process in its own group, pinned for its role. A shell that raises
 * RLIMIT_NOFILE, and taskset, both exec, so the pid stays the program's own:
 * /proc/<pid>/stat is the server's, not a wrapper's.
 */
export function launch({ file, args, role, nofile, env, stdin }: Launch): ChildProcess {
  let command = file;
  let argv = args;
  if (pinning) [command, argv] = ['taskset', ['-c', pinning[role], command, ...argv]];
  if (nofile) {
    const script = `[ "$(ulimit -n)" -ge ${nofile} ] || ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
    [command, argv] = ['bash', ['-c', script, command, ...argv]];
  }
  const child = spawn(command, argv, { detached: true, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Stops a process group: SIGTERM, then SIGKILL after `graceMs`. Resolves once the leader exited. */
export async function stop(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  // Workers an unclean leader left behind (nginx's) share its group.
  killGroup(child, 'SIGKILL');
}

const tail = (text: string): string => text.trim().split('\n').slice(-5).join('\n');

/** Calls `onLine` for each line the child prints on stdout. */
export function lines(child: ChildProcess, onLine: (line: string) => void): void {
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const line of parts) onLine(line);
  });
}

/** Runs a load generator to its end (SIGKILL after `timeoutMs`); rejects on failure with its stderr. */
export function runToEnd(spec: Launch, timeoutMs: number, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = launch(spec);
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    if (onLine) lines(child, onLine);
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else {
        const why = timedOut ? `timed out after ${timeoutMs / 1000} s` : `exited with ${code ?? signal}`;
        reject(new Error(`${spec.file} ${why}: ${tail(err || out)}`));
      }
    });
  });
}

// ---- servers -------------------------------------------------------------------

export interface ServerSpec {
  /** The name tables and JSON use. */
  name: string;
  /** The command line for a server on `port`: 0 for servers that announce the port they chose. */
  command(port: number): { file: string; args: string[]; cleanup?: () => void };
  /** Prints "... listening on 127.0.0.1:PORT" once ready; otherwise the runner picks a port and polls it. */
  announces: boolean;
  nofile?: number;
}

/** A peer that cannot run here, and why; it shows in the tables as such. */
export interface Unavailable {
  name: string;
  unavailable: string;
}

export interface RunningServer {
  name: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

const ANNOUNCEMENT = /listening on 127\.0\.0\.1:(\d+)/;
const START_TIMEOUT_MS = 10_000;

export async function startServer(spec: ServerSpec): Promise<RunningServer> {
  const chosen = spec.announces ? 0 : await freePort();
  const { file, args, cleanup } = spec.command(chosen);
  const child = launch({ file, args, role: 'server', ...(spec.nofile ? { nofile: spec.nofile } : {}) });
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const stopServer = async (): Promise<void> => {
    await stop(child);
    cleanup?.();
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${spec.name} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      child.once('exit', (code) => reject(new Error(`${spec.name} exited with ${code} while starting: ${tail(err)}`)));
      child.once('error', reject);
      const ready = (port: number): void => {
        clearTimeout(timer);
        resolve(port);
      };
      if (spec.announces) {
        lines(child, (line) => {
          const match = ANNOUNCEMENT.exec(line);
          if (match) ready(Number(match[1]));
        });
      } else {
        child.stdout!.resume();
        const poll = async (): Promise<void> => {
          if (child.exitCode !== null) return;
          if (await accepts(chosen)) ready(chosen);
          else setTimeout(poll, 50);
        };
        void poll();
      }
    });
    return { name: spec.name, pid: child.pid!, port, stop: stopServer };
  } catch (error) {
    await stopServer();
    throw error;
  }
}

// ---- /proc ---------------------------------------------------------------------

/** Resident set size of one process, KiB. */
export function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  if (!line) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(/(\d+)/.exec(line)![1]);
}

/** Open fds of one process. */
export const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

// ---- trials and statistics -------------------------------------------------------

export interface Outcome<R> {
  trials: R[];
  /** Why the configuration stopped early; its finished trials are kept. */
  error?: string;
}

/**
 * Runs TRIALS rounds; each round runs every configuration once, so slow
 * drift (other work on the machine, thermal state) spreads over all of them
 * instead of landing on one. Odd rounds go in the given order, even rounds in
 * reverse: a configuration that always ran right after another (the baseline
 * after wasmloop) would otherwise always meet what that one left behind
 * (sockets in TIME_WAIT, a warmer or cooler machine), and a linear drift
 * cancels over each pair of rounds. A configuration that fails is not
 * retried; its trials are those of the rounds before.
 */
export async function interleave<C, R>(
  scenario: string,
  configs: C[],
  label: (config: C) => string,
  trial: (config: C) => Promise<R>,
): Promise<Map<string, Outcome<R>>> {
  const outcomes = new Map(configs.map((config) => [label(config), { trials: [] } as Outcome<R>]));
  for (let round = 1; round <= TRIALS; round++) {
    for (const config of round % 2 === 1 ? configs : [...configs].reverse()) {
      const outcome = outcomes.get(label(config))!;
      if (outcome.error) continue;
      progress(`${scenario}: trial ${round}/${TRIALS} ${label(config)}`);
      try {
        outcome.trials.push(await trial(config));
      } catch (error) {
        outcome.error = (error as Error).message;
        progress(`${scenario}: ${label(config)} failed: ${outcome.error}\n`);
      }
    }
  }
  progress('');
  return outcomes;
}

/** One status line on stderr, rewritten in place on a terminal. */
export function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
  else if (text) process.stderr.write(`${text}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the machine, output ---------------------------------------------------------

function version(file: string, args: string[], pattern: RegExp): string | null {
  const result = spawnSync(file, args, { timeout: 5000 });
  if (result.error) return null;
  const match = pattern.exec(`${result.stdout}${result.stderr}`);
  return match?.[1] ?? null;
}

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  /** 1, 5 and 15 minute load averages when the suite started: other work on the machine shows here. */
  loadAverage: number[];
  pinning: string;
  versions: Record<string, string | null>;
}

export function describeMachine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
    pinning: pinningNote,
    versions: {
      'redis-server': version('redis-server', ['--version'], /v=(\S+)/),
      'redis-benchmark': version('redis-benchmark', ['--version'], /redis-benchmark (\S+)/),
      wrk: version('wrk', ['--version'], /wrk (\S+)/),
      nginx: version('nginx', ['-v'], /nginx\/(\S+)/),
      gcc: version('gcc', ['-dumpfullversion'], /(\S+)/),
    },
  };
}

export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = `${RESULTS_DIR}/${name}`;
  writeFileSync(file, typeof data === 'string' ? data : `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** A JSON result another program wrote into RESULTS_DIR; null when it is missing or unreadable. */
export function readResult(name: string): unknown {
  try {
    return JSON.parse(readFileSync(`${RESULTS_DIR}/${name}`, 'utf8'));
  } catch {
    return null;
  }
}

/** A goal of the issues, as met or not with the figures that decide it; null when it could not be measured. */
export interface Goal {
  goal: string;
  met: boolean | null;
  figures: string;
}

export interface ScenarioReport {
  scenario: string;
  /** Tables and notes, Markdown. */
  markdown: string;
  goals: Goal[];
  /** SVG charts by file name, written into RESULTS_DIR. */
  charts?: Record<string, string>;
  /** This checkout against the baseline, when the run has one. */
  baseline?: BaselineRow[];
}

/** What every scenario is given: the machine, why the C peer is missing (or null), the baseline (or null). */
export interface Context {
  machine: Machine;
  cPeerMissing: string | null;
  baseline: Baseline | null;
}
