// The laboratory's server: `wasmloop serve` plus the loop options the CLI
// does not take (the starvation guards), and a timer-lateness probe.
//
//   node build/bench/lab/server.js --protocol echo --port 0 [--backend epoll]
//     [--trigger level] [--max-events N] [--callbacks-per-iteration N]
//     [--iteration-budget-ms MS] [--max-repolls N] [--accepts-per-event N]
//     [--probe-ms MS]
//
// Prints "lab <protocol> server listening on 127.0.0.1:PORT" once ready. On
// SIGTERM it stops, then prints one JSON line: how late the probe's
// interval fired (µs, measured with performance.now, so not bounded by the
// loop's log2 histogram) and the loop's own metrics.
import { parseArgs } from 'node:util';

import { EventLoop, type BackendName } from '../../src/index.js';
import { protocols, type ProtocolName } from '../../src/protocols/index.js';
import { Server } from '../../src/net/server.js';
import { sockets } from '../../src/net/sockets.js';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'echo' },
    port: { type: 'string', default: '0' },
    backend: { type: 'string', default: 'epoll' },
    trigger: { type: 'string', default: 'level' },
    'max-events': { type: 'string' },
    'callbacks-per-iteration': { type: 'string' },
    'iteration-budget-ms': { type: 'string' },
    'max-repolls': { type: 'string' },
    'accepts-per-event': { type: 'string' },
    'probe-ms': { type: 'string', default: '0' },
  },
  strict: true,
});
const number = (name: keyof typeof values): number | undefined => (values[name] === undefined ? undefined : Number(values[name]));

const loop = new EventLoop({
  backend: values.backend as BackendName,
  maxEvents: number('max-events'),
  callbacksPerIteration: number('callbacks-per-iteration'),
  iterationBudgetMs: number('iteration-budget-ms'),
  maxRepolls: number('max-repolls'),
});
const protocol = values.protocol as ProtocolName;
const server = new Server(loop, protocols[protocol](), { trigger: values.trigger as 'level' | 'edge' });
// The listener is the lab's own, so that acceptsPerEvent (which Server does
// not expose) can be set; each accepted fd is handed to the server.
const listenFd = sockets.listen('127.0.0.1', Number(values.port), { backlog: 4096 });
loop.addServerSocket(listenFd, (fd) => void server.adopt(fd), { acceptsPerEvent: number('accepts-per-event') });

const lateness: number[] = [];
const probeMs = Number(values['probe-ms']);
if (probeMs > 0) {
  let due = performance.now() + probeMs;
  loop.setInterval(() => {
    const now = performance.now();
    lateness.push((now - due) * 1000);
    due = Math.max(due + probeMs, now);
  }, probeMs, { missed: 'skip' });
}

console.log(`lab ${protocol} server listening on 127.0.0.1:${sockets.localPort(listenFd)}`);
process.once('SIGTERM', () => loop.stop());
process.once('SIGINT', () => loop.stop());
await loop.run();
const metrics = loop.metrics();
server.close();
loop.close();
lateness.sort((a, b) => a - b);
const at = (q: number): number => Math.round(lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))] ?? 0);
console.log(
  JSON.stringify({
    probe: { fired: lateness.length, p50us: at(0.5), p99us: at(0.99), maxUs: Math.round(lateness[lateness.length - 1] ?? 0) },
    metrics: {
      iterations: metrics.iterations,
      events: metrics.events,
      eventsPerWait: metrics.eventsPerWait,
      budgetCutoffs: metrics.budgetCutoffs,
      repolls: metrics.repolls,
      utilization: metrics.utilization,
    },
  }),
);
