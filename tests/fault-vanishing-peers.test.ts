// Peers that vanish in the middle of a request: RESP and HTTP clients send
// half a request, then close (FIN) or reset (RST). The server, in a child
// process, drops what they sent, keeps serving everyone else, and holds no
// fd for them afterwards (its /proc/self/fd count returns to where it was).
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { HOST } from './helpers/fds.js';
import { forkServer, type ChildServer } from './helpers/servers.js';
import { connected, tick, until, withTimeout } from './helpers/waiting.js';

const VANISHING = 60;
const SERVED = 30;

interface Case {
  protocol: 'resp' | 'http';
  /** A request cut short. */
  half: string;
  /** A full request and the reply it must get, from its start. */
  request: string;
  reply: RegExp;
}

const CASES: Case[] = [
  {
    protocol: 'resp',
    half: '*3\r\n$3\r\nSET\r\n$4\r\nkey1\r\n$10\r\nvalu',
    request: '*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n',
    reply: /^\+PONG\r\n\+OK\r\n\$1\r\nv\r\n$/,
  },
  {
    protocol: 'http',
    half: 'GET / HTTP/1.1\r\nHost: localhost\r\nUser-Ag',
    request: 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    reply: /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello/,
  },
];

/** Sends `request` and resolves with everything received until the server closes or `reply` matches. */
async function exchange(port: number, request: string, reply: RegExp): Promise<string> {
  const socket = await connected(HOST, port);
  return new Promise<string>((resolve, reject) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (reply.test(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('close', () => resolve(text));
    socket.write(request);
  });
}

async function vanish(port: number, half: string, reset: boolean): Promise<void> {
  const socket: Socket = await connected(HOST, port);
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.write(half, () => resolve()));
  if (reset) socket.resetAndDestroy();
  else socket.destroy();
}

for (const { protocol, half, request, reply } of CASES) {
  test(`${protocol}: peers vanishing mid-request leave no fd behind and the others are served`, async () => {
    const server: ChildServer = await forkServer(protocol);
    try {
      const baseline = (await server.report()).fds;
      const served: Promise<string>[] = [];
      const vanished: Promise<void>[] = [];
      for (let i = 0; i < VANISHING; i++) {
        vanished.push(vanish(server.port, half.slice(0, 1 + (i % half.length)), i % 2 === 0));
        if (i % 2 === 0) served.push(exchange(server.port, request, reply));
      }
      while (served.length < SERVED) served.push(exchange(server.port, request, reply));
      await withTimeout(Promise.all(vanished), 'the vanishing peers');
      const replies = await withTimeout(Promise.all(served), `${SERVED} full exchanges`);
      replies.forEach((text, i) => assert.match(text, reply, `exchange ${i} got ${JSON.stringify(text.slice(0, 80))}`));

      let last = await server.report();
      await until(
        () => last.stats.active === 0 && last.fds === baseline,
        () => `the server to let go (active ${last.stats.active}, fds ${last.fds} vs ${baseline})`,
        async () => {
          await tick(20);
          last = await server.report();
        },
      );
      assert.is(last.stats.accepted, VANISHING + SERVED);
      assert.equal(last.loopErrors, []);
    } finally {
      await server.stop();
    }
  });
}

test.run();
