// Out of fds (EMFILE): a server in a child process with RLIMIT_NOFILE 64
// keeps its CPU low while clients keep connecting, counts what happened,
// and serves new clients once fds free up. Both policies: 'pause' (pending
// connections wait in the kernel's queue and are served later) and 'shed'
// (the reserve-fd trick: pending connections are accepted and closed).
// Each accept failure reaches the onError option and the server's 'error'.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { ServerStats } from '../src/net/server.js';
import { HOST } from './helpers/fds.js';
import { runnableMs } from './helpers/timing.js';
import { tick, until, withTimeout } from './helpers/waiting.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/emfile-server.js', import.meta.url));
const FD_LIMIT = 64;
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_SECOND = 100;

interface Child {
  process: ChildProcess;
  port: number;
  ask(command: string): Promise<string>;
  lines: Interface;
}

async function startServer(mode: 'pause' | 'shed'): Promise<Child> {
  const child = spawn('sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "${process.execPath}" "${FIXTURE}" ${mode}`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = (): Promise<string> => withTimeout(new Promise<string>((resolve) => waiting.push(resolve)), 'a line from the server');
  const { port } = JSON.parse(await next()) as { port: number };
  return {
    process: child,
    port,
    lines,
    ask: (command) => {
      const reply = next();
      child.stdin!.write(`${command}\n`);
      return reply;
    },
  };
}

/** CPU seconds (user + system) the process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at state, field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

interface Client {
  socket: Socket;
  connected: boolean;
  echoed: boolean;
  closed: boolean;
}

/** Connects and sends one byte; `echoed` turns true when it comes back. */
function client(port: number): Client {
  const socket = connect({ host: HOST, port });
  const state: Client = { socket, connected: false, echoed: false, closed: false };
  socket.on('connect', () => (state.connected = true));
  socket.on('data', () => (state.echoed = true));
  socket.on('error', () => {});
  socket.on('close', () => (state.closed = true));
  socket.write('x');
  return state;
}

/** How long the measurement of the server at EMFILE lasts. */
const IDLE_WINDOW_MS = 1000;

for (const mode of ['pause', 'shed'] as const) {
  test(`fdExhaustion '${mode}': no spinning at EMFILE, counted, retried after a back-off or shed, and new clients served once fds free up`, async () => {
    const server = await startServer(mode);
    const clients: Client[] = [];
    try {
      // Connect until one is not served: the server has run out of fds (it
      // counts the failed accept; in 'shed' mode the client is also closed).
      let acceptErrors = 0;
      for (let i = 0; i < FD_LIMIT && acceptErrors === 0; i++) {
        const c = client(server.port);
        clients.push(c);
        await until(() => c.echoed || c.closed || acceptErrors > 0, `client ${i} to be served or refused`, async () => {
          await tick(5);
          acceptErrors = (JSON.parse(await server.ask('stats')) as ServerStats).acceptErrors;
        });
      }
      const served = clients.filter((c) => c.echoed);
      assert.ok(served.length > 10 && served.length < FD_LIMIT, `${served.length} clients served before EMFILE`);
      // More clients keep arriving while the server is out of fds.
      const arriving = Array.from({ length: 10 }, () => client(server.port));
      clients.push(...arriving);
      await until(() => arriving.every((c) => c.connected), 'the arriving clients to connect');

      // At EMFILE with connections pending, the server must sleep, not spin:
      // few waits, and time wanting the CPU well short of the window, however
      // little of it a loaded machine would give a spinning server (which
      // wants it all the time). A sleeping server's few wake-ups may each
      // queue for a CPU: 5 waits took 462 ms of it at a load average of 12.
      const pid = server.process.pid!;
      const waitsOf = async (): Promise<number> => (JSON.parse(await server.ask('waits')) as { waits: number }).waits;
      const start = { waits: await waitsOf(), runnableMs: runnableMs(pid), cpu: cpuSeconds(pid) };
      await tick(IDLE_WINDOW_MS);
      const end = { runnableMs: runnableMs(pid), cpu: cpuSeconds(pid), waits: await waitsOf() };
      const usage = `${end.waits - start.waits} waits, ${(end.runnableMs - start.runnableMs).toFixed(0)} ms wanting the CPU ` +
        `(${(end.cpu - start.cpu).toFixed(2)} s on it) in ${IDLE_WINDOW_MS} ms at EMFILE`;
      assert.ok(end.runnableMs - start.runnableMs < IDLE_WINDOW_MS * 0.7, usage);
      assert.ok(end.waits - start.waits < 100, usage);

      const atLimit = JSON.parse(await server.ask('stats')) as ServerStats;
      assert.ok(atLimit.acceptErrors > 0, 'accept failures are counted');
      // Each failure reached both the onError option and the server's 'error' listener.
      const errors = JSON.parse(await server.ask('errors')) as { onError: number; events: number; codes: string[] };
      assert.ok(errors.onError >= atLimit.acceptErrors && errors.events === errors.onError, JSON.stringify(errors));
      assert.equal(errors.codes, ['EMFILE']);
      assert.is(atLimit.active, served.length);
      const unserved = clients.filter((c) => !c.echoed);
      if (mode === 'pause') {
        assert.ok(atLimit.acceptPauses > 0, 'accepting paused');
        // No fd was freed in the window, so only the back-off's timeout
        // (100 ms, then 200, 400...) can have resumed accepting, which failed
        // and paused again.
        assert.ok(atLimit.acceptPauses >= 2, `${atLimit.acceptPauses} pause(s): the back-off never resumed accepting`);
        assert.is(atLimit.acceptShed, 0);
        assert.ok(unserved.every((c) => !c.closed), 'waiting clients stay queued');
      } else {
        assert.ok(atLimit.acceptShed > 0, 'pending connections were shed');
        await until(() => unserved.every((c) => c.closed), 'shed clients to see their connection closed');
      }

      // Free fds: close 20 served clients.
      for (const c of served.slice(0, 20)) c.socket.destroy();
      if (mode === 'pause') {
        // The queued clients are served once fds free up.
        await until(() => unserved.filter((c) => c.echoed).length >= 10, 'queued clients to be served');
      }
      const late = client(server.port);
      clients.push(late);
      await until(() => late.echoed, 'a new client to be served after fds freed up');
      const after = JSON.parse(await server.ask('stats')) as ServerStats;
      assert.ok(after.accepted > atLimit.accepted);
    } finally {
      for (const c of clients) c.socket.destroy();
      server.process.stdin!.write('stop\n');
      const code = await withTimeout(new Promise((resolve) => server.process.on('exit', resolve)), 'the server to exit').catch(() => {
        server.process.kill('SIGKILL');
        return 'killed';
      });
      server.lines.close();
      assert.is(code, 0);
    }
  });
}

test.run();
