// Out of fds (EMFILE): a server in a child process with RLIMIT_NOFILE 64
// keeps its CPU low while clients keep connecting, counts what happened,
// and serves new clients once fds free up. Both policies: 'pause' (pending
// connections wait in the kernel's queue and are served later) and 'shed'
// (the reserve-fd trick: pending connections are accepted and closed).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { ServerStats } from '../src/server.js';
import { HOST, tick, until, withTimeout } from './helpers.js';

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
  echoed: boolean;
  closed: boolean;
}

/** Connects and sends one byte; `echoed` turns true when it comes back. */
function client(port: number): Client {
  const socket = connect({ host: HOST, port });
  const state: Client = { socket, echoed: false, closed: false };
  socket.on('data', () => (state.echoed = true));
  socket.on('error', () => {});
  socket.on('close', () => (state.closed = true));
  socket.write('x');
  return state;
}

/** Whether `condition` holds within `ms`, checking every 5 ms. */
async function within(ms: number, condition: () => boolean): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (condition()) return true;
    await tick(5);
  }
  return condition();
}

for (const mode of ['pause', 'shed'] as const) {
  test(`fdExhaustion '${mode}': no spinning at EMFILE, counted, and new clients served once fds free up`, async () => {
    const server = await startServer(mode);
    const clients: Client[] = [];
    try {
      // Connect until one is not served: the server has run out of fds.
      for (let i = 0; i < FD_LIMIT; i++) {
        const c = client(server.port);
        clients.push(c);
        if (!(await within(500, () => c.echoed))) break;
      }
      const served = clients.filter((c) => c.echoed);
      assert.ok(served.length > 10 && served.length < FD_LIMIT, `${served.length} clients served before EMFILE`);
      // More clients keep arriving while the server is out of fds.
      for (let i = 0; i < 10; i++) clients.push(client(server.port));
      await tick(100);

      const before = cpuSeconds(server.process.pid!);
      await tick(1000);
      const used = cpuSeconds(server.process.pid!) - before;
      assert.ok(used < 0.5, `the server used ${used.toFixed(2)} s of CPU in 1 s at EMFILE`);

      const atLimit = JSON.parse(await server.ask('stats')) as ServerStats;
      assert.ok(atLimit.acceptErrors > 0, 'accept failures are counted');
      assert.is(atLimit.active, served.length);
      const unserved = clients.filter((c) => !c.echoed);
      if (mode === 'pause') {
        assert.ok(atLimit.acceptPauses > 0, 'accepting paused');
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
