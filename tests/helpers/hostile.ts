// The hostile-client suite's common ground: `wasmloop serve` in a child
// process, what /proc says of it (RSS, fds, bytes read and written), a raw
// client that records everything it is sent, and a well-behaved client whose
// round trips must keep completing while an attacker works on the server.
//
// Every check waits on a condition with a bound (10 s unless said), never on a
// sleep; the RSS margins are growth over a baseline taken after warm-up, with
// the reason for each written where it is used.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';

import { fdsOf, HOST } from './fds.js';
import { ioOf, rssOf } from './servers.js';
import { tick, withTimeout } from './waiting.js';

export { fdsOf, ioOf, rssOf };

const CLI = new URL('../../src/serve/cli.js', import.meta.url).pathname;
const LISTENING = /listening on [\d.]+:(\d+)/;
export const MiB = 1024 * 1024;

/**
 * A well-behaved client's round trip may take this long before the test
 * fails: the attack shares a 2-core machine with other test processes, so
 * this bounds "still served", not speed. Each round trip is a fresh
 * connection, so a server that stopped accepting fails it too.
 */
export const ROUND_TRIP_DEADLINE_MS = 5000;

export type Protocol = 'echo' | 'resp' | 'http';

export interface ServeChild {
  protocol: Protocol;
  pid: number;
  port: number;
  child: ChildProcess;
  /** What the child printed to stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code (SIGKILL and a failure after 10 s). */
  stop(): Promise<number | null>;
}

/**
 * Starts `wasmloop serve --protocol <protocol> --port 0 <flags>` and waits for
 * its listening line. A flag the CLI does not know makes it exit 2 before
 * listening: that rejects, with the child's stderr in the message.
 */
export async function serveChild(protocol: Protocol, flags: string[] = []): Promise<ServeChild> {
  // Started as the wasmloop bin starts it: with 1 MiB semi-spaces, one loop on the main thread.
  const child = spawn(process.execPath, ['--max-semi-space-size=1', CLI, 'serve', '--protocol', protocol, '--host', HOST, '--port', '0', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('latin1').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('latin1').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      const onData = (): void => {
        const match = LISTENING.exec(stdout);
        if (match) {
          child.stdout!.off('data', onData);
          resolve(Number(match[1]));
        }
      };
      child.stdout!.on('data', onData);
      void exited.then((code) => reject(new Error(`wasmloop serve ${flags.join(' ')} exited (${code}) before listening: ${stderr.trim()}`)));
    }),
    `wasmloop serve --protocol ${protocol} to listen`,
  ).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    protocol,
    pid: child.pid!,
    port,
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      try {
        return await withTimeout(exited, 'the server to exit on SIGTERM');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}

/** Runs `body` against a fresh server and always stops it; fails if the server did not exit 0 or died during the test. */
export async function withServe(protocol: Protocol, flags: string[], body: (server: ServeChild) => Promise<void>): Promise<void> {
  const server = await serveChild(protocol, flags);
  let died: string | undefined;
  server.child.once('exit', (code, signal) => (died = `the server exited (${code ?? signal}) during the test: ${server.stderr().trim()}`));
  try {
    await body(server);
    if (died !== undefined) throw new Error(died);
  } finally {
    const code = await server.stop();
    if (died === undefined && code !== 0) throw new Error(`the server exited ${code} on SIGTERM: ${server.stderr().trim()}`);
  }
}

// ---- a raw client -------------------------------------------------------------------

/**
 * A client socket that records every byte it is sent and how it ended:
 * `ended` at the server's FIN, `closed` once the socket is gone, `error`
 * for a reset. `paused()` makes it read nothing (the kernel's receive
 * buffer fills and the server must queue), `resume()` reads again.
 */
export class RawClient {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  received = 0;
  ended = false;
  closed = false;
  error: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.received += chunk.length;
    });
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.closed = true));
    socket.on('error', (error) => (this.error = error));
  }

  /** Connects; `paused` clients read nothing until resume(). */
  static async open(port: number, options: { paused?: boolean } = {}): Promise<RawClient> {
    const socket = connect({ host: HOST, port });
    if (options.paused) socket.pause();
    const client = new RawClient(socket);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      `a connection to port ${port}`,
    );
    return client;
  }

  /** Everything received so far. */
  bytes(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  text(): string {
    return this.bytes().toString('latin1');
  }

  /** Resolves once `condition(this)` holds; rejects after `ms` with `what` and what was received. */
  async until(condition: (client: RawClient) => boolean, what: string, ms = 10_000): Promise<void> {
    const started = performance.now();
    while (!condition(this)) {
      if (performance.now() - started > ms) {
        throw new Error(`timed out waiting for ${what}; received ${this.received} bytes ${JSON.stringify(this.text().slice(0, 120))}, ended ${this.ended}, closed ${this.closed}, error ${this.error?.message}`);
      }
      await tick(5);
    }
  }

  /** Resolves once the server has ended or reset the connection. */
  untilGone(what: string, ms?: number): Promise<void> {
    return this.until((c) => c.ended || c.closed, what, ms);
  }

  /** Writes and resolves once node:net has handed it all to the kernel (or the socket failed). */
  write(bytes: Buffer | string): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---- a well-behaved client ------------------------------------------------------------

/** One request of each protocol and the exact reply it must get. */
const EXCHANGES: Record<Protocol, { request: Buffer; reply: Buffer }> = {
  echo: { request: Buffer.from('well-behaved\n'), reply: Buffer.from('well-behaved\n') },
  resp: { request: Buffer.from('*1\r\n$4\r\nPING\r\n'), reply: Buffer.from('+PONG\r\n') },
  http: {
    request: Buffer.from('GET / HTTP/1.1\r\nHost: well-behaved\r\n\r\n'),
    reply: Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'),
  },
};

/**
 * A fresh connection, one request, its exact reply, a close: resolves with
 * the round trip's milliseconds, rejects past ROUND_TRIP_DEADLINE_MS or on a
 * wrong reply.
 */
export async function wellBehavedRoundTrip(protocol: Protocol, port: number): Promise<number> {
  const started = performance.now();
  const { request, reply } = EXCHANGES[protocol];
  const client = await RawClient.open(port);
  try {
    await client.write(request);
    await client.until((c) => c.received >= reply.length || c.ended || c.closed, `a ${protocol} reply to the well-behaved client`, ROUND_TRIP_DEADLINE_MS);
    if (!client.bytes().equals(reply)) {
      throw new Error(`the well-behaved ${protocol} client got ${JSON.stringify(client.text().slice(0, 200))}, not ${JSON.stringify(reply.toString('latin1'))}`);
    }
    return performance.now() - started;
  } finally {
    client.destroy();
  }
}

/**
 * Round trips one after another until `during` settles (and at least
 * `atLeast`), so the server is shown to serve others all through the attack.
 * Resolves with what `during` resolved with and the round trips' times.
 */
export async function servedMeanwhile<T>(protocol: Protocol, port: number, during: Promise<T>, atLeast = 3): Promise<{ value: T; roundTrips: number[] }> {
  let settled = false;
  const outcome = during.finally(() => (settled = true));
  const roundTrips: number[] = [];
  const lane = (async () => {
    while (!settled || roundTrips.length < atLeast) roundTrips.push(await wellBehavedRoundTrip(protocol, port));
  })();
  // A failed round trip fails at once, without waiting for the attack to end.
  const [value] = await Promise.all([outcome, lane]);
  return { value, roundTrips };
}

// ---- what the server holds ---------------------------------------------------------------

export interface Footprint {
  fds: number;
  rss: number;
}

/** The server's fds and RSS now. */
export const footprint = (pid: number): Footprint => ({ fds: fdsOf(pid), rss: rssOf(pid) });

/**
 * Warms the server up (round trips, so lazily made buffers exist and V8 has
 * compiled the hot paths) and returns its footprint then: what "back" means.
 */
export async function baseline(server: ServeChild, roundTrips = 50): Promise<Footprint> {
  for (let i = 0; i < roundTrips; i++) await wellBehavedRoundTrip(server.protocol, server.port);
  // The last round trip's connection may still be open on the server's side.
  await steady(() => fdsOf(server.pid), "the server's fd count after warm-up", 200);
  return footprint(server.pid);
}

/**
 * Whether RSS says what a server holds. Under AddressSanitizer (`npm run
 * test:asan`) freed memory waits in ASan's quarantine and every allocation
 * has its shadow, so memory bounds are checked by the plain run only; fds
 * are checked in both.
 */
export const RSS_COUNTS = process.env.ASAN_OPTIONS === undefined;

/**
 * Waits until the server holds its baseline fds again and its RSS is within
 * `marginBytes` of the baseline, making round trips meanwhile. Fails with the
 * figures after `ms`. What an attacker left is given back at V8's next full
 * GC; a server that is nearly idle has one when V8's memory reducer gets round
 * to it, measured at 7-9 s after a 64 MiB request buffer was dropped, so a
 * test that leaves tens of MiB waits longer than the default 10 s.
 */
export async function comesBack(server: ServeChild, before: Footprint, marginBytes: number, what: string, ms = 10_000): Promise<Footprint> {
  const started = performance.now();
  let now = footprint(server.pid);
  while (now.fds !== before.fds || (RSS_COUNTS && now.rss > before.rss + marginBytes)) {
    if (performance.now() - started > ms) {
      throw new Error(
        `${what}: the server did not come back: ${now.fds} fds (baseline ${before.fds}), ` +
          `RSS ${(now.rss / MiB).toFixed(1)} MiB (baseline ${(before.rss / MiB).toFixed(1)} MiB, margin ${(marginBytes / MiB).toFixed(0)} MiB)`,
      );
    }
    await wellBehavedRoundTrip(server.protocol, server.port);
    // Time for the server to see that round trip's close, so its fd is not counted.
    await tick(100);
    now = footprint(server.pid);
  }
  return now;
}

/**
 * Resolves once `read()` has returned the same value for `steadyMs` (the
 * server has done what it will with what it was sent); rejects after 10 s.
 */
export async function steady(read: () => number, what: string, steadyMs = 500): Promise<number> {
  const started = performance.now();
  let last = read();
  let since = performance.now();
  for (;;) {
    await tick(25);
    const value = read();
    if (value !== last) {
      last = value;
      since = performance.now();
    } else if (performance.now() - since >= steadyMs) return value;
    if (performance.now() - started > 10_000) throw new Error(`timed out waiting for ${what} to settle (now ${value})`);
  }
}

/** `count` bytes that differ per `seed`, printable, so a misplaced byte shows. */
export function pattern(count: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(count);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    bytes[i] = 97 + (x % 26);
  }
  return bytes;
}

/** A RESP multibulk request of `args`. */
export function resp(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * The first HTTP response in `text`, if whole: its status line, its headers
 * (names lower-cased) and its body by Content-Length, and what follows it.
 */
export function parseResponse(text: string): { status: string; headers: Map<string, string[]>; body: string; rest: string } | undefined {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [status, ...lines] = text.slice(0, headEnd).split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const length = Number(headers.get('content-length')?.[0] ?? 0);
  const bodyStart = headEnd + 4;
  if (text.length < bodyStart + length) return undefined;
  return { status: status!, headers, body: text.slice(bodyStart, bodyStart + length), rest: text.slice(bodyStart + length) };
}

/**
 * Writes `head`, then `chunk` over and over until the server ends or resets
 * the connection or `capBytes` have gone out; samples the server's RSS after
 * each chunk. Resolves with the bytes sent and the highest RSS seen.
 */
export async function streamUntilRefused(
  client: RawClient,
  pid: number,
  head: Buffer | string,
  chunk: Buffer,
  capBytes: number,
): Promise<{ sent: number; peakRss: number }> {
  await client.write(head);
  let sent = Buffer.byteLength(head);
  let peakRss = rssOf(pid);
  while (sent < capBytes && !client.ended && !client.closed && client.error === undefined) {
    await client.write(chunk);
    sent += chunk.length;
    peakRss = Math.max(peakRss, rssOf(pid));
    // A write the kernel takes at once calls back without a turn of Node's
    // loop: give it one, so the server's reply and FIN are read.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { sent, peakRss };
}
