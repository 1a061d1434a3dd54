// `node build/bench/timers.js`: the wasm timer wheel against Node's own
// setTimeout/clearTimeout, one million timers with random delays of 1 ms to
// 60 s, in two scenarios:
//   cancel-all:  insert all, then cancel all.
//   expire-1%:   insert all, advance the clock until about 1% are due and run
//                their callbacks, then cancel all handles (the fired ones are
//                stale: a no-op on both sides).
// Each trial runs in a fresh `node --expose-gc` process, trials of the two
// implementations interleaved so drift on a noisy machine hits both alike.
// Reports timers per second over the whole life (insert + fire or cancel),
// median and min–max, per phase in the JSON, and bytes per timer.
//
// The wasmloop side calls the core's exports through createCore directly: the
// EventLoop timer API is not wired yet. Its host part is what an EventLoop
// will need too: a JS array of callbacks indexed by entry.
//
// Clocks differ by necessity. The wheel runs on a virtual clock, so its
// expire phase is the wall time of one timerExpire and the drain. Node's
// timers need real time to pass: its expire phase is the process CPU time
// spent while waiting until the 1% point, and the fraction that fired is
// reported, since timers that came due during the insert loop fire too.
//
// BENCH_TRIALS (5) and BENCH_TIMERS (1,000,000) override the defaults.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

import { createCore } from '../src/core.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const TIMERS = Number(process.env.BENCH_TIMERS ?? 1_000_000);
const MAX_DELAY_MS = 60_000;
const EXPIRE_FRACTION = 0.01;
const IMPLEMENTATIONS = ['wasmloop', 'node'] as const;
const SCENARIOS = ['cancel-all', 'expire-1%'] as const;
type Implementation = (typeof IMPLEMENTATIONS)[number];
type Scenario = (typeof SCENARIOS)[number];

interface Trial {
  /** Seconds per phase; expire is 0 in cancel-all. */
  insertS: number;
  expireS: number;
  cancelS: number;
  fired: number;
  timersPerSecond: number;
  /** Heap and external memory (wasm memory counts as external) added per live timer. */
  measuredBytesPerTimer: number;
}

const here = (path: string): string => new URL(path, import.meta.url).pathname;
const seconds = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

/** Delays of 1..MAX_DELAY_MS ms from a seeded generator (mulberry32), the same for both sides. */
function delays(seed: number, count: number): Int32Array {
  const out = new Int32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = 1 + (((t ^ (t >>> 14)) >>> 0) % MAX_DELAY_MS);
  }
  return out;
}

/** The delay below which EXPIRE_FRACTION of the timers fall. */
function expireAt(all: Int32Array): number {
  return Int32Array.from(all).sort()[Math.floor(all.length * EXPIRE_FRACTION)]!;
}

function collectedBytes(): number {
  (globalThis as { gc?: () => void }).gc!();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

function wasmloopTrial(scenario: Scenario, all: Int32Array): Trial {
  const count = all.length;
  const indices = new Int32Array(count);
  const generations = new Int32Array(count);
  let fired = 0;
  const callback = (): void => {
    fired++;
  };
  const before = collectedBytes();
  const w = createCore(1, 1, 12, 4, count).exports;
  const callbacks: ((() => void) | undefined)[] = new Array(count).fill(undefined);

  const insertStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const index = w.timerInsert(all[i]!);
    callbacks[index] = callback;
    indices[i] = index;
    generations[i] = w.timerGeneration(index);
  }
  const insertS = seconds(insertStart);
  const measuredBytesPerTimer = (collectedBytes() - before) / count;

  let expireS = 0;
  if (scenario === 'expire-1%') {
    const point = expireAt(all);
    const expireStart = process.hrtime.bigint();
    w.timerExpire(point);
    for (let index = w.timerTakeDue(); index >= 0; index = w.timerTakeDue()) {
      const run = callbacks[index]!;
      callbacks[index] = undefined;
      run();
    }
    expireS = seconds(expireStart);
  }

  const cancelStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    if (w.timerCancel(indices[i]!, generations[i]!) === 1) callbacks[indices[i]!] = undefined;
  }
  const cancelS = seconds(cancelStart);
  if (w.timerCount() !== 0) throw new Error(`${w.timerCount()} timers left`);
  return { insertS, expireS, cancelS, fired, timersPerSecond: count / (insertS + expireS + cancelS), measuredBytesPerTimer };
}

async function nodeTrial(scenario: Scenario, all: Int32Array): Promise<Trial> {
  const count = all.length;
  // Filled so the array is packed from the start, like the wasmloop side's tables.
  const timers: (NodeJS.Timeout | undefined)[] = new Array(count).fill(undefined);
  let fired = 0;
  const callback = (): void => {
    fired++;
  };
  const before = collectedBytes();

  const insertStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) timers[i] = setTimeout(callback, all[i]!);
  const insertS = seconds(insertStart);
  const measuredBytesPerTimer = (collectedBytes() - before) / count;

  let expireS = 0;
  if (scenario === 'expire-1%') {
    const target = Math.ceil(count * EXPIRE_FRACTION);
    const point = expireAt(all);
    const cpu = process.cpuUsage();
    // Sleep to the 1% point, then in 1 ms steps until 1% have fired: timers
    // created late in the insert loop come due a little after it. Bounded by
    // the longest delay.
    for (let waited = 0; fired < target && waited <= MAX_DELAY_MS; ) {
      const sinceStart = Number(process.hrtime.bigint() - insertStart) / 1e6;
      const sleep = Math.max(1, point - sinceStart);
      await new Promise((resolve) => setTimeout(resolve, sleep));
      waited += sleep;
    }
    const used = process.cpuUsage(cpu);
    expireS = (used.user + used.system) / 1e6;
  }

  const cancelStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) clearTimeout(timers[i]);
  const cancelS = seconds(cancelStart);
  return { insertS, expireS, cancelS, fired, timersPerSecond: count / (insertS + expireS + cancelS), measuredBytesPerTimer };
}

/** Runs one trial in a fresh process and returns what it printed. */
function runChild(implementation: Implementation, scenario: Scenario, seed: number): Promise<Trial> {
  const args = ['--expose-gc', here('./timers.js'), '--trial', implementation, scenario, String(seed)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as Trial);
      else reject(new Error(`${implementation} ${scenario} trial exited with ${code}`));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, kernel: release(), node: process.version };
  const probe = createCore(1, 1, 12, 4, 0).exports;
  const entryBytes = probe.TIMER_ENTRY_BYTES.value as number;
  console.log(`timers benchmark: ${fmt(TIMERS)} timers, delays 1 ms..${MAX_DELAY_MS / 1000} s, ${TRIALS} trials each in a fresh process`);
  console.log('wasmloop: the core\'s exports through createCore (the EventLoop timer API is not wired yet)');
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}\n`);

  const results: Record<string, Record<string, Trial[]>> = {};
  for (const scenario of SCENARIOS) {
    const byImplementation: Record<string, Trial[]> = {};
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const implementation of IMPLEMENTATIONS) {
        (byImplementation[implementation] ??= []).push(await runChild(implementation, scenario, 1000 + trial));
      }
    }
    results[scenario] = byImplementation;
  }

  console.log('| scenario | timers | timers/s (median, min–max) | vs node | fired | bytes/timer measured | bytes/timer (layout) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const scenario of SCENARIOS) {
    const peer = median(results[scenario]!.node!.map((t) => t.timersPerSecond));
    for (const implementation of IMPLEMENTATIONS) {
      const trials = results[scenario]![implementation]!;
      const rates = trials.map((t) => t.timersPerSecond);
      const fired = median(trials.map((t) => t.fired)) / TIMERS;
      const layout = implementation === 'wasmloop' ? `${entryBytes} wasm + 8 host` : '–';
      console.log(
        `| ${scenario} | ${implementation} | ${fmt(median(rates))} (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}) ` +
          `| ${(median(rates) / peer).toFixed(2)}× | ${(fired * 100).toFixed(2)}% ` +
          `| ${median(trials.map((t) => t.measuredBytesPerTimer)).toFixed(1)} | ${layout} |`,
      );
    }
  }
  const dir = here('../results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/timers.json`;
  writeFileSync(
    file,
    JSON.stringify({ machine, timers: TIMERS, maxDelayMs: MAX_DELAY_MS, trials: TRIALS, wasmEntryBytes: entryBytes, results }, null, 2),
  );
  console.log(`\nraw figures: ${file}`);
}

if (process.argv[2] === '--trial') {
  const implementation = process.argv[3] as Implementation;
  const scenario = process.argv[4] as Scenario;
  const all = delays(Number(process.argv[5]), TIMERS);
  const trial = implementation === 'wasmloop' ? wasmloopTrial(scenario, all) : await nodeTrial(scenario, all);
  process.stdout.write(JSON.stringify(trial));
} else {
  await main();
}
