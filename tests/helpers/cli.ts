// The wasmloop command as a child process, for the CLI's tests: spawned with
// a kill timer, so a hung child fails its test instead of hanging CI, and
// checked for a loop callback's uncaught error on its stderr.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';

import { UNCAUGHT_LOOP_ERROR } from '../test-loop.js';

const CLI = fileURLToPath(new URL('../../src/serve/cli.js', import.meta.url));
/** A child still running after this long is killed, which fails its test. */
const CHILD_TIMEOUT_MS = 10_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Child {
  process: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Settles when the child exits; rejects if it had to be killed. */
  exited: Promise<Exit>;
}

/** Spawns the CLI with a kill timer, so a hung child fails the test instead of hanging CI. */
export function spawnCli(args: string[]): Child {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, CHILD_TIMEOUT_MS);
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killed) reject(new Error(`wasmloop ${args.join(' ')} hung; killed after ${CHILD_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      else if (UNCAUGHT_LOOP_ERROR.test(stderr)) reject(new Error(`wasmloop ${args.join(' ')}: a loop callback threw\nstderr: ${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
  return { process: child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs the CLI to completion. */
export function runCli(args: string[]): Promise<Exit> {
  return spawnCli(args).exited;
}

/** Waits for `pattern` on the child's stdout (its listening line); kills the child and rejects if it exits first. */
export async function waitForOutput(child: Child, pattern: RegExp): Promise<RegExpExecArray> {
  try {
    return await new Promise<RegExpExecArray>((resolve, reject) => {
      const check = (): void => {
        const found = pattern.exec(child.stdout());
        if (found) resolve(found);
      };
      child.process.stdout!.on('data', check);
      child.exited.then(
        (exit) => reject(new Error(`exited (${exit.code}) before listening\nstdout: ${exit.stdout}\nstderr: ${exit.stderr}`)),
        reject,
      );
    });
  } catch (error) {
    child.process.kill('SIGKILL');
    throw error;
  }
}

/** Makes sure a serving child is gone when a test ends, whatever happened; fails the test if a loop callback threw in it. */
export async function stopped(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  await child.exited.catch(() => {});
  assert.not.match(child.stderr(), UNCAUGHT_LOOP_ERROR, `a loop callback threw in the server:\n${child.stderr()}`);
}
