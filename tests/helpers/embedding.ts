// Embedding: a loop driven beside Node's own (run() or start()), and child
// processes running a script from tests/fixtures.
import { spawn, type ChildProcess } from 'node:child_process';

import type { EventLoop } from '../../src/index.js';
import { tick, withTimeout } from './waiting.js';

/** How a loop lives beside Node's: `run()` owns the waits, `start()` lets libuv wake it. */
export type EmbedMode = 'run' | 'start';

/**
 * Drives `loop` in `mode`. Returns a function that stops it again and, for
 * run(), waits for its promise (a rejection fails the caller).
 */
export function drive(loop: EventLoop, mode: EmbedMode): () => Promise<void> {
  if (mode === 'start') {
    loop.start();
    return async () => loop.stop();
  }
  const running = loop.run();
  return async () => {
    loop.stop();
    await withTimeout(running, 'run() to settle');
  };
}

/** A child process running a script from tests/fixtures, its stdout read line by line. */
export interface Fixture {
  readonly child: ChildProcess;
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves with the first stdout line starting with `prefix` (rejects after `ms`). */
  line(prefix: string, ms?: number): Promise<string>;
  /** Resolves when the child has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the child wrote to stderr. */
  stderr(): string;
}

/**
 * Spawns `node tests/fixtures/<name>.js ...args`. With `nice`, the child runs
 * at that lower priority: a load generator that must not take the CPU the
 * process under test needs on this 2-core machine.
 */
export function spawnFixture(name: string, args: string[] = [], options: { nice?: number } = {}): Fixture {
  const script = new URL(`../fixtures/${name}.js`, import.meta.url).pathname;
  const argv = [process.execPath, script, ...args];
  const child = options.nice === undefined
    ? spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('nice', ['-n', String(options.nice), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let errors = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => { errors += chunk; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const line = async (prefix: string, ms = 10_000): Promise<string> => {
    const found = (): string | undefined => lines.find((text) => text.startsWith(prefix));
    let alive = true;
    void exited.then(() => { alive = false; });
    await withTimeout((async () => {
      // Lines read after the exit event are in by then: stdout closes first.
      while (found() === undefined && alive) await tick(5);
    })(), `"${prefix}" from ${name}`, ms);
    const text = found();
    if (text === undefined) throw new Error(`${name} exited without printing "${prefix}"; stderr: ${errors}`);
    return text;
  };
  return { child, lines, line, exited, stderr: () => errors };
}
