// Echo load generator: `connections` active clients, each keeping `depth`
// messages of `size` bytes in flight (depth 1: send, wait for the whole echo,
// send again), for `seconds`, beside `idle` connections that are opened
// first and then only held. Runs on a wasmloop EventLoop so every server is
// measured with the same client. Prints one JSON line: round trips (measured
// and in all, warm-up included), and latency percentiles in microseconds.
//
// `--connections 0 --idle N` only holds N connections for `seconds`; it
// prints `{"idle":N}` once they are all open, so another load generator
// (wrk, redis-benchmark) can run beside them. It prints a line `measuring`
// when the warm-up ends, so a harness can read the server's CPU time over the
// measured part only.
import { parseArgs } from 'node:util';

import { EventLoop, sockets } from '../src/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    connections: { type: 'string', default: '50' },
    idle: { type: 'string', default: '0' },
    depth: { type: 'string', default: '1' },
    size: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
  },
});
const port = Number(values.port);
const connections = Number(values.connections);
const idle = Number(values.idle);
const depth = Number(values.depth);
const size = Number(values.size);
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
for (const [name, value] of Object.entries({ port, connections, idle, depth, size })) {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`--${name} must be a whole number, got ${value}`);
}
for (const [name, value] of Object.entries({ seconds, warmup: warmupSeconds })) {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`--${name} must be a number of seconds, got ${value}`);
}
if (depth < 1 || size < 1) throw new RangeError('--depth and --size must be at least 1');

const MAX_FD = 1 << 16;
const loop = new EventLoop({ maxFds: MAX_FD });
// Every message is the same bytes, so what a connection still owes the
// socket is a byte count, written from one buffer of `depth` messages.
const outgoing = Buffer.alloc(size * depth, 0x61);
const scratch = Buffer.alloc(Math.max(size * depth, 65536));
/** Bytes of the oldest outstanding echo received so far, per fd. */
const received = new Int32Array(MAX_FD);
/** Bytes owed to the socket (queued sends the kernel has not taken), per fd. */
const unsent = new Int32Array(MAX_FD);
/** Send times of the outstanding messages: a ring of `depth` per fd. */
const sentAt = new Float64Array(MAX_FD * depth);
const ringHead = new Int32Array(MAX_FD);
const latencies: number[] = [];
const SAMPLE_LIMIT = 1_000_000;
let roundTrips = 0;
let allRoundTrips = 0;
let measuring = false;

/** Queues `messages` sends on fd and writes what the socket takes now. */
function send(fd: number, messages: number): void {
  const now = performance.now();
  for (let i = 0; i < messages; i++) {
    // The ring holds exactly `depth` in flight: the slot after the oldest.
    sentAt[fd * depth + ((ringHead[fd]! + depth - messages + i) % depth)] = now;
  }
  unsent[fd] += messages * size;
  flush(fd);
}

function flush(fd: number): void {
  while (unsent[fd]! > 0) {
    const n = sockets.write(fd, outgoing, 0, Math.min(unsent[fd]!, outgoing.length));
    if (n === null) {
      loop.setInterest(fd, { readable: true, writable: true });
      return;
    }
    unsent[fd] -= n;
  }
}

const active = {
  write(fd: number) {
    if (unsent[fd] === 0 && received[fd] === -1) {
      // Connected: fill the pipeline.
      received[fd] = 0;
      loop.setInterest(fd, { readable: true, writable: false });
      send(fd, depth);
      return;
    }
    loop.setInterest(fd, { readable: true, writable: false });
    flush(fd);
  },
  read(fd: number) {
    let done = 0;
    for (;;) {
      const n = sockets.read(fd, scratch);
      if (n === null) break;
      if (n === 0) throw new Error('server closed a connection');
      let bytes = received[fd]! + n;
      const now = performance.now();
      while (bytes >= size) {
        bytes -= size;
        const slot = fd * depth + ringHead[fd]!;
        ringHead[fd] = (ringHead[fd]! + 1) % depth;
        done++;
        allRoundTrips++;
        if (measuring) {
          roundTrips++;
          if (latencies.length < SAMPLE_LIMIT) latencies.push(now - sentAt[slot]!);
        }
      }
      received[fd] = bytes;
      if (n < scratch.length) break;
    }
    if (done > 0) send(fd, done);
  },
  error(_fd: number, error: Error) {
    throw error;
  },
};

const heldOpen = {
  write(fd: number) {
    loop.setInterest(fd, { readable: true, writable: false });
    openIdle++;
  },
  read(fd: number) {
    if (sockets.read(fd, scratch) === 0) throw new Error('server closed an idle connection');
  },
  error(_fd: number, error: Error) {
    throw error;
  },
};
let openIdle = 0;

// Idle connections first, a few hundred per turn: a burst of 10,000 SYNs at
// a 511 backlog would be dropped and retried a second later.
const CONNECTS_PER_TURN = 256;
const openUntil = performance.now() + 60_000;
for (let opened = 0; opened < idle; ) {
  for (let i = 0; i < CONNECTS_PER_TURN && opened < idle; i++, opened++) {
    loop.addClientSocket(sockets.connect('127.0.0.1', port), heldOpen, { readable: false, writable: true });
  }
  loop.runOnce(opened >= idle ? 0 : 1);
}
while (openIdle < idle) {
  if (performance.now() > openUntil) throw new Error(`only ${openIdle} of ${idle} idle connections opened in 60 s`);
  loop.runOnce(10);
}
if (connections === 0) {
  console.log(JSON.stringify({ idle: openIdle }));
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) loop.runOnce(50);
  loop.close();
  process.exit(0);
}

received.fill(-1);
for (let i = 0; i < connections; i++) {
  loop.addClientSocket(sockets.connect('127.0.0.1', port), active, { readable: true, writable: true });
}

// Warm-up (JIT, TCP windows), then the measured run.
const warmUntil = performance.now() + warmupSeconds * 1000;
while (performance.now() < warmUntil) loop.runOnce(10);
measuring = true;
console.log('measuring');
const start = performance.now();
const end = start + seconds * 1000;
while (performance.now() < end) loop.runOnce(10);
const elapsed = (performance.now() - start) / 1000;
measuring = false;
loop.close();

latencies.sort((a, b) => a - b);
const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 1000);
console.log(JSON.stringify({ roundTrips, allRoundTrips, seconds: elapsed, perSecond: roundTrips / elapsed, p50us: at(0.5), p99us: at(0.99) }));
