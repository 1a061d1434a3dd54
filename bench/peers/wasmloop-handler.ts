// wasmloop's handler API as a Node user of node:http would write it: the same
// handler as the node:http peer's (writeHead with headers built once, end with
// a body built once, no Date header), on httpProtocol({ handler }) and a loop
// in run() mode. `GET /` gets "hello", anything else 404. Options: --host,
// --port (as listen.ts's).
import { parseArgs } from 'node:util';

import { EventLoop, Server, httpProtocol } from '../../src/index.js';

const { values } = parseArgs({ options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } } });

const HELLO = Buffer.from('hello');
const HELLO_HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(HELLO.length) };
const NOT_FOUND = Buffer.from('not found\n');
const NOT_FOUND_HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(NOT_FOUND.length) };

const loop = new EventLoop();
const server = new Server(
  loop,
  httpProtocol({
    handler: (request, response) => {
      response.sendDate = false;
      if ((request.url === '/' || request.url.startsWith('/?')) && (request.method === 'GET' || request.method === 'HEAD')) {
        response.writeHead(200, HELLO_HEADERS);
        response.end(HELLO);
      } else {
        response.writeHead(404, NOT_FOUND_HEADERS);
        response.end(NOT_FOUND);
      }
    },
  }),
  { host: values.host, port: Number(values.port), idleTimeoutMs: 60_000 },
);
const port = server.listen();
console.log(`wasmloop handler server listening on ${values.host}:${port}`);
const controller = new AbortController();
const stop = (): void => controller.abort();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await loop.run({ signal: controller.signal });
server.close();
loop.close();
