// The peer: an echo server on node:net as a careful Node user writes one.
// Each chunk Node reads is written back as it is, one socket.write per
// 'data' event (the chunk is Node's own fresh buffer, so nothing is copied);
// a connection whose replies queue up past the high-water mark is not read
// until they drain. The listeners are shared functions, so a connection costs
// no closures. Options: see listen.ts.
import { createServer, type Socket } from 'node:net';

import { listen } from './listen.js';
import { onDrain, onError } from './replies.js';

function echo(this: Socket, chunk: Buffer): void {
  if (!this.write(chunk) && this.writableLength > 0) this.pause();
}

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', onError);
  socket.on('drain', onDrain);
  socket.on('data', echo);
});
listen(server, 'node:net echo server');
