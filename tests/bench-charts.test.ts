// The quick suite's charts (build/results/*.svg): one bar per server and
// configuration at the median of its trials, a whisker over its min–max, one
// colour per server in every group, and nothing drawn for a server without
// trials. A bar at the wrong height or in another server's colour would
// misreport a run as plainly as a wrong number in a table.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { barChart } from '../bench/lab/svg.js';
import { chart, type Measured } from '../bench/report.js';

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
  fill: string;
  title: string;
}

/** The bars of a chart: its rects that carry a tooltip. */
function bars(svg: string): Rect[] {
  return [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="([^"]+)"><title>([^<]*)<\/title><\/rect>/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
    width: Number(m[3]),
    height: Number(m[4]),
    fill: m[5]!,
    title: m[6]!,
  }));
}

/** The whiskers: [x, low y, high y] of each. */
const whiskers = (svg: string): number[][] =>
  [...svg.matchAll(/<path d="M([\d.]+) ([\d.]+)V([\d.]+)M/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);

const SPEC = {
  title: 'HTTP <wrk> & more',
  xLabel: 'connections',
  yLabel: 'requests/s',
  groups: [
    {
      name: '50 connections',
      bars: [
        { name: 'wasmloop', median: 400, min: 300, max: 500 },
        { name: 'node:net', median: 200, min: 200, max: 200 },
      ],
    },
    {
      name: '1,000 connections',
      bars: [
        { name: 'node:net', median: 100, min: 90, max: 110 },
        { name: 'wasmloop', median: NaN, min: NaN, max: NaN },
      ],
    },
  ],
};

test('a bar chart draws each finite median as a bar from the axis, its height in proportion, whiskers where min and max differ', () => {
  const svg = barChart(SPEC);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.ok(svg.includes('HTTP &lt;wrk&gt; &amp; more'), 'text is escaped');
  const drawn = bars(svg);
  assert.is(drawn.length, 3, 'the NaN median is left out');
  assert.not.ok(svg.includes('NaN'), 'no coordinate is NaN');
  const [fast, slow, later] = drawn as [Rect, Rect, Rect];
  // All bars stand on the same baseline, the x axis.
  const base = fast.y + fast.height;
  for (const bar of drawn) assert.ok(Math.abs(bar.y + bar.height - base) < 0.2, `bar ends at ${bar.y + bar.height}, not ${base}`);
  assert.ok(Math.abs(fast.height / slow.height - 2) < 0.01, `400 is twice 200: ${fast.height} vs ${slow.height}`);
  assert.ok(Math.abs(slow.height / later.height - 2) < 0.01);
  assert.match(fast.title, /50 connections, wasmloop: 400 \(300–500\)/);
  // Whiskers: the two bars whose min and max differ; the top one reaches 500, the axis top (y = 40).
  const drawnWhiskers = whiskers(svg);
  assert.is(drawnWhiskers.length, 2);
  assert.ok(Math.abs(drawnWhiskers[0]![2]! - 40) < 0.2, `the 500 whisker tops out at ${drawnWhiskers[0]![2]}`);
  assert.ok(drawnWhiskers[0]![1]! > fast.y, 'the low end of the whisker is below the bar top');
  assert.ok(later.x > fast.x && later.x > slow.x, 'the second group stands right of the first');
});

test('a bar chart keeps one colour per name across groups, in order of first appearance, with a legend entry each', () => {
  const svg = barChart(SPEC);
  const [fast, slow, later] = bars(svg) as [Rect, Rect, Rect];
  assert.is.not(fast.fill, slow.fill);
  assert.is(later.fill, slow.fill, 'node:net has the same colour in both groups');
  const legend = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="14" height="12" fill="([^"]+)"\/>\n<text [^>]*>([^<]+)<\/text>/g)].map((m) => [m[2], m[1]]);
  assert.equal(legend, [
    ['wasmloop', fast.fill],
    ['node:net', slow.fill],
  ]);
});

test('a bar chart widens to give every group room for its label and bars', () => {
  const width = (svg: string): number => Number(/<svg [^>]*width="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
  const many = { ...SPEC, groups: Array.from({ length: 12 }, (_, i) => ({ name: `a long group name ${i}`, bars: SPEC.groups[0]!.bars })) };
  assert.is(width(barChart(SPEC)), 720);
  assert.ok(width(barChart(many)) > 12 * 'a long group name 10'.length * 6, `width ${width(barChart(many))}`);
});

test('chart() makes one group per configuration from the trials, medians and ranges, and skips servers without trials', () => {
  const measured: Measured[] = [
    { group: 'get -P 16', server: 'wasmloop', trials: [300, 100, 200] },
    { group: 'get -P 16', server: 'redis-server', trials: [] },
    { group: 'set -P 16', server: 'wasmloop', trials: [50] },
  ];
  const drawn = bars(chart('RESP', 'test', 'requests/s', measured));
  assert.equal(
    drawn.map((b) => b.title),
    ['get -P 16, wasmloop: 200 (100–300)', 'set -P 16, wasmloop: 50 (50–50)'],
  );
});

test.run();
