// The peer: what a Node user would write for an echo server with node:net.
// `--backlog N` sets the listen backlog (default Node's, 511).
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { backlog: { type: 'string', default: '511' } } });

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen({ port: 0, host: '127.0.0.1', backlog: Number(values.backlog) }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  console.log(`node:net echo server listening on 127.0.0.1:${address.port}`);
});
const stop = (): void => {
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
