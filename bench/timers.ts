// `node build/bench/timers.js`: wasmloop's timers against Node's own
// setTimeout/clearTimeout, in three scenarios:
//   cancel-all:   a million timers with random delays of 1 ms to 60 s
//                 (BENCH_TIMERS), inserted, then all cancelled.
//   expire-1%:    the same timers inserted, the clock advanced until about
//                 1% are due and their callbacks run, then all handles
//                 cancelled (the fired ones are stale: a no-op on both sides).
//   fire-same-ms: 100,000 timers (BENCH_FIRE_TIMERS) due in the same
//                 millisecond, fired: the rate from the first callback to
//                 the last, timed by a timer set before them all and one set
//                 after, due with them.
// Each trial runs in a fresh `node --expose-gc` process, the trials of the
// implementations interleaved (round r runs each once, in order for odd
// rounds and reversed for even ones), so drift on a noisy machine hits all
// alike. Reports the median and min–max of the trials, the same rate per
// second of the process's CPU time (user + system, every thread, from
// getrusage: what a loaded machine's waits for a CPU do not inflate), bytes
// per live timer, the load average before and after.
//
// The implementations:
//   wasmloop-core:     the core's exports through createCore, with a JS
//                      array of callbacks by entry: the floor under any host.
//   wasmloop-timeout:  loop.timeout() and loop.clearTimeout(handle): the
//                      handle-free form, a number per timer.
//   wasmloop-timer:    loop.setTimeout() and timer.cancel(): a Timer object
//                      per timer.
//   node:              Node's setTimeout/clearTimeout.
// In fire-same-ms the two API forms are also fired from run() ('/run'),
// where each Timer's callback is its own callback scope (ticks and
// microtasks after each, napi_make_callback) and a run of timeouts shares
// one; the rows without '/run' fire from runOnce(0), where every callback is
// a plain call inside the caller's scope.
//
// Clocks differ by necessity. The core runs on a virtual clock, so its
// expire phase is the wall time of one timerExpire and the drain. The API
// loops read performance.now() (as by default) plus a skew the benchmark
// moves to the 1% point: the expire phase is the wall time of that one
// runOnce(0). Node's timers need real time to pass: its expire phase is the
// process CPU time spent while waiting until the 1% point. The fraction that
// fired is reported: on the API and Node sides, timers set late in the
// insert loop are not yet due at the 1% point, or (Node) some came due early.
// In fire-same-ms the API loops' clock stands still while the timers are
// set, so all are due in one millisecond, as Node's are (Node counts every
// delay from the loop's cached time, which stands still in a synchronous
// block); then it steps past the deadline.
//
// Bytes per timer: heapUsed + external after a full GC, before the first
// insert and with every timer live, divided by the timers. A wasm memory is
// counted in `external` (checked here: a 26 MB WebAssembly.Memory adds 26.2 MB
// to external and nothing to heapUsed), so the wasmloop figures include the
// loop's whole fixed wasm memory, sized for maxTimers (the table of entries
// and the rest), next to the host's slots and Timer objects. The array the
// benchmark keeps the handles in is made before the first reading, as for
// Node's Timeout objects: what is counted is what the timer call made.
//
// BENCH_TRIALS (5), BENCH_TIMERS (1,000,000) and BENCH_FIRE_TIMERS (100,000)
// override the defaults.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';

import { TIMER_ENTRY_BYTES } from '../src/core/abi.js';
import { createCore } from '../src/core/loader.js';
import { EventLoop, type Timer as LoopTimer } from '../src/index.js';
import { TIMER_IMPLEMENTATIONS, type TimerImplementation } from './report.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const TIMERS = Number(process.env.BENCH_TIMERS ?? 1_000_000);
const FIRE_TIMERS = Number(process.env.BENCH_FIRE_TIMERS ?? 100_000);
const MAX_DELAY_MS = 60_000;
const EXPIRE_FRACTION = 0.01;
const SCENARIOS = ['cancel-all', 'expire-1%', 'fire-same-ms'] as const;
type Scenario = (typeof SCENARIOS)[number];
type Implementation = TimerImplementation;
/** Every implementation fires in fire-same-ms; the '/run' rows only there. */
const BASE = TIMER_IMPLEMENTATIONS.filter((implementation) => !implementation.endsWith('/run'));
const implementations = (scenario: Scenario): readonly Implementation[] => (scenario === 'fire-same-ms' ? TIMER_IMPLEMENTATIONS : BASE);

interface Trial {
  timers: number;
  /** Seconds per phase; expire is 0 in cancel-all, cancel 0 in fire-same-ms. */
  insertS: number;
  expireS: number;
  cancelS: number;
  fired: number;
  /** cancel-all, expire-1%: timers over the whole life (insert + fire or cancel); fire-same-ms: firings per second. */
  timersPerSecond: number;
  /** The process's CPU time (every thread) over the same phases, s. */
  cpuS: number;
  /** The same rate per second of CPU time: on a loaded machine, without the time spent waiting for a CPU. */
  timersPerCpuSecond: number;
  /** Heap and external memory (wasm memory counts as external) added per live timer. */
  measuredBytesPerTimer: number;
  /** The wasm memory of the trial's core or loop, bytes (0 for Node): part of the figure above. */
  wasmBytes: number;
}

const here = (path: string): string => new URL(path, import.meta.url).pathname;
const seconds = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;
/** The process's CPU time so far (user + system, every thread), s. */
const cpuNow = (): number => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1e6;
};

/** Delays of 1..MAX_DELAY_MS ms from a seeded generator (mulberry32), the same for every side. */
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

/** The loop's wasm memory for `count` timers, as the API trials make it. */
const loopWasmBytes = (count: number): number => createCore(LOOP_FDS, 1, 12, 4, count).memory.buffer.byteLength;
/** Room for Node's backend fd, which run() registers. */
const LOOP_FDS = 64;

function result(count: number, insertS: number, expireS: number, cancelS: number, cpuS: number, fired: number, bytes: number, wasmBytes: number): Trial {
  return {
    timers: count,
    insertS,
    expireS,
    cancelS,
    fired,
    timersPerSecond: count / (insertS + expireS + cancelS),
    cpuS,
    timersPerCpuSecond: count / cpuS,
    measuredBytesPerTimer: bytes,
    wasmBytes,
  };
}

/** A fire-same-ms result: the rate from the first callback to the last. */
function fireResult(count: number, timing: ReturnType<typeof span>, fired: number, bytes: number, wasmBytes: number): Trial {
  return { ...result(count, 0, timing.seconds(), 0, timing.cpuSeconds(), fired, bytes, wasmBytes), timersPerSecond: count / timing.seconds() };
}

/** Sentinels around a fire-same-ms run: the first records the start, the last the end. */
function span(): { first: () => void; last: () => void; seconds: () => number; cpuSeconds: () => number } {
  let from = 0;
  let to = 0;
  let cpuFrom = 0;
  let cpuTo = 0;
  return {
    first: () => {
      cpuFrom = cpuNow();
      from = performance.now();
    },
    last: () => {
      to = performance.now();
      cpuTo = cpuNow();
    },
    seconds: () => (to - from) / 1000,
    cpuSeconds: () => cpuTo - cpuFrom,
  };
}

// ---- wasmloop-core ------------------------------------------------------------------

function coreTrial(scenario: Scenario, all: Int32Array): Trial {
  const count = all.length;
  const handles = new Float64Array(count);
  let fired = 0;
  const callback = (): void => {
    fired++;
  };
  const before = collectedBytes();
  const core = createCore(1, 1, 12, 4, count + 2);
  const w = core.exports;
  const bits = w.timerIndexBits.value as number;
  const mask = 2 ** bits - 1;
  const callbacks: ((() => void) | undefined)[] = [];
  const schedule = (deadline: number, run: () => void): number => {
    const handle = w.timerSchedule(deadline, 0);
    callbacks[handle & mask] = run;
    return handle;
  };
  const drain = (): void => {
    for (let index = w.timerNext(); index >= 0; index = w.timerNext()) {
      const run = callbacks[index]!;
      callbacks[index] = undefined;
      run();
    }
  };

  if (scenario === 'fire-same-ms') {
    const timing = span();
    schedule(10, timing.first);
    for (let i = 0; i < count; i++) schedule(10, callback);
    schedule(10, timing.last);
    const bytes = (collectedBytes() - before) / count;
    w.timerExpire(10);
    drain();
    if (fired !== count) throw new Error(`${fired} of ${count} fired`);
    return fireResult(count, timing, fired, bytes, core.memory.buffer.byteLength);
  }

  let cpuS = -cpuNow();

  const insertStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) handles[i] = schedule(all[i]!, callback);
  const insertS = seconds(insertStart);
  cpuS += cpuNow();
  const bytes = (collectedBytes() - before) / count;

  let expireS = 0;
  if (scenario === 'expire-1%') {
    cpuS -= cpuNow();
    const expireStart = process.hrtime.bigint();
    w.timerExpire(expireAt(all));
    drain();
    expireS = seconds(expireStart);
    cpuS += cpuNow();
  }

  cpuS -= cpuNow();

  const cancelStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const handle = handles[i]!;
    const index = handle & mask;
    if (w.timerCancel(index, (handle - index) / (mask + 1)) === 1) callbacks[index] = undefined;
  }
  const cancelS = seconds(cancelStart);
  cpuS += cpuNow();
  if (w.timerCount() !== 0) throw new Error(`${w.timerCount()} timers left`);
  return result(count, insertS, expireS, cancelS, cpuS, fired, bytes, core.memory.buffer.byteLength);
}

// ---- wasmloop-timeout, wasmloop-timer ------------------------------------------------------

/**
 * The API forms: `set` makes a timer, `clear` cancels what `set` returned.
 * The loop is the smallest besides its timers (one fd, one event): its wasm
 * memory is then the timer table and the fixed parts, all charged to the timers.
 */
async function apiTrial<H>(
  scenario: Scenario,
  all: Int32Array,
  drive: 'once' | 'run',
  set: (loop: EventLoop, callback: () => void, delay: number) => H,
  clear: (loop: EventLoop, handle: H) => void,
): Promise<Trial> {
  const count = all.length;
  const handles: (H | undefined)[] = new Array(count).fill(undefined);
  let fired = 0;
  const callback = (): void => {
    fired++;
  };
  let skew = 0;
  let frozen = scenario === 'fire-same-ms' ? 0 : undefined;
  const before = collectedBytes();
  const loop = new EventLoop({
    maxFds: LOOP_FDS,
    maxEvents: 1,
    maxTimers: count + 2,
    clock: () => frozen ?? performance.now() + skew,
  });
  try {
    if (scenario === 'fire-same-ms') {
      const timing = span();
      set(loop, timing.first, 1);
      for (let i = 0; i < count; i++) handles[i] = set(loop, callback, 1);
      set(loop, () => {
        timing.last();
        if (drive === 'run') loop.stop();
      }, 1);
      const bytes = (collectedBytes() - before) / count;
      frozen = 2;
      if (drive === 'run') await loop.run();
      else loop.runOnce(0);
      if (fired !== count) throw new Error(`${fired} of ${count} fired`);
      return fireResult(count, timing, fired, bytes, loopWasmBytes(count + 2));
    }

    let cpuS = -cpuNow();

    const insertStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) handles[i] = set(loop, callback, all[i]!);
    const insertS = seconds(insertStart);
    cpuS += cpuNow();
    const bytes = (collectedBytes() - before) / count;

    let expireS = 0;
    if (scenario === 'expire-1%') {
      // Loop time jumps to the 1% point after the first insert (unless the
      // inserts took longer than that: the clock never goes back).
      skew = Math.max(0, expireAt(all) - Number(process.hrtime.bigint() - insertStart) / 1e6);
      cpuS -= cpuNow();
      const expireStart = process.hrtime.bigint();
      loop.runOnce(0);
      expireS = seconds(expireStart);
      cpuS += cpuNow();
    }

    cpuS -= cpuNow();

    const cancelStart = process.hrtime.bigint();
    for (let i = 0; i < count; i++) clear(loop, handles[i]!);
    const cancelS = seconds(cancelStart);
    cpuS += cpuNow();
    if (loop.timerCount !== 0) throw new Error(`${loop.timerCount} timers left`);
    return result(count, insertS, expireS, cancelS, cpuS, fired, bytes, loopWasmBytes(count + 2));
  } finally {
    loop.close();
  }
}

const timeoutForm = (scenario: Scenario, all: Int32Array, drive: 'once' | 'run'): Promise<Trial> =>
  apiTrial<number>(scenario, all, drive, (loop, callback, delay) => loop.timeout(callback, delay), (loop, handle) => loop.clearTimeout(handle));

const timerForm = (scenario: Scenario, all: Int32Array, drive: 'once' | 'run'): Promise<Trial> =>
  apiTrial<LoopTimer>(scenario, all, drive, (loop, callback, delay) => loop.setTimeout(callback, delay), (_, timer) => timer.cancel());

// ---- node -----------------------------------------------------------------------------

async function nodeTrial(scenario: Scenario, all: Int32Array): Promise<Trial> {
  const count = all.length;
  // Filled so the array is packed from the start, like the wasmloop side's.
  const timers: (NodeJS.Timeout | undefined)[] = new Array(count).fill(undefined);
  let fired = 0;
  const callback = (): void => {
    fired++;
  };
  const before = collectedBytes();

  if (scenario === 'fire-same-ms') {
    const timing = span();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    // One synchronous block: every timer counts from the same cached loop
    // time, so all are due in the same millisecond, in one list.
    setTimeout(timing.first, 1);
    for (let i = 0; i < count; i++) timers[i] = setTimeout(callback, 1);
    setTimeout(() => {
      timing.last();
      done();
    }, 1);
    const bytes = (collectedBytes() - before) / count;
    await finished;
    if (fired !== count) throw new Error(`${fired} of ${count} fired`);
    return fireResult(count, timing, fired, bytes, 0);
  }

  let cpuS = -cpuNow();

  const insertStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) timers[i] = setTimeout(callback, all[i]!);
  const insertS = seconds(insertStart);
  cpuS += cpuNow();
  const bytes = (collectedBytes() - before) / count;

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
    cpuS += expireS;
  }

  cpuS -= cpuNow();

  const cancelStart = process.hrtime.bigint();
  for (let i = 0; i < count; i++) clearTimeout(timers[i]);
  const cancelS = seconds(cancelStart);
  cpuS += cpuNow();
  return result(count, insertS, expireS, cancelS, cpuS, fired, bytes, 0);
}

function trial(implementation: Implementation, scenario: Scenario, all: Int32Array): Promise<Trial> | Trial {
  switch (implementation) {
    case 'wasmloop-core':
      return coreTrial(scenario, all);
    case 'wasmloop-timeout':
      return timeoutForm(scenario, all, 'once');
    case 'wasmloop-timeout/run':
      return timeoutForm(scenario, all, 'run');
    case 'wasmloop-timer':
      return timerForm(scenario, all, 'once');
    case 'wasmloop-timer/run':
      return timerForm(scenario, all, 'run');
    case 'node':
      return nodeTrial(scenario, all);
  }
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
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const machine = { cpu: cpus()[0]?.model, cores: cpus().length, kernel: release(), node: process.version };
  const loadBefore = load();
  console.log(
    `timers benchmark: ${fmt(TIMERS)} timers with delays 1 ms..${MAX_DELAY_MS / 1000} s (cancel-all, expire-1%), ` +
      `${fmt(FIRE_TIMERS)} due in one millisecond (fire-same-ms); ${TRIALS} trials each in a fresh process, interleaved`,
  );
  console.log('wasmloop-timeout: loop.timeout() and loop.clearTimeout(handle); wasmloop-timer: loop.setTimeout() and timer.cancel()');
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}; load average before: ${loadBefore}\n`);

  const results: Record<string, Record<string, Trial[]>> = {};
  for (const scenario of SCENARIOS) {
    const names = implementations(scenario);
    const byImplementation: Record<string, Trial[]> = {};
    for (let round = 0; round < TRIALS; round++) {
      const order = round % 2 === 0 ? names : [...names].reverse();
      for (const implementation of order) {
        (byImplementation[implementation] ??= []).push(await runChild(implementation, scenario, 1000 + round));
      }
    }
    results[scenario] = byImplementation;
  }
  const loadAfter = load();

  console.log('| scenario | timers | rate, median (min–max) | vs node | per CPU second | vs node | fired | bytes/timer measured | of which wasm memory |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const scenario of SCENARIOS) {
    const peer = median(results[scenario]!.node!.map((t) => t.timersPerSecond));
    const cpuPeer = median(results[scenario]!.node!.map((t) => t.timersPerCpuSecond));
    for (const implementation of implementations(scenario)) {
      const trials = results[scenario]![implementation]!;
      const rates = trials.map((t) => t.timersPerSecond);
      const cpuRate = median(trials.map((t) => t.timersPerCpuSecond));
      const count = trials[0]!.timers;
      const fired = median(trials.map((t) => t.fired)) / count;
      const wasm = implementation === 'node' ? '–' : `${(median(trials.map((t) => t.wasmBytes)) / count).toFixed(1)} (entries: ${TIMER_ENTRY_BYTES})`;
      const unit = scenario === 'fire-same-ms' ? 'fired/s' : 'timers/s';
      console.log(
        `| ${scenario} | ${implementation} | ${fmt(median(rates))} ${unit} (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}) ` +
          `| ${(median(rates) / peer).toFixed(2)}× | ${fmt(cpuRate)} | ${(cpuRate / cpuPeer).toFixed(2)}× | ${(fired * 100).toFixed(2)}% ` +
          `| ${median(trials.map((t) => t.measuredBytesPerTimer)).toFixed(1)} | ${wasm} |`,
      );
    }
  }
  console.log(`\nload average before: ${loadBefore}; after: ${loadAfter} (${machine.cores} cores)`);
  const dir = here('../results');
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/timers.json`;
  writeFileSync(
    file,
    JSON.stringify(
      { machine, timers: TIMERS, fireTimers: FIRE_TIMERS, maxDelayMs: MAX_DELAY_MS, trials: TRIALS, wasmEntryBytes: TIMER_ENTRY_BYTES, load: { before: loadBefore, after: loadAfter }, results },
      null,
      2,
    ),
  );
  console.log(`\nraw figures: ${file}`);
}

if (process.argv[2] === '--trial') {
  const implementation = process.argv[3] as Implementation;
  const scenario = process.argv[4] as Scenario;
  const all = scenario === 'fire-same-ms' ? new Int32Array(FIRE_TIMERS) : delays(Number(process.argv[5]), TIMERS);
  process.stdout.write(JSON.stringify(await trial(implementation, scenario, all)));
} else {
  await main();
}
