// Idle memory: what 10,000 connections that send nothing cost the server in
// resident memory, wasmloop's echo, RESP and HTTP servers (and a baseline
// checkout's) against the node:net and node:http peers and redis-server when
// installed.
// Each trial is a fresh server: its RSS once started and settled, then
// bench/idle-clients opens the connections (in its own process, with its own
// 10k fds, paced by the server's accepts that the runner reports to it), the runner waits until the server holds that many more fds (so
// every connection was accepted and registered, not just queued in the
// backlog), lets it settle and reads RSS again. The delta per connection is
// the figure; kernel socket buffers are not in RSS and not counted.
import {
  briefly,
  fdCount,
  fmt,
  here,
  interleave,
  launch,
  lines,
  ratio,
  rssKiB,
  sleep,
  startServer,
  stop,
  summarize,
  table,
  writeResult,
  type Context,
  type ScenarioReport,
  type ServerSpec,
} from './harness.js';
import { baselineRows, chart, type Measured } from './report.js';
import { MANY_FDS, nodePeer, redisServer, wasmloops } from './servers.js';

const CONNECTIONS = Number(process.env.BENCH_IDLE_CONNECTIONS ?? 10_000);
/** Time for a freshly started server, or one that just accepted a burst, to finish what it started (JIT, lazy allocations). */
const SETTLE_MS = 300;
const ACCEPT_TIMEOUT_MS = 30_000;
/**
 * How often the client hears how many connections the server holds. Reading
 * /proc/<pid>/fd with 10,000 entries costs ~15 ms of this process's CPU, so
 * not too often; idle-clients' lead over accept (2,048) keeps it busy between.
 */
const POLL_MS = 100;
/** The kernel's cap (net.core.somaxconn, 4096 here) for both servers: a burst of connects then waits in the queue instead of retrying SYNs. */
const BACKLOG = 4096;

interface Trial {
  baselineKiB: number;
  loadedKiB: number;
  kibPerConnection: number;
  acceptMs: number;
}

async function trial(spec: ServerSpec): Promise<Trial> {
  const server = await startServer(spec);
  try {
    await sleep(SETTLE_MS);
    const baselineKiB = rssKiB(server.pid);
    const fdsBefore = fdCount(server.pid);
    const started = performance.now();
    const clients = launch({
      file: process.execPath,
      args: [here('./idle-clients.js'), '--port', String(server.port), '--connections', String(CONNECTIONS), '--hold', '60'],
      role: 'load',
      nofile: MANY_FDS,
      stdin: true,
    });
    // A client that died leaves a closed pipe; its exit is reported below.
    clients.stdin!.on('error', () => {});
    let clientError = '';
    clients.stderr!.on('data', (chunk: Buffer) => (clientError += chunk.toString()));
    let clientsUp = false;
    lines(clients, (line) => (clientsUp ||= line.startsWith('connected')));
    try {
      for (;;) {
        const held = fdCount(server.pid) - fdsBefore;
        if (clientsUp && held >= CONNECTIONS) break;
        clients.stdin!.write(`${held}\n`);
        if (clients.exitCode !== null) throw new Error(`idle clients exited: ${clientError.trim()}`);
        if (performance.now() - started > ACCEPT_TIMEOUT_MS) {
          throw new Error(`server holds ${held} of ${CONNECTIONS} connections after ${ACCEPT_TIMEOUT_MS / 1000} s`);
        }
        await sleep(POLL_MS);
      }
      const acceptMs = performance.now() - started;
      await sleep(SETTLE_MS);
      const loadedKiB = rssKiB(server.pid);
      return { baselineKiB, loadedKiB, kibPerConnection: (loadedKiB - baselineKiB) / CONNECTIONS, acceptMs };
    } finally {
      await stop(clients);
    }
  } finally {
    await server.stop();
  }
}

/** The protocols measured, each against its peers: echo the loop and src/net alone, RESP and HTTP with their sessions. */
const PROTOCOLS = ['echo', 'resp', 'http'] as const;
const PROTOCOL_NAMES: Record<IdleProtocol, string> = { echo: 'echo', resp: 'RESP', http: 'HTTP' };
type IdleProtocol = (typeof PROTOCOLS)[number];

function serversOf(protocol: IdleProtocol, baseline: Context['baseline']): ServerSpec[] {
  const backlog = ['--backlog', String(BACKLOG)];
  if (protocol === 'echo') return [...wasmloops('echo', baseline, backlog), nodePeer('node:net', 'net-echo.js', backlog)];
  if (protocol === 'http') return [...wasmloops('http', baseline, backlog), nodePeer('node:http', 'node-http.js', backlog)];
  const redis = redisServer();
  return [...wasmloops('resp', baseline, backlog), nodePeer('node:net', 'net-resp.js', backlog), ...('unavailable' in redis ? [] : [redis])];
}

export async function run({ machine, baseline }: Context): Promise<ScenarioReport> {
  const configs = PROTOCOLS.flatMap((protocol) => serversOf(protocol, baseline).map((spec) => ({ protocol, spec })));
  const label = ({ protocol, spec }: (typeof configs)[number]): string => `${protocol} ${spec.name}`;
  const outcomes = await interleave('idle', configs, label, ({ spec }) => trial(spec));

  const perConnection = (key: string) => {
    const trials = outcomes.get(key)?.trials ?? [];
    return trials.length ? summarize(trials.map((t) => t.kibPerConnection)) : null;
  };
  const connections = `${CONNECTIONS.toLocaleString('en-US')} connections`;
  const measured: Measured[] = configs.map((config) => ({
    group: `${config.protocol}, ${connections}`,
    server: config.spec.name,
    trials: (outcomes.get(label(config))?.trials ?? []).map((t) => t.kibPerConnection),
  }));
  const rows = configs.map((config) => {
    const { trials, error } = outcomes.get(label(config))!;
    const kib = perConnection(label(config));
    const ours = perConnection(`${config.protocol} wasmloop`);
    if (!kib) return [config.protocol, config.spec.name, `failed: ${briefly(error ?? 'no trial')}`, '', '', '', ''];
    const pick = (f: (t: Trial) => number) => summarize(trials.map(f)).median;
    return [
      config.protocol,
      config.spec.name,
      `${kib.median.toFixed(2)} (${kib.min.toFixed(2)}–${kib.max.toFixed(2)})` + (error ? ' (a trial failed)' : ''),
      fmt(pick((t) => t.baselineKiB) / 1024),
      fmt(pick((t) => t.loadedKiB) / 1024),
      fmt(pick((t) => t.acceptMs)),
      ours ? ratio(ours.median, kib.median) : '–',
    ];
  });
  writeResult('idle.json', { machine, baseline, connections: CONNECTIONS, settleMs: SETTLE_MS, outcomes: Object.fromEntries(outcomes) });
  const markdown =
    `## Idle memory: ${connections} idle, server RSS delta\n\n` +
    table(['protocol', 'server', 'KiB per connection median (min–max)', 'RSS before MiB', 'RSS with connections MiB', 'ms to accept all', 'wasmloop ÷ row'], rows);
  return {
    scenario: 'idle',
    markdown,
    goals: PROTOCOLS.map((protocol) => {
      const ours = perConnection(`${protocol} wasmloop`);
      return {
        goal: `10,000 idle ${PROTOCOL_NAMES[protocol]} connections: ≤ 0.5 KiB of RSS each`,
        met: ours ? ours.median <= 0.5 : null,
        figures: ours ? `${ours.median.toFixed(2)} KiB per connection (min–max ${ours.min.toFixed(2)}–${ours.max.toFixed(2)})` : 'not measured',
      };
    }),
    charts: { 'idle-rss.svg': chart(`Idle connections: server RSS growth per connection`, 'protocol, idle connections', 'KiB per connection', measured) },
    baseline: baselineRows('idle', 'KiB per connection', measured),
  };
}
