// A Server on a Unix domain socket (`{ path }`), with node:net clients and
// redis-cli as peers, and the socket file handled as node:net handles it:
// created by listen, EADDRINUSE while the path exists, removed on close()
// and once shutdown() stops listening. Each test works in its own mkdtemp
// directory, removed afterwards.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoProtocol } from '../src/protocols/echo.js';
import { respProtocol } from '../src/protocols/resp.js';
import { native } from '../src/kernel/native.js';
import { Server } from '../src/net/server.js';
import { sockets, UNIX_PATH_MAX } from '../src/net/sockets.js';
import { openFds } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { onceConnected, until, withTimeout } from './helpers/waiting.js';
import { testWithTools } from './required-tools.js';
import { TestLoop } from './test-loop.js';

const { ENAMETOOLONG } = osConstants.errno;

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-unix-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const isSocketFile = (path: string): boolean => existsSync(path) && lstatSync(path).isSocket();

/** A node:net client on the Unix socket `path`. */
async function unixClient(path: string): Promise<Socket> {
  const socket = connect({ path });
  await onceConnected(socket);
  return socket;
}

/** Sends `payload`, half-closes, and returns everything received until close. */
async function echoOver(path: string, payload: Buffer): Promise<Buffer> {
  const socket = await unixClient(path);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.end(payload);
  await withTimeout(once(socket, 'close'), 'the echo to finish');
  return Buffer.concat(chunks);
}

test('a Server on a path echoes a node:net client; the socket file exists while it listens and address() is the path', async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, 'echo.sock');
    // reusePort is TCP's, and harmless here: the accepted sockets also get (and ignore) TCP_NODELAY.
    await withServer(echoProtocol, { path, reusePort: true }, 'unix echo', async (server, port) => {
      assert.is(port, 0);
      assert.is(server.port, 0);
      assert.is(server.address(), path);
      assert.is(server.host, '');
      assert.ok(isSocketFile(path), 'no socket file while listening');
      const payload = Buffer.alloc(256 * 1024, 'unix!');
      const echoed = await echoOver(path, payload);
      assert.ok(echoed.equals(payload), `echoed ${echoed.length} of ${payload.length} bytes`);
      assert.is(server.stats.accepted, 1);
    });
    assert.not.ok(existsSync(path), 'the socket file outlived the server');
  });
});

test('close() removes the socket file at once, with clients still connected', async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, 'close.sock');
    await withServer(echoProtocol, { path }, 'unix close', async (server) => {
      const client = await unixClient(path);
      await until(() => server.stats.active === 1, 'the connection');
      server.close();
      assert.not.ok(existsSync(path), 'close() left the socket file');
      assert.is(server.address(), null);
      await withTimeout(once(client, 'close'), 'the client to be closed');
    });
  });
});

test('shutdown() removes the socket file; it is gone when shutdown() resolves', async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, 'shutdown.sock');
    await withServer(echoProtocol, { path }, 'unix shutdown', async (server) => {
      const client = await unixClient(path);
      await until(() => server.stats.active === 1, 'the connection');
      const done = server.shutdown(2000);
      await withTimeout(once(client, 'end'), 'the server to end the connection');
      client.end();
      await withTimeout(done, 'shutdown to resolve');
      assert.not.ok(existsSync(path), 'the socket file outlived shutdown()');
    });
  });
});

test('an existing path is EADDRINUSE and is left alone: a plain file, a stale socket, a live node:net listener', async () => {
  await inTempDir(async (dir) => {
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'keep me');
    const live = join(dir, 'live.sock');
    const holder = createServer().listen(live);
    await once(holder, 'listening');
    // A stale socket file: a listener closed without removing its file (sockets.close does not remove it).
    const stale = join(dir, 'stale.sock');
    sockets.close(sockets.listenUnix(stale));
    assert.ok(isSocketFile(stale));
    const loop = new TestLoop();
    const fds = openFds();
    try {
      for (const path of [plain, stale, live]) {
        const server = new Server(loop, echoProtocol, { path });
        let thrown: (NodeJS.ErrnoException & { address?: string }) | undefined;
        try {
          server.listen();
        } catch (error) {
          thrown = error as NodeJS.ErrnoException;
        }
        assert.is(thrown?.code, 'EADDRINUSE', path);
        assert.is(thrown?.syscall, 'listen');
        assert.is(thrown?.address, path);
        assert.is(server.address(), null);
        server.close();
        assert.ok(existsSync(path), `a failed listen, then close(), removed ${path}`);
      }
      assert.is(readFileSync(plain, 'utf8'), 'keep me');
      assert.is(openFds(), fds, 'a failed listen leaked an fd');
      const client = await unixClient(live);
      client.destroy();
    } finally {
      loop.close();
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});

test(`a path longer than ${UNIX_PATH_MAX} bytes is refused up front with ERR_INVALID_ARG_VALUE; the shim answers ENAMETOOLONG`, async () => {
  await inTempDir(async (dir) => {
    const longest = join(dir, 'a'.repeat(UNIX_PATH_MAX - dir.length - 1));
    assert.is(Buffer.byteLength(longest), UNIX_PATH_MAX);
    const tooLong = `${longest}b`;
    const loop = new TestLoop();
    try {
      assert.throws(
        () => new Server(loop, echoProtocol, { path: tooLong }),
        (error: NodeJS.ErrnoException) => error instanceof RangeError && error.code === 'ERR_INVALID_ARG_VALUE' && /at most 107 bytes/.test(error.message),
      );
      assert.throws(() => sockets.listenUnix(tooLong), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_VALUE');
      // Bytes, not characters: 54 two-byte characters are 108 bytes.
      assert.throws(() => sockets.listenUnix(`/${'é'.repeat(54)}`), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_VALUE');
      assert.throws(() => sockets.listenUnix(''), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_VALUE');
      assert.throws(() => sockets.listenUnix(`${dir}/a\0b`), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_VALUE');
      assert.is(native.listenUnix(tooLong, 16), -ENAMETOOLONG);
      assert.is(native.listenUnix(`${dir}/${'c'.repeat(400)}`, 16), -ENAMETOOLONG);
      assert.not.ok(existsSync(tooLong));
      // The longest path that fits is served.
      const server = new Server(loop, echoProtocol, { path: longest });
      server.listen();
      assert.ok(isSocketFile(longest));
      server.close();
      assert.not.ok(existsSync(longest));
    } finally {
      loop.close();
    }
  });
});

test('path excludes host and port', () => {
  const loop = new TestLoop();
  try {
    for (const options of [{ path: '/tmp/x.sock', port: 7000 }, { path: '/tmp/x.sock', host: '127.0.0.1' }]) {
      assert.throws(() => new Server(loop, echoProtocol, options), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_VALUE' && /excludes/.test(error.message));
    }
  } finally {
    loop.close();
  }
});

testWithTools(['redis-cli'], 'RESP over a Unix socket: redis-cli -s runs SET, GET and INCR', async () => {
  await inTempDir(async (dir) => {
    const path = join(dir, 'resp.sock');
    await withServer(respProtocol(), { path }, 'redis-cli -s', async () => {
      const cli = (...args: string[]): Promise<string> =>
        new Promise((resolve, reject) => {
          execFile('redis-cli', ['-s', path, ...args], { timeout: 10_000 }, (error, stdout, stderr) => {
            if (error) reject(new Error(`redis-cli ${args.join(' ')}: ${error.message}\n${stderr}`));
            else resolve(stdout.trim());
          });
        });
      assert.is(await cli('SET', 'greeting', 'over a unix socket'), 'OK');
      assert.is(await cli('GET', 'greeting'), 'over a unix socket');
      assert.is(await cli('INCR', 'n'), '1');
      assert.is(await cli('INCR', 'n'), '2');
    });
  });
});

test.run();
