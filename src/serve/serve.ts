// What `wasmloop serve` runs: one loop and Server per thread, on the main
// thread alone (--workers 1) or in N worker threads listening on one port
// with SO_REUSEPORT, a live status line on a terminal, and a graceful stop
// on SIGINT/SIGTERM.
//
// With a fixed young generation (the default) even one loop runs in a
// worker, whose heap can be sized (young-generation.ts), unless node was
// started with --max-semi-space-size; a lone worker says what the main
// thread's loop would say, in the same words.
//
// With workers the main thread runs no loop: it picks the port (binding a
// SO_REUSEPORT listener first, so port 0 resolves once for all), starts the
// workers, closes its own listener once they all listen (before that, no
// client knows the port, so none can land in its queue), and then only
// relays signals and status requests as messages.
import { performance } from 'node:perf_hooks';
import { isIP } from 'node:net';
import { Worker } from 'node:worker_threads';

import type { BackendName } from '../kernel/backend.js';
import { EventLoop } from '../loop/event-loop.js';
import { utilization } from '../loop/metrics.js';
import type { Trigger } from '../loop/registration.js';
import { renderPrometheus } from './prometheus.js';
import { httpProtocol, protocols, respProtocol, type ProtocolName } from '../protocols/index.js';
import type { ProtocolFactory } from '../net/protocol.js';
import { Server, type ServerStats } from '../net/server.js';
import { sockets } from '../net/sockets.js';
import { stderrLogger, type LogLevel } from './log.js';
import { mainThreadYoungGenerationSized, workerResourceLimits, type YoungGeneration } from './young-generation.js';

export interface ServeConfig {
  protocol: ProtocolName;
  /** A numeric address (unused with `path`). */
  host: string;
  port: number;
  /** A Unix socket path to listen on instead of host and port; one thread only (`workers` 1). */
  path?: string | undefined;
  backend: BackendName;
  trigger: Trigger;
  maxEvents: number;
  maxFds: number;
  backlog: number;
  idleTimeoutMs: number;
  /** Connections each worker's server serves at once. */
  maxConnections: number;
  fdExhaustion: 'pause' | 'shed';
  /** How long a stop lets queued output drain before closing what is left. */
  shutdownMs: number;
  workers: number;
  /** What the loop and server log to stderr. */
  logLevel: LogLevel;
  /** Whether V8's young generation stays small in every serving thread (young-generation.ts). */
  youngGeneration: YoungGeneration;
  /** The protocols' input bounds; each left out takes its protocol's default. */
  maxRequestBytes?: number;
  maxBulkLength?: number;
  maxKeyLength?: number;
  maxMemory?: number;
  maxHeaderBytes?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** How often the status line is redrawn. */
export const STATUS_INTERVAL_MS = 2000;

// ---- the status line -------------------------------------------------------------

/** What the status line is computed from: counters that only grow, plus the open connections. */
export interface StatusSample {
  connections: number;
  /** Requests answered; null when the protocol does not count them (echo). */
  requests: number | null;
  /** Counts of the events-per-wait log2 histogram (loop.metrics().eventsPerWait.buckets). */
  batchBuckets: number[];
  /** The loop's busy and idle time (loop.metrics()), whose ratio is its utilization. */
  busyMs: number;
  idleMs: number;
}

/** The sums of several threads' samples. */
export function mergeSamples(samples: readonly StatusSample[]): StatusSample {
  const merged: StatusSample = { connections: 0, requests: null, batchBuckets: [], busyMs: 0, idleMs: 0 };
  for (const sample of samples) {
    merged.connections += sample.connections;
    if (sample.requests !== null) merged.requests = (merged.requests ?? 0) + sample.requests;
    sample.batchBuckets.forEach((count, b) => (merged.batchBuckets[b] = (merged.batchBuckets[b] ?? 0) + count));
    merged.busyMs += sample.busyMs;
    merged.idleMs += sample.idleMs;
  }
  return merged;
}

/**
 * A percentile of log2 bucket counts, as the core computes it (the upper
 * bound of the bucket holding the rank; bucket 0, values below 1, reads 1);
 * null when there are no counts.
 */
export function bucketPercentile(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let b = 0; b < buckets.length; b++) {
    seen += buckets[b]!;
    if (seen >= rank) return b === 0 ? 1 : 2 ** b;
  }
  return 2 ** (buckets.length - 1);
}

/**
 * One status line for the interval between two samples, `elapsedMs` apart:
 * open connections, requests per second, events per wait p50/p99 and loop
 * utilization (the loop's own, busy / (busy + idle), over all threads) during
 * the interval.
 */
export function formatStatus(previous: StatusSample, current: StatusSample, elapsedMs: number): string {
  const seconds = elapsedMs / 1000;
  const rate =
    current.requests === null || seconds <= 0 ? '-' : Math.round(Math.max(0, current.requests - (previous.requests ?? 0)) / seconds).toLocaleString('en-US');
  const delta = current.batchBuckets.map((count, b) => count - (previous.batchBuckets[b] ?? 0));
  const p50 = bucketPercentile(delta, 0.5);
  const p99 = bucketPercentile(delta, 0.99);
  const busy = current.busyMs - previous.busyMs;
  const idle = current.idleMs - previous.idleMs;
  const loop = busy + idle > 0 ? `${Math.round(utilization(busy, idle) * 100)}%` : '-';
  return (
    `${current.connections} connections | ${rate} req/s | ` +
    `events/wait p50 ${p50 ?? '-'} p99 ${p99 ?? '-'} | loop ${loop}`
  );
}

// ---- one thread's server -----------------------------------------------------------

/** A loop and its Server, as one thread of `wasmloop serve` runs them. */
export class ServingThread {
  readonly loop: EventLoop;
  readonly server: Server;
  readonly #factory: ProtocolFactory & { readonly requests?: number };

  /** `labels` go on every /metrics sample (a worker's index). */
  constructor(config: ServeConfig, reusePort: boolean, labels?: Record<string, string>) {
    const logger = stderrLogger(config.logLevel, labels?.['worker'] === undefined ? 'wasmloop' : `wasmloop[${labels['worker']}]`);
    this.loop = new EventLoop({ backend: config.backend, maxEvents: config.maxEvents, maxFds: config.maxFds, logger });
    this.#factory =
      config.protocol === 'http'
        ? httpProtocol({
            metrics: () => renderPrometheus(this.loop.metrics(), this.server.stats, { requests: this.requests ?? 0, labels: labels ?? {} }),
            maxHeaderBytes: config.maxHeaderBytes,
            headersTimeoutMs: config.headersTimeoutMs,
            requestTimeoutMs: config.requestTimeoutMs,
          })
        : config.protocol === 'resp'
          ? respProtocol({ maxRequestBytes: config.maxRequestBytes, maxBulkLength: config.maxBulkLength, maxKeyLength: config.maxKeyLength, maxMemory: config.maxMemory })
          : protocols[config.protocol]();
    this.server = new Server(this.loop, this.#factory, {
      ...(config.path === undefined ? { host: config.host, port: config.port } : { path: config.path }),
      backlog: config.backlog,
      trigger: config.trigger,
      reusePort,
      idleTimeoutMs: config.idleTimeoutMs,
      maxConnections: config.maxConnections,
      fdExhaustion: config.fdExhaustion,
    });
  }

  /** Requests answered, for protocols that count them. */
  get requests(): number | undefined {
    return this.#factory.requests;
  }

  /** Listens; on failure closes the loop and throws. */
  listen(): number {
    try {
      return this.server.listen();
    } catch (error) {
      this.loop.close();
      throw error;
    }
  }

  sample(): StatusSample {
    const metrics = this.loop.metrics();
    return {
      connections: this.server.stats.active,
      requests: this.requests ?? null,
      batchBuckets: metrics.eventsPerWait.buckets,
      busyMs: metrics.busyMs,
      idleMs: metrics.idleMs,
    };
  }

  close(): void {
    this.server.close();
    this.loop.close();
  }
}

// ---- the command -----------------------------------------------------------------

export function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Redraws a status line in place on a terminal; prints nothing elsewhere. */
class StatusLine {
  readonly #enabled = process.stdout.isTTY === true;
  #shown = false;
  #previous: { sample: StatusSample; at: number } | undefined;

  get enabled(): boolean {
    return this.#enabled;
  }

  update(sample: StatusSample): void {
    const at = performance.now();
    if (this.#previous !== undefined) {
      process.stdout.write(`\r${formatStatus(this.#previous.sample, sample, at - this.#previous.at)}\x1b[K`);
      this.#shown = true;
    }
    this.#previous = { sample, at };
  }

  /** Ends the status line, so the next output starts on a line of its own. */
  finish(): void {
    if (this.#shown) process.stdout.write('\n');
    this.#shown = false;
  }
}

/**
 * Runs until SIGINT or SIGTERM: the first stops accepting and lets queued
 * output drain for `shutdownMs`, a second closes everything at once. Returns
 * the exit code.
 */
export function serve(config: ServeConfig): Promise<number> {
  if (config.workers > 1 && config.path !== undefined) return Promise.reject(new Error('a Unix socket (path) is served by one thread: workers must be 1'));
  // A heap's young generation is sized when the heap is made: the main
  // thread's was made before this ran, so a fixed one needs a worker, unless
  // Node was started with its size. A Unix socket is served on the main
  // thread (workers share a TCP port).
  const here = config.youngGeneration === 'grow' || mainThreadYoungGenerationSized() || config.path !== undefined;
  if (config.workers === 1 && here) return serveHere(config);
  return serveWithWorkers(config);
}

function listeningLine(config: ServeConfig, port: number): string {
  const workers = config.workers === 1 ? '' : `, ${config.workers} workers`;
  return (
    `wasmloop: ${config.protocol} server listening on ${config.path ?? formatAddress(config.host, port)} ` +
    `(backend ${config.backend}, ${config.trigger}-triggered, maxEvents ${config.maxEvents}${workers})`
  );
}

/** Calls `onSignal` for each SIGINT/SIGTERM (with how many came before); returns a function that stops listening. */
function onSignals(onSignal: (signal: NodeJS.Signals, count: number) => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals): void => onSignal(signal, count++);
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

async function serveHere(config: ServeConfig): Promise<number> {
  const thread = new ServingThread(config, false);
  const port = thread.listen();
  const { loop, server } = thread;
  const status = new StatusLine();
  if (status.enabled) {
    status.update(thread.sample());
    loop.setInterval(() => status.update(thread.sample()), STATUS_INTERVAL_MS, { label: 'status line' });
  }
  const stopListening = onSignals((signal, count) => {
    if (count > 0) {
      server.close();
      return;
    }
    status.finish();
    console.log(`wasmloop: ${signal}: closing ${server.stats.active} connections`);
    void server.shutdown(config.shutdownMs).then(() => loop.stop());
  });
  // Only now: whoever waits for this line may signal at once.
  console.log(listeningLine(config, port));
  try {
    await loop.run();
  } finally {
    stopListening();
    thread.close();
  }
  status.finish();
  const { accepted, shutdownForced } = server.stats;
  console.log(`wasmloop: stopped after serving ${accepted} connections${shutdownForced > 0 ? ` (${shutdownForced} closed at the deadline)` : ''}`);
  return 0;
}

// ---- worker threads -------------------------------------------------------------

/** What the main thread sends a worker. */
export type ToWorker = { type: 'sample'; id: number } | { type: 'shutdown'; deadlineMs: number } | { type: 'close' };

/** What a worker sends the main thread. */
export type FromWorker =
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string }
  | { type: 'sample'; id: number; sample: StatusSample }
  /** The shutdown started, with this many connections open. */
  | { type: 'closing'; connections: number }
  | { type: 'stopped'; stats: ServerStats; requests: number | null };

/** What `new Worker()` is given. */
export interface WorkerData {
  config: ServeConfig;
  index: number;
}

interface WorkerHandle {
  worker: Worker;
  index: number;
  stopped: { stats: ServerStats; requests: number | null } | undefined;
  exited: Promise<number>;
}

async function serveWithWorkers(config: ServeConfig): Promise<number> {
  const listener = sockets.listen(config.host, config.port, { backlog: config.backlog, reusePort: true });
  const port = sockets.localPort(listener);
  const handles: WorkerHandle[] = [];
  const samples = new Map<number, { pending: number; collected: StatusSample[]; done(): void }>();
  let failure: string | undefined;
  let listening = 0;
  let allListening!: () => void;
  const ready = new Promise<void>((resolve) => (allListening = resolve));

  for (let index = 0; index < config.workers; index++) {
    const data: WorkerData = { config: { ...config, port }, index };
    const worker = new Worker(new URL('./serve-worker.js', import.meta.url), {
      workerData: data,
      resourceLimits: workerResourceLimits(config.youngGeneration),
    });
    const handle: WorkerHandle = {
      worker,
      index,
      stopped: undefined,
      exited: new Promise((resolve) => worker.once('exit', resolve)),
    };
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'listening') {
        if (++listening === config.workers) allListening();
      } else if (message.type === 'failed') {
        failure ??= message.message;
        allListening();
      } else if (message.type === 'closing') {
        // A lone worker stands for the main thread's loop: its shutdown line.
        if (config.workers === 1) console.log(`wasmloop: ${stopSignal}: closing ${message.connections} connections`);
      } else if (message.type === 'sample') {
        const request = samples.get(message.id);
        if (request === undefined) return;
        request.collected.push(message.sample);
        if (--request.pending === 0) request.done();
      } else {
        handle.stopped = { stats: message.stats, requests: message.requests };
      }
    });
    worker.on('error', (error) => {
      failure ??= `worker ${index}: ${error.message}`;
      allListening();
    });
    handles.push(handle);
  }
  const post = (message: ToWorker): void => {
    for (const { worker } of handles) worker.postMessage(message);
  };

  await ready;
  sockets.close(listener);
  if (failure !== undefined) {
    post({ type: 'close' });
    await Promise.all(handles.map((h) => h.exited));
    throw new Error(failure);
  }

  const status = new StatusLine();
  let statusTimer: ReturnType<typeof setInterval> | undefined;
  let sampleId = 0;
  if (status.enabled) {
    const collect = (): void => {
      const id = ++sampleId;
      const request = { pending: handles.length, collected: [] as StatusSample[], done: () => {} };
      request.done = () => {
        samples.delete(id);
        status.update(mergeSamples(request.collected));
      };
      samples.set(id, request);
      post({ type: 'sample', id });
    };
    collect();
    statusTimer = setInterval(collect, STATUS_INTERVAL_MS);
  }
  let stopping = false;
  let stopSignal: NodeJS.Signals | undefined;
  const stopListening = onSignals((signal, count) => {
    clearInterval(statusTimer);
    samples.clear();
    if (count > 0) {
      post({ type: 'close' });
      return;
    }
    stopping = true;
    stopSignal = signal;
    status.finish();
    if (config.workers > 1) console.log(`wasmloop: ${signal}: stopping ${handles.length} workers`);
    post({ type: 'shutdown', deadlineMs: config.shutdownMs });
  });
  // Only now: whoever waits for this line may signal at once.
  console.log(listeningLine(config, port));
  const codes = await Promise.all(handles.map((h) => h.exited));
  stopListening();
  clearInterval(statusTimer);
  status.finish();

  let accepted = 0;
  let forced = 0;
  for (const handle of handles) {
    const stopped = handle.stopped;
    if (stopped === undefined) {
      console.error(`wasmloop: worker ${handle.index} exited (code ${codes[handle.index]}) without reporting`);
      continue;
    }
    accepted += stopped.stats.accepted;
    forced += stopped.stats.shutdownForced;
    const requests = stopped.requests === null ? '' : `, ${stopped.requests} requests`;
    if (config.workers > 1) console.log(`wasmloop: worker ${handle.index}: accepted ${stopped.stats.accepted} connections${requests}`);
  }
  console.log(`wasmloop: stopped after serving ${accepted} connections${forced > 0 ? ` (${forced} closed at the deadline)` : ''}`);
  const clean = stopping && handles.every((h) => h.stopped !== undefined) && codes.every((code) => code === 0);
  return clean ? 0 : 1;
}
