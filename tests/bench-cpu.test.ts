// The benchmarks' "server CPU per request" is bench/proc.ts's reading of
// another process's CPU time. Held here to a child that measures its own
// (getrusage, microseconds, every thread) after burning CPU on its main
// thread and on a worker thread: the reading must agree to well under a
// clock tick (10 ms), or a third of a second of load would carry percent
// errors, and must count the worker (Node serves from more than one thread,
// nginx from a forked process).
import { spawn } from 'node:child_process';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { cpuSeconds, processTree } from '../bench/proc.js';
import { withTimeout } from './helpers/waiting.js';

// On "burn", a worker thread spins for 60 ms of CPU time, then the main
// thread for 30 ms (one after the other: process.cpuUsage counts every
// thread of the process); then the child prints its whole CPU time and
// waits, idle, for the next line.
const CHILD = `
import { Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';
const total = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const spin = (seconds) => { const until = total() + seconds; while (total() < until); };
const worker = new Worker(\`const { parentPort } = require('node:worker_threads');
  const total = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
  parentPort.on('message', () => { const until = total() + 0.06; while (total() < until); parentPort.postMessage(0); });\`, { eval: true, execArgv: [] });
console.log(JSON.stringify({ cpu: total() }));
for await (const line of createInterface({ input: process.stdin })) {
  const done = new Promise((resolve) => worker.once('message', resolve));
  worker.postMessage(0);
  await done;
  spin(0.03);
  console.log(JSON.stringify({ cpu: total() }));
}
`;

test('cpuSeconds reads a process tree to within 3 ms of its own count, its worker threads included', async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const lines: string[] = [];
    let partial = '';
    let wake: (() => void) | null = null;
    child.stdout!.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop()!;
      lines.push(...parts);
      wake?.();
    });
    const next = async (): Promise<{ cpu: number }> => {
      while (lines.length === 0) await withTimeout(new Promise<void>((resolve) => (wake = resolve)), 'the child to report');
      return JSON.parse(lines.shift()!) as { cpu: number };
    };
    await next();
    const differences: number[] = [];
    let burnt = 0;
    for (let round = 0; round < 3; round++) {
      const before = cpuSeconds(child.pid!);
      child.stdin!.write('burn\n');
      const own = (await next()).cpu;
      const read = cpuSeconds(child.pid!);
      differences.push(Math.abs(read - own) * 1000);
      burnt += read - before;
    }
    assert.ok(Math.max(...differences) < 3, `differences ${differences.map((d) => d.toFixed(2)).join(', ')} ms`);
    // Each round spins 60 ms on the worker and 30 ms on the main thread: without the worker it would read ~90 ms, not ~270.
    assert.ok(burnt > 0.25, `read ${(burnt * 1000).toFixed(1)} ms over three rounds`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('processTree holds a process and its live descendants', async () => {
  const child = spawn('sh', ['-c', 'sleep 5 & sleep 5 & wait'], { stdio: 'ignore' });
  try {
    let tree: number[] = [];
    for (let tries = 0; tries < 200 && tree.length < 3; tries++) {
      tree = processTree(child.pid!);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.is(tree[0], child.pid);
    assert.is(tree.length, 3, `tree ${tree.join(' ')}`);
  } finally {
    child.kill('SIGKILL');
  }
});

test.run();
