// 1,000 clients connecting and dropping at random (closing at once, after
// half a request, after a reply, with a reset) against `wasmloop serve` in a
// child process: it keeps serving and ends holding exactly the fds it held
// before (counted in /proc/<pid>/fd).
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { HOST } from './helpers/fds.js';
import { until, withTimeout } from './helpers/waiting.js';
import { random } from './helpers/random.js';

const CLI = fileURLToPath(new URL('../src/serve/cli.js', import.meta.url));
const CLIENTS = 1000;
const CONCURRENCY = 100;
const REQUEST = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';

const fdsOf = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** One client doing one of five things; resolves when its socket is closed. Returns whether it got a full reply. */
function churn(port: number, behaviour: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: HOST, port });
    let reply = '';
    socket.setEncoding('latin1');
    socket.on('error', () => {});
    socket.on('close', () => resolve(reply.endsWith('hello')));
    socket.on('data', (text: string) => {
      reply += text;
      if (behaviour === 2 && reply.endsWith('hello')) socket.destroy();
    });
    socket.on('connect', () => {
      if (behaviour === 0) socket.destroy();
      else if (behaviour === 1) socket.end('GET / HTTP/1.1\r\nHo');
      else if (behaviour === 2) socket.write(REQUEST);
      else if (behaviour === 3) socket.write(REQUEST, () => socket.resetAndDestroy());
      else socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
  });
}

test(`${CLIENTS} clients connecting and dropping at random: the server keeps serving and leaks no fd`, async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--protocol', 'http', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    await until(() => /listening on [\d.]+:(\d+)/.test(stdout), 'the server to listen');
    const port = Number(/listening on [\d.]+:(\d+)/.exec(stdout)![1]);
    const baseline = fdsOf(child.pid!);
    assert.ok(await churn(port, 4), 'a first request is served');

    const next = random(0x5eed);
    const behaviours = Array.from({ length: CLIENTS }, () => Math.floor(next() * 5));
    let started = 0;
    let served = 0;
    const worker = async (): Promise<void> => {
      while (started < CLIENTS) {
        if (await churn(port, behaviours[started++]!)) served++;
      }
    };
    await withTimeout(Promise.all(Array.from({ length: CONCURRENCY }, worker)), `${CLIENTS} clients`, 30_000);
    const expected = behaviours.filter((b) => b === 2 || b === 4).length;
    assert.is(served, expected, 'every client that waited for its reply got it');

    // Every connection is gone once the server has seen each client leave.
    await until(() => fdsOf(child.pid!) === baseline, `the server's fds back at ${baseline} (now ${fdsOf(child.pid!)})`);
    assert.ok(await churn(port, 4), 'still serving after the churn');
    await until(() => fdsOf(child.pid!) === baseline, 'the last connection to close');

    child.kill('SIGTERM');
    assert.is(await withTimeout(exited, 'the server to exit'), 0, stderr);
    assert.match(stdout, new RegExp(`stopped after serving ${CLIENTS + 2} connections`));
    // Nothing went wrong: no error, no warning but the loop's slow-callback
    // one, which a loaded machine earns by stopping the process mid-callback.
    const complaints = stderr.split('\n').filter((line) => line !== '' && !line.startsWith('wasmloop: warn: slow callback '));
    assert.equal(complaints, []);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test.run();
