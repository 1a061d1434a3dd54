// /metrics: the loop's metrics and the server's stats in Prometheus text
// format, checked line by line, and served over HTTP to curl.
import { execFile } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { LoopMetrics } from '../src/index.js';
import { renderPrometheus } from '../src/serve/prometheus.js';
import { httpProtocol } from '../src/protocols/http.js';
import { Server, type ServerStats } from '../src/net/server.js';
import { parsePrometheus, prometheusValue } from './helpers/prometheus.js';
import { withServer } from './helpers/servers.js';
import { TestLoop } from './test-loop.js';

/** curl with no proxy, so loopback requests go straight to the server. */
function curl(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['--noproxy', '*', '-s', '-w', '\n%{http_code}', url], { timeout: 10_000 }, (error, stdout) => {
      if (error) return reject(error);
      const at = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) });
    });
  });
}

const STATS: ServerStats = {
  accepted: 7,
  active: 3,
  resets: 2,
  acceptErrors: 1,
  acceptPauses: 1,
  acceptShed: 0,
  refused: 5,
  protocolErrors: 6,
  idleClosed: 4,
  shutdownForced: 8,
};

test('every line is valid exposition text: HELP and TYPE once per family, counters _total, summaries with quantiles', () => {
  const loop = new TestLoop();
  try {
    loop.runOnce(0);
    loop.runOnce(0);
    const { samples, types } = parsePrometheus(renderPrometheus(loop.metrics(), STATS, { requests: 11, labels: { worker: '1' } }));
    assert.ok(types.size >= 30, `${types.size} families`);
    assert.ok(samples.every((s) => s.labels['worker'] === '1'), 'every sample has the label');
    assert.is(prometheusValue(samples, 'wasmloop_loop_iterations_total'), 2);
    assert.is(prometheusValue(samples, 'wasmloop_loop_waits_total'), 2);
    assert.is(prometheusValue(samples, 'wasmloop_loop_events_per_wait_count'), 2);
    assert.is(prometheusValue(samples, 'wasmloop_loop_events_per_wait', { quantile: '0.99' }), 1);
    assert.is(prometheusValue(samples, 'wasmloop_server_connections'), 3);
    assert.is(prometheusValue(samples, 'wasmloop_server_connections_accepted_total'), 7);
    assert.is(prometheusValue(samples, 'wasmloop_server_resets_total'), 2);
    assert.is(prometheusValue(samples, 'wasmloop_server_idle_closed_total'), 4);
    assert.is(prometheusValue(samples, 'wasmloop_server_accept_errors_total'), 1);
    assert.is(prometheusValue(samples, 'wasmloop_server_accept_pauses_total'), 1);
    assert.is(prometheusValue(samples, 'wasmloop_server_refused_total'), 5);
    assert.is(prometheusValue(samples, 'wasmloop_server_protocol_errors_total'), 6);
    assert.is(prometheusValue(samples, 'wasmloop_server_shutdown_forced_total'), 8);
    assert.is(prometheusValue(samples, 'wasmloop_server_requests_total'), 11);
    assert.is(types.get('wasmloop_loop_callback_duration_seconds'), 'summary');
    assert.is(types.get('wasmloop_server_connections'), 'gauge');
  } finally {
    loop.close();
  }
});

test('without requests there is no requests family; label values are escaped; non-finite values are spelled out', () => {
  const loop = new TestLoop();
  try {
    const metrics: LoopMetrics = { ...loop.metrics(), utilization: NaN };
    const text = renderPrometheus(metrics, STATS, { labels: { path: 'a"b\\c\nd' }, prefix: 'x' });
    const { samples, types } = parsePrometheus(text);
    assert.not.ok(types.has('x_server_requests_total'));
    assert.ok(text.includes('path="a\\"b\\\\c\\nd"'), 'quote, backslash and newline escaped');
    assert.is(samples.find((s) => s.name === 'x_loop_utilization')!.labels['path'], 'a\\"b\\\\c\\nd');
    assert.match(text, /^x_loop_utilization\{path="[^\n]*"\} NaN$/m);
  } finally {
    loop.close();
  }
});

test('curl GET /metrics on an HTTP server serves the live numbers', async () => {
  let server: Server | undefined;
  const factory = httpProtocol({ metrics: () => renderPrometheus(server!.loop.metrics(), server!.stats, { requests: factory.requests }) });
  await withServer(factory, {}, '/metrics over curl', async (s, port) => {
    server = s;
    for (let i = 0; i < 3; i++) assert.equal(await curl(`http://127.0.0.1:${port}/`), { status: 200, body: 'hello' });
    const reply = await curl(`http://127.0.0.1:${port}/metrics`);
    assert.is(reply.status, 200);
    const { samples } = parsePrometheus(reply.body);
    // Each curl is one connection and one request; the scrape counts itself.
    assert.is(prometheusValue(samples, 'wasmloop_server_connections_accepted_total'), 4);
    assert.is(prometheusValue(samples, 'wasmloop_server_requests_total'), 4);
    assert.is(prometheusValue(samples, 'wasmloop_server_connections'), 1);
    assert.ok(prometheusValue(samples, 'wasmloop_loop_events_total') >= 8, 'accepts and reads were counted');
    assert.ok(prometheusValue(samples, 'wasmloop_loop_callback_duration_seconds_count') > 0);
  });
});

test.run();
