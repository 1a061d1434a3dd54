// The loop's metrics and a server's stats in Prometheus text exposition
// format (version 0.0.4), for `GET /metrics`.
//
// Counters end in _total; times are in seconds, Prometheus's base unit. The
// loop keeps log2 histograms whose percentiles are bucket upper bounds, so
// they are exposed as summaries: quantile 0.5, 0.9 and 0.99, _count, and
// _sum where the loop knows the exact total (events per wait, wait time).
// Rendering makes one string per scrape; nothing is kept between scrapes.
import type { LoopMetrics, Percentiles } from '../loop/metrics.js';
import type { ServerStats } from '../net/server.js';

export interface PrometheusOptions {
  /** Requests answered, when the protocol counts them (RESP and HTTP do). */
  requests?: number;
  /** Labels added to every sample, such as `{ worker: '0' }`. */
  labels?: Readonly<Record<string, string>>;
  /** Prefix of every metric name. Default `'wasmloop'`. */
  prefix?: string;
}

/** The text Prometheus scrapes, one metric family after another, ending with a newline. */
export function renderPrometheus(metrics: LoopMetrics, stats: ServerStats, options: PrometheusOptions = {}): string {
  const prefix = options.prefix ?? 'wasmloop';
  const labels = Object.entries(options.labels ?? {})
    .map(([name, value]) => `${name}="${escapeLabel(value)}"`)
    .join(',');
  const lines: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge' | 'summary', help: string): string => {
    const full = `${prefix}_${name}`;
    lines.push(`# HELP ${full} ${help}`, `# TYPE ${full} ${type}`);
    return full;
  };
  const sample = (name: string, value: number, extra = ''): void => {
    const all = labels && extra ? `${labels},${extra}` : labels || extra;
    lines.push(`${name}${all ? `{${all}}` : ''} ${formatValue(value)}`);
  };
  const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number): void => {
    sample(family(name, type, help), value);
  };
  const summary = (name: string, help: string, percentiles: Percentiles, scale: number, sum?: number): void => {
    const full = family(name, 'summary', help);
    sample(full, percentiles.p50 * scale, 'quantile="0.5"');
    sample(full, percentiles.p90 * scale, 'quantile="0.9"');
    sample(full, percentiles.p99 * scale, 'quantile="0.99"');
    if (sum !== undefined) sample(`${full}_sum`, sum);
    sample(`${full}_count`, percentiles.count);
  };

  metric('loop_iterations_total', 'counter', 'Loop iterations.', metrics.iterations);
  metric('loop_waits_total', 'counter', 'Waits for readiness (epoll_wait, poll or select calls).', metrics.waits);
  metric('loop_events_total', 'counter', 'Readiness events the kernel reported.', metrics.events);
  metric('loop_stale_events_total', 'counter', 'Events dropped because their fd was removed or reused.', metrics.staleEvents);
  metric('loop_callbacks_total', 'counter', 'Callbacks run (I/O, timers, deferred).', metrics.callbacks);
  summary('loop_events_per_wait', 'Events per wait (the batch size); quantiles are log2 bucket upper bounds.', metrics.eventsPerWait, 1, metrics.events);
  metric('loop_wait_seconds_total', 'counter', 'Time blocked in the wait.', metrics.waitMs / 1000);
  metric('loop_busy_seconds_total', 'counter', 'Time spent serving events and callbacks.', metrics.busyMs / 1000);
  metric('loop_utilization', 'gauge', 'Busy time over busy plus idle time since the loop started, 0 to 1.', metrics.utilization);
  summary('loop_callback_duration_seconds', 'Callback durations; quantiles are log2 bucket upper bounds.', metrics.callbackDurationUs, 1e-6);
  summary('loop_wait_duration_seconds', 'Wait durations; quantiles are log2 bucket upper bounds.', metrics.waitDurationUs, 1e-6, metrics.waitMs / 1000);
  metric('loop_timers_fired_total', 'counter', 'Timer callbacks run.', metrics.timers.fired);
  summary('loop_timer_lateness_seconds', 'How late timers fired; quantiles are log2 bucket upper bounds.', metrics.timers.latenessUs, 1e-6);
  metric('loop_deferred_depth', 'gauge', 'Deferred callbacks queued.', metrics.deferred.depth);
  metric('loop_deferred_capacity', 'gauge', 'Capacity of the deferred queue.', metrics.deferred.capacity);
  metric('loop_deferred_phases_total', 'counter', 'Deferred phases run.', metrics.deferred.phases);
  metric('loop_callback_errors_total', 'counter', 'Errors thrown by callbacks.', metrics.errors);
  metric('loop_slow_callbacks_total', 'counter', 'Callbacks slower than slowCallbackMs.', metrics.slowCallbacks);
  metric('loop_budget_cutoffs_total', 'counter', "Batches cut short by the iteration's callback or time budget.", metrics.budgetCutoffs);
  metric('loop_repolls_total', 'counter', 'Extra non-blocking waits after a full batch.', metrics.repolls);
  metric('loop_pending_records', 'gauge', 'Records of a cut-short batch waiting for the next iteration.', metrics.pendingRecords);
  metric('loop_registered_fds', 'gauge', 'File descriptors registered with the loop.', metrics.registered);

  metric('server_connections', 'gauge', 'Connections open now.', stats.active);
  metric('server_connections_accepted_total', 'counter', 'Connections accepted.', stats.accepted);
  metric('server_resets_total', 'counter', 'Connections closed by a reset or broken pipe (ECONNRESET, EPIPE).', stats.resets);
  metric('server_idle_closed_total', 'counter', 'Connections closed by the idle timeout.', stats.idleClosed);
  metric('server_accept_errors_total', 'counter', 'accept() failures (EMFILE, ENFILE...).', stats.acceptErrors);
  metric('server_accept_pauses_total', 'counter', 'Times accepting paused for lack of fds.', stats.acceptPauses);
  metric('server_accept_shed_total', 'counter', 'Connections accepted and closed at once for lack of fds.', stats.acceptShed);
  metric('server_refused_total', 'counter', 'Clients turned away because maxConnections were open (not in accepted).', stats.refused);
  metric('server_protocol_errors_total', 'counter', 'Connections ended because their protocol threw or rejected.', stats.protocolErrors);
  metric('server_shutdown_forced_total', 'counter', "Connections closed by a shutdown's deadline.", stats.shutdownForced);
  if (options.requests !== undefined) metric('server_requests_total', 'counter', 'Requests answered.', options.requests);
  return `${lines.join('\n')}\n`;
}

/** Prometheus writes non-finite values as NaN, +Inf and -Inf. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Label values escape backslash, double quote and newline. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
