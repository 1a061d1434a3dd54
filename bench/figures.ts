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

/** Ratios a ÷ b of the rounds both finished (a failed configuration stops, so trial i is round i + 1). */
export function pairedRatios(a: number[], b: number[]): Spread | null {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (b[i]! > 0) ratios.push(a[i]! / b[i]!);
  return ratios.length === 0 ? null : summarize(ratios);
}

/**
 * One figure of two servers, their trials in round order: the ratio of
 * their medians (what a goal is judged by), and each round's own ratio
 * (the two ran minutes apart at most, so a machine that changed pace
 * between rounds moves both alike). Null when either has no trial.
 */
export interface Versus {
  ratio: number;
  rounds: Spread;
}

export function versus(ours: number[], theirs: number[]): Versus | null {
  const rounds = pairedRatios(ours, theirs);
  if (rounds === null) return null;
  const median = summarize(theirs).median;
  return median > 0 ? { ratio: summarize(ours).median / median, rounds } : null;
}

/** "0.52× (by round 0.50×, 0.47–0.56)". */
export const versusText = (v: Versus): string => `${v.ratio.toFixed(2)}× (by round ${v.rounds.median.toFixed(2)}×, ${v.rounds.min.toFixed(2)}–${v.rounds.max.toFixed(2)})`;

/** A failure short enough for a table cell: its first line, at most 100 characters. */
export const briefly = (error: string): string => {
  const line = error.split('\n')[0]!;
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
};

export function table(headers: string[], rows: string[][]): string {
  return [headers, headers.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
}
