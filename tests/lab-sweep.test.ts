// The laboratory's planning and chart writing, without running a trial:
// which configurations a sweep makes, how --only narrows them, and that the
// SVG charts are well-formed and place points where the figures say.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { lineChart } from '../bench/lab/svg.js';
import { AXES, estimateSeconds, parseOnly, plan, report, type ConfigResult } from '../bench/lab/sweep.js';

const ALL_PEERS = new Set(['node:net', 'node:http', 'redis-server', 'nginx', 'c-epoll']);

test('the full sweep is the product of the axes, without select above 100 connections, plus the peers per slice', () => {
  const p = plan('full', parseOnly(undefined), 3, 3, ALL_PEERS);
  const wasmloop = p.configs.filter((c) => c.server === 'wasmloop');
  // 6 sizes × (3 modes × 4 connection counts + select at 10 and 100) × 4 workloads × 2 depths.
  assert.is(wasmloop.length, 6 * (3 * 4 + 2) * 4 * 2);
  assert.not.ok(wasmloop.some((c) => c.mode === 'select-level' && c.connections > 100));
  // Peers: resp 3, http 4, echo 2 + 2; once per (workload, connections, depth).
  assert.is(p.configs.length - wasmloop.length, (3 + 4 + 2 + 2) * 4 * 2);
  assert.ok(estimateSeconds(p) > 2 * 3600, 'the full sweep is documented as a run of hours');
});

test('--only keeps the matching configurations, alternatives within a key', () => {
  const p = plan('full', parseOnly('workload=http,connections=10,connections=100,mode=epoll-edge,maxEvents=64,server=wasmloop'), 1, 1, ALL_PEERS);
  assert.equal(
    p.configs.map((c) => `${c.workload} ${c.connections} ${c.depth} ${c.mode} ${c.maxEvents}`),
    ['http 10 1 epoll-edge 64', 'http 10 16 epoll-edge 64', 'http 100 1 epoll-edge 64', 'http 100 16 epoll-edge 64'],
  );
});

test('--only refuses an unknown key', () => {
  assert.throws(() => parseOnly('batch=64'), /--only takes key=value pairs/);
});

test('peers that are not installed are left out of the plan', () => {
  const p = plan('quick', parseOnly('server=redis-server,server=node:net'), 1, 1, new Set(['node:net']));
  assert.ok(p.configs.length > 0);
  assert.ok(p.configs.every((c) => c.server === 'node:net'));
});

test('the quick sweep fits in ten minutes by its own estimate', () => {
  const p = plan('quick', parseOnly(undefined), 2, 2, ALL_PEERS);
  assert.ok(estimateSeconds(p) <= 600, `estimate ${estimateSeconds(p)} s`);
});

test('the standard sweep fits in an hour by its own estimate and takes every value of every axis', () => {
  const p = plan('standard', parseOnly(undefined), 3, 2, ALL_PEERS);
  assert.ok(estimateSeconds(p) <= 3600, `estimate ${estimateSeconds(p)} s`);
  const wasmloop = p.configs.filter((c) => c.server === 'wasmloop');
  for (const mode of AXES.mode) assert.ok(wasmloop.some((c) => c.mode === mode), mode);
  for (const workload of AXES.workload) assert.ok(wasmloop.some((c) => c.workload === workload), workload);
  for (const depth of AXES.depth) assert.ok(wasmloop.some((c) => c.depth === depth), `depth ${depth}`);
  assert.ok(new Set(wasmloop.map((c) => c.connections)).size >= 3, 'three connection counts');
  assert.ok(new Set(wasmloop.map((c) => c.maxEvents)).size >= 3, 'three batch sizes');
  // Where batching can show (100 active), each batch size meets both triggers with all else equal.
  const at = (mode: string, maxEvents: number) => wasmloop.some((c) => c.connections === 10000 && c.workload === 'resp' && c.mode === mode && c.maxEvents === maxEvents);
  for (const maxEvents of [1, 16, 1024]) assert.ok(at('epoll-level', maxEvents) && at('epoll-edge', maxEvents), `maxEvents ${maxEvents}`);
  assert.not.ok(wasmloop.some((c) => c.mode === 'select-level' && c.connections > 100));
  // Peers once per (workload, connections, depth), however many blocks name it.
  const peers = p.configs.filter((c) => c.server !== 'wasmloop').map((c) => `${c.server} ${c.workload} ${c.connections} ${c.depth}`);
  assert.is(new Set(peers).size, peers.length);
  assert.ok(peers.includes('nginx http 10000 1') && peers.includes('redis-server resp 1000 16'));
});

test('a chart has one polyline per series, dashed references, and the largest figure at the top of the axis', () => {
  const svg = lineChart({
    title: 'a <b> & c',
    xLabel: 'maxEvents',
    yLabel: 'req/s',
    series: [
      { name: 'epoll-level', points: [[1, 100], [4, 200], [1024, 400]] },
      { name: 'poll-level', points: [[1, 50], [4, NaN], [1024, 300]] },
    ],
    references: [{ name: 'c-epoll', y: 500 }],
  });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.is(svg.match(/<polyline /g)?.length, 2);
  assert.is(svg.match(/stroke-dasharray/g)?.length, 2, 'the reference line and its legend entry');
  assert.ok(svg.includes('a &lt;b&gt; &amp; c'), 'text is escaped');
  // The NaN point is skipped: the second line has two points.
  const second = /<polyline [^>]*points="([^"]+)"/g;
  second.exec(svg);
  assert.is(second.exec(svg)![1]!.split(' ').length, 2);
  // The axis tops out at 500 (a round step above the largest figure), drawn at the plot's top edge (y = 40).
  assert.match(svg, /<line x1="78" x2="530" y1="40.0" y2="40.0" stroke="#[0-9a-f]+" stroke-width="1.5" stroke-dasharray/);
});

test('the report divides each row by every peer of its slice, requests/s and server CPU per request', () => {
  const trial = (perSecond: number, cpuUsPerRequest: number) => ({ perSecond, cpuUsPerRequest, p50us: 1, p99us: 2, requests: 1 });
  const slice = { workload: 'http' as const, connections: 100, depth: 1 };
  const results: ConfigResult[] = [
    { config: { ...slice, server: 'wasmloop', mode: 'epoll-level', maxEvents: 64 }, trials: [trial(300, 3), trial(100, 5), trial(200, 4)], errors: [] },
    { config: { ...slice, server: 'node:net' }, trials: [trial(100, 8)], errors: [] },
    { config: { ...slice, server: 'node:http' }, trials: [trial(50, 16)], errors: [] },
    { config: { ...slice, server: 'nginx' }, trials: [trial(400, 2)], errors: [] },
    { config: { ...slice, server: 'c-epoll' }, trials: [trial(800, 1)], errors: [] },
  ];
  const row = report(results, '# header').markdown.split('\n').find((line) => line.includes('| wasmloop | epoll-level | 64 |'))!;
  assert.ok(row, 'the wasmloop row is there');
  const cells = row.split(' | ');
  assert.is(cells[4], '200 (100–300)');
  assert.is(cells[6], '4.00 (3.00–5.00)');
  assert.equal(cells.slice(7, 11), ['2.00× · 0.50×', '4.00× · 0.25×', '0.50× · 2.00×', '0.25× · 4.00×']);
});

test('the report sets edge- against level-triggered epoll where both ran with all else equal', () => {
  const trial = (perSecond: number, cpuUsPerRequest: number) => ({ perSecond, cpuUsPerRequest, p50us: 1, p99us: 2, requests: 1 });
  const slice = { workload: 'resp' as const, connections: 10000, depth: 1, server: 'wasmloop' };
  const results: ConfigResult[] = [
    { config: { ...slice, mode: 'epoll-level', maxEvents: 16 }, trials: [trial(400, 4)], errors: [] },
    { config: { ...slice, mode: 'epoll-edge', maxEvents: 16 }, trials: [trial(300, 5)], errors: [] },
    // No edge partner at 1024: no row.
    { config: { ...slice, mode: 'epoll-level', maxEvents: 1024 }, trials: [trial(500, 3)], errors: [] },
  ];
  const lines = report(results, '# header').markdown.split('\n');
  const at = lines.indexOf('## Edge- against level-triggered epoll');
  assert.ok(at > 0, 'the section is there');
  const section = lines.slice(at + 1);
  const rows = section.slice(0, section.findIndex((line) => line.startsWith('## '))).filter((line) => line.startsWith('| resp'));
  assert.equal(rows, ['| resp, 10000 connections (100 active), depth 1 | 16 | 400 | 300 | 0.75× | 4.00 | 5.00 | 1.25× |']);
});

const CLI = fileURLToPath(new URL('../src/serve/cli.js', import.meta.url));
const wasmloop = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

test('wasmloop bench loads the laboratory: --help prints its usage, no mode is a usage error', () => {
  const help = wasmloop('bench', '--help');
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /wasmloop bench --sweep \[--quick \| --standard\]/);
  const both = wasmloop('bench', '--sweep', '--quick', '--standard');
  assert.is(both.status, 1);
  assert.match(both.stderr, /--quick and --standard are two different sweeps/);
  const bare = wasmloop('bench');
  assert.is(bare.status, 2);
  assert.match(bare.stdout, /--guards/);
});

test('wasmloop bench --report DIR writes a run\'s report and charts again from its run.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-lab-report-'));
  try {
    const trial = { perSecond: 100, cpuUsPerRequest: 2, p50us: 1, p99us: 2, requests: 1 };
    const config = { server: 'wasmloop', workload: 'echo64', connections: 100, depth: 1, maxEvents: 16 };
    const run = {
      machine: { cpu: 'test', pinned: true },
      kind: 'standard',
      startedAt: '2026-12-02T00:00:00.000Z',
      elapsedSeconds: 61,
      parameters: { trials: 1, seconds: 2 },
      results: [
        { config: { ...config, mode: 'epoll-level' }, trials: [trial], errors: [] },
        { config: { ...config, mode: 'epoll-edge' }, trials: [{ ...trial, perSecond: 50 }], errors: [] },
      ],
    };
    writeFileSync(join(dir, 'run.json'), JSON.stringify(run));
    const done = wasmloop('bench', '--report', dir);
    assert.is(done.status, 0, done.stderr);
    const markdown = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.match(markdown, /^# wasmloop lab: standard\n\n2026-12-02T00:00:00.000Z, 1 min 1 s; 1 trials of 2 s/);
    assert.match(markdown, /\| echo64, 100 connections \(1 active\), depth 1 \| 16 \| 100 \| 50.0 \| 0.50× \|/);
    assert.ok(existsSync(join(dir, 'charts', 'throughput-echo64-100-1.svg')));
    const missing = wasmloop('bench', '--report', join(dir, 'nothing'));
    assert.is(missing.status, 1);
    assert.match(missing.stderr, /--report needs a lab run's folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('wasmloop bench --sweep refuses an --only it cannot match before running anything', () => {
  const run = wasmloop('bench', '--sweep', '--only', 'batch=64', '--out', fileURLToPath(new URL('../lab-test-out', import.meta.url)));
  assert.is(run.status, 1);
  assert.match(run.stderr, /--only takes key=value pairs/);
});

test('wasmloop bench waits out a SIGINT sent to it alone, and passes a SIGTERM on to the laboratory', async () => {
  const out = mkdtempSync(join(tmpdir(), 'wasmloop-lab-'));
  const cli = spawn(process.execPath, [CLI, 'bench', '--core', '--trials', '1000', '--out', out], { stdio: 'ignore' });
  const exited = new Promise<[number | null, string | null]>((resolve) => cli.once('exit', (code, signal) => resolve([code, signal])));
  let lab = 0;
  try {
    const children = `/proc/${cli.pid}/task/${cli.pid}/children`;
    for (let i = 0; i < 200 && lab === 0; i++) {
      lab = existsSync(children) ? Number(readFileSync(children, 'utf8').trim().split(' ')[0]) : 0;
      if (lab === 0) await sleep(25);
    }
    assert.ok(lab > 0, 'the laboratory runs as a child of wasmloop bench');
    cli.kill('SIGINT');
    await sleep(300);
    assert.is(cli.exitCode, null, 'wasmloop bench is still waiting after a SIGINT');
    assert.is(cli.signalCode, null);
    cli.kill('SIGTERM');
    assert.equal(await exited, [128 + 15, null], 'exits with the status of a laboratory ended by SIGTERM');
    assert.throws(() => process.kill(lab, 0), /ESRCH/, 'the laboratory is gone');
  } finally {
    // A CLI that did not exit by itself (it died of a signal, or an assert
    // failed first) may leave its laboratory running.
    if (cli.exitCode === null) {
      cli.kill('SIGKILL');
      try {
        if (lab > 0) process.kill(lab, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(out, { recursive: true, force: true });
  }
});

test.run();
