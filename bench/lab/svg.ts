// A small SVG line-chart writer: enough for "figure vs batch size, one line
// per mode", readable in any browser, no dependency. The x axis is log2
// (batch sizes 1..1024 double each step); the y axis is linear from 0.
// Reference lines (peers) are drawn dashed across the whole width.

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

export function lineChart(spec: ChartSpec): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xs = [...new Set(spec.series.flatMap((s) => s.points.map(([x]) => x)))].filter((x) => x > 0).sort((a, b) => a - b);
  const ys = [
    ...spec.series.flatMap((s) => s.points.map(([, y]) => y)),
    ...(spec.references ?? []).map((r) => r.y),
  ].filter(Number.isFinite);
  const xMin = Math.log2(xs[0] ?? 1);
  const xMax = Math.max(xMin + 1, Math.log2(xs[xs.length - 1] ?? 2));
  const step = niceStep(Math.max(...ys, 1e-9), 5);
  const yMax = Math.ceil(Math.max(...ys, 1e-9) / step) * step;
  const px = (x: number): number => MARGIN.left + ((Math.log2(x) - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number): number => MARGIN.top + plotH - (y / yMax) * plotH;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escape(spec.title)}</text>`,
  ];
  for (let y = 0; y <= yMax + step / 2; y += step) {
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(y).toFixed(1)}" y2="${py(y).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${(py(y) + 4).toFixed(1)}" text-anchor="end">${tickLabel(y)}</text>`);
  }
  for (const x of xs) {
    out.push(`<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px(x).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escape(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(spec.yLabel)}</text>`);

  let legendY = MARGIN.top + 8;
  const legend = (name: string, colour: string, dashed: boolean): void => {
    const x = MARGIN.left + plotW + 14;
    out.push(`<line x1="${x}" x2="${x + 22}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="2"${dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    out.push(`<text x="${x + 28}" y="${legendY + 4}">${escape(name)}</text>`);
    legendY += 18;
  };
  spec.series.forEach((series, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const points = series.points.filter(([x, y]) => x > 0 && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    if (points.length === 0) return;
    out.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    legend(series.name, colour, false);
  });
  (spec.references ?? []).forEach((reference, i) => {
    if (!Number.isFinite(reference.y)) return;
    const colour = COLOURS[(spec.series.length + i) % COLOURS.length]!;
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(reference.y).toFixed(1)}" y2="${py(reference.y).toFixed(1)}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="5 4"/>`);
    legend(reference.name, colour, true);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
