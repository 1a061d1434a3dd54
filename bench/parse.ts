// Readers for what the load generators print. Pure functions, apart from the
// suite, so tests can hold them to real outputs.

export interface WrkReport {
  requests: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  timeouts: number;
  /** connect + read + write errors. */
  socketErrors: number;
  non2xx: number;
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1000, m: 60_000 };

/** A wrk duration ("338.00us", "1.20ms", "2.00s", "1.00m") in milliseconds. */
export function durationMs(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!match) throw new Error(`unreadable wrk duration '${text}'`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** Reads wrk's --latency report; the error lines appear only when there were errors. */
export function parseWrk(out: string): WrkReport {
  const number = (pattern: RegExp, fallback?: number): number => {
    const match = pattern.exec(out);
    if (match) return Number(match[1]);
    if (fallback === undefined) throw new Error(`wrk output without ${pattern}: ${out.trim()}`);
    return fallback;
  };
  const percentile = (p: number): number => {
    const match = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    if (!match) throw new Error(`wrk output without the ${p}% latency: ${out.trim()}`);
    return durationMs(match[1]!);
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: number(/(\d+) requests in/),
    perSecond: number(/Requests\/sec:\s+([\d.]+)/),
    p50ms: percentile(50),
    p99ms: percentile(99),
    timeouts: errors ? Number(errors[4]) : 0,
    socketErrors: errors ? Number(errors[1]) + Number(errors[2]) + Number(errors[3]) : 0,
    non2xx: number(/Non-2xx or 3xx responses: (\d+)/, 0),
  };
}

export interface RedisBenchmarkRow {
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

/**
 * Reads the row of `test` from `redis-benchmark --csv` (Redis 7: test, rps,
 * avg, min, p50, p95, p99, max latency in ms; quoted). Older versions print
 * only test and rps: their latencies read as NaN rather than as wrong numbers.
 */
export function parseRedisBenchmark(out: string, test: string): RedisBenchmarkRow {
  const rows = out
    .trim()
    .split('\n')
    .map((line) => line.split(',').map((cell) => cell.replace(/"/g, '')));
  const header = rows.find((cells) => cells[0] === 'test');
  const row = rows.find((cells) => cells[0]?.toLowerCase() === test.toLowerCase());
  if (!row) throw new Error(`redis-benchmark printed no ${test} row: ${out.trim()}`);
  const column = (name: string): number => {
    const at = header?.indexOf(name) ?? -1;
    return at < 0 ? NaN : Number(row[at]);
  };
  return { perSecond: Number(row[1]), p50ms: column('p50_latency_ms'), p99ms: column('p99_latency_ms') };
}
