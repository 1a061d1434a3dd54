// `node build/bench/backends.js`: what one wait costs with epoll, poll and
// select when most registered fds are idle. N eventfds are registered (one fd
// per "connection", so 10,000 of them fit the fd limit without socket pairs);
// each iteration makes 1% of them ready, spread over the whole fd range, times
// the one wait that reports them, then drains them untimed. Registration is
// timed apart. Each trial is a fresh child process (started through a shell
// that raises RLIMIT_NOFILE where it may); trials are interleaved so drift on
// a noisy machine hits every backend alike. Reports the median and min–max of
// the trials and the ratio to epoll measured in the same run.
//
// select cannot take fds >= FD_SETSIZE (1024), so it runs 100 and 1,000 only
// (and is skipped where the fds it got reach 1024).
//
// BENCH_TRIALS (5) and BENCH_ITERATIONS (2000) override the defaults.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';

import { native } from '../src/kernel/native.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2000);
/** Iterations run before timing: first-touch page faults, lazy allocations. */
const WARMUP = 100;
const SIZES = [100, 1_000, 10_000];
const BACKENDS = ['epoll', 'poll', 'select'] as const;
const READY_SHARE = 0.01;
/** Enough for 10,000 eventfds and Node's own; raised per child where allowed. */
const NOFILE = 16_384;
const EPOLLIN = 0x001;
const here = (path: string): string => new URL(path, import.meta.url).pathname;

interface TrialResult {
  waitNs: number; // mean per wait call
  eventNs: number; // mean per event reported
  addNs: number; // mean per registration
  nofile: string; // the child's RLIMIT_NOFILE soft limit
}

interface Skipped {
  skipped: string;
}

type ChildResult = TrialResult | Skipped;

// ---- the child: one backend, one size, one trial --------------------------------

function fail(what: string, rc: number): never {
  throw new Error(`${what} failed: ${rc}`);
}

function child(backend: string, connections: number): ChildResult {
  const ready = Math.max(1, Math.round(connections * READY_SHARE));
  const stride = Math.floor(connections / ready);
  const maxEvents = 1024;
  const memory = new ArrayBuffer(maxEvents * native.EVENT_SIZE);
  const view = new DataView(memory);
  const id = native.backendCreate(backend, memory, 0, maxEvents);
  if (id < 0) fail('backendCreate', id);

  const fds: number[] = [];
  try {
    for (let i = 0; i < connections; i++) {
      const fd = native.eventfd(0);
      if (fd < 0) return { skipped: `eventfd #${i}: errno ${-fd} (fd limit ${nofileLimit()})` };
      fds.push(fd);
    }
    const addStart = process.hrtime.bigint();
    for (const fd of fds) {
      const rc = native.backendAdd(id, fd, EPOLLIN, 1);
      if (rc < 0) return { skipped: `add fd ${fd}: errno ${-rc}` };
    }
    const addNs = Number(process.hrtime.bigint() - addStart) / connections;

    let waitTotal = 0n;
    let events = 0;
    for (let iteration = -WARMUP; iteration < ITERATIONS; iteration++) {
      const offset = ((iteration % stride) + stride) % stride;
      for (let j = 0; j < ready; j++) {
        const rc = native.eventfdWrite(fds[j * stride + offset]!, 1);
        if (rc < 0) fail('eventfdWrite', rc);
      }
      const started = process.hrtime.bigint();
      const count = native.backendWait(id, 0);
      const elapsed = process.hrtime.bigint() - started;
      if (count !== ready) fail(`wait (expected ${ready} events)`, count);
      if (iteration >= 0) {
        waitTotal += elapsed;
        events += count;
      }
      for (let k = 0; k < count; k++) {
        const fd = view.getUint32(k * native.EVENT_SIZE + native.EVENT_DATA_OFFSET, true);
        const rc = native.eventfdRead(fd);
        if (rc < 0) fail('eventfdRead', rc);
      }
    }
    const waitNs = Number(waitTotal) / ITERATIONS;
    return { waitNs, eventNs: Number(waitTotal) / events, addNs, nofile: nofileLimit() };
  } finally {
    native.backendFree(id);
    for (const fd of fds) native.close(fd);
  }
}

/** The soft RLIMIT_NOFILE this process runs with (Node exposes it only in /proc). */
function nofileLimit(): string {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return line?.split(/\s{2,}/)[1] ?? 'unknown';
}

// ---- the parent: trials, statistics, table --------------------------------------

function runChild(backend: string, connections: number): Promise<ChildResult & { enoughFds: boolean }> {
  // The shell raises the limit when it is lower than needed and it may; the
  // marker on stderr says whether the child has enough.
  const script =
    `if [ "$(ulimit -n)" -ge ${NOFILE} ] || ulimit -n ${NOFILE} 2>/dev/null; then echo enough-fds >&2; fi; ` +
    'exec "$0" "$@"';
  const args = ['-c', script, process.execPath, here('./backends.js'), '--child', backend, String(connections)];
  return new Promise((resolve, reject) => {
    const proc = spawn('bash', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
    let out = '';
    let err = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      const enoughFds = err.includes('enough-fds');
      if (code === 0) resolve({ ...(JSON.parse(out) as ChildResult), enoughFds });
      else reject(new Error(`${backend} ${connections}: child exited with ${code}: ${err.replace('enough-fds\n', '')}`));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

interface Summary {
  median: number;
  min: number;
  max: number;
}

const summarize = (xs: number[]): Summary => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

const us = (ns: number): string => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);
const spread = (s: Summary): string => `${us(s.median)} (${us(s.min)}–${us(s.max)})`;

async function parent(): Promise<void> {
  const scenarios = SIZES.flatMap((size) =>
    BACKENDS.filter((backend) => backend !== 'select' || size < native.FD_SETSIZE).map((backend) => ({ backend, size })),
  );
  const trials = new Map<string, TrialResult[]>();
  const skipped = new Map<string, string>();
  let enoughFds = true;
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const { backend, size } of scenarios) {
      const key = `${backend}:${size}`;
      if (skipped.has(key)) continue;
      const result = await runChild(backend, size);
      enoughFds &&= result.enoughFds;
      if ('skipped' in result) skipped.set(key, result.skipped);
      else trials.set(key, [...(trials.get(key) ?? []), result]);
    }
  }

  const rows = scenarios.map(({ backend, size }) => {
    const key = `${backend}:${size}`;
    const list = trials.get(key);
    if (!list) return { backend, connections: size, skipped: skipped.get(key) ?? 'no trial' };
    const wait = summarize(list.map((t) => t.waitNs));
    const epoll = trials.get(`epoll:${size}`);
    const ratio = epoll ? wait.median / median(epoll.map((t) => t.waitNs)) : undefined;
    return {
      backend,
      connections: size,
      readyPerWait: Math.max(1, Math.round(size * READY_SHARE)),
      waitNs: wait,
      eventNs: summarize(list.map((t) => t.eventNs)),
      addNs: summarize(list.map((t) => t.addNs)),
      waitVsEpoll: ratio,
      trials: list.length,
      nofile: list[0]!.nofile,
    };
  });

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    iterations: ITERATIONS,
    trials: TRIALS,
    rlimitNofileAtLeast: enoughFds ? NOFILE : null,
  };
  console.log(`${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}`);
  console.log(`${TRIALS} trials × ${ITERATIONS} waits, each trial a fresh process; 1% of the fds ready per wait.`);
  console.log(
    enoughFds
      ? `RLIMIT_NOFILE at least ${NOFILE} in each child (raised where it was lower).`
      : `RLIMIT_NOFILE could not be raised to ${NOFILE} in the children: the inherited limit applied.`,
  );
  console.log('select: fds must stay below FD_SETSIZE (1024), so 10,000 is not run for it.\n');
  console.log('backend  fds     ready  µs per wait: median (min–max)  µs per event          ns per add (cold) wait vs epoll');
  for (const row of rows) {
    const head = `${row.backend.padEnd(8)} ${String(row.connections).padEnd(7)}`;
    if ('skipped' in row) {
      console.log(`${head} skipped: ${row.skipped}`);
      continue;
    }
    console.log(
      `${head} ${String(row.readyPerWait).padEnd(6)} ${spread(row.waitNs).padEnd(31)} ${spread(row.eventNs).padEnd(21)} ` +
        `${row.addNs.median.toFixed(0).padEnd(17)} ${row.waitVsEpoll === undefined ? '' : `${row.waitVsEpoll.toFixed(2)}×`}`,
    );
  }
  const dir = here('../results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/backends.json`, `${JSON.stringify({ machine, rows }, null, 2)}\n`);
  console.log(`\nwritten: ${dir}/backends.json`);
}

if (process.argv[2] === '--child') {
  process.stdout.write(JSON.stringify(child(process.argv[3]!, Number(process.argv[4]))));
} else {
  await parent();
}
