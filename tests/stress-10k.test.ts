// Stress: 10,000 concurrent connections playing echo ping-pong for 30 s
// (WASMLOOP_STRESS_SECONDS overrides; WASMLOOP_STRESS_CONNECTIONS too),
// against `wasmloop serve --protocol echo` in a child process, with the
// clients in another (tests/fixtures/stress-clients.ts). Both raise their
// soft fd limit to the hard one with `ulimit -n` first. Every byte must come
// back (count and checksum per connection); the p99 round trip is printed
// and written to build/results/stress.json. Then all connections close, and
// the server's fd count must return to its baseline and its RSS to within
// 20 MiB of it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { fdsOf } from './helpers/fds.js';
import { rssOf } from './helpers/servers.js';
import { tick, withTimeout } from './helpers/waiting.js';

const SECONDS = Number(process.env['WASMLOOP_STRESS_SECONDS'] ?? 30);
const CONNECTIONS = Number(process.env['WASMLOOP_STRESS_CONNECTIONS'] ?? 10_000);
const RSS_MARGIN_BYTES = 20 * 1024 * 1024;
const MiB = 1024 * 1024;
const CLI = new URL('../src/serve/cli.js', import.meta.url).pathname;
const CLIENTS = new URL('./fixtures/stress-clients.js', import.meta.url).pathname;
const RESULTS = new URL('../results/', import.meta.url).pathname;

/** Runs `node args…` under sh with the soft fd limit raised to the hard limit. */
function nodeWithFdLimit(args: string[]): ChildProcess {
  const quoted = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return spawn('sh', ['-c', `ulimit -n "$(ulimit -Hn)" && exec ${quoted}`], { stdio: ['pipe', 'pipe', 'inherit'] });
}

/** Each JSON line the child prints, in order; `next()` waits for one that `accept` takes. */
function lines(child: ChildProcess): { next<T>(accept: (line: string) => T | undefined, what: string, ms: number): Promise<T> } {
  const seen: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    seen.push(line);
    for (const wake of waiters) wake();
  });
  return {
    next(accept, what, ms) {
      return withTimeout(new Promise((resolve, reject) => {
        const check = (): void => {
          for (const line of seen) {
            const value = accept(line);
            if (value !== undefined) {
              waiters.delete(check);
              resolve(value);
              return;
            }
          }
          if (child.exitCode !== null) reject(new Error(`child exited (${child.exitCode}) before ${what}`));
        };
        waiters.add(check);
        child.once('exit', check);
        check();
      }), what, ms);
    },
  };
}

const json = <T>(phase: string) => (line: string): T | undefined => {
  if (!line.startsWith('{')) return undefined;
  const value = JSON.parse(line) as { phase?: string };
  return value.phase === phase ? (value as T) : undefined;
};

async function exit(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await withTimeout(exited, 'a child to exit', 15_000).catch(() => child.kill('SIGKILL'));
}

/** Samples `read()` until it returns `target` or less, or `ms` pass; returns the last reading. */
async function settleTo(read: () => number, target: number, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let value = read();
  while (value > target && performance.now() < until) {
    await tick(250);
    value = read();
  }
  return value;
}

interface Done {
  connections: number;
  seconds: number;
  roundTrips: number;
  echoedBytes: number;
  badConnections: number;
  closedEarly: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

test(`${CONNECTIONS} connections echo for ${SECONDS} s byte-exact; afterwards the server's fds and RSS return to baseline`, async () => {
  const server = nodeWithFdLimit([CLI, 'serve', '--protocol', 'echo', '--port', '0', '--backlog', '4096', '--max-fds', String(CONNECTIONS * 2 + 1024)]);
  let clients: ChildProcess | undefined;
  try {
    const serverOut = lines(server);
    const port = await serverOut.next((line) => Number(/listening on [\d.]+:(\d+)/.exec(line)?.[1]) || undefined, 'the server to listen', 20_000);
    await tick(1000);
    const baseline = { fds: fdsOf(server.pid!), rss: rssOf(server.pid!) };

    clients = nodeWithFdLimit([CLIENTS, String(port), String(CONNECTIONS), String(SECONDS)]);
    const clientOut = lines(clients);
    const connected = await clientOut.next(json<{ connectMs: number }>('connected'), `${CONNECTIONS} connections`, 120_000);
    const loaded = { fds: fdsOf(server.pid!), rss: rssOf(server.pid!) };
    assert.ok(loaded.fds >= baseline.fds + CONNECTIONS, `the server holds ${loaded.fds - baseline.fds} more fds, expected ${CONNECTIONS}`);
    const done = await clientOut.next(json<Done>('done'), 'the echo phase', (SECONDS + 120) * 1000);
    const peakRss = Math.max(loaded.rss, rssOf(server.pid!));

    clients.stdin!.write('close\n');
    await clientOut.next(json('closed'), 'every client connection to close', 60_000);
    const fdsAfter = await settleTo(() => fdsOf(server.pid!), baseline.fds, 30_000);
    // A settle period: the heap shrinks after the garbage of 10k connections is collected.
    const rssAfter = await settleTo(() => rssOf(server.pid!), baseline.rss + RSS_MARGIN_BYTES, 15_000);

    const figures = {
      connections: done.connections,
      seconds: done.seconds,
      connectMs: connected.connectMs,
      roundTrips: done.roundTrips,
      roundTripsPerSecond: Math.round(done.roundTrips / done.seconds),
      echoedMiB: Number((done.echoedBytes / MiB).toFixed(1)),
      p50Ms: done.p50Ms,
      p99Ms: done.p99Ms,
      maxMs: done.maxMs,
      badConnections: done.badConnections,
      closedEarly: done.closedEarly,
      server: {
        fds: { baseline: baseline.fds, loaded: loaded.fds, after: fdsAfter },
        rssMiB: { baseline: +(baseline.rss / MiB).toFixed(1), peak: +(peakRss / MiB).toFixed(1), after: +(rssAfter / MiB).toFixed(1) },
      },
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(`${RESULTS}stress.json`, `${JSON.stringify(figures, null, 2)}\n`);
    console.log(`\nstress: ${JSON.stringify(figures)}`);

    assert.is(done.connections, CONNECTIONS);
    assert.is(done.closedEarly, 0, 'connections closed by the server during the echo phase');
    assert.is(done.badConnections, 0, 'connections whose echo differed, fell short, or never completed a round trip');
    assert.is(fdsAfter, baseline.fds, `the server's fds did not return to baseline`);
    assert.ok(rssAfter <= baseline.rss + RSS_MARGIN_BYTES, `server RSS ${(rssAfter / MiB).toFixed(1)} MiB, baseline ${(baseline.rss / MiB).toFixed(1)} MiB`);
  } finally {
    if (clients !== undefined) await exit(clients, 'SIGKILL');
    await exit(server, 'SIGTERM');
  }
});

test.run();
