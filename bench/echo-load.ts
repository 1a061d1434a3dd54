// Echo load generator: `connections` clients, each sending `size` bytes and
// waiting for the whole echo before sending again, for `seconds`. Runs on a
// wasmloop EventLoop so every server is measured with the same client.
// Prints "measuring" when the warm-up ends, so the caller can read the
// server's CPU time from there, then one JSON line: round trips, and latency
// percentiles in microseconds.
import { parseArgs } from 'node:util';

import { EventLoop, SocketManager } from '../src/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    connections: { type: 'string', default: '50' },
    size: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
  },
});
const port = Number(values.port);
const connections = Number(values.connections);
const size = Number(values.size);
const seconds = Number(values.seconds);
const warmup = Number(values.warmup);

const loop = new EventLoop();
const sockets = new SocketManager();
const payload = Buffer.alloc(size, 0x61);
const scratch = Buffer.alloc(Math.max(size, 65536));
const received = new Int32Array(1 << 16);
const sentAt = new Float64Array(1 << 16);
const latencies: number[] = [];
const SAMPLE_LIMIT = 1_000_000;
let roundTrips = 0;
let measuring = false;

function send(fd: number): void {
  // A full socket buffer on a fresh round trip cannot happen with one
  // outstanding request per connection of at most a few hundred KiB.
  const written = sockets.write(fd, payload);
  if (written !== size) throw new Error(`short write ${written} of ${size}`);
  sentAt[fd] = performance.now();
  received[fd] = 0;
}

for (let i = 0; i < connections; i++) {
  const fd = sockets.connect('127.0.0.1', port);
  loop.addClientSocket(fd, {
    write(fd) {
      loop.setInterest(fd, { writable: false });
      send(fd);
    },
    read(fd) {
      for (;;) {
        const n = sockets.read(fd, scratch);
        if (n === null) return;
        if (n === 0) throw new Error('server closed a connection');
        received[fd] += n;
        if (received[fd] === size) break;
      }
      if (measuring) {
        roundTrips++;
        if (latencies.length < SAMPLE_LIMIT) latencies.push(performance.now() - sentAt[fd]!);
      }
      send(fd);
    },
    error(_fd, error) {
      throw error;
    },
  }, { writable: true });
}

// Warm-up (JIT, TCP windows), then the measured run.
const warmUntil = performance.now() + warmup * 1000;
while (performance.now() < warmUntil) loop.runOnce(10);
process.stdout.write('measuring\n');
measuring = true;
const start = performance.now();
const end = start + seconds * 1000;
while (performance.now() < end) loop.runOnce(10);
const elapsed = (performance.now() - start) / 1000;
measuring = false;
loop.close();

latencies.sort((a, b) => a - b);
const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 1000);
console.log(JSON.stringify({ roundTrips, seconds: elapsed, perSecond: roundTrips / elapsed, p50us: at(0.5), p99us: at(0.99) }));
