// Server as a node:net user expects it: an EventEmitter with 'listening',
// 'connection', 'close' and 'error', address(), and host names looked up
// with node:dns. The loop runs embedded in Node's (start()), so node:net
// clients and the server share this thread; node:net servers are the peers
// that hold a port.
import { once } from 'node:events';
import { lookup } from 'node:dns/promises';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { echoProtocol } from '../src/protocols/echo.js';
import { Server, type ServerOptions } from '../src/net/server.js';
import type { Connection } from '../src/net/connection.js';
import type { EventLoopOptions } from '../src/index.js';
import { connected, onceConnected, tick, until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

/** A started loop and an echo Server on it (not listening yet); both closed after `body`. */
async function withStartedServer(options: ServerOptions, body: (server: Server, loop: TestLoop) => Promise<void>, loopOptions: EventLoopOptions = {}): Promise<void> {
  const loop = new TestLoop(loopOptions);
  const server = new Server(loop, echoProtocol, options);
  loop.start();
  try {
    await withTimeout(body(server, loop), 'the test body');
  } finally {
    server.close();
    loop.stop();
    loop.close();
  }
}

/** A node:net server holding a port on `host`, so that listening there fails with EADDRINUSE. */
async function holder(host: string): Promise<NetServer> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  return server;
}

function closeNet(server: NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

test("'listening' follows listen() on a numeric host, on a later tick; listen(callback) calls back the same way", async () => {
  await withStartedServer({}, async (server) => {
    const seen: string[] = [];
    server.on('listening', () => seen.push('event'));
    const port = server.listen(() => seen.push('callback'));
    assert.ok(port > 0);
    assert.equal(seen, [], "'listening' came synchronously, inside listen()");
    await once(server, 'listening');
    assert.equal(seen, ['event', 'callback']);
  });
});

test('address() is null before listen(), { address, family, port } while listening, null after close(); port stays', async () => {
  await withStartedServer({ host: '127.0.0.1' }, async (server) => {
    assert.is(server.address(), null);
    const port = server.listen();
    assert.equal(server.address(), { address: '127.0.0.1', family: 'IPv4', port });
    server.close();
    assert.is(server.address(), null);
    assert.is(server.port, port);
  });
});

test('address() of an IPv6 listener is the canonical address, family IPv6', async () => {
  await withStartedServer({ host: '0:0::1' }, async (server) => {
    const port = server.listen();
    assert.equal(server.address(), { address: '::1', family: 'IPv6', port });
    const client = await connected('::1', port);
    client.destroy();
  });
});

test("'connection' comes once per accepted client, with its Connection", async () => {
  await withStartedServer({}, async (server) => {
    const accepted: Connection[] = [];
    server.on('connection', (connection) => accepted.push(connection));
    const port = server.listen();
    const clients: Socket[] = [];
    for (let i = 0; i < 3; i++) clients.push(await connected('127.0.0.1', port));
    await until(() => accepted.length >= 3, "three 'connection' events");
    await tick(20);
    assert.is(accepted.length, 3);
    assert.is(new Set(accepted.map((c) => c.fd)).size, 3);
    assert.equal(
      accepted.map((c) => c.isClosed),
      [false, false, false],
    );
    for (const client of clients) client.destroy();
  });
});

test("'close' comes after close() once the connections are closed, and close(callback) is its listener", async () => {
  await withStartedServer({}, async (server) => {
    const port = server.listen();
    const client = await connected('127.0.0.1', port);
    await until(() => server.stats.active === 1, 'the connection');
    let closes = 0;
    server.on('close', () => closes++);
    let calledBack = false;
    server.close(() => (calledBack = true));
    assert.is(server.stats.active, 0);
    assert.is(closes, 0, "'close' came synchronously");
    await until(() => closes === 1 && calledBack, "'close'");
    server.close();
    await tick(10);
    assert.is(closes, 1, "'close' came twice for one listen()");
    client.destroy();
  });
});

test("'close' after shutdown() waits for the last connection to end", async () => {
  await withStartedServer({}, async (server) => {
    const port = server.listen();
    // A client that does not end its side when the server ends: the server's connection lingers for it.
    const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await onceConnected(client);
    await until(() => server.stats.active === 1, 'the connection');
    let closed = false;
    server.on('close', () => (closed = true));
    const done = server.shutdown(5000);
    await once(client, 'end');
    await tick(20);
    assert.is(closed, false, "'close' came while a connection was still open");
    assert.is(server.stats.active, 1);
    client.end();
    await done;
    await until(() => closed, "'close' after shutdown");
  });
});

test("host 'localhost' is looked up: listen() returns 0, then 'listening', and clients reach the address()", async () => {
  const expected = (await lookup('localhost')).address;
  await withStartedServer({ host: 'localhost' }, async (server) => {
    const listening = once(server, 'listening');
    assert.is(server.listen(), 0);
    assert.is(server.address(), null);
    await listening;
    const address = server.address() as AddressInfo;
    assert.is(address.address, expected);
    assert.ok(address.port > 0);
    assert.is(server.port, address.port);
    assert.is(server.host, 'localhost');
    const client = await connected(address.address, address.port);
    client.end('ping');
    const [reply] = (await once(client, 'data')) as [Buffer];
    assert.is(reply.toString(), 'ping');
  });
});

test("a name that does not resolve: 'error' with the resolver's ENOTFOUND, and no 'listening'", async () => {
  await withStartedServer({ host: 'no-such-host.invalid' }, async (server) => {
    let listened = false;
    server.on('listening', () => (listened = true));
    assert.is(server.listen(), 0);
    const [error] = (await once(server, 'error')) as [NodeJS.ErrnoException];
    assert.is(error.code, 'ENOTFOUND');
    assert.is(error.syscall, 'getaddrinfo');
    await tick(10);
    assert.is(listened, false);
    assert.is(server.address(), null);
  });
});

test("a named host whose port is taken: 'error' with EADDRINUSE (address and port on it)", async () => {
  const address = (await lookup('localhost')).address;
  const taken = await holder(address);
  const port = (taken.address() as AddressInfo).port;
  try {
    await withStartedServer({ host: 'localhost', port }, async (server) => {
      server.listen();
      const [error] = (await once(server, 'error')) as [NodeJS.ErrnoException & { address: string; port: number }];
      assert.is(error.code, 'EADDRINUSE');
      assert.is(error.syscall, 'listen');
      assert.is(error.address, address);
      assert.is(error.port, port);
      assert.is(server.address(), null);
    });
  } finally {
    await closeNet(taken);
  }
});

test("a numeric host whose port is taken: listen() throws EADDRINUSE itself, and no 'error' or 'listening' follows", async () => {
  const taken = await holder('127.0.0.1');
  const port = (taken.address() as AddressInfo).port;
  try {
    await withStartedServer({ host: '127.0.0.1', port }, async (server) => {
      const events: string[] = [];
      server.on('error', () => events.push('error'));
      server.on('listening', () => events.push('listening'));
      let thrown: (NodeJS.ErrnoException & { port?: number }) | undefined;
      try {
        server.listen();
      } catch (error) {
        thrown = error as NodeJS.ErrnoException;
      }
      assert.is(thrown?.code, 'EADDRINUSE');
      assert.is(thrown?.port, port);
      await tick(20);
      assert.equal(events, []);
    });
  } finally {
    await closeNet(taken);
  }
});

test("a later listen failure with no 'error' listener goes to the loop's 'error' rather than crashing", async () => {
  await withStartedServer(
    { host: 'no-such-host.invalid' },
    async (server, loop) => {
      const reported: { error: NodeJS.ErrnoException; kind: string }[] = [];
      loop.on('error', (error, context) => reported.push({ error: error as NodeJS.ErrnoException, kind: context.kind }));
      server.listen();
      await until(() => reported.length > 0, "the loop's 'error'");
      assert.is(reported[0]!.error.code, 'ENOTFOUND');
      assert.is(reported[0]!.kind, 'accept');
    },
    { fatalErrors: false },
  );
});

test("close() while a name is looked up: no listener opens, no 'listening', and 'close' comes", async () => {
  await withStartedServer({ host: 'localhost' }, async (server) => {
    const events: string[] = [];
    server.on('listening', () => events.push('listening'));
    server.on('close', () => events.push('close'));
    server.listen();
    server.close();
    await lookup('localhost');
    await tick(20);
    assert.equal(events, ['close']);
    assert.is(server.address(), null);
  });
});

test('listen() twice is ERR_SERVER_ALREADY_LISTEN; after close() the server may listen again, not after shutdown()', async () => {
  await withStartedServer({}, async (server) => {
    server.listen();
    assert.throws(() => server.listen(), (error: NodeJS.ErrnoException) => error.code === 'ERR_SERVER_ALREADY_LISTEN');
    server.close();
    const port = server.listen();
    assert.equal(server.address(), { address: '127.0.0.1', family: 'IPv4', port });
    await server.shutdown(0);
    assert.throws(() => server.listen(), (error: NodeJS.ErrnoException) => error.code === 'ERR_SERVER_SHUT_DOWN');
  });
});

test.run();
