// Servers and load generators as child processes: started pinned to a CPU
// with taskset, waited for, measured through /proc, and always stopped.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accepts, freePort } from '../net-probe.js';
import { cpuSeconds } from '../proc.js';

export { cpuSeconds, freePort };

/** The server's CPU and the load generator's: kept apart so the client never steals the server's core. */
export const SERVER_CPU = 1;
export const CLIENT_CPU = 0;

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
}
export const PINNED = hasTaskset();

/** `command args` run on `cpu` (taskset execs it, so the pid is the command's own). */
export function pinned(cpu: number, command: string, args: string[]): [string, string[]] {
  return PINNED ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args];
}

export interface Running {
  child: ChildProcess;
  port: number;
  /** Everything the process printed on stdout so far. */
  stdout(): string;
}

/**
 * Starts a server and resolves once it accepts connections on `port`, or,
 * with port 0, once it prints "listening on HOST:PORT".
 */
export async function startServer(command: string, args: string[], port: number, env?: NodeJS.ProcessEnv): Promise<Running> {
  const [cmd, argv] = pinned(SERVER_CPU, command, args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = performance.now() + 10_000;
  let found = port;
  while (performance.now() < deadline) {
    if (exited) throw new Error(`${command} exited at start: ${err.trim().slice(-400)}`);
    if (port === 0) {
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        found = Number(match[1]);
        break;
      }
    } else if (await accepts(port)) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (found === 0 || performance.now() >= deadline) {
    await stop(child);
    throw new Error(`${command} did not start within 10 s`);
  }
  return { child, port: found, stdout: () => out };
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a load generator on the client CPU to its end (killed after
 * `limitSeconds`). `onLine` sees each stdout line as it arrives.
 */
export function runClient(command: string, args: string[], limitSeconds: number, onLine?: (line: string) => void, env?: NodeJS.ProcessEnv): Promise<Finished> {
  const [cmd, argv] = pinned(CLIENT_CPU, command, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    let err = '';
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) onLine?.(line);
    });
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitSeconds * 1000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out, stderr: err });
    });
  });
}

/** A client kept running beside the measured one (idle connections): resolves once `ready` matches a line. */
export function startHelper(command: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const [cmd, argv] = pinned(CLIENT_CPU, command, args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} not ready in 90 s`));
    }, 90_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before it was ready: ${err.trim().slice(-400)}`));
    });
  });
}

/** The first line a `--version`-like call prints (stdout or stderr), or null when the tool is missing. */
export function toolVersion(command: string, args: string[]): string | null {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) return null;
  return `${result.stdout}${result.stderr}`.split('\n')[0]!.trim();
}
