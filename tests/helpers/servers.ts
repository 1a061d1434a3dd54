// Servers to test against: a Server in this process under `await loop.run()`,
// and one in a forked child (tests/fixtures/fault-server.ts) with what /proc
// says of it; an echo round trip and patterned payloads to check them with.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';

import type { EventLoopOptions } from '../../src/index.js';
import type { ProtocolFactory } from '../../src/net/protocol.js';
import { Server, type ServerOptions } from '../../src/net/server.js';
import type { FaultServerReport } from '../fixtures/fault-server.js';
import { TestLoop } from '../test-loop.js';
import { HOST } from './fds.js';
import { connected, withTimeout } from './waiting.js';

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
 * `body` drives clients (`port` is 0 for a Unix socket); stops and closes everything afterwards. A handler
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
  // A Unix socket (options.path) takes no port.
  const server = new Server(loop, protocol, options.path === undefined ? { port: 0, ...options } : options);
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
  const script = new URL('../fixtures/fault-server.js', import.meta.url);
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

/**
 * Bytes process `pid` has read and written through read/write system calls,
 * sockets included (rchar and wchar of /proc/<pid>/io): an echo server
 * holds `read - written` of output it has not handed to the kernel yet.
 */
export function ioOf(pid: number): { read: number; written: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'latin1');
  return { read: Number(/rchar:\s+(\d+)/.exec(io)?.[1] ?? NaN), written: Number(/wchar:\s+(\d+)/.exec(io)?.[1] ?? NaN) };
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
