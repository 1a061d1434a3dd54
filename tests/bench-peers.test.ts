// The benchmark's Node peers (bench/peers/) answer what the benchmarks send
// as wasmloop's servers do, byte for byte: a peer that answered less, or
// differently, would make every ratio against it a comparison of different
// work. Each peer runs in its own process, as in the suite, beside
// wasmloop's CLI server for the same protocol; the same bytes go to both.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { Replies } from '../bench/peers/replies.js';
import { HOST } from './helpers/fds.js';
import { echoRoundTrip, patterned } from './helpers/servers.js';
import { connected, withTimeout } from './helpers/waiting.js';

const built = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url));

interface Running {
  port: number;
  child: ChildProcess;
}

/** Starts a server process and resolves with the port it announces ("listening on 127.0.0.1:PORT"). */
function start(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  return withTimeout(
    new Promise<Running>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (match) resolve({ port: Number(match[1]), child });
      });
      child.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code} before listening`)));
    }),
    `${args[0]} to listen`,
  );
}

const peer = (script: string): Promise<Running> => start([built(`bench/peers/${script}`)]);
const wasmloop = (protocol: string): Promise<Running> => start([built('src/serve/cli.js'), 'serve', '--protocol', protocol, '--host', HOST, '--port', '0']);

const servers: Record<string, Running> = {};

test.before(async () => {
  const started = await Promise.all([
    peer('net-resp.js'),
    peer('net-http.js'),
    peer('node-http.js'),
    peer('net-echo.js'),
    wasmloop('resp'),
    wasmloop('http'),
  ]);
  for (const [i, name] of ['resp', 'http', 'node-http', 'echo', 'wasmloop-resp', 'wasmloop-http'].entries()) servers[name] = started[i]!;
});

test.after(() => {
  for (const { child } of Object.values(servers)) child.kill('SIGKILL');
});

/** Requests to send in one write, and what must have come back before the next write goes. */
interface Piece {
  bytes: Buffer;
  /** The received bytes so far satisfy this before the next piece is written. */
  then?: (received: Buffer) => boolean;
}

/**
 * Sends `pieces` on a fresh connection, one write each, and resolves with
 * all it read once `done(received)` holds or the server closed the
 * connection. A piece whose `then` says the server answered what precedes
 * its cut end makes the cut land between two reads: the server read that
 * piece, up to its last byte, before the next was sent.
 */
async function exchange(port: number, pieces: (Buffer | Piece)[], done: (received: Buffer) => boolean): Promise<{ bytes: Buffer; closed: boolean }> {
  const socket = await connected(HOST, port);
  socket.setNoDelay(true);
  let received = Buffer.alloc(0);
  let closed = false;
  let waiting: { until: (received: Buffer) => boolean; resolve: () => void } | null = null;
  const finished = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (waiting?.until(received)) waiting.resolve();
      if (done(received)) resolve();
    });
    socket.on('end', () => {
      closed = true;
      waiting?.resolve();
      resolve();
    });
    socket.on('error', reject);
  });
  for (const piece of pieces) {
    const { bytes, then } = Buffer.isBuffer(piece) ? { bytes: piece, then: undefined } : piece;
    socket.write(bytes);
    if (then && !then(received)) await withTimeout(new Promise<void>((resolve) => (waiting = { until: then, resolve })), `the reply before a cut on port ${port}`);
    waiting = null;
  }
  await withTimeout(finished, `replies on port ${port}`);
  socket.destroy();
  return { bytes: received, closed };
}

/** The same request bytes to the peer and to wasmloop's server. */
async function both(peerName: string, chunks: (Buffer | Piece)[], done: (received: Buffer) => boolean) {
  const fromPeer = await exchange(servers[peerName]!.port, chunks, done);
  const fromWasmloop = await exchange(servers[`wasmloop-${peerName}`]!.port, chunks, done);
  return { peer: fromPeer, wasmloop: fromWasmloop };
}

// ---- RESP ------------------------------------------------------------------------

/** A multibulk request. */
const cmd = (...args: (string | Buffer)[]): Buffer =>
  Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${Buffer.byteLength(a)}\r\n`), Buffer.from(a), Buffer.from('\r\n')])]);

const DONE = cmd('ECHO', '__done__');
const endsWithDone = (received: Buffer): boolean => received.toString('latin1').endsWith('$8\r\n__done__\r\n');

/** Every byte value, CR and LF among them: a stored value must come back as it went in. */
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const REQUESTS = [
  cmd('PING'),
  cmd('PING', 'hello'),
  cmd('ECHO', 'a b'),
  cmd('ECHO', ''),
  cmd('SET', 'k', 'v1'),
  cmd('GET', 'k'),
  cmd('SET', 'k', 'v2'), // as long as the value it replaces: overwritten in place
  cmd('GET', 'k'),
  cmd('SET', 'k', 'a longer value'),
  cmd('GET', 'k'),
  cmd('SET', 'k', 'short'), // shorter than the value it replaces
  cmd('GET', 'k'),
  cmd('SET', 'bin', BINARY),
  cmd('GET', 'bin'),
  cmd('GET', 'missing'),
  cmd('SET', 'n', '41'),
  cmd('INCR', 'n'),
  cmd('incr', 'n'),
  cmd('INCR', 'k'),
  cmd('SET', 'max', '9223372036854775807'),
  cmd('INCR', 'max'),
  cmd('INCR', 'fresh'),
  cmd('EXISTS', 'k', 'n', 'nope'),
  cmd('DEL', 'k', 'nope'),
  cmd('GET', 'k'),
  cmd('CONFIG', 'GET', 'save', 'appendonly', 'save', 'nope'),
  cmd('CONFIG', 'SET', 'save', ''),
  cmd('CONFIG', 'GET'),
  cmd('COMMAND'),
  cmd('COMMAND', 'DOCS'),
  cmd('COMMAND', 'INFO'),
  cmd('GET'),
  cmd('SET', 'k'),
  cmd('SET', 'k', 'v', 'junk'),
  cmd('PING', 'a', 'b'),
  cmd('gEt', 'n'),
  cmd('FOO', 'bar', 'baz'),
  Buffer.from('*0\r\n'),
  Buffer.from('PING\r\n'),
  Buffer.from('SET inline  x\r\nGET inline\r\n'),
  Buffer.from('\r\n'),
  DONE,
];
const SCRIPT = Buffer.concat(REQUESTS);

test('the RESP peer answers a pipelined script of every command as wasmloop does, byte for byte', async () => {
  const { peer: p, wasmloop: w } = await both('resp', [SCRIPT], endsWithDone);
  assert.ok(endsWithDone(w.bytes), 'wasmloop answered the whole script');
  assert.is(p.bytes.toString('latin1'), w.bytes.toString('latin1'));
  const text = p.bytes.toString('latin1');
  // Spot checks, in case both went wrong alike.
  assert.ok(text.startsWith('+PONG\r\n$5\r\nhello\r\n$3\r\na b\r\n$0\r\n\r\n+OK\r\n$2\r\nv1\r\n+OK\r\n$2\r\nv2\r\n'), text.slice(0, 80));
  assert.ok(p.bytes.includes(Buffer.concat([Buffer.from('$256\r\n'), BINARY, Buffer.from('\r\n')])), 'the binary value comes back whole');
  assert.ok(text.includes(':42\r\n:43\r\n-ERR value is not an integer or out of range\r\n'));
});

test('the RESP peer answers the same script with requests cut between reads as wasmloop does', async () => {
  // Every third request is cut in two, inside its last argument; an ECHO
  // before each cut says when the server has read the first half.
  const pieces: Piece[] = [];
  let pending: Buffer = Buffer.alloc(0);
  REQUESTS.forEach((request, i) => {
    if (i % 3 !== 2 || i === REQUESTS.length - 1) {
      pending = Buffer.concat([pending, request]);
      return;
    }
    const marker = `cut${i}`;
    const half = Math.max(1, request.length - 4);
    pieces.push({
      bytes: Buffer.concat([pending, cmd('ECHO', marker), request.subarray(0, half)]),
      then: (received) => received.toString('latin1').includes(`$${marker.length}\r\n${marker}\r\n`),
    });
    pending = request.subarray(half);
  });
  pieces.push({ bytes: pending });
  // The store is shared across connections: start from the same keys in both.
  await both('resp', [cmd('DEL', 'k', 'n', 'bin', 'max', 'fresh', 'inline'), DONE], endsWithDone);
  const { peer: p, wasmloop: w } = await both('resp', pieces, endsWithDone);
  assert.ok(endsWithDone(w.bytes));
  assert.is(p.bytes.toString('latin1'), w.bytes.toString('latin1'));
});

test('the RESP peer answers a protocol error as wasmloop does, after the replies before it, and closes', async () => {
  const { peer: p, wasmloop: w } = await both('resp', [Buffer.concat([cmd('PING'), Buffer.from('*1\r\n+x\r\n'), cmd('PING')])], () => false);
  assert.ok(p.closed && w.closed, 'both closed the connection');
  assert.is(p.bytes.toString('latin1'), "+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n");
  assert.is(p.bytes.toString('latin1'), w.bytes.toString('latin1'));
});

test('RESP replies stay whole when the client reads them late, after the kernel stopped taking them', async () => {
  // 6 MB of replies: about 4 MB fill the kernel's buffers on loopback while
  // the client reads nothing, the rest queue in the socket (which then stops
  // reading requests until they drain). Once the client reads, every reply
  // must come back whole and in order. (Which buffer a queued write keeps is
  // the reply-buffer tests' concern below: here reads of many requests make
  // writes of megabytes.)
  const values = Array.from({ length: 8 }, (_, i) => patterned(1024, i + 1));
  await exchange(servers.resp!.port, [Buffer.concat([...values.map((v, i) => cmd('SET', `v${i}`, v)), DONE])], endsWithDone);
  const gets = 6000;
  const requests = values.map((_, i) => cmd('GET', `v${i}`));
  const want = Buffer.concat(Array.from({ length: gets }, (_, n) => [Buffer.from('$1024\r\n'), values[n % 8]!, Buffer.from('\r\n')]).flat());
  const socket: Socket = await connected(HOST, servers.resp!.port);
  socket.setNoDelay(true);
  socket.pause();
  for (let n = 0; n < gets; n++) {
    socket.write(requests[n % 8]!);
    if (n % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
  }
  const received: Buffer[] = [];
  let length = 0;
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        length += chunk.length;
        if (length >= want.length) resolve();
      });
      socket.on('error', reject);
      socket.resume();
    }),
    'every GET reply',
  );
  socket.destroy();
  const got = Buffer.concat(received);
  assert.is(got.length, want.length);
  const firstDifference = got.findIndex((byte, i) => byte !== want[i]);
  assert.is(firstDifference, -1, `replies differ from byte ${firstDifference} (reply ${Math.floor(firstDifference / 1033)})`);
});

// ---- the reply buffer, against a socket that says what it did -----------------------

/** What flushTo sees of a socket: how much stays queued after each write, and whether write says it is below the mark. */
function fakeSocket(queuedAfterWrite: number, belowMark: boolean) {
  const written: Buffer[] = [];
  let paused = 0;
  const socket = {
    writableLength: 0,
    write(bytes: Buffer): boolean {
      written.push(bytes);
      socket.writableLength = queuedAfterWrite;
      return belowMark;
    },
    pause() {
      paused++;
    },
  };
  return { socket: socket as unknown as Socket, written, paused: () => paused };
}

test('the reply buffer is reused after a write the kernel took whole, and left to the socket while a write is queued', () => {
  const replies = new Replies();
  const whole = fakeSocket(0, true);
  replies.put(Buffer.from('first'));
  replies.flushTo(whole.socket);
  replies.put(Buffer.from('second'));
  replies.flushTo(whole.socket);
  assert.is(whole.written[1]!.toString(), 'second');
  assert.is(whole.written[0]!.buffer, whole.written[1]!.buffer, 'one buffer for both writes');

  const queued = fakeSocket(5, true);
  replies.put(Buffer.from('queued'));
  replies.flushTo(queued.socket);
  replies.put(Buffer.from('next!!'));
  replies.flushTo(queued.socket);
  assert.is(queued.written[0]!.toString(), 'queued', 'the queued write still holds its own bytes');
  assert.is(queued.written[1]!.toString(), 'next!!');
  assert.is(queued.paused(), 0, 'below the high-water mark the socket keeps being read');
});

test('the reply buffer pauses reading only when a write is queued past the high-water mark', () => {
  const replies = new Replies();
  const tookWhole = fakeSocket(0, false); // a write larger than the mark that the kernel took at once
  replies.put(Buffer.alloc(20_000));
  replies.flushTo(tookWhole.socket);
  assert.is(tookWhole.paused(), 0);
  const backedUp = fakeSocket(20_000, false);
  replies.put(Buffer.alloc(20_000));
  replies.flushTo(backedUp.socket);
  assert.is(backedUp.paused(), 1);
  const nothing = fakeSocket(0, true);
  replies.flushTo(nothing.socket);
  assert.is(nothing.written.length, 0, 'nothing gathered, nothing written');
});

test('the reply buffer writes decimals and grows past its size without losing what it holds', () => {
  const replies = new Replies();
  for (const n of [0, 7, 10, 99, 1024, 4294967296]) {
    replies.putDecimal(n);
    replies.put(Buffer.from(' '));
  }
  const big = patterned(200_000, 3);
  replies.put(big);
  const out = fakeSocket(0, true);
  replies.flushTo(out.socket);
  const text = out.written[0]!;
  assert.is(text.subarray(0, 26).toString(), '0 7 10 99 1024 4294967296 ');
  assert.ok(text.subarray(26).equals(big));
});

// ---- HTTP --------------------------------------------------------------------------

const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\n\r\n`;
const HELLO = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
const NOT_FOUND = 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n';

test('the node:net HTTP peer answers pipelined and cut requests as wasmloop does, byte for byte', async () => {
  const requests = Buffer.from(request('/') + request('/') + request('/nope') + request('/?q=1') + request('/'));
  const expected = HELLO + HELLO + NOT_FOUND + HELLO + HELLO;
  const cut = 70; // inside the second request, sent once the first is answered
  const answered = (received: Buffer): boolean => received.length >= HELLO.length;
  for (const chunks of [[requests], [{ bytes: requests.subarray(0, cut), then: answered }, requests.subarray(cut)]]) {
    const { peer: p, wasmloop: w } = await both('http', chunks, (received) => received.length >= expected.length);
    assert.is(p.bytes.toString('latin1'), expected);
    assert.is(w.bytes.toString('latin1'), expected);
    assert.not.ok(p.closed, 'the connection stays open');
  }
});

test('the node:net HTTP peer refuses a header section over 8 KiB with 431 and closes, as wasmloop does', async () => {
  const huge = Buffer.from(`${request('/')}GET / HTTP/1.1\r\nHost: bench\r\nX-Filler: ${'a'.repeat(9000)}`);
  const { peer: p, wasmloop: w } = await both('http', [huge], () => false);
  assert.ok(p.closed && w.closed);
  const refused = 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nrequest header fields too large\n';
  assert.is(p.bytes.toString('latin1'), HELLO + refused);
  assert.is(p.bytes.toString('latin1'), w.bytes.toString('latin1'));
});

test('the node:http peer answers GET / and HEAD / with pre-built headers on one kept-alive connection, 404 elsewhere', async () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\n';
  const notFound = 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: keep-alive\r\nKeep-Alive: timeout=60\r\n\r\nnot found\n';
  const expected = `${head}hello${head}${head}hello${notFound}`;
  const requests = [request('/'), request('/').replace('GET', 'HEAD'), request('/'), request('/nope')].map((r) => Buffer.from(r));
  const { bytes, closed } = await exchange(servers['node-http']!.port, requests, (received) => received.length >= expected.length);
  assert.is(bytes.toString('latin1'), expected);
  assert.not.ok(closed);
});

// ---- echo --------------------------------------------------------------------------

test('the echo peer sends back every byte, in order, of a small message and of 4 MiB written at once', async () => {
  const small = Buffer.from('ping\r\n');
  assert.equal(await withTimeout(echoRoundTrip(servers.echo!.port, small), 'the small echo'), small);
  const large = patterned(4 << 20, 7);
  const back = await withTimeout(echoRoundTrip(servers.echo!.port, large), 'the 4 MiB echo');
  assert.is(back.length, large.length);
  assert.ok(back.equals(large), 'the echoed bytes are the sent bytes');
});

test.run();
