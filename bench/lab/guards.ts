// Starvation-guard experiments: each guard varied alone
// around the current defaults, on the lab server (bench/lab/server.ts),
// with every connection active so the guards can bite, at 100 and 1,000
// connections. The lab server runs a 10 ms interval on the loop and reports
// how late it fired: what the iteration budget and the re-poll bound exist
// to protect. acceptsPerEvent is measured with connection storms (500 new
// connections at once, one storm after another) beside the echo load.
import { fmt, summary } from './stats.js';
import type { ConfigResult } from './sweep.js';
import type { TrialConfig } from './trial.js';

export const GUARDS: Record<string, number[]> = {
  'callbacks-per-iteration': [16, 64, 256, 1024, 4096],
  'iteration-budget-ms': [1, 5, 20, 50],
  'max-repolls': [0, 1, 8, 48],
  'max-events': [16, 64, 256, 1024],
  'accepts-per-event': [1, 16, 128, 1024],
};
const STORM_CONNECTIONS = 500;
export const GUARD_CONNECTIONS = [100, 1000];

export function guardConfigs(only?: Set<string>): TrialConfig[] {
  const configs: TrialConfig[] = [];
  for (const [guard, values] of Object.entries(GUARDS)) {
    if (only !== undefined && !only.has(guard)) continue;
    for (const connections of GUARD_CONNECTIONS) {
      for (const value of values) {
        configs.push({
          server: 'wasmloop-lab',
          workload: 'echo64',
          connections,
          depth: 1,
          allActive: true,
          mode: 'epoll-level',
          loopFlags: { [guard]: value },
          ...(guard === 'accepts-per-event' ? { storm: STORM_CONNECTIONS } : {}),
        });
      }
    }
  }
  return configs;
}

interface ProbeReport {
  probe: { fired: number; p50us: number; p99us: number; maxUs: number };
  metrics: { eventsPerWait: { p50: number; p99: number }; budgetCutoffs: number; repolls: number; iterations: number };
}

export function guardsMarkdown(results: ConfigResult[]): string {
  const md: string[] = [
    '| guard | value | connections | round trips/s median (min–max) | p99 µs | CPU µs/req | timer lateness p50 / p99 / max µs | events/wait p50 / p99 | cut-offs | re-polls | storms |',
    '|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|',
  ];
  for (const r of results) {
    const [guard, value] = Object.entries(r.config.loopFlags ?? {})[0] ?? ['', NaN];
    const s = summary(r.trials.map((t) => t.perSecond));
    const probes = r.trials.map((t) => t.server as ProbeReport | undefined).filter((p): p is ProbeReport => p !== undefined);
    const m = (f: (p: ProbeReport) => number): string => fmt(summary(probes.map(f)).median);
    md.push(
      `| ${guard} | ${value} | ${r.config.connections} | ${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}) | ${fmt(summary(r.trials.map((t) => t.p99us)).median)} ` +
        `| ${fmt(summary(r.trials.map((t) => t.cpuUsPerRequest)).median)} | ${m((p) => p.probe.p50us)} / ${m((p) => p.probe.p99us)} / ${m((p) => p.probe.maxUs)} ` +
        `| ${m((p) => p.metrics.eventsPerWait.p50)} / ${m((p) => p.metrics.eventsPerWait.p99)} | ${m((p) => p.metrics.budgetCutoffs)} | ${m((p) => p.metrics.repolls)} ` +
        `| ${r.config.storm ? fmt(summary(r.trials.map((t) => t.storms ?? NaN)).median) : ''} |${r.errors.length ? ` errors: ${r.errors.join('; ').slice(0, 120)}` : ''}`,
    );
  }
  return md.join('\n') + '\n';
}
