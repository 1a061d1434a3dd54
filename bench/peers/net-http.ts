// The peer: a raw HTTP responder on node:net, as a Node user chasing speed
// would write it. Every request (up to its blank line) gets the hello reply;
// pipelined requests are answered in order with one socket.write per data
// event. Request bodies are not supported. `--port N` (default 0).
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });

const HELLO = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 8192;

const server = createServer({ noDelay: true }, (socket) => {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    const input = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    let replies = 0;
    for (let end = input.indexOf(HEADER_END, at); end >= 0; end = input.indexOf(HEADER_END, at)) {
      replies++;
      at = end + HEADER_END.length;
    }
    pending = input.subarray(at);
    if (pending.length > MAX_HEADER_BYTES) {
      socket.destroy();
      return;
    }
    if (pending.length > 0) pending = Buffer.from(pending);
    if (replies === 1) socket.write(HELLO);
    else if (replies > 1) socket.write(Buffer.concat(Array(replies).fill(HELLO)));
  });
});
server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  console.log(`node:net http server listening on ${values.host}:${address.port}`);
});
const stop = (): void => {
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
