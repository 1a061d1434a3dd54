// Past maxConnections the next client is told in its protocol's words (RESP's
// -ERR, HTTP's 503, echo: nothing) and closed, accepting goes on, and once a
// served client leaves the next one is served again.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { ProtocolFactory } from '../src/net/protocol.js';
import { defaultMaxConnections, DEFAULT_MAX_CONNECTIONS, RESERVED_FDS, Server } from '../src/net/server.js';
import { echoProtocol } from '../src/protocols/echo.js';
import { httpProtocol } from '../src/protocols/http.js';
import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';
import { native } from '../src/kernel/native.js';

interface Client {
  socket: Socket;
  text(): string;
  closed: Promise<void>;
}

async function client(port: number): Promise<Client> {
  const socket = await connected(HOST, port);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, text: () => Buffer.concat(chunks).toString('latin1'), closed };
}

const MAX = 2;

const cases: { name: string; protocol: () => ProtocolFactory; request: string; reply: string; refusal: (text: string) => boolean }[] = [
  {
    name: 'RESP',
    protocol: () => respProtocol(),
    request: 'PING\r\n',
    reply: '+PONG\r\n',
    refusal: (text) => text === '-ERR max number of clients reached\r\n',
  },
  {
    name: 'HTTP',
    protocol: () => httpProtocol(),
    request: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    reply: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
    refusal: (text) => /^HTTP\/1\.1 503 Service Unavailable\r\n/.test(text) && /\r\nConnection: close\r\n/i.test(text) && /\r\n\r\n.+$/.test(text),
  },
  { name: 'echo', protocol: () => echoProtocol, request: 'ping', reply: 'ping', refusal: (text) => text === '' },
];

for (const { name, protocol, request, reply, refusal } of cases) {
  test(`${name}: past maxConnections ${MAX} a client is told and closed, accepting goes on, and one is served again after one leaves`, async () => {
    await withServer(protocol(), { maxConnections: MAX }, `${name} max connections`, async (server, port) => {
      const served = [await client(port), await client(port)];
      const refused: Client[] = [];
      try {
        await until(() => server.stats.active === MAX, 'the first clients to be accepted');
        for (const c of served) c.socket.write(request);
        await until(() => served.every((c) => c.text() === reply), 'the first clients to be served');
        // Two past the limit: each is told and closed, so accepting went on after the first.
        for (let i = 0; i < 2; i++) {
          const c = await client(port);
          refused.push(c);
          await withTimeout(c.closed, `refused client ${i} to be closed`);
          assert.ok(refusal(c.text()), `refused client ${i} got ${JSON.stringify(c.text())}`);
        }
        assert.is(server.stats.refused, 2);
        assert.is(server.stats.active, MAX);
        assert.is(server.connections.length, MAX);
        // The served ones are still served.
        served[1]!.socket.write(request);
        await until(() => served[1]!.text() === reply + reply, 'a served client to be served still');
        // One leaves; the next is served.
        served[0]!.socket.end();
        await until(() => server.stats.active === MAX - 1, 'the server to see the client leave');
        const next = await client(port);
        served.push(next);
        next.socket.write(request);
        await until(() => next.text() === reply, () => `a client after one left to be served (got ${JSON.stringify(next.text())})`);
        assert.is(server.stats.refused, 2);
      } finally {
        for (const c of [...served, ...refused]) c.socket.destroy();
      }
    });
  });
}

test('maxConnections defaults to 10,000, lowered to RLIMIT_NOFILE minus the reserve; it is checked', () => {
  const limit = native.fdLimit();
  assert.ok(limit > 0, `fdLimit() ${limit}`);
  assert.is(defaultMaxConnections(), Math.max(1, Math.min(DEFAULT_MAX_CONNECTIONS, limit - RESERVED_FDS)));
  const loop = new TestLoop();
  try {
    assert.is(new Server(loop, echoProtocol).maxConnections, defaultMaxConnections());
    assert.is(new Server(loop, echoProtocol, { maxConnections: 3 }).maxConnections, 3);
    assert.throws(() => new Server(loop, echoProtocol, { maxConnections: 0 }), (e: Error & { code?: string }) => e.code === 'ERR_OUT_OF_RANGE');
    assert.throws(() => new Server(loop, echoProtocol, { maxConnections: '3' as unknown as number }), (e: Error & { code?: string }) => e.code === 'ERR_INVALID_ARG_TYPE');
  } finally {
    loop.close();
  }
});

test.run();
