// Idle clients for the memory scenario: opens `connections` sockets to
// 127.0.0.1:`port` on a wasmloop EventLoop (plain fds, so the client side is
// never what limits how fast 10,000 connections come up) and sends nothing.
//
// A connection counts as up for the client once the server's kernel queued
// it, long before the server accepts it; a client running ahead of accept
// overflows the listen backlog, and every dropped handshake then waits a
// second or more for its retry. So the caller, which sees the server's fds,
// writes on stdin how many connections the server holds (one number per
// line), and the client keeps at most AHEAD_OF_ACCEPT beyond that.
//
// Prints "connected N" once all are up, then holds them until SIGTERM (the
// default action ends the process), or `hold` seconds at most so it never
// outlives its caller. Exits 1 if the server refuses or closes any of them.
import { readSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { EventLoop, sockets } from '../src/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    connections: { type: 'string', default: '10000' },
    hold: { type: 'string', default: '60' },
  },
});
const port = Number(values.port);
const connections = Number(values.connections);
const holdUntil = performance.now() + Number(values.hold) * 1000;
/** Half the listen backlog the memory scenario gives its servers (4096), so the queue never fills. */
const AHEAD_OF_ACCEPT = 2048;

const loop = new EventLoop();
let started = 0;
let connected = 0;
let accepted = 0;

function fail(why: string): never {
  console.error(`idle-clients: ${why} after ${connected} connections`);
  process.exit(1);
}

const handlers = {
  write(fd: number): void {
    const error = sockets.socketError(fd);
    if (error) fail(error.message);
    // Connected: from here on only a hang-up or an error is of interest.
    loop.setInterest(fd, { writable: false });
    connected++;
    more();
  },
  hangup(): void {
    fail('the server closed a connection');
  },
  error(_fd: number, error: Error): void {
    fail(error.message);
  },
};

function more(): void {
  for (; started < connections && started < accepted + AHEAD_OF_ACCEPT; started++) {
    loop.addClientSocket(sockets.connect('127.0.0.1', port), handlers, { readable: false, writable: true });
  }
}

const input = Buffer.alloc(4096);
const stdin = loop.watch(0, { readable: true }, () => {
  const n = readSync(0, input);
  if (n === 0) {
    stdin.close();
    return;
  }
  const counts = input.toString('latin1', 0, n).trim().split('\n');
  accepted = Math.max(accepted, Number(counts[counts.length - 1]) || 0);
  more();
});

more();
while (connected < connections && performance.now() < holdUntil) loop.runOnce(100);
if (connected < connections) fail(`not all connected within ${values.hold} s`);
console.log(`connected ${connected}`);
while (performance.now() < holdUntil) loop.runOnce(100);
loop.close();
