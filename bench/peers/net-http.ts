// The peer: a raw HTTP/1.1 responder on node:net, as a careful Node user
// chasing speed writes one. A request is everything up to its blank line;
// `GET /` (query ignored) gets "hello", any other request 404, both as
// keep-alive HTTP/1.1 replies encoded once at start-up, byte for byte what
// wasmloop's HTTP server sends for them. Pipelined requests are answered in
// order, all the replies of one read in one socket.write: a read holding one
// request writes the constant itself, more are gathered in the shared reply
// buffer (replies.ts).
//
// Not an HTTP server beyond what the benchmarks ask: request bodies,
// `Connection: close`, HTTP/1.0 and HEAD are not handled (wasmloop's server
// handles them all), and a header section over 8 KiB gets 431 and the end
// of the connection. Options: see listen.ts.
import { createServer, type Socket } from 'node:net';

import { listen } from './listen.js';
import { Replies, onDrain, onError } from './replies.js';

const HELLO = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
const NOT_FOUND = Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n');
const HEADERS_TOO_LARGE = Buffer.from(
  'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\n' +
    'request header fields too large\n',
);
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_HEADER_BYTES = 8 * 1024;
const SPACE = 32;
const SLASH = 47;
const QUESTION_MARK = 63;

const replies = new Replies();

/** Whether the request at `at` is `GET /` or `GET /?...`. */
function isHello(input: Buffer, at: number): boolean {
  return (
    input[at] === 71 && // G
    input[at + 1] === 69 && // E
    input[at + 2] === 84 && // T
    input[at + 3] === SPACE &&
    input[at + 4] === SLASH &&
    (input[at + 5] === SPACE || input[at + 5] === QUESTION_MARK)
  );
}

const server = createServer({ noDelay: true }, (socket: Socket) => {
  /** The start of a request cut by the end of the last read: a view of that read, kept until the next. */
  let pending: Buffer | null = null;
  socket.on('error', onError);
  socket.on('drain', onDrain);
  socket.on('data', (chunk: Buffer) => {
    const input = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    // The only reply so far, written as it is if no other follows.
    let single: Buffer | null = null;
    for (let end = input.indexOf(HEADER_END, at); end >= 0; end = input.indexOf(HEADER_END, at)) {
      const reply = isHello(input, at) ? HELLO : NOT_FOUND;
      if (single === null && replies.length === 0) single = reply;
      else {
        if (single !== null) replies.put(single);
        single = null;
        replies.put(reply);
      }
      at = end + HEADER_END.length;
    }
    if (single !== null) {
      if (!socket.write(single) && socket.writableLength > 0) socket.pause();
    } else replies.flushTo(socket);
    pending = at === input.length ? null : input.subarray(at);
    if (pending !== null && pending.length > MAX_HEADER_BYTES) {
      socket.end(HEADERS_TOO_LARGE);
      socket.removeAllListeners('data');
    }
  });
});
listen(server, 'node:net http server');
