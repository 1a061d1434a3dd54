// The Fastify peer: the framework the HTTP issue names for a Node user's
// handler-API server, as its own docs say to make it fast: no logger, a
// route with a constant reply, the Content-Type set once. `GET /` gets
// "hello" (5 bytes); anything else Fastify's 404. Keep-alive raised to 60 s
// as the node:http peer's. Options: see listen.ts.
import Fastify from 'fastify';

import { listen } from './listen.js';

const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
const HELLO = 'hello';
app.get('/', (_request, reply) => {
  reply.type('text/plain').send(HELLO);
});
await app.ready();
listen(app.server, 'fastify hello server');
