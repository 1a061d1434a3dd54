// A small SVG chart writer, readable in any browser, no dependency: line
// charts for "figure vs batch size, one line per mode" (the laboratory; the
// x axis is log2, as batch sizes 1..1024 double each step; reference lines,
// the peers, dashed across the whole width) and bar charts for "figure by
// server, per configuration" with min–max whiskers (the quick suite). The y
// axis is linear from 0 in both.

export interface Series {
  name: string;
  /** [x, y] pairs; points with a non-finite y are skipped. */
  points: [number, number][];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Horizontal dashed lines, one per peer. */
  references?: { name: string; y: number }[];
}

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 78, right: 190, top: 40, bottom: 52 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick step for a span: 1, 2 or 5 times a power of ten, about `count` ticks. */
function niceStep(span: number, count: number): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

const tickLabel = (n: number): string =>
  n >= 1e6 ? `${+(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : `${+n.toFixed(2)}`;

/** A round top for the y axis and the step of its grid lines. */
function yAxis(values: number[]): { yMax: number; step: number } {
  const top = Math.max(...values.filter(Number.isFinite), 1e-9);
  const step = niceStep(top, 5);
  return { yMax: Math.ceil(top / step) * step, step };
}

/** The opening of a chart: the svg element, a white background, the title. */
function open(width: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HEIGHT}" viewBox="0 0 ${width} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
}

/** Horizontal grid lines with their labels, one per step from 0 to yMax. */
function yGrid(out: string[], plotW: number, axis: { yMax: number; step: number }, py: (y: number) => number): void {
  for (let y = 0; y <= axis.yMax + axis.step / 2; y += axis.step) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${tickLabel(y)}</text>`);
  }
}

/** The plot's frame and the two axis labels. */
function frame(out: string[], plotW: number, plotH: number, xLabel: string, yLabel: string): void {
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escape(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`);
}

/** The legend, right of the plot: one entry per call, top to bottom. */
function legendWriter(out: string[], plotW: number): (name: string, colour: string, mark: 'line' | 'dashed' | 'box') => void {
  let legendY = MARGIN.top + 8;
  return (name, colour, mark) => {
    const x = MARGIN.left + plotW + 14;
    if (mark === 'box') out.push(`<rect x="${x + 4}" y="${legendY - 6}" width="14" height="12" fill="${colour}"/>`);
    else out.push(`<line x1="${x}" x2="${x + 22}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="2"${mark === 'dashed' ? ' stroke-dasharray="5 4"' : ''}/>`);
    out.push(`<text x="${x + 28}" y="${legendY + 4}">${escape(name)}</text>`);
    legendY += 18;
  };
}

export function lineChart(spec: ChartSpec): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xs = [...new Set(spec.series.flatMap((s) => s.points.map(([x]) => x)))].filter((x) => x > 0).sort((a, b) => a - b);
  const axis = yAxis([...spec.series.flatMap((s) => s.points.map(([, y]) => y)), ...(spec.references ?? []).map((r) => r.y)]);
  const xMin = Math.log2(xs[0] ?? 1);
  const xMax = Math.max(xMin + 1, Math.log2(xs[xs.length - 1] ?? 2));
  const px = (x: number): number => MARGIN.left + ((Math.log2(x) - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number): number => MARGIN.top + plotH - (y / axis.yMax) * plotH;

  const out = open(WIDTH, spec.title);
  yGrid(out, plotW, axis, py);
  for (const x of xs) {
    out.push(`<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px(x).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${x}</text>`);
  }
  frame(out, plotW, plotH, spec.xLabel, spec.yLabel);

  const legend = legendWriter(out, plotW);
  spec.series.forEach((series, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const points = series.points.filter(([x, y]) => x > 0 && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (points.length === 0) return;
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    legend(series.name, colour, 'line');
  });
  (spec.references ?? []).forEach((reference, i) => {
    if (!Number.isFinite(reference.y)) return;
    const colour = COLOURS[(spec.series.length + i) % COLOURS.length]!;
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(reference.y).toFixed(1)}" y2="${py(reference.y).toFixed(1)}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="5 4"/>`);
    legend(reference.name, colour, 'dashed');
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One bar: a server's median over the trials, with their range. */
export interface Bar {
  name: string;
  median: number;
  min: number;
  max: number;
}

/** The bars of one configuration (a test, a connection count), side by side. */
export interface BarGroup {
  name: string;
  bars: Bar[];
}

export interface BarChartSpec {
  title: string;
  /** What the groups are, under the x axis. */
  xLabel: string;
  yLabel: string;
  groups: BarGroup[];
}

/** Widest bar, and the room a group's label needs per character. */
const BAR_WIDTH = 18;
const LABEL_CHAR_WIDTH = 7;

/**
 * Grouped bars, one colour per bar name across all groups (in order of first
 * appearance, so a server keeps its colour in every chart made from the same
 * list), a whisker from min to max on each bar, and each bar's figures in its
 * tooltip. Bars with a non-finite median are left out; the chart widens to
 * fit its groups.
 */
export function barChart(spec: BarChartSpec): string {
  const names = [...new Set(spec.groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const slots = Math.max(1, ...spec.groups.map((g) => g.bars.length));
  const longest = Math.max(0, ...spec.groups.map((g) => g.name.length));
  const groupW = Math.max(slots * BAR_WIDTH + 16, longest * LABEL_CHAR_WIDTH + 8);
  const plotW = Math.max(WIDTH - MARGIN.left - MARGIN.right, spec.groups.length * groupW);
  const span = plotW / Math.max(1, spec.groups.length);
  const width = MARGIN.left + plotW + MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const bars = spec.groups.flatMap((g) => g.bars).filter((b) => Number.isFinite(b.median));
  const axis = yAxis(bars.flatMap((b) => [b.median, b.max]));
  const py = (y: number): number => MARGIN.top + plotH - (y / axis.yMax) * plotH;

  const out = open(width, spec.title);
  yGrid(out, plotW, axis, py);
  spec.groups.forEach((group, g) => {
    const left = MARGIN.left + g * span;
    const shown = group.bars.filter((b) => Number.isFinite(b.median));
    const barW = Math.min(BAR_WIDTH, (span - 16) / slots);
    const first = left + (span - shown.length * barW) / 2;
    shown.forEach((bar, i) => {
      const colour = COLOURS[names.indexOf(bar.name) % COLOURS.length]!;
      const x = first + i * barW;
      const top = py(bar.median);
      out.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(py(0) - top).toFixed(1)}" fill="${colour}">` +
          `<title>${escape(`${group.name}, ${bar.name}: ${tickLabel(bar.median)} (${tickLabel(bar.min)}–${tickLabel(bar.max)})`)}</title></rect>`,
      );
      if (Number.isFinite(bar.min) && Number.isFinite(bar.max) && bar.max > bar.min) {
        const centre = (x + (barW - 2) / 2).toFixed(1);
        const [low, high] = [py(bar.min).toFixed(1), py(bar.max).toFixed(1)];
        const [capL, capR] = [(x + (barW - 2) / 2 - 3).toFixed(1), (x + (barW - 2) / 2 + 3).toFixed(1)];
        out.push(`<path d="M${centre} ${low}V${high}M${capL} ${low}H${capR}M${capL} ${high}H${capR}" stroke="#222" stroke-width="1.2" fill="none"/>`);
      }
    });
    out.push(`<text x="${(left + span / 2).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${escape(group.name)}</text>`);
  });
  frame(out, plotW, plotH, spec.xLabel, spec.yLabel);
  const legend = legendWriter(out, plotW);
  names.forEach((name, i) => legend(name, COLOURS[i % COLOURS.length]!, 'box'));
  out.push('</svg>');
  return out.join('\n') + '\n';
}
