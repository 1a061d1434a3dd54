// Real clients against a handler: curl (a POST with a body, its headers, and
// Expect: 100-continue, which curl sends for larger bodies) and a short,
// bounded wrk run (1 s, 4 connections): every response a 2xx, no socket error.
import { spawn } from 'node:child_process';
import * as assert from 'uvu/assert';
import { test } from 'uvu';

import { testWithTools } from './required-tools.js';
import { HOST, readBody, withHttp } from './helpers/http.js';
import { withTimeout } from './helpers/waiting.js';

/** Runs a command without blocking the loop in this process; its stdout, stderr and exit code. */
function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const child = spawn(command, args);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    }),
    `${command} ${args.join(' ')}`,
    15_000,
  );
}

const handler = async (req: AsyncIterable<Buffer> & { method: string; headers: Record<string, unknown> }, res: { setHeader(n: string, v: string): void; end(b: string): void }): Promise<void> => {
  const body = await readBody(req);
  res.setHeader('Content-Type', 'text/plain');
  res.setHeader('X-Seen-Agent', String(req.headers['user-agent']).split('/')[0]!);
  res.end(`${req.method} ${body.length}`);
};

testWithTools(['curl'], 'curl: GET, a POST of 100 KB with Expect: 100-continue, headers both ways', async () => {
  await withHttp({ handler: handler as never }, 'curl', async (port) => {
    const get = await run('curl', ['-sS', '-i', `http://${HOST}:${port}/`]);
    assert.is(get.code, 0, get.stderr);
    assert.match(get.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(get.stdout, /\r\nX-Seen-Agent: curl\r\n/);
    assert.match(get.stdout, /\r\n\r\nGET 0$/);
    const big = await run('sh', ['-c', `head -c 100000 /dev/zero | curl -sS -i -H "Expect: 100-continue" --data-binary @- http://${HOST}:${port}/upload`]);
    assert.is(big.code, 0, big.stderr);
    assert.match(big.stdout, /HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.match(big.stdout, /\r\n\r\nPOST 100000$/);
  });
});

testWithTools(['wrk'], 'wrk: 1 s at 4 connections, every response 2xx, no socket errors', async () => {
  await withHttp({ handler: handler as never }, 'wrk', async (port) => {
    const { code, stdout, stderr } = await run('wrk', ['-t1', '-c4', '-d1s', `http://${HOST}:${port}/`]);
    assert.is(code, 0, stderr);
    const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
    assert.ok(requests > 0, stdout);
    assert.not.match(stdout, /Non-2xx|Socket errors/, stdout);
  });
});

test.run();
