// What the quick suite's scenarios make of their trials besides tables: the
// SVG charts (build/results/<scenario>-*.svg) and the comparison with a
// baseline checkout. No side effects.
//
// Against the baseline, each round's ratio is taken on its own (round i of
// this checkout ÷ round i of the baseline, run one after the other in the
// same round, so slow drift on the machine hits both alike) and the rounds'
// ratios are reported as median and min–max: a change is "unchanged within
// noise" when that range holds 1.00.
import { fmt, pairedRatios, summarize, table } from './figures.js';
import type { Goal } from './harness.js';
import { barChart } from './lab/svg.js';
import { BASELINE_NAME } from './options.js';

/** One server's figure in one configuration of a scenario, per trial in round order. */
export interface Measured {
  /** The configuration: "get -P 16", "50 connections". */
  group: string;
  server: string;
  trials: number[];
}

/** A bar chart of `measured`: one group per configuration, one bar per server, whiskers from min to max. */
export function chart(title: string, xLabel: string, yLabel: string, measured: Measured[]): string {
  const groups: { name: string; bars: { name: string; median: number; min: number; max: number }[] }[] = [];
  for (const m of measured) {
    if (m.trials.length === 0) continue;
    let group = groups.find((g) => g.name === m.group);
    if (!group) groups.push((group = { name: m.group, bars: [] }));
    group.bars.push({ name: m.server, ...summarize(m.trials) });
  }
  return barChart({ title, xLabel, yLabel, groups });
}

/** One figure of one configuration, this checkout against the baseline. */
export interface BaselineRow {
  workload: string;
  figure: string;
  ours: number[];
  baseline: number[];
}

/** The rows for `figure` of every configuration where both wasmloop and the baseline have trials. */
export function baselineRows(scenario: string, figure: string, measured: Measured[]): BaselineRow[] {
  const rows: BaselineRow[] = [];
  for (const ours of measured.filter((m) => m.server === 'wasmloop')) {
    const baseline = measured.find((m) => m.server === BASELINE_NAME && m.group === ours.group);
    if (baseline) rows.push({ workload: `${scenario} ${ours.group}`, figure, ours: ours.trials, baseline: baseline.trials });
  }
  return rows;
}

const median = (xs: number[]): string => (xs.length === 0 ? '–' : fmt(summarize(xs).median));

export function baselineTable(rows: BaselineRow[]): string {
  return table(
    ['workload', 'figure', 'wasmloop median', 'baseline median', 'new ÷ baseline, median of rounds (min–max)', 'rounds'],
    rows.map((row) => {
      const r = pairedRatios(row.ours, row.baseline);
      return [
        row.workload,
        row.figure,
        median(row.ours),
        median(row.baseline),
        r === null ? '–' : `${r.median.toFixed(3)}× (${r.min.toFixed(3)}–${r.max.toFixed(3)})`,
        String(Math.min(row.ours.length, row.baseline.length)),
      ];
    }),
  );
}

/** What bench/timers.js measures, by the names it writes them under; the goals read them by the same. */
export const TIMER_IMPLEMENTATIONS = ['wasmloop-core', 'wasmloop-timeout', 'wasmloop-timeout/run', 'wasmloop-timer', 'wasmloop-timer/run', 'node'] as const;
export type TimerImplementation = (typeof TIMER_IMPLEMENTATIONS)[number];

/** What bench/timers.js writes (build/results/timers.json), as far as the goals read it. */
export interface TimerResults {
  /** By scenario ('cancel-all', 'expire-1%', 'fire-same-ms'), then implementation. */
  results: Record<string, Partial<Record<TimerImplementation, { timersPerSecond: number; measuredBytesPerTimer: number }[]>>>;
  wasmEntryBytes: number;
}

/**
 * The timer goals, through the API users call: insert + cancel at least 5×
 * Node's setTimeout/clearTimeout and at most 48 bytes per live timer, and
 * timers due in the same millisecond fired at least 5× Node's rate. The
 * handle-free form (loop.timeout(), loop.clearTimeout(handle)) is judged;
 * the figures also give the Timer form (loop.setTimeout(), timer.cancel())
 * and the wheel itself against the same Node run.
 */
export function timerGoals(data: TimerResults | null): Goal[] {
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const cancel = data?.results['cancel-all'];
  const fire = data?.results['fire-same-ms'];
  const node = cancel?.['node'];
  const timeout = cancel?.['wasmloop-timeout'];
  const goals: Goal[] = [];
  if (!data || !cancel || !node?.length || !timeout?.length) {
    goals.push({ goal: 'timers: insert+cancel ≥ 5× Node, ≤ 48 bytes per timer', met: null, figures: 'not measured' });
  } else {
    const nodeSpeed = median(node.map((t) => t.timersPerSecond));
    const ratio = (trials: { timersPerSecond: number }[] | undefined, name: string): string =>
      trials?.length ? `; ${name}: ${(median(trials.map((t) => t.timersPerSecond)) / nodeSpeed).toFixed(2)}×` : '';
    const speed = median(timeout.map((t) => t.timersPerSecond)) / nodeSpeed;
    const bytes = median(timeout.map((t) => t.measuredBytesPerTimer));
    const timer = cancel['wasmloop-timer'];
    const timerBytes = timer?.length ? `; loop.setTimeout(): ${median(timer.map((t) => t.measuredBytesPerTimer)).toFixed(1)}` : '';
    goals.push(
      {
        goal: 'timers: insert+cancel ≥ 5× Node setTimeout/clearTimeout',
        met: speed >= 5,
        figures: `loop.timeout(): ${speed.toFixed(2)}×${ratio(timer, 'loop.setTimeout()')}${ratio(cancel['wasmloop-core'], 'the wheel')}`,
      },
      {
        goal: 'timers: ≤ 48 bytes per timer',
        met: bytes <= 48,
        figures: `loop.timeout(): ${bytes.toFixed(1)} bytes measured (${data.wasmEntryBytes} B wasm entry + 8 B host)${timerBytes}`,
      },
    );
  }
  const fireNode = fire?.['node'];
  const fireTimeout = fire?.['wasmloop-timeout'];
  if (!fire || !fireNode?.length || !fireTimeout?.length) {
    goals.push({ goal: 'timers: same-millisecond firing ≥ 5× Node', met: null, figures: 'not measured' });
  } else {
    const nodeSpeed = median(fireNode.map((t) => t.timersPerSecond));
    const speed = median(fireTimeout.map((t) => t.timersPerSecond)) / nodeSpeed;
    const timer = fire['wasmloop-timer'];
    const timerSpeed = timer?.length ? `; loop.setTimeout(): ${(median(timer.map((t) => t.timersPerSecond)) / nodeSpeed).toFixed(2)}×` : '';
    goals.push({ goal: 'timers: same-millisecond firing ≥ 5× Node', met: speed >= 5, figures: `loop.timeout(): ${speed.toFixed(2)}×${timerSpeed}` });
  }
  return goals;
}
