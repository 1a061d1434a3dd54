// EINTR storms: another process signals at about 1 kHz while the loop waits.
// The loop retries each interrupted wait with the time that remains, so an
// echo server under the storm serves every client byte-exact, and a wait
// with nothing to report lasts its full timeout.
import { spawn, type ChildProcess } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoRoundTrip, forkServer, patterned } from './helpers/servers.js';
import { tick, until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const CLIENTS = 200;
const PAYLOAD_BYTES = 64 * 1024;
/** Rounds of echoes at most while waiting for the storm to land 50 signals during them. */
const MAX_ROUNDS = 10;

/**
 * A node process that sends SIGUSR2 to `pid` from a 1 ms interval, three at
 * a time (about 1 kHz or more on a busy machine), until killed or `pid` is gone.
 * Its first signal comes only once a whole Node has started (about 80 ms here,
 * over half a second with the ASan runtime preloaded), so a test waits until
 * its target has counted signals rather than for a fixed time.
 */
function signalStorm(pid: number): ChildProcess {
  const script = `const t = setInterval(() => { try { for (let i = 0; i < 3; i++) process.kill(${pid}, 'SIGUSR2'); } catch { clearInterval(t); } }, 1);`;
  return spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
}

async function calmed(storm: ChildProcess): Promise<void> {
  if (storm.exitCode === null && storm.signalCode === null) {
    const exited = new Promise((resolve) => storm.once('exit', resolve));
    storm.kill('SIGKILL');
    await exited;
  }
}

test(`an echo server under a signal storm echoes ${CLIENTS} clients × 64 KiB byte-exact`, async () => {
  const server = await forkServer('echo');
  const storm = signalStorm(server.pid);
  try {
    let before = 0;
    await until(() => before > 0, 'the storm to reach the server', async () => {
      before = (await server.report()).signals;
    });
    const payloads = Array.from({ length: CLIENTS }, (_, i) => patterned(PAYLOAD_BYTES, i + 1));
    // Rounds of the 200 echoes until at least 50 signals landed while they ran: one round
    // can end before the storm has reached its pace (the storm is a process of its own,
    // sharing two cores with the server and its clients).
    let rounds = 0;
    let report = await server.report();
    let during = 0;
    while (during < 50 && rounds < MAX_ROUNDS) {
      rounds++;
      const echoed = await withTimeout(Promise.all(payloads.map((p) => echoRoundTrip(server.port, p))), `${CLIENTS} echoes under the storm`, 60_000);
      echoed.forEach((bytes, i) => assert.ok(bytes.equals(payloads[i]!), `round ${rounds}, client ${i}: echo differs (${bytes.length} bytes)`));
      report = await server.report();
      during = report.signals - before;
    }
    assert.ok(during >= 50, `the storm barely reached the server in ${rounds} rounds of echoes: ${during} signals`);
    assert.equal(report.loopErrors, []);
    assert.is(report.stats.accepted, CLIENTS * rounds);
    assert.is(report.stats.resets, 0);
  } finally {
    await calmed(storm);
    await server.stop();
  }
});

test('runOnce(200) with no events lasts at least 200 ms under a signal storm', async () => {
  let caught = 0;
  const onSignal = (): void => {
    caught++;
  };
  process.on('SIGUSR2', onSignal);
  const loop = new TestLoop();
  const storm = signalStorm(process.pid);
  try {
    await until(() => caught > 0, 'the storm to reach this process');
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      const events = loop.runOnce(200);
      const elapsed = performance.now() - started;
      assert.is(events, 0);
      assert.ok(elapsed >= 200, `round ${round}: the wait ended early, after ${elapsed.toFixed(2)} ms`);
      assert.ok(elapsed < 5000, `round ${round}: the wait ran long: ${elapsed.toFixed(1)} ms`);
      // Let Node run the handlers of the signals that arrived meanwhile.
      await tick(5);
    }
  } finally {
    await calmed(storm);
    loop.close();
    await tick(10);
    process.off('SIGUSR2', onSignal);
  }
  assert.ok(caught >= 20, `the storm barely reached this process: ${caught} signals`);
});

test.run();
