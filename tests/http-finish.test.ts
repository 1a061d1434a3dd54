// A response's 'finish' (then 'close'): after its bytes are with the
// connection. In a pass whose replies are written together at its end
// (src/net/batch-writes.ts), that is after the pass's writes: a listener
// finds its bytes sent. Outside a pass (a handler that ends later) it comes
// on a microtask. A listener that throws is Node's uncaught exception, and
// the other responses still finish.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Server } from '../src/net/server.js';
import { httpProtocol, type HttpHandler } from '../src/protocols/http.js';
import { sockets } from '../src/index.js';
import { closeServed, connectAccepted, HOST, tcpSocket, waitUnread } from './helpers/fds.js';
import { TestLoop } from './test-loop.js';

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');

function httpServer(handler: HttpHandler) {
  const loop = new TestLoop();
  const server = new Server(loop, httpProtocol({ handler }), { host: HOST, port: 0 });
  const port = server.listen();
  return { loop, server, port };
}

/** `count` clients connected and accepted. */
const clients = (loop: TestLoop, server: Server, port: number, count: number): number[] => connectAccepted(loop, port, count, () => server.connections.length);

/** Bytes waiting in the kernel for client `fd` (its receive queue). */
const waiting = (fd: number, port: number): number => tcpSocket(sockets.localPort(fd), port)?.receiveQueue ?? -1;

test("in a pass whose replies are written together, 'finish' comes after they were written: the client has the bytes", () => {
  const seen: number[] = [];
  let fds: number[] = [];
  let port = 0;
  const { loop, server, port: listening } = httpServer((req, res) => {
    const index = Number(req.headers['x-client']);
    res.on('finish', () => seen.push(waiting(fds[index]!, port)));
    res.end('hello');
  });
  port = listening;
  try {
    fds = clients(loop, server, port, 3);
    fds.forEach((fd, i) => sockets.write(fd, Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Client: ${i}\r\n\r\n`)));
    waitUnread(fds, port, 20);
    loop.runOnce(1000);
    assert.is(seen.length, 3, "every response finished in the turn");
    for (const bytes of seen) assert.ok(bytes > 0, `'finish' found the response in the client's socket (${bytes} bytes)`);
  } finally {
    closeServed(fds, server, loop);
  }
});

test("a handler that ends its response later (outside any pass): 'finish' and 'close' still come", async () => {
  const events: string[] = [];
  const { loop, server, port } = httpServer((_req, res) => {
    res.on('finish', () => events.push('finish'));
    res.on('close', () => events.push('close'));
    setTimeout(() => res.end('later'), 5);
  });
  const fds = clients(loop, server, port, 1);
  try {
    sockets.write(fds[0]!, REQUEST);
    for (let i = 0; i < 200 && events.length < 2; i++) {
      loop.runOnce(5);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.equal(events, ['finish', 'close']);
  } finally {
    closeServed(fds, server, loop);
  }
});

test("a 'finish' listener that throws is Node's uncaught exception, and the other responses of the pass still finish", () => {
  const finished: number[] = [];
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };
  const { loop, server, port } = httpServer((req, res) => {
    const index = Number(req.headers['x-client']);
    res.on('finish', () => {
      finished.push(index);
      throw new Error(`listener ${index} threw`);
    });
    res.end('hello');
  });
  const fds = clients(loop, server, port, 3);
  process.on('uncaughtException', onUncaught);
  try {
    fds.forEach((fd, i) => sockets.write(fd, Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Client: ${i}\r\n\r\n`)));
    waitUnread(fds, port, 20);
    loop.runOnce(1000);
    assert.equal(finished.sort(), [0, 1, 2]);
    assert.equal(uncaught.map((error) => (error as Error).message).sort(), ['listener 0 threw', 'listener 1 threw', 'listener 2 threw']);
  } finally {
    process.off('uncaughtException', onUncaught);
    closeServed(fds, server, loop);
  }
});

test.run();
