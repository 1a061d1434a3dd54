// The suite's readers of wrk and redis-benchmark output, held to outputs those
// tools print on this machine: a misread unit or column would skew every
// ratio in the benchmark report without any run failing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { durationMs, parseRedisBenchmark, parseWrk } from '../bench/parse.js';
import { timerGoals, type TimerResults } from '../bench/report.js';

const WRK_CLEAN = `Running 2s test @ http://127.0.0.1:40125/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.12ms  705.84us  14.71ms   92.37%
    Req/Sec    44.94k     3.20k   48.71k    80.00%
  Latency Distribution
     50%  0.98ms
     75%    1.20ms
     90%    1.55ms
     99%    4.02ms
  89431 requests in 2.00s, 7.93MB read
Requests/sec:  44715.23
Transfer/sec:      3.96MB
`;

const WRK_ERRORS = `Running 2s test @ http://127.0.0.1:40125/
  1 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   180.55ms  400.12ms   1.99s    91.02%
    Req/Sec     1.74k   512.00     2.10k    70.00%
  Latency Distribution
     50%   18.70ms
     75%   40.10ms
     90%  600.00ms
     99%    1.82s
  3474 requests in 2.00s, 308.73KB read
  Socket errors: connect 3, read 2, write 1, timeout 17
  Non-2xx or 3xx responses: 5
Requests/sec:   1737.00
Transfer/sec:    154.36KB
`;

test('durationMs reads every unit wrk prints', () => {
  assert.is(durationMs('338.00us'), 0.338);
  assert.is(durationMs('1.20ms'), 1.2);
  assert.is(durationMs('1.82s'), 1820);
  assert.is(durationMs('1.50m'), 90_000);
  assert.throws(() => durationMs('1.2h'), /unreadable wrk duration/);
});

test('parseWrk reads throughput and percentiles of a clean run, errors as zero', () => {
  assert.equal(parseWrk(WRK_CLEAN), {
    requests: 89431,
    perSecond: 44715.23,
    p50ms: 0.98,
    p99ms: 4.02,
    timeouts: 0,
    socketErrors: 0,
    non2xx: 0,
  });
});

test('parseWrk counts timeouts apart from the other socket errors', () => {
  const report = parseWrk(WRK_ERRORS);
  assert.is(report.timeouts, 17);
  assert.is(report.socketErrors, 6);
  assert.is(report.non2xx, 5);
  assert.is(report.p99ms, 1820);
  assert.is(report.p50ms, 18.7);
});

test('parseWrk refuses output without a latency distribution', () => {
  const withoutLatency = WRK_CLEAN.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, '');
  assert.throws(() => parseWrk(withoutLatency), /50% latency/);
});

const CSV = `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"PING_MBULK","334261.00","1.203","0.360","1.007","2.455","10.711","14.199"
"SET","280840.00","1.951","0.420","1.943","3.111","11.807","16.001"
`;

test('parseRedisBenchmark picks the row of the test, whatever its case, by column name', () => {
  assert.equal(parseRedisBenchmark(CSV, 'ping_mbulk'), { perSecond: 334261, p50ms: 1.007, p99ms: 10.711 });
  assert.equal(parseRedisBenchmark(CSV, 'set'), { perSecond: 280840, p50ms: 1.943, p99ms: 11.807 });
});

test('parseRedisBenchmark reports a missing test and unknown latency columns as such', () => {
  assert.throws(() => parseRedisBenchmark(CSV, 'get'), /no get row/);
  const old = parseRedisBenchmark('"PING_MBULK","90000.00"\n', 'ping_mbulk');
  assert.is(old.perSecond, 90000);
  assert.ok(Number.isNaN(old.p99ms));
});

test("the timer goals read bench/timers.js's results by the names it writes: the API's speed and bytes, same-millisecond firing", () => {
  const trial = (timersPerSecond: number, measuredBytesPerTimer = 0) => ({ timersPerSecond, measuredBytesPerTimer });
  const data: TimerResults = {
    wasmEntryBytes: 24,
    results: {
      'cancel-all': {
        'wasmloop-core': [trial(60e6, 33), trial(50e6, 32), trial(70e6, 34)],
        'wasmloop-timeout': [trial(30e6, 40), trial(25e6, 41), trial(35e6, 39)],
        'wasmloop-timer': [trial(9e6, 90), trial(8e6, 88), trial(10e6, 89)],
        node: [trial(5e6), trial(4e6), trial(6e6)],
      },
      'expire-1%': { 'wasmloop-core': [trial(1)], node: [trial(1)] },
      'fire-same-ms': {
        'wasmloop-timeout': [trial(40e6), trial(30e6), trial(50e6)],
        'wasmloop-timer': [trial(12e6)],
        node: [trial(6e6), trial(5e6), trial(7e6)],
      },
    },
  };
  assert.equal(timerGoals(data), [
    { goal: 'timers: insert+cancel ≥ 5× Node setTimeout/clearTimeout', met: true, figures: 'loop.timeout(): 6.00×; loop.setTimeout(): 1.80×; the wheel: 12.00×' },
    { goal: 'timers: ≤ 48 bytes per timer', met: true, figures: 'loop.timeout(): 40.0 bytes measured (24 B wasm entry + 8 B host); loop.setTimeout(): 89.0' },
    { goal: 'timers: same-millisecond firing ≥ 5× Node', met: true, figures: 'loop.timeout(): 6.67×; loop.setTimeout(): 2.00×' },
  ]);
  const slow = {
    ...data,
    results: {
      'cancel-all': { ...data.results['cancel-all'], 'wasmloop-timeout': [trial(20e6, 50)] },
      'fire-same-ms': { ...data.results['fire-same-ms'], 'wasmloop-timeout': [trial(20e6)] },
    },
  };
  assert.equal(timerGoals(slow).map((g) => g.met), [false, false, false]);
  assert.equal(timerGoals(null), [
    { goal: 'timers: insert+cancel ≥ 5× Node, ≤ 48 bytes per timer', met: null, figures: 'not measured' },
    { goal: 'timers: same-millisecond firing ≥ 5× Node', met: null, figures: 'not measured' },
  ]);
  assert.equal(timerGoals({ ...data, results: {} }).map((g) => g.met), [null, null]);
});

test.run();
