// Idle clients for the memory scenario: opens `connections` sockets to
// 127.0.0.1:`port` on a wasmloop EventLoop (plain fds, so the client side is
// never what limits how fast 10,000 connections come up), at most IN_FLIGHT
// connecting at once: more would overflow the server's listen backlog and
// turn into SYN retries of a second each. Sends nothing. Prints
// "connected N" once all are up, then holds them until SIGTERM (the default
// action ends the process), or `hold` seconds at most so it never outlives
// its caller. Exits 1 if the server refuses or closes any of them.
import { parseArgs } from 'node:util';

import { EventLoop, SocketManager } from '../src/index.js';

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
const IN_FLIGHT = 256;

const loop = new EventLoop();
const sockets = new SocketManager();
let started = 0;
let connected = 0;

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
    next();
  },
  hangup(): void {
    fail('the server closed a connection');
  },
  error(_fd: number, error: Error): void {
    fail(error.message);
  },
};

function next(): void {
  if (started === connections) return;
  started++;
  loop.addClientSocket(sockets.connect('127.0.0.1', port), handlers, { readable: false, writable: true });
}

for (let i = 0; i < IN_FLIGHT; i++) next();
while (connected < connections && performance.now() < holdUntil) loop.runOnce(100);
if (connected < connections) fail(`not all connected within ${values.hold} s`);
console.log(`connected ${connected}`);
while (performance.now() < holdUntil) loop.runOnce(100);
loop.close();
