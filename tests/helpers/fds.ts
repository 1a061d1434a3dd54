// File descriptors and loopback pairs: counting and closing fds, a connected
// pair made synchronously with runOnce(), and what the kernel says of a
// process's fds and of a TCP socket (/proc).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';

import { sockets, type EventLoop } from '../../src/index.js';
import { TestLoop } from '../test-loop.js';

/** The loopback address the socket tests listen and connect on. */
export const HOST = '127.0.0.1';

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

/** Entries in /proc/<pid>/fd: how many fds another process holds. */
export const fdsOf = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

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

/** Blocks the thread for `ms` (a peer's bytes travel meanwhile; the loop does not turn). */
export function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Blocks until the server-side sockets of `clientFds` (connected to `port`)
 * hold `bytes` each (or `bytes(i)` for the i-th), unread in the kernel, within
 * ~5 s: so that one wait of the loop finds them all ready.
 */
export function waitUnread(clientFds: number[], port: number, bytes: number | ((i: number) => number)): void {
  const wanted = typeof bytes === 'number' ? () => bytes : bytes;
  for (let i = 0; i < 500; i++) {
    if (clientFds.every((fd, n) => (tcpSocket(port, sockets.localPort(fd))?.receiveQueue ?? -1) >= wanted(n))) return;
    sleep(10);
  }
  assert.unreachable("the clients' bytes did not reach the server's sockets");
}

/** `count` clients connected to `port`, each accepted (as `accepted()` counts) before the next connects: the server takes them in this order. */
export function connectAccepted(loop: EventLoop, port: number, count: number, accepted: () => number): number[] {
  const fds: number[] = [];
  for (let i = 0; i < count; i++) {
    fds.push(sockets.connect(HOST, port));
    turnUntil(loop, () => accepted() === i + 1, `connection ${i} accepted`);
  }
  return fds;
}

/** The end of a socket test: the clients' fds closed, then the server, then its loop. */
export function closeServed(fds: number[], server: { close(): void }, loop: EventLoop): void {
  closeAll(...fds);
  server.close();
  loop.close();
}
