// The protocols against the real clients: redis-cli, redis-benchmark, curl,
// wrk. A client that is not installed skips its test with a note on stdout,
// or fails it in CI (tests/required-tools.ts); CI installs them with apt
// (redis-tools, curl, wrk).
import { execFile } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { testWithTools } from './required-tools.js';

/** A client still running after this long is killed, which fails its test. */
const CLIENT_TIMEOUT_MS = 15_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client to completion (killed after CLIENT_TIMEOUT_MS); a failure to start rejects. */
function run(binary: string, args: string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, args, { timeout: CLIENT_TIMEOUT_MS, encoding: 'latin1', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`${binary} ${args.join(' ')}: ${error.message}\nstderr: ${stderr}`));
        return;
      }
      resolve({ code: error ? (error.code as unknown as number) : 0, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

// ---- RESP ------------------------------------------------------------------------

testWithTools(['redis-cli'], 'redis-cli: PING, SET, GET, INCR, DEL, EXISTS, ECHO, a binary value, an unknown command', async () => {
  await withServer(respProtocol(), {}, 'redis-cli', async (_server, port) => {
    const cli = async (...args: string[]): Promise<string> => {
      const result = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args]);
      assert.is(result.stderr, '', `redis-cli ${args.join(' ')}: stderr`);
      return result.stdout;
    };
    assert.is(await cli('PING'), 'PONG\n');
    assert.is(await cli('SET', 'greeting', 'hello world'), 'OK\n');
    assert.is(await cli('GET', 'greeting'), 'hello world\n');
    assert.is(await cli('INCR', 'visits'), '1\n');
    assert.is(await cli('INCR', 'visits'), '2\n');
    assert.is(await cli('EXISTS', 'greeting', 'visits', 'nothing'), '2\n');
    assert.is(await cli('DEL', 'greeting', 'nothing'), '1\n');
    assert.is(await cli('GET', 'greeting'), '\n', 'a missing key prints as an empty line');
    assert.is(await cli('ECHO', 'echo me'), 'echo me\n');
    // redis-cli 7 follows an error with an empty line; a real Redis gives the same bytes.
    assert.is(await cli('FROBNICATE', 'a'), "ERR unknown command 'FROBNICATE', with args beginning with: 'a' \n\n");

    // -x reads the last argument from stdin, byte for byte.
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const set = await run('redis-cli', ['-h', HOST, '-p', String(port), '-x', 'SET', 'binary'], binary);
    assert.is(set.stdout, 'OK\n');
    const got = await run('redis-cli', ['-h', HOST, '-p', String(port), '--raw', 'GET', 'binary']);
    assert.ok(Buffer.from(got.stdout, 'latin1').equals(Buffer.concat([binary, Buffer.from('\n')])), 'GET returns all 256 byte values');
  });
});

/** The "NAME: N requests per second" lines of `redis-benchmark -q`, by test name. */
function benchmarkRates(output: string): Map<string, number> {
  const rates = new Map<string, number>();
  for (const line of output.split(/[\r\n]+/)) {
    const match = /^\s*(\w+): ([\d.]+) requests per second/.exec(line);
    if (match) rates.set(match[1]!, Number(match[2]));
  }
  return rates;
}

for (const pipeline of [1, 16]) {
  testWithTools(['redis-benchmark'], `redis-benchmark -P ${pipeline}: every test completes, and INCR counted every request`, async () => {
    const factory = respProtocol();
    await withServer(factory, {}, `redis-benchmark -P ${pipeline}`, async (_server, port) => {
      const args = ['-h', HOST, '-p', String(port), '-q', '-n', '2000', '-c', '10', '-P', String(pipeline), '-t', 'ping_inline,ping_mbulk,set,get,incr'];
      const result = await run('redis-benchmark', args);
      assert.is(result.code, 0, `stderr: ${result.stderr}`);
      assert.not.match(result.stderr, /error|warning/i, 'no errors or warnings (CONFIG GET answered)');
      const rates = benchmarkRates(result.stdout);
      assert.equal([...rates.keys()].sort(), ['GET', 'INCR', 'PING_INLINE', 'PING_MBULK', 'SET'], result.stdout);
      for (const [name, rate] of rates) assert.ok(rate > 0, `${name}: ${rate} requests per second`);
      // Without -r every INCR hits one key, so it holds the number of INCRs served.
      assert.is(factory.store.get('counter:__rand_int__')?.toString(), '2000');
      assert.is(factory.store.get('key:__rand_int__')?.length, 3, 'SET stored its 3-byte value');
      assert.ok(factory.requests >= 5 * 2000, `requests ${factory.requests}`);
    });
  });
}

// ---- HTTP --------------------------------------------------------------------------

testWithTools(['curl'], 'curl: GET / is hello, /metrics is the metrics text, an unknown path is 404, HEAD has no body', async () => {
  await withServer(httpProtocol({ metrics: () => 'interop_metric 42\n' }), {}, 'curl', async (_server, port) => {
    const base = `http://${HOST}:${port}`;
    const hello = await run('curl', ['-sS', '-i', `${base}/`]);
    assert.is(hello.code, 0, hello.stderr);
    assert.match(hello.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(hello.stdout, /\r\nContent-Type: text\/plain\r\n/);
    assert.match(hello.stdout, /\r\n\r\nhello$/);
    const metrics = await run('curl', ['-sS', `${base}/metrics`]);
    assert.is(metrics.stdout, 'interop_metric 42\n');
    const missing = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${base}/missing`]);
    assert.is(missing.stdout, '404');
    const head = await run('curl', ['-sS', '-I', `${base}/`]);
    assert.match(head.stdout, /^HTTP\/1\.1 200 OK\r\n.*Content-Length: 5\r\n\r\n$/s);
  });
});

testWithTools(['curl'], 'curl with two URLs reuses one kept-alive connection', async () => {
  await withServer(httpProtocol(), {}, 'curl keep-alive', async (server, port) => {
    const url = `http://${HOST}:${port}/`;
    const result = await run('curl', ['-sv', url, url]);
    assert.is(result.code, 0, result.stderr);
    assert.is(result.stdout, 'hellohello');
    assert.match(result.stderr, /Re-using existing connection/);
    assert.is(server.stats.accepted, 1, 'both requests came over one connection');
  });
});

testWithTools(['wrk'], 'wrk -t1 -c10 -d1s: requests served with no socket errors, timeouts or non-2xx replies', async () => {
  const factory = httpProtocol();
  await withServer(factory, {}, 'wrk', async (server, port) => {
    const result = await run('wrk', ['-t1', '-c10', '-d1s', `http://${HOST}:${port}/`]);
    assert.is(result.code, 0, result.stderr);
    const requests = /(\d+) requests in/.exec(result.stdout);
    assert.ok(requests && Number(requests[1]) > 0, result.stdout);
    // wrk prints these lines only when the counts are not zero.
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(result.stdout);
    assert.ok(errors === null || errors.slice(1).every((n) => n === '0'), result.stdout);
    assert.not.match(result.stdout, /Non-2xx or 3xx responses/);
    // Ten kept-alive connections, plus the one wrk opens first to check the address.
    assert.ok(server.stats.accepted >= 10 && server.stats.accepted <= 11, `accepted ${server.stats.accepted}`);
    assert.ok(factory.requests >= Number(requests![1]), `server answered ${factory.requests}`);
  });
});

test.run();
