// Helpers shared by the test files. Not a test file itself: the runner only
// picks files ending in .test.js, so this module is imported, never run.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import * as assert from 'uvu/assert';

import { EventLoop, sockets, type EventLoopOptions } from '../src/index.js';
import { MockKernel } from '../src/testing/index.js';
import type { Connection } from '../src/net/connection.js';
import type { ProtocolFactory } from '../src/net/protocol.js';
import { Server, type ServerOptions } from '../src/net/server.js';
import type { FaultServerReport } from './fixtures/fault-server.js';
import { TestLoop } from './test-loop.js';

/** The loopback address the socket tests listen and connect on. */
export const HOST = '127.0.0.1';

export { sockets };

// ---- file descriptors ----------------------------------------------------------

/** How many fds the process holds now (entries in /proc/self/fd). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Whether `fd` is open in this process. */
export const isOpen = (fd: number): boolean => existsSync(`/proc/self/fd/${fd}`);

/** Closes fds that are still open and not owned by a loop. */
export function closeAll(...fds: number[]): void {
  for (const fd of fds) {
    if (fd >= 0 && isOpen(fd)) sockets.close(fd);
  }
}

/** Closes fd unless it is closed already (a loop may have done it: close reports EBADF). */
export function closeQuietly(fd: number): void {
  try {
    sockets.close(fd);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EBADF') throw error;
  }
}

// ---- thrown errors -------------------------------------------------------------

/** The shape of an error a call is expected to throw. */
export interface Expected {
  type: new (...args: never[]) => Error;
  code?: string;
  errno?: number;
  syscall?: string;
}

/** Runs `fn`, asserts it throws an error of this shape, and returns the error. */
export function throws(fn: () => unknown, expected: Expected): Error & Record<string, unknown> {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected a ${expected.type.name}, nothing was thrown`);
  const error = caught as Error & Record<string, unknown>;
  assert.instance(error, expected.type, `expected a ${expected.type.name}, got ${String(error)}`);
  if ('code' in expected) assert.is(error.code, expected.code, `code of: ${error.message}`);
  if ('errno' in expected) assert.is(error.errno, expected.errno, `errno of: ${error.message}`);
  if ('syscall' in expected) assert.is(error.syscall, expected.syscall, `syscall of: ${error.message}`);
  return error;
}

/** An argument of the wrong type. */
export const typeErr: Expected = { type: TypeError, code: 'ERR_INVALID_ARG_TYPE' };
/** An argument of the right type but a refused value. */
export const valueErr: Expected = { type: TypeError, code: 'ERR_INVALID_ARG_VALUE' };
/** A number out of its range. */
export const rangeErr: Expected = { type: RangeError, code: 'ERR_OUT_OF_RANGE' };

// ---- loopback pairs, synchronously with runOnce() --------------------------------

/** Turns the loop (runOnce(50), at most ~10 s) until `done()` holds; fails the test otherwise. */
export function turnUntil(loop: EventLoop, done: () => boolean, what: string): void {
  for (let i = 0; i < 200; i++) {
    if (done()) return;
    loop.runOnce(50);
  }
  if (!done()) assert.unreachable(`timed out waiting for ${what}`);
}

/** Accepts one connection from `listenFd` within ~10 s, using a throwaway loop to wait. */
export function acceptOne(listenFd: number): number {
  const acceptor = new TestLoop();
  let accepted = -1;
  try {
    acceptor.addServerSocket(listenFd, (fd) => { accepted = fd; }, { acceptsPerEvent: 1 });
    turnUntil(acceptor, () => accepted >= 0, 'a connection to accept');
    return accepted;
  } finally {
    if (acceptor.isRegistered(listenFd)) acceptor.removeSocket(listenFd, { close: false });
    acceptor.close();
  }
}

/**
 * A connected loopback pair: `peer` is the connecting end, `local` the
 * accepted one. Without `listenFd`, listens on a port of its own for the one
 * connection and closes that listener again.
 */
export function pair(listenFd?: number): { peer: number; local: number } {
  if (listenFd === undefined) {
    const listener = sockets.listen(HOST, 0);
    try {
      return pair(listener);
    } finally {
      sockets.close(listener);
    }
  }
  const peer = sockets.connect(HOST, sockets.localPort(listenFd));
  try {
    return { peer, local: acceptOne(listenFd) };
  } catch (error) {
    sockets.close(peer);
    throw error;
  }
}

// ---- waiting in async tests ----------------------------------------------------

/** Rejects if `promise` has not settled within `ms` (10 s by default). */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms` milliseconds. */
export const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves when `condition()` holds, checking every 5 ms (or after each
 * `between()`, which may refresh what the condition reads); rejects after 10 s.
 */
export async function until(condition: () => boolean, what: string | (() => string), between: () => Promise<unknown> = () => tick(5)): Promise<void> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > 10_000) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await between();
  }
}

/** Resolves when the node:net `socket` connects; rejects with its error if connecting fails. */
export function onceConnected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
}

/** A node:net client connected to `host`:`port` (rejects if connecting fails). */
export async function connected(host: string, port: number): Promise<Socket> {
  const socket = connect({ host, port });
  await onceConnected(socket);
  return socket;
}

// ---- a Server under `await loop.run()` -----------------------------------------

/** How long a withServer() body may take before the test fails. */
const SERVER_TEST_TIMEOUT_MS = 20_000;

/** Rejects after `ms` so a stuck test fails instead of hanging. */
function deadline(ms: number, what: string): { promise: Promise<never>; clear(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

/**
 * Runs a server for `protocol` on a fresh loop (made with `loopOptions`) in `await loop.run()` while
 * `body` drives clients; stops and closes everything afterwards. A handler
 * error (the TestLoop is fatal, so run() rejects with it), the loop stopping
 * early, or the 20 s deadline fails the test.
 */
export async function withServer(
  protocol: ProtocolFactory,
  options: ServerOptions,
  what: string,
  body: (server: Server, port: number) => Promise<void>,
  loopOptions: EventLoopOptions = {},
): Promise<void> {
  const loop = new TestLoop(loopOptions);
  const server = new Server(loop, protocol, { port: 0, ...options });
  let running: Promise<void> | undefined;
  const limit = deadline(SERVER_TEST_TIMEOUT_MS, what);
  try {
    const port = server.listen();
    running = loop.run();
    await Promise.race([body(server, port), running.then(() => Promise.reject(new Error('loop stopped early'))), limit.promise]);
  } finally {
    limit.clear();
    loop.stop();
    try {
      await running;
    } finally {
      server.close();
      loop.close();
    }
  }
}

// ---- a protocol driven without sockets --------------------------------------------

/** What a protocol did to a FakeConnection. */
export interface FakeConnection {
  /** Pass this to the protocol's data(); it records instead of writing. */
  connection: Connection;
  /** Each write, copied (the protocol may reuse its buffer), those after end() or close() included. */
  writes: Buffer[];
  /**
   * The writes made after end() or close(), also in `writes`. A real
   * connection would drop them, so a protocol that forgot it had ended would
   * go unseen if the fake dropped them too.
   */
  lateWrites: Buffer[];
  /** Whether end() or close() was called. */
  ended: boolean;
  /** Everything written, as latin1 text. */
  output(): string;
}

/** A stand-in Connection that records write() and end(), for unit tests of protocols. */
export function fakeConnection(): FakeConnection {
  const fake: FakeConnection = {
    connection: undefined as unknown as Connection,
    writes: [],
    lateWrites: [],
    ended: false,
    output: () => Buffer.concat(fake.writes).toString('latin1'),
  };
  fake.connection = {
    write(bytes: Uint8Array) {
      if (bytes.length === 0) return;
      const copy = Buffer.from(bytes);
      fake.writes.push(copy);
      if (fake.ended) fake.lateWrites.push(copy);
    },
    end() {
      fake.ended = true;
    },
    close() {
      fake.ended = true;
    },
  } as unknown as Connection;
  return fake;
}

/**
 * Feeds `input` to a fresh protocol from `makeFactory()` in one read, then in
 * two reads split at every byte boundary. Returns the output of the one read
 * (with `<end>` appended if the connection was ended) and the split points
 * whose output differs from it. Fails the test when a read makes more than
 * one write, or when anything is written after the connection ended.
 */
export function splitMismatches(makeFactory: () => ProtocolFactory, input: Buffer): { whole: string; mismatches: number[] } {
  const feed = (pieces: Buffer[]): string => {
    const fake = fakeConnection();
    const protocol = makeFactory()(fake.connection);
    for (const piece of pieces) {
      const before = fake.writes.length;
      protocol.data(fake.connection, piece);
      assert.ok(fake.writes.length - before <= 1, `one read made ${fake.writes.length - before} writes`);
      // The server reuses its read buffer: a protocol that kept a view of it instead of a copy reads garbage.
      piece.fill(0xee);
    }
    assert.is(fake.lateWrites.length, 0, `written after the end: ${Buffer.concat(fake.lateWrites).toString('latin1')}`);
    return fake.output() + (fake.ended ? '<end>' : '');
  };
  const whole = feed([Buffer.from(input)]);
  const mismatches: number[] = [];
  for (let split = 1; split < input.length; split++) {
    if (feed([Buffer.from(input.subarray(0, split)), Buffer.from(input.subarray(split))]) !== whole) mismatches.push(split);
  }
  return { whole, mismatches };
}

// ---- a loop on the MockKernel ----------------------------------------------------

/** A loop on a fresh MockKernel, for deterministic ordering and budget tests. */
export function mockLoop(
  options: Omit<EventLoopOptions, 'backend'> = {},
  mockOptions: { levelOnly?: boolean } = {},
): { loop: EventLoop; mock: MockKernel } {
  const mock = new MockKernel(mockOptions);
  return { loop: new TestLoop({ ...options, backend: mock }), mock };
}

/** Spins (no sleep: a sleeping handler would not be busy) for `ms` milliseconds. */
export function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** A settable clock for `new TestLoop({ clock })`: the loop reads `ms`, the test moves it. */
export interface VirtualClock {
  ms: number;
  /** Moves the clock forward by `ms` (backward for a negative step). */
  advance(ms: number): void;
}

/**
 * A loop on a MockKernel whose time is a VirtualClock starting at `startMs`:
 * its waits never block, so timers fire exactly when the test moves the clock.
 */
export function virtualClockLoop(
  options: Omit<EventLoopOptions, 'backend' | 'clock'> = {},
  startMs = 0,
): { loop: EventLoop; mock: MockKernel; clock: VirtualClock } {
  const clock: VirtualClock = {
    ms: startMs,
    advance(ms: number) {
      clock.ms += ms;
    },
  };
  const mock = new MockKernel();
  return { loop: new TestLoop({ ...options, backend: mock, clock: () => clock.ms }), mock, clock };
}

// ---- embedding: a loop beside Node's own, child processes ------------------------

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
  const script = new URL(`./fixtures/${name}.js`, import.meta.url).pathname;
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

/** The value below which a fraction `p` of the ascending `sorted` values lie. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** How late Node's timers fired, in ms, each list ascending. */
export interface TimerLateness {
  /** As the clock shows it. */
  late: number[];
  /**
   * Less the time this thread waited in the run queue meanwhile: the part
   * that is not the machine's load. On an idle machine the two agree; on a
   * loaded one this is what the thread's own work (the loop's among it) cost.
   */
  unqueued: number[];
}

/**
 * How late Node's own timers fire: 100 ticks of a 10 ms setInterval, each
 * measured from the tick before (Node schedules an interval's next tick from
 * when the last one ran), then a chain of 50 7 ms setTimeouts. About 1.4 s
 * in all.
 */
export async function nodeTimerLateness(): Promise<TimerLateness> {
  const late: number[] = [];
  const unqueued: number[] = [];
  const queue = runQueueClock();
  const sample = (lateMs: number, queuedBefore: number): number => {
    const queued = queue.read();
    late.push(lateMs);
    unqueued.push(lateMs - (queued - queuedBefore));
    return queued;
  };
  try {
    await new Promise<void>((resolve) => {
      let previous = performance.now();
      let queued = queue.read();
      const interval = setInterval(() => {
        const now = performance.now();
        queued = sample(now - previous - 10, queued);
        previous = now;
        if (late.length === 100) {
          clearInterval(interval);
          resolve();
        }
      }, 10);
    });
    await new Promise<void>((resolve) => {
      let left = 50;
      const next = (): void => {
        const armed = performance.now();
        const queued = queue.read();
        setTimeout(() => {
          sample(performance.now() - armed - 7, queued);
          if (--left > 0) next();
          else resolve();
        }, 7);
      };
      next();
    });
  } finally {
    queue.close();
  }
  const ascending = (values: number[]): number[] => values.sort((a, b) => a - b);
  return { late: ascending(late), unqueued: ascending(unqueued) };
}

// ---- Prometheus text format ---------------------------------------------------------

/** One sample of a Prometheus text exposition. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const PROMETHEUS_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const PROMETHEUS_HELP = new RegExp(`^# HELP (${PROMETHEUS_NAME}) (.*)$`);
const PROMETHEUS_TYPE = new RegExp(`^# TYPE (${PROMETHEUS_NAME}) (counter|gauge|summary|histogram|untyped)$`);
const PROMETHEUS_SAMPLE = new RegExp(`^(${PROMETHEUS_NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*)\\})? (\\S+)$`);
const PROMETHEUS_LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g;

/**
 * Parses Prometheus text exposition (0.0.4), failing the test on any line
 * that is not valid: every line is a HELP, a TYPE or a sample; each family
 * has HELP then TYPE once, before its samples; counters end in _total;
 * summary samples are the family's quantiles, _sum and _count; every value
 * is a number.
 */
export function parsePrometheus(text: string): { samples: PrometheusSample[]; types: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: PrometheusSample[] = [];
  let family: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = PROMETHEUS_HELP.exec(line);
    const type = PROMETHEUS_TYPE.exec(line);
    const sample = PROMETHEUS_SAMPLE.exec(line);
    if (help) {
      assert.not.ok(helped.has(help[1]!), `HELP for ${help[1]} twice`);
      helped.add(help[1]!);
      family = help[1]!;
    } else if (type) {
      assert.is(type[1], family, `TYPE ${type[1]} follows its HELP`);
      assert.not.ok(types.has(type[1]!), `TYPE for ${type[1]} twice`);
      types.set(type[1]!, type[2]!);
      if (type[2] === 'counter') assert.ok(type[1]!.endsWith('_total'), `counter ${type[1]} ends in _total`);
    } else {
      assert.ok(sample, `not a valid line: ${JSON.stringify(line)}`);
      const name = sample![1]!;
      const labels: Record<string, string> = {};
      for (const [, key, value] of (sample![2] ?? '').matchAll(PROMETHEUS_LABEL)) labels[key!] = value!;
      const kind = types.get(family ?? '');
      assert.ok(kind !== undefined, `sample ${name} before any TYPE`);
      if (kind === 'summary') {
        assert.ok([family, `${family}_sum`, `${family}_count`].includes(name), `${name} belongs to summary ${family}`);
        if (name === family) assert.ok(labels['quantile'] !== undefined, `${name} has a quantile`);
      } else assert.is(name, family, `sample ${name} belongs to family ${family}`);
      const value = Number(sample![3] === '+Inf' ? Infinity : sample![3] === '-Inf' ? -Infinity : sample![3]);
      assert.ok(!Number.isNaN(value) || sample![3] === 'NaN', `${name}: ${sample![3]} is a number`);
      samples.push({ name, labels, value });
    }
  }
  return { samples, types };
}

/** The value of the one sample named `name` (with `labels` among its labels). */
export function prometheusValue(samples: readonly PrometheusSample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.is(found.length, 1, `one sample ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

// ---- a Server in a child process ----------------------------------------------------

/** What tests/fixtures/fault-server.ts reports about itself. */
export type { FaultServerReport };

/** A Server running in a forked child (tests/fixtures/fault-server.ts). */
export interface ChildServer {
  port: number;
  pid: number;
  child: ChildProcess;
  /** The child's stats, fd count and RSS, now. */
  report(): Promise<FaultServerReport>;
  /** Stops the loop, waits for the child to exit, returns its last report; fails if a callback threw in the child. */
  stop(): Promise<FaultServerReport>;
}

/**
 * Forks a process that serves `protocol` with a Server on a loop in run()
 * mode. `options` go to the Server (and `maxFds` to the loop). The child is
 * killed if it has not exited within `stop()`'s 10 s.
 */
export async function forkServer(protocol: 'echo' | 'resp' | 'http', options: { maxFds?: number; highWaterMark?: number } = {}): Promise<ChildServer> {
  const script = new URL('./fixtures/fault-server.js', import.meta.url);
  const child = fork(script, [protocol, JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T>(accept: (message: unknown) => T | undefined, what: string): Promise<T> =>
    withTimeout(new Promise<T>((resolve, reject) => {
      const onMessage = (message: unknown): void => {
        const value = accept(message);
        if (value === undefined) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(value);
      };
      const onExit = (code: number | null, signal: string | null): void => reject(new Error(`server child exited (${code ?? signal}) before ${what}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    }), what);
  let port: number;
  try {
    port = await next((m) => (m as { port?: number }).port, 'the child server to listen');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    pid: child.pid!,
    child,
    report: () => {
      const reply = next((m) => ((m as FaultServerReport).stats !== undefined ? (m as FaultServerReport) : undefined), 'a report');
      child.send('stats');
      return reply;
    },
    stop: async () => {
      const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
      try {
        const stopped = next((m) => (m as { stopped?: FaultServerReport }).stopped, 'the child server to stop');
        child.send('stop');
        const last = await stopped;
        await withTimeout(exited, 'the child server to exit');
        assert.equal(last.loopErrors, [], 'callbacks threw in the server child');
        return last;
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}

/** Entries in /proc/<pid>/fd: how many fds another process holds. */
export const fdsOf = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/**
 * Bytes process `pid` has read and written through read/write system calls,
 * sockets included (rchar and wchar of /proc/<pid>/io): an echo server
 * holds `read - written` of output it has not handed to the kernel yet.
 */
export function ioOf(pid: number): { read: number; written: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'latin1');
  return { read: Number(/rchar:\s+(\d+)/.exec(io)?.[1] ?? NaN), written: Number(/wchar:\s+(\d+)/.exec(io)?.[1] ?? NaN) };
}

/**
 * How long the main thread of process `pid` (this thread for 'self') has
 * wanted the CPU, in ms: time on it plus time waiting in the run queue for
 * it (/proc/.../schedstat). A thread that spins wants the CPU all along, so
 * this grows as fast as the wall clock however little of the CPU a loaded
 * machine gives it; a thread that sleeps adds only its wake-ups. CPU time
 * alone would let a spin starved of CPU pass for idle.
 */
export function runnableMs(pid: number | 'self'): number {
  const [onCpu, queued] = readFileSync(pid === 'self' ? '/proc/thread-self/schedstat' : `/proc/${pid}/schedstat`, 'latin1').split(' ').map(Number);
  return (onCpu! + queued!) / 1e6;
}

/**
 * Reads how long this thread (the one that opens it) has waited in the run
 * queue for a CPU, in ms: the part of a delay that is the machine's load,
 * not the thread's own work. One pread per reading (a few µs), so it can be
 * read inside the callbacks being timed; close() releases its fd.
 */
export function runQueueClock(): { read(): number; close(): void } {
  const fd = openSync('/proc/thread-self/schedstat', 'r');
  const buffer = Buffer.alloc(128);
  return {
    read: () => Number(buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0)).split(' ')[1]) / 1e6,
    close: () => closeSync(fd),
  };
}

/**
 * The kernel's view of the loopback TCP socket bound to `localPort` and
 * connected to `remotePort` (/proc/net/tcp), whoever holds it; undefined
 * once it is gone (closed, or reset). `state` is the kernel's code ('01'
 * established); `sendQueue` holds what was written and not yet acknowledged,
 * which grows past a few packets only when the peer's window is closed.
 */
export function tcpSocket(localPort: number, remotePort: number): { state: string; sendQueue: number; receiveQueue: number } | undefined {
  const address = (port: number): string => `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n')) {
    const [, local, remote, state, queues] = line.trim().split(/\s+/);
    if (local === address(localPort) && remote === address(remotePort)) {
      const [send, receive] = queues!.split(':').map((hex) => parseInt(hex, 16));
      return { state: state!, sendQueue: send!, receiveQueue: receive! };
    }
  }
  return undefined;
}

/** Resident set size of process `pid`, in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * Sends `payload` on a fresh node:net connection to an echo server and
 * resolves with everything echoed back once as many bytes came back as were
 * sent (then the client ends its side). Rejects on a socket error.
 */
export async function echoRoundTrip(port: number, payload: Buffer): Promise<Buffer> {
  const socket = await connected(HOST, port);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= payload.length) {
        socket.end();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('close', () => {
      if (received < payload.length) reject(new Error(`connection closed after ${received} of ${payload.length} bytes echoed`));
    });
    socket.write(payload);
  });
}

/** `count` bytes that differ per `seed`, so a byte from another connection shows. */
export function patterned(count: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(count);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    bytes[i] = x & 0xff;
  }
  return bytes;
}
