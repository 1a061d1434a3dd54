// One loop per thread: a loop works inside a worker_thread, run() or
// start() (a started loop alone keeps the worker alive until it closes), and
// a worker terminated while its loop is inside run() or start() tears down
// cleanly (the addon's libuv handles are closed before Node unloads the
// addon) and leaks no fd.
//
// It runs in a child process whose main thread never loads the addon: only
// then does a worker's exit unload it, which is what a late libuv callback
// into the addon would crash on.
import { execFile } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const host = new URL('./fixtures/worker-host.js', import.meta.url).pathname;

interface HostReport {
  runs: { ranMs: number; closed: boolean }[];
  starts: { ranMs: number; closed: boolean }[];
  terminated: number;
  fdsBefore: number;
  fdsAfter: number;
}

function runHost(): Promise<{ code: number | null; signal: string | null; report?: HostReport; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [host], { timeout: 30_000 }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number; signal?: string }) | null;
      const line = stdout.trim().split('\n').pop();
      resolve({
        code: failure ? (failure.code ?? null) : 0,
        signal: failure?.signal ?? null,
        report: line ? (JSON.parse(line) as HostReport) : undefined,
        stderr,
      });
    });
  });
}

test('loops in workers run or start and stop, and workers terminated inside run() or start() exit cleanly without leaking fds', async () => {
  const { code, signal, report, stderr } = await runHost();
  assert.is(signal, null, `host died by ${signal}: ${stderr}`);
  assert.is(code, 0, stderr);
  assert.ok(report, 'host printed no report');
  assert.is(report.runs.length, 3);
  for (const run of report.runs) {
    assert.ok(run.ranMs >= 25, `run() returned after ${run.ranMs} ms`);
    assert.ok(run.closed);
  }
  assert.is(report.starts.length, 3);
  for (const start of report.starts) {
    assert.ok(start.ranMs >= 25, `the started loop closed after ${start.ranMs} ms`);
    assert.ok(start.closed);
  }
  assert.is(report.terminated, 6);
  assert.is(report.fdsAfter, report.fdsBefore);
});

test.run();
