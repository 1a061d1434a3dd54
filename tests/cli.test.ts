import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { runCli, spawnCli, stopped, waitForOutput, type Child } from './helpers/cli.js';
import { tcpSocket } from './helpers/fds.js';
import { parsePrometheus, prometheusValue } from './helpers/prometheus.js';
import { ioOf } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';

const PACKAGE_JSON = new URL('../../package.json', import.meta.url);
const LISTENING = /listening on (?:\[([^\]]+)\]|([^\s:]+)):(\d+)/;

interface Serving extends Child {
  host: string;
  port: number;
}

/** Starts `wasmloop serve ...` and waits for its listening line. */
async function serve(args: string[]): Promise<Serving> {
  const child = spawnCli(['serve', ...args]);
  const match = await waitForOutput(child, LISTENING);
  return { ...child, host: match[1] ?? match[2]!, port: Number(match[3]) };
}

/**
 * Resolves once the echo server `child` holds output it cannot send to
 * `client`, which has stopped reading: the kernel has filled the client's
 * receive buffer and the server's send buffer (a send queue far past a few
 * packets on loopback: the client's window is closed), and the server has
 * read at least `MiB` MiB more than at `since` and written a quarter MiB
 * less of it (/proc/<pid>/io) to the kernel. Only the client reading again
 * can empty that.
 */
async function holdsOutput(child: Serving, client: Socket, since: { read: number; written: number }, MiB: number): Promise<void> {
  let now = since;
  let kernel = tcpSocket(child.port, client.localPort!);
  const read = (): number => now.read - since.read;
  const unsent = (): number => read() - (now.written - since.written);
  await until(
    () => (kernel?.sendQueue ?? 0) >= 2 ** 18 && read() >= MiB * 2 ** 20 && unsent() >= 2 ** 18,
    () => `the server to hold output (read ${read()}, unsent ${unsent()}, in its send queue ${kernel?.sendQueue} bytes)`,
    async () => {
      await tick(5);
      if (child.process.exitCode !== null || child.process.signalCode !== null) {
        throw new Error(`the server exited (${child.process.exitCode ?? child.process.signalCode}) while its queue filled; stderr: ${child.stderr()}`);
      }
      now = ioOf(child.process.pid!);
      kernel = tcpSocket(child.port, client.localPort!);
    },
  );
}

/** Sends `payload`, half-closes, and returns everything received until close. */
async function echo(host: string, port: number, payload: Buffer): Promise<Buffer> {
  const socket = await connected(host, port);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.end(payload);
  });
}

async function assertEchoes(host: string, port: number): Promise<void> {
  const payload = randomBytes(256 * 1024);
  const received = await echo(host, port, payload);
  assert.is(received.length, payload.length);
  assert.ok(received.equals(payload), 'echoed bytes differ from the bytes sent');
}

test('serve --port 0 echoes byte-exact', async () => {
  const child = await serve(['--port', '0']);
  try {
    assert.is(child.host, '127.0.0.1');
    assert.ok(child.port > 0 && child.port <= 65535, `port ${child.port}`);
    await assertEchoes(child.host, child.port);
  } finally {
    await stopped(child);
  }
});

// The default serves from a worker (its young generation fixed); 'grow' from the main thread: the same words either way.
for (const [signal, mode] of [['SIGTERM', 'fixed'], ['SIGINT', 'fixed'], ['SIGTERM', 'grow']] as const) {
  test(`${signal} stops the server (--young-generation ${mode}): exit code 0 and a 'stopped' line`, async () => {
    const child = await serve(['--port', '0', '--young-generation', mode]);
    try {
      await assertEchoes(child.host, child.port);
      child.process.kill(signal);
      const exit = await child.exited;
      assert.is(exit.code, 0, `stderr: ${exit.stderr}`);
      assert.is(exit.signal, null);
      assert.match(exit.stdout, new RegExp(`${signal}: closing 0 connections`));
      assert.match(exit.stdout, /stopped after serving 1 connections/);
      assert.is(exit.stderr, '');
    } finally {
      await stopped(child);
    }
  });
}

test('SIGTERM with clients still connected: exits 0 and every client sees its connection end', async () => {
  const child = await serve(['--port', '0']);
  const clients: Socket[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const socket = await connected(child.host, child.port);
      clients.push(socket);
      // A round trip proves the server has accepted this connection.
      const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      socket.write(`ping ${i}`);
      assert.is((await reply).toString(), `ping ${i}`);
    }
    const ended = clients.map(
      (socket) =>
        new Promise<{ sawEnd: boolean; error: Error | undefined }>((resolve) => {
          let sawEnd = false;
          let error: Error | undefined;
          socket.on('end', () => (sawEnd = true));
          socket.on('error', (e) => (error = e));
          socket.on('close', () => resolve({ sawEnd, error }));
        }),
    );
    child.process.kill('SIGTERM');
    const exit = await child.exited;
    assert.is(exit.code, 0, `stderr: ${exit.stderr}`);
    assert.match(exit.stdout, /SIGTERM: closing 3 connections/);
    assert.match(exit.stdout, /stopped after serving 3 connections/);
    for (const result of await Promise.all(ended)) {
      assert.is(result.error, undefined, result.error?.message);
      assert.ok(result.sawEnd, 'client saw the server close its connection');
    }
  } finally {
    for (const socket of clients) socket.destroy();
    await stopped(child);
  }
});

test('--trigger edge --max-events 8 serves and says so', async () => {
  const child = await serve(['--port', '0', '--trigger', 'edge', '--max-events', '8']);
  try {
    assert.match(child.stdout(), /edge-triggered, maxEvents 8/);
    await Promise.all([assertEchoes(child.host, child.port), assertEchoes(child.host, child.port)]);
    child.process.kill('SIGTERM');
    assert.is((await child.exited).code, 0);
  } finally {
    await stopped(child);
  }
});

test('--host localhost resolves the name and listens on its address', async () => {
  const child = await serve(['--host', 'localhost', '--port', '0']);
  try {
    const { address } = await lookup('localhost');
    assert.is(child.host, address);
    await assertEchoes(child.host, child.port);
  } finally {
    await stopped(child);
  }
});

test('--protocol resp answers PING; --protocol http answers GET /', async () => {
  const exchanges: [string, string, string][] = [
    ['resp', '*1\r\n$4\r\nPING\r\n', '+PONG\r\n'],
    ['http', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'hello'],
  ];
  for (const [protocol, request, reply] of exchanges) {
    const child = await serve(['--port', '0', '--protocol', protocol]);
    try {
      assert.match(child.stdout(), new RegExp(`wasmloop: ${protocol} server listening on`));
      const socket = await connected(child.host, child.port);
      const received = await new Promise<string>((resolve, reject) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.endsWith(reply)) resolve(text);
        });
        socket.on('error', reject);
        socket.write(request);
      });
      socket.destroy();
      assert.ok(received.endsWith(reply), `${protocol}: ${received}`);
    } finally {
      await stopped(child);
    }
  }
});

/** Sends one request with `Connection: close` and returns the whole reply. */
async function httpGet(host: string, port: number, path: string): Promise<string> {
  const socket = await connected(host, port);
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

function curl(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['--noproxy', '*', '-sf', url], { timeout: 10_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

test('--workers 2: both workers accept connections on one port, serve /metrics, and report on SIGTERM', async () => {
  const child = await serve(['--port', '0', '--protocol', 'http', '--workers', '2']);
  try {
    assert.match(child.stdout(), /http server listening on .*, 2 workers\)/);
    const replies = await Promise.all(Array.from({ length: 40 }, () => httpGet(child.host, child.port, '/')));
    for (const reply of replies) assert.ok(reply.startsWith('HTTP/1.1 200 OK') && reply.endsWith('hello'), reply);
    const { samples } = parsePrometheus(await curl(`http://${child.host}:${child.port}/metrics`));
    const worker = samples.find((s) => s.name === 'wasmloop_server_connections')!.labels['worker'];
    assert.ok(worker === '0' || worker === '1', `a worker label: ${worker}`);
    assert.ok(prometheusValue(samples, 'wasmloop_server_requests_total') >= 1);

    child.process.kill('SIGTERM');
    const exit = await child.exited;
    assert.is(exit.code, 0, `stderr: ${exit.stderr}`);
    assert.is(exit.stderr, '');
    assert.match(exit.stdout, /SIGTERM: stopping 2 workers/);
    const accepted = [0, 1].map((index) => {
      const match = new RegExp(`worker ${index}: accepted (\\d+) connections, (\\d+) requests`).exec(exit.stdout);
      assert.ok(match, `worker ${index} reported: ${exit.stdout}`);
      return Number(match![1]);
    });
    // SO_REUSEPORT hashes each connection's addresses to a listener: with 41
    // connections, the odds that one worker gets none are 2^-40.
    assert.ok(accepted[0]! > 0 && accepted[1]! > 0, `accepted per worker: ${accepted.join(', ')}`);
    assert.is(accepted[0]! + accepted[1]!, 41);
    assert.match(exit.stdout, /stopped after serving 41 connections\n$/);
  } finally {
    await stopped(child);
  }
});

test('not on a terminal: no status line, only the listening and stopping lines', async () => {
  const child = await serve(['--port', '0', '--protocol', 'resp']);
  try {
    // Longer than the status interval (2 s), with traffic, so a status line would have been drawn.
    const socket = await connected(child.host, child.port);
    socket.write('*1\r\n$4\r\nPING\r\n');
    await tick(2300);
    socket.destroy();
    child.process.kill('SIGINT');
    const exit = await child.exited;
    assert.is(exit.code, 0);
    const lines = exit.stdout.split('\n');
    assert.is(lines.length, 4, exit.stdout);
    assert.match(lines[0]!, /^wasmloop: resp server listening on /);
    assert.match(lines[1]!, /^wasmloop: SIGINT: closing 0 connections$/);
    assert.match(lines[2]!, /^wasmloop: stopped after serving 1 connections$/);
    assert.is(lines[3], '');
    assert.not.match(exit.stdout, /\r|req\/s/);
  } finally {
    await stopped(child);
  }
});

test('SIGTERM lets queued output drain to a slow reader before exiting 0', async () => {
  const child = await serve(['--port', '0']);
  try {
    const io = ioOf(child.process.pid!);
    const socket = await connected(child.host, child.port);
    socket.pause();
    const payload = randomBytes(8 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let sawEnd = false;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (sawEnd = true));
    const closed = new Promise<Error | undefined>((resolve) => {
      let error: Error | undefined;
      socket.on('error', (e) => (error = e));
      socket.on('close', () => resolve(error));
    });
    socket.write(payload);
    await holdsOutput(child, socket, io, 2);
    child.process.kill('SIGTERM');
    await until(() => /SIGTERM: closing 1 connections/.test(child.stdout()), 'the shutdown to start');
    await tick(100);
    assert.is(child.process.exitCode, null, 'still draining while the client does not read');
    socket.resume();
    const exit = await child.exited;
    assert.is(exit.code, 0, `stderr: ${exit.stderr}`);
    assert.match(exit.stdout, /stopped after serving 1 connections\n$/);
    assert.is(await closed, undefined);
    assert.ok(sawEnd, 'a clean end after the drain');
    const echoed = Buffer.concat(chunks);
    assert.ok(echoed.length >= 2 * 1024 * 1024, `only ${echoed.length} bytes drained`);
    assert.ok(echoed.equals(payload.subarray(0, echoed.length)), 'the drained bytes are the start of the echo');
  } finally {
    await stopped(child);
  }
});

test('--shutdown-ms 200: a client that never reads is closed at the deadline, and the exit is still 0', async () => {
  const child = await serve(['--port', '0', '--shutdown-ms', '200']);
  try {
    const io = ioOf(child.process.pid!);
    const socket = await connected(child.host, child.port);
    socket.pause();
    socket.on('error', () => {});
    socket.write(randomBytes(8 * 1024 * 1024));
    await holdsOutput(child, socket, io, 2);
    const started = performance.now();
    child.process.kill('SIGTERM');
    const exit = await child.exited;
    assert.ok(performance.now() - started >= 200, 'waited for the deadline');
    assert.is(exit.code, 0, `stderr: ${exit.stderr}`);
    assert.match(exit.stdout, /stopped after serving 1 connections \(1 closed at the deadline\)/);
    socket.destroy();
  } finally {
    await stopped(child);
  }
});

test('--idle-timeout-ms 100 closes a silent connection, never before it was silent 100 ms', async () => {
  const child = await serve(['--port', '0', '--idle-timeout-ms', '100']);
  try {
    // Taken before connecting: the server cannot have accepted any earlier.
    const started = performance.now();
    const socket = await connected(child.host, child.port);
    const closedAt = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())));
    socket.on('error', () => {});
    const silentMs = (await closedAt) - started;
    assert.ok(silentMs >= 100, `closed after ${silentMs.toFixed(1)} ms`);
    child.process.kill('SIGTERM');
    const exit = await child.exited;
    assert.match(exit.stdout, /SIGTERM: closing 0 connections/);
    assert.is(exit.code, 0);
  } finally {
    await stopped(child);
  }
});

test('--log-level info logs the shutdown steps to stderr; the default (warn) does not', async () => {
  for (const [args, expected] of [[['--log-level', 'info'], true], [[], false]] as const) {
    const child = await serve(['--port', '0', ...args]);
    try {
      child.process.kill('SIGTERM');
      const exit = await child.exited;
      assert.is(exit.code, 0);
      const logged = /wasmloop: info: shutdown: accepting stopped/.test(exit.stderr);
      assert.is(logged, expected, `stderr: ${exit.stderr}`);
    } finally {
      await stopped(child);
    }
  }
});

const badUsage: [string[], RegExp][] = [
  [['serve', '--log-level', 'loud'], /--log-level must be one of debug, info, warn, error, silent, got 'loud'/],
  [['serve', '--workers', '0'], /--workers must be at least 1, got 0/],
  [['serve', '--idle-timeout-ms', '-5'], /idle-timeout-ms/],
  [['serve', '--fd-exhaustion', 'drop'], /--fd-exhaustion must be one of pause, shed, got 'drop'/],
  [['serve', '--port', 'abc'], /--port must be a whole number, got 'abc'/],
  [['serve', '--protocol', 'gopher'], /--protocol must be one of echo, resp, http, got 'gopher'/],
  [['serve', '--young-generation', 'big'], /--young-generation must be one of fixed, grow, got 'big'/],
  [['frobnicate'], /unknown command 'frobnicate'/],
  [['serve', '--bogus'], /--bogus/],
];
for (const [args, message] of badUsage) {
  test(`bad usage \`${args.join(' ')}\` exits 2 with a message on stderr`, async () => {
    const exit = await runCli(args);
    assert.is(exit.code, 2, `stdout: ${exit.stdout}\nstderr: ${exit.stderr}`);
    assert.match(exit.stderr, message);
    assert.match(exit.stderr, /--help/, 'points at --help');
    assert.not.match(exit.stdout, /listening/);
  });
}

test('--help exits 0 and prints the usage', async () => {
  const exit = await runCli(['--help']);
  assert.is(exit.code, 0);
  assert.match(exit.stdout, /^Usage: wasmloop serve/);
  assert.match(exit.stdout, /--port N/);
  assert.is(exit.stderr, '');
});

test('--version prints the package.json version', async () => {
  const { version } = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  const exit = await runCli(['--version']);
  assert.is(exit.code, 0);
  assert.is(exit.stdout, `${version}\n`);
});

test('a port already in use exits 1 with EADDRINUSE on stderr', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve, reject) => {
    blocker.once('error', reject);
    blocker.listen(0, '127.0.0.1', resolve);
  });
  try {
    const { port } = blocker.address() as AddressInfo;
    const exit = await runCli(['serve', '--port', String(port)]);
    assert.is(exit.code, 1, `stdout: ${exit.stdout}\nstderr: ${exit.stderr}`);
    assert.match(exit.stderr, /EADDRINUSE/);
    assert.not.match(exit.stdout, /listening/);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test.run();
