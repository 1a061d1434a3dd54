// Where an idle connection's bytes go: one server in this process (echo,
// resp or http), `--connections` idle clients from bench/idle-clients in a
// child process, and the growth split by layer: V8's heap (used and
// committed), external and ArrayBuffer memory, and the rest of RSS (malloc,
// the wasm core's pages, code). With --snapshot, heap snapshots before and
// after give the heap growth by constructor, per connection.
//
//   node --expose-gc build/bench/idle-breakdown.js --protocol resp --connections 10000 [--snapshot]
//
// Not part of `npm run bench`: bench/idle.ts gives the whole-process figure
// against its peers; this one says what it is made of. The server runs on
// this process's main thread, whose young generation only the command line
// sizes: add `--max-semi-space-size=1` for what `wasmloop serve` holds by
// default (src/serve/young-generation.ts), leave it out for V8's own sizing.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { getHeapSnapshot } from 'node:v8';
import { parseArgs } from 'node:util';

import { EventLoop, Server, protocols, type ProtocolName } from '../src/index.js';
import { here } from './harness.js';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'resp' },
    connections: { type: 'string', default: '10000' },
    snapshot: { type: 'boolean', default: false },
    'max-fds': { type: 'string', default: '65536' },
  },
});
const CONNECTIONS = Number(values.connections);
/** Time for lazy allocations after a burst of accepts to happen before memory is read. */
const SETTLE_MS = 300;
const ACCEPT_TIMEOUT_MS = 60_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

function sample(): Sample {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  // VmRSS, not memoryUsage().rss, so the figure is the one bench/idle.ts reads from outside.
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
  return { rss, heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, external: usage.external, arrayBuffers: usage.arrayBuffers };
}

/** Self bytes of the heap by node type and name (constructor for objects). */
async function heapByName(): Promise<Map<string, { bytes: number; count: number }>> {
  gc!();
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const totals = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snapshot.nodes.length; i += stride) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const name = type === 'object' || type === 'closure' || type === 'native' ? snapshot.strings[snapshot.nodes[i + nameAt]!]! : '';
    const key = `${type} ${name}`.trim();
    const entry = totals.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += snapshot.nodes[i + sizeAt]!;
    entry.count++;
    totals.set(key, entry);
  }
  return totals;
}

const loop = new EventLoop({ maxFds: Number(values['max-fds']) });
const factory = protocols[values.protocol as ProtocolName]();
const server = new Server(loop, factory, { host: '127.0.0.1', port: 0, backlog: 4096, maxConnections: CONNECTIONS + 16, idleTimeoutMs: 0 });
const port = server.listen();
loop.start();
await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
const before = sample();
const heapBefore = values.snapshot ? await heapByName() : undefined;

const clients = spawn(process.execPath, [here('./idle-clients.js'), '--port', String(port), '--connections', String(CONNECTIONS), '--hold', '120'], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
clients.stdin.on('error', () => {});
const started = performance.now();
await new Promise<void>((resolve, reject) => {
  const tick = setInterval(() => {
    const held = server.connections.length;
    clients.stdin.write(`${held}\n`);
    if (held >= CONNECTIONS) {
      clearInterval(tick);
      resolve();
    } else if (clients.exitCode !== null || performance.now() - started > ACCEPT_TIMEOUT_MS) {
      clearInterval(tick);
      reject(new Error(`server holds ${held} of ${CONNECTIONS} connections (clients exited: ${clients.exitCode})`));
    }
  }, 50);
});
const acceptMs = performance.now() - started;
await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
const after = sample();

const per = (bytes: number): string => `${(bytes / CONNECTIONS).toFixed(0).padStart(6)} B`;
console.log(`${values.protocol}: ${CONNECTIONS} idle connections held after ${acceptMs.toFixed(0)} ms; growth per connection:`);
console.log(`  RSS                 ${per(after.rss - before.rss)}`);
console.log(`  V8 heap used        ${per(after.heapUsed - before.heapUsed)}`);
console.log(`  V8 heap committed   ${per(after.heapTotal - before.heapTotal)}`);
console.log(`  external            ${per(after.external - before.external)}  (of which ArrayBuffers ${per(after.arrayBuffers - before.arrayBuffers).trim()})`);
console.log(`  RSS beyond heap and external ${per(after.rss - before.rss - (after.heapTotal - before.heapTotal) - (after.external - before.external))}  (malloc, wasm pages, code)`);
if (heapBefore !== undefined) {
  const heapAfter = await heapByName();
  const rows = [...heapAfter]
    .map(([name, { bytes, count }]) => ({ name, bytes: bytes - (heapBefore.get(name)?.bytes ?? 0), count: count - (heapBefore.get(name)?.count ?? 0) }))
    .filter((row) => Math.abs(row.bytes) >= CONNECTIONS * 4)
    .sort((a, b) => b.bytes - a.bytes);
  console.log('  heap growth by type and constructor (self bytes per connection, objects per connection):');
  for (const row of rows.slice(0, 20)) console.log(`    ${per(row.bytes)}  ${(row.count / CONNECTIONS).toFixed(2).padStart(5)}  ${row.name}`);
}
clients.kill('SIGTERM');
server.close();
await new Promise((resolve) => setTimeout(resolve, 100));
loop.stop();
loop.close();
process.exit(0);
