// The peer: what a Node user would write for an echo server with node:net.
// `--port N` (default 0), `--backlog N` (default Node's, 511).
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    backlog: { type: 'string', default: '511' },
  },
});

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen({ port: Number(values.port), host: values.host, backlog: Number(values.backlog) }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  console.log(`node:net echo server listening on ${values.host}:${address.port}`);
});
const stop = (): void => {
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
