// The peer: a hello-world HTTP server on node:http as a careful Node user
// writes one: the header objects and bodies are built once at start-up, and
// each request costs writeHead(status, headers) and end(body). `GET /`
// (query ignored; and HEAD, which node:http answers without the body) gets
// "hello", anything else 404. No Date header (wasmloop's server sends none either).
// Keep-alive is node:http's default; its 5 s keep-alive timeout is raised to
// nginx's 60 s so a wrk connection that waits its turn is not closed under it.
// Options: see listen.ts.
import { createServer } from 'node:http';

import { listen } from './listen.js';

const HELLO = Buffer.from('hello');
const HELLO_HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(HELLO.length) };
const NOT_FOUND = Buffer.from('not found\n');
const NOT_FOUND_HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(NOT_FOUND.length) };

const server = createServer({ noDelay: true }, (request, response) => {
  response.sendDate = false;
  if ((request.url === '/' || request.url!.startsWith('/?')) && (request.method === 'GET' || request.method === 'HEAD')) {
    response.writeHead(200, HELLO_HEADERS);
    response.end(HELLO);
  } else {
    response.writeHead(404, NOT_FOUND_HEADERS);
    response.end(NOT_FOUND);
  }
});
server.keepAliveTimeout = 60_000;
listen(server, 'node:http hello server');
