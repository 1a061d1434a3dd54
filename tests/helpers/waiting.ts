// Waiting in async tests, always with a bound: a promise, a condition, a
// node:net client's connection.
import { connect, type Socket } from 'node:net';

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
