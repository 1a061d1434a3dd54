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
// Three implementations:
//   wasmloop-core: the core's exports through createCore, with a JS array of
//                  callbacks indexed by entry: the floor under any host.
//   wasmloop-api:  what users call, `loop.setTimeout()` and `timer.cancel()`
//                  on an EventLoop (a Timer object per timer, argument checks,
//                  a clock read per insert).
//   node:          Node's setTimeout/clearTimeout.
//
// Clocks differ by necessity. The core runs on a virtual clock, so its
// expire phase is the wall time of one timerExpire and the drain. The API
// loop reads performance.now() (as by default) plus a skew the benchmark
// moves to the 1% point: its expire phase is the wall time of that one
// runOnce(0). Node's timers need real time to pass: its expire phase is the
// process CPU time spent while waiting until the 1% point. The fraction that
// fired is reported: on the API and Node sides, timers set late in the
// insert loop are not yet due at the 1% point, or (Node) some came due early.
//
// Bytes per timer: heapUsed + external after a full GC, before the first
// insert and with every timer live, divided by the timers. A wasm memory is
// counted in `external` (checked here: a 26 MB WebAssembly.Memory adds 26.2 MB
// to external and nothing to arrayBuffers), so the API's figure includes the
// loop's whole fixed wasm memory, sized for maxTimers, next to its Timer objects.
//
// BENCH_TRIALS (5) and BENCH_TIMERS (1,000,000) override the defaults.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

import { TIMER_ENTRY_BYTES } from '../src/core/abi.js';
import { createCore } from '../src/core/loader.js';
import { EventLoop, type Timer as LoopTimer } from '../src/index.js';
import { TIMER_IMPLEMENTATIONS, type TimerImplementation } from './report.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const TIMERS = Number(process.env.BENCH_TIMERS ?? 1_000_000);
const MAX_DELAY_MS = 60_000;
const EXPIRE_FRACTION = 0.01;
const IMPLEMENTATIONS = TIMER_IMPLEMENTATIONS;
const SCENARIOS = ['cancel-all', 'expire-1%'] as const;
type Implementation = TimerImplementation;
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
  /** The wasm memory of the trial's core or loop, bytes (0 for Node): part of the figure above. */
  wasmBytes: number;
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

function coreTrial(scenario: Scenario, all: Int32Array): Trial {
  const count = all.length;
  const indices = new Int32Array(count);
  const generations = new Int32Array(count);
  let fired = 0;
  const callback = (): void => {
    fired++;
  };
  const before = collectedBytes();
  const core = createCore(1, 1, 12, 4, count);
  const w = core.exports;
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
  return {
    insertS, expireS, cancelS, fired,
    timersPerSecond: count / (insertS + expireS + cancelS),
    measuredBytesPerTimer,
    wasmBytes: core.memory.buffer.byteLength,
  };
}

function apiTrial(scenario: Scenario, all: Int32Array): Trial {
  const count = all.length;
  const timers: (LoopTimer | undefined)[] = new Array(count).fill(undefined);
  let fired = 0;
  const callback = (): void => {
    fired++;
  };
  let skew = 0;
  const before = collectedBytes();
  // The smallest fd registry and batch: the wasm memory is then the timer
  // table and the fixed parts, all charged to the timers.
  const loop = new EventLoop({ maxFds: 1, maxEvents: 1, maxTimers: count, clock: () => performance.now() + skew });
  try {
    const insertStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) timers[i] = loop.setTimeout(callback, all[i]!);
    const insertS = seconds(insertStart);
    const measuredBytesPerTimer = (collectedBytes() - before) / count;
    const wasmBytes = createCore(1, 1, 12, 4, count).memory.buffer.byteLength;

    let expireS = 0;
    if (scenario === 'expire-1%') {
      // Loop time jumps to the 1% point after the first insert (unless the
      // inserts took longer than that: the clock never goes back).
      skew = Math.max(0, expireAt(all) - Number(process.hrtime.bigint() - insertStart) / 1e6);
      const expireStart = process.hrtime.bigint();
      loop.runOnce(0);
      expireS = seconds(expireStart);
    }

    const cancelStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) timers[i]!.cancel();
    const cancelS = seconds(cancelStart);
    if (loop.timerCount !== 0) throw new Error(`${loop.timerCount} timers left`);
    return { insertS, expireS, cancelS, fired, timersPerSecond: count / (insertS + expireS + cancelS), measuredBytesPerTimer, wasmBytes };
  } finally {
    loop.close();
  }
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
  return { insertS, expireS, cancelS, fired, timersPerSecond: count / (insertS + expireS + cancelS), measuredBytesPerTimer, wasmBytes: 0 };
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
  console.log(`timers benchmark: ${fmt(TIMERS)} timers, delays 1 ms..${MAX_DELAY_MS / 1000} s, ${TRIALS} trials each in a fresh process`);
  console.log('wasmloop-core: the core\'s exports through createCore; wasmloop-api: loop.setTimeout() and timer.cancel()');
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

  console.log('| scenario | timers | timers/s (median, min–max) | vs node | fired | bytes/timer measured | of which wasm memory |');
  console.log('|---|---|---|---|---|---|---|');
  for (const scenario of SCENARIOS) {
    const peer = median(results[scenario]!.node!.map((t) => t.timersPerSecond));
    for (const implementation of IMPLEMENTATIONS) {
      const trials = results[scenario]![implementation]!;
      const rates = trials.map((t) => t.timersPerSecond);
      const fired = median(trials.map((t) => t.fired)) / TIMERS;
      const wasm = implementation === 'node' ? '–' : `${(median(trials.map((t) => t.wasmBytes)) / TIMERS).toFixed(1)} (entries: ${TIMER_ENTRY_BYTES})`;
      console.log(
        `| ${scenario} | ${implementation} | ${fmt(median(rates))} (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}) ` +
          `| ${(median(rates) / peer).toFixed(2)}× | ${(fired * 100).toFixed(2)}% ` +
          `| ${median(trials.map((t) => t.measuredBytesPerTimer)).toFixed(1)} | ${wasm} |`,
      );
    }
  }
  const dir = here('../results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/timers.json`;
  writeFileSync(
    file,
    JSON.stringify({ machine, timers: TIMERS, maxDelayMs: MAX_DELAY_MS, trials: TRIALS, wasmEntryBytes: TIMER_ENTRY_BYTES, results }, null, 2),
  );
  console.log(`\nraw figures: ${file}`);
}

if (process.argv[2] === '--trial') {
  const implementation = process.argv[3] as Implementation;
  const scenario = process.argv[4] as Scenario;
  const all = delays(Number(process.argv[5]), TIMERS);
  const trial =
    implementation === 'wasmloop-core' ? coreTrial(scenario, all) : implementation === 'wasmloop-api' ? apiTrial(scenario, all) : await nodeTrial(scenario, all);
  process.stdout.write(JSON.stringify(trial));
} else {
  await main();
}
