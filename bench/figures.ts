// Medians, spreads and their formatting: what every table of the quick
// suite is made of. No side effects, so tests and the report writers can use
// them without the harness's process handlers.

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function summarize(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

export const fmt = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n.toFixed(2);
export const spread = (s: Spread): string => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
export const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');

/** A failure short enough for a table cell: its first line, at most 100 characters. */
export const briefly = (error: string): string => {
  const line = error.split('\n')[0]!;
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
};

export function table(headers: string[], rows: string[][]): string {
  return [headers, headers.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}
