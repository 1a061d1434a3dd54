// Small statistics and formatting shared by the laboratory's modules.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Median and range of the finite values; NaN when there are none. */
export function summary(xs: readonly number[]): { median: number; min: number; max: number } {
  const finite = xs.filter(Number.isFinite);
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite) };
}

/** 12,345 for large figures, 12.3 for small ones, – for missing ones. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(Math.abs(n) >= 10 ? 1 : 2);
}
