// Fuzzing the RESP and HTTP parsers with fast-check: valid request streams,
// the same streams mutated (bytes flipped, inserted, dropped, cut short),
// random bytes, and known-malformed requests, each fed in random pieces to
// a fresh session through fakeConnection(). Whatever the input, no call
// throws or hangs, and the output is a whole number of well-formed replies;
// a session that gives up on its input ends the connection after an error reply.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { respProtocol } from '../src/protocols/resp.js';
import type { ProtocolFactory } from '../src/net/protocol.js';
import { fakeConnection } from './helpers/protocols.js';

const RUNS = Number(process.env['WASMLOOP_FUZZ_RUNS'] ?? 400);
/** A hang shows up as a feed far beyond this; normal ones take well under a millisecond. */
const FEED_LIMIT_MS = 2000;

// ---- feeding ----------------------------------------------------------------------

interface Fed {
  output: Buffer;
  ended: boolean;
}

/** Feeds `input` to a fresh session, cut at `cuts` (fractions of its length). */
function feed(factory: ProtocolFactory, input: Uint8Array, cuts: number[]): Fed {
  const fake = fakeConnection();
  const session = factory(fake.connection);
  const points = [...new Set(cuts.map((c) => Math.floor(c * input.length)))].filter((p) => p > 0 && p < input.length).sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, input.length]) {
    // A copy per piece, scribbled over afterwards as the server's read buffer would be.
    const piece = Buffer.from(input.subarray(from, to));
    const started = performance.now();
    session.data(fake.connection, piece);
    const elapsed = performance.now() - started;
    if (elapsed > FEED_LIMIT_MS) throw new Error(`a ${piece.length}-byte piece took ${elapsed.toFixed(0)} ms`);
    piece.fill(0xee);
    from = to;
  }
  // Pieces fed after the session ended its connection must be ignored.
  if (fake.lateWrites.length > 0) throw new Error(`written after the end: ${JSON.stringify(Buffer.concat(fake.lateWrites).toString('latin1').slice(0, 200))}`);
  return { output: Buffer.concat(fake.writes), ended: fake.ended };
}

// ---- mutations ----------------------------------------------------------------------

type Mutation = { kind: 'flip' | 'insert' | 'delete'; at: number; byte: number } | { kind: 'cut'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('flip' as const, 'insert' as const, 'delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.constantFrom(0, 10, 13, 32, 36, 42, 45, 58, 48, 57, 255).chain((b) => fc.oneof(fc.constant(b), fc.integer({ min: 0, max: 255 }))) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
).map((m) => ({ ...m, at: m.at as number }));

function mutate(input: Uint8Array, mutations: Mutation[]): Buffer {
  const bytes = [...input];
  for (const m of mutations) {
    const at = Math.min(bytes.length, Math.floor(m.at * bytes.length));
    if (m.kind === 'cut') bytes.length = at;
    else if (m.kind === 'insert') bytes.splice(at, 0, m.byte);
    else if (at < bytes.length) {
      if (m.kind === 'flip') bytes[at] = m.byte;
      else bytes.splice(at, 1);
    }
  }
  return Buffer.from(bytes);
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 });

// ---- RESP ----------------------------------------------------------------------------

/** Parses one RESP reply at `at`; returns the offset after it, or throws saying why not. */
function respReply(out: Buffer, at: number): number {
  const lineEnd = out.indexOf('\r\n', at);
  if (lineEnd < 0) throw new Error(`reply at ${at} has no line end`);
  const type = String.fromCharCode(out[at]!);
  const line = out.toString('latin1', at + 1, lineEnd);
  if (line.includes('\n') || line.includes('\r')) throw new Error(`line at ${at} holds CR or LF`);
  const next = lineEnd + 2;
  if (type === '+' || type === '-') return next;
  if (!/^-?\d+$/.test(line)) throw new Error(`'${type}' at ${at} without an integer: ${JSON.stringify(line)}`);
  const n = Number(line);
  if (type === ':') return next;
  if (type === '$') {
    if (n === -1) return next;
    if (n < 0 || next + n + 2 > out.length || out.toString('latin1', next + n, next + n + 2) !== '\r\n') throw new Error(`bad bulk at ${at}`);
    return next + n + 2;
  }
  if (type === '*') {
    let end = next;
    for (let i = 0; i < n; i++) end = respReply(out, end);
    return end;
  }
  throw new Error(`unknown reply type ${JSON.stringify(type)} at ${at}`);
}

/** Every reply in `out`, as their first lines; throws if `out` is not whole replies. */
function respReplies(out: Buffer): string[] {
  const firstLines: string[] = [];
  for (let at = 0; at < out.length;) {
    const next = respReply(out, at);
    firstLines.push(out.toString('latin1', at, out.indexOf('\r\n', at)));
    at = next;
  }
  return firstLines;
}

const respArgument = fc.oneof(
  fc.constantFrom('k', 'key', 'counter', '10', '-3', '9223372036854775807', 'a b', '', '"q"'),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
);
const respCommand = fc.tuple(
  fc.constantFrom('PING', 'ECHO', 'SET', 'GET', 'DEL', 'INCR', 'EXISTS', 'ping', 'get', 'COMMAND', 'CONFIG', 'NOPE'),
  fc.array(respArgument, { maxLength: 4 }),
);
type RespCommand = [string, string[]];

function multibulk([name, args]: RespCommand): string {
  return `*${args.length + 1}\r\n` + [name, ...args].map((a) => `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`).join('');
}

function inline([name, args]: RespCommand): string {
  return [name, ...args.map((a) => a.replace(/[\s"'\\\x00-\x1f\x7f-\xff]/g, '') || 'x')].join(' ') + '\r\n';
}

const respStream = fc.array(fc.tuple(respCommand, fc.boolean()), { minLength: 1, maxLength: 8 }).map((commands) => ({
  count: commands.length,
  bytes: Buffer.from(commands.map(([c, asInline]) => (asInline ? inline(c) : multibulk(c))).join(''), 'latin1'),
}));

function checkResp(fed: Fed): string[] {
  const replies = respReplies(fed.output);
  if (fed.ended) assert.match(replies.at(-1) ?? '', /^-ERR Protocol error/, 'the session ended the connection without a protocol error reply');
  return replies;
}

test('RESP: valid pipelined commands, cut anywhere, get exactly one reply each', () => {
  fc.assert(fc.property(respStream, cuts, ({ count, bytes }, at) => {
    const fed = feed(respProtocol(), bytes, at);
    const replies = checkResp(fed);
    assert.is(fed.ended, false);
    assert.is(replies.length, count, `replies: ${replies.join(' | ')}`);
  }), { numRuns: RUNS });
});

test('RESP: mutated command streams never throw or hang, and get whole replies', () => {
  fc.assert(fc.property(respStream, fc.array(mutation, { minLength: 1, maxLength: 6 }), cuts, ({ bytes }, mutations, at) => {
    checkResp(feed(respProtocol(), mutate(bytes, mutations), at));
  }), { numRuns: RUNS });
});

test('RESP: random bytes never throw or hang, and get whole replies', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), cuts, (bytes, at) => {
    checkResp(feed(respProtocol(), bytes, at));
  }), { numRuns: RUNS });
});

test('RESP: malformed multibulk framing gets a protocol error reply and the connection ends', () => {
  const malformed = fc.constantFrom(
    // Like Redis, the two bytes after a bulk string are skipped unread, so
    // '*1\r\n$4\r\nPINGxx' is a PING: not listed here.
    '*1\r\nPING\r\n', // an argument without its $ line
    '*x\r\n', '*1\r\n$x\r\n', '*1\r\n$-5\r\n', '*1\r\n$4\r\nPING\r\n*1\r\nGET\r\n', '*1\r\n$999999999999\r\n',
    `*1\r\n$4\r\nPING\r\n*${'9'.repeat(20)}\r\n`,
  );
  fc.assert(fc.property(malformed, cuts, (text, at) => {
    const fed = feed(respProtocol(), Buffer.from(text, 'latin1'), at);
    const replies = checkResp(fed);
    assert.ok(fed.ended, `not ended after ${JSON.stringify(text)}: ${replies.join(' | ')}`);
  }), { numRuns: 100 });
});

// ---- HTTP ----------------------------------------------------------------------------

interface HttpResponse {
  status: number;
  close: boolean;
}

/** Parses the responses in `out`; throws if it is not a whole number of well-formed ones. */
function httpResponses(out: Buffer): HttpResponse[] {
  const responses: HttpResponse[] = [];
  let at = 0;
  while (at < out.length) {
    const headEnd = out.indexOf('\r\n\r\n', at);
    if (headEnd < 0) throw new Error(`response at ${at} has no end of head`);
    const [statusLine, ...headerLines] = out.toString('latin1', at, headEnd).split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3}) [^\r\n]+$/.exec(statusLine!);
    if (status === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    let length = -1;
    let close = false;
    for (const line of headerLines) {
      const header = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ?(.*)$/.exec(line);
      if (header === null) throw new Error(`bad header line ${JSON.stringify(line)}`);
      const name = header[1]!.toLowerCase();
      if (name === 'content-length') length = Number(header[2]);
      if (name === 'connection' && header[2]!.toLowerCase() === 'close') close = true;
    }
    if (!(length >= 0)) throw new Error(`response without a Content-Length: ${JSON.stringify(statusLine)}`);
    const bodyStart = headEnd + 4;
    // A reply to HEAD has the length but no body: whichever reading leaves a response (or nothing) next.
    const startsResponse = (offset: number): boolean => offset === out.length || out.toString('latin1', offset, offset + 7) === 'HTTP/1.';
    if (bodyStart + length <= out.length && startsResponse(bodyStart + length)) at = bodyStart + length;
    else if (startsResponse(bodyStart)) at = bodyStart;
    else throw new Error(`body of ${JSON.stringify(statusLine)} does not fit`);
    responses.push({ status: Number(status[1]), close });
  }
  return responses;
}

/** Statuses after which the session closes: the request could not be understood. */
const FATAL = new Set([400, 411, 431, 500, 505]);

function checkHttp(fed: Fed): HttpResponse[] {
  const responses = httpResponses(fed.output);
  responses.forEach((r, i) => {
    if (FATAL.has(r.status) || r.close) {
      assert.is(i, responses.length - 1, `a response followed a closing ${r.status}`);
      assert.ok(r.close, `a ${r.status} without Connection: close`);
      assert.ok(fed.ended, `a closing ${r.status} did not end the connection`);
    }
  });
  if (fed.ended) assert.ok(responses.at(-1)?.close, 'the connection ended without a closing response');
  return responses;
}

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,12}$/);
const headerValue = fc.stringMatching(/^[ -~]{0,30}$/);
const httpRequest = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE'),
  target: fc.constantFrom('/', '/metrics', '/missing', '/?q=1', '/metrics?x'),
  minor: fc.constantFrom(0, 1),
  connection: fc.constantFrom('', 'keep-alive', 'close'),
  extra: fc.array(fc.tuple(token, headerValue), { maxLength: 4 }),
  body: fc.uint8Array({ maxLength: 64 }),
}).map((r) => {
  const headers = [`Host: localhost`, ...r.extra.filter(([n]) => !/^(content-length|transfer-encoding|connection|host)$/i.test(n)).map(([n, v]) => `${n}: ${v.trim()}`)];
  if (r.connection !== '') headers.push(`Connection: ${r.connection}`);
  if (r.body.length > 0) headers.push(`Content-Length: ${r.body.length}`);
  const head = Buffer.from(`${r.method} ${r.target} HTTP/1.${r.minor}\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  const closes = r.connection === 'close' || (r.minor === 0 && r.connection !== 'keep-alive');
  return { bytes: Buffer.concat([head, r.body]), closes };
});
/** Requests up to and including the first that closes the connection. */
const httpStream = fc.array(httpRequest, { minLength: 1, maxLength: 6 }).map((requests) => {
  const last = requests.findIndex((r) => r.closes);
  const kept = last < 0 ? requests : requests.slice(0, last + 1);
  return { count: kept.length, closes: last >= 0, bytes: Buffer.concat(kept.map((r) => r.bytes)) };
});

test('HTTP: valid pipelined requests, cut anywhere, get one good response each', () => {
  fc.assert(fc.property(httpStream, cuts, ({ count, closes, bytes }, at) => {
    const fed = feed(httpProtocol(), bytes, at);
    const responses = checkHttp(fed);
    assert.is(responses.length, count);
    for (const r of responses) assert.ok([200, 404, 405].includes(r.status), `status ${r.status}`);
    assert.is(fed.ended, closes);
  }), { numRuns: RUNS });
});

test('HTTP: mutated request streams never throw or hang, and get well-formed responses', () => {
  fc.assert(fc.property(httpStream, fc.array(mutation, { minLength: 1, maxLength: 6 }), cuts, ({ bytes }, mutations, at) => {
    checkHttp(feed(httpProtocol(), mutate(bytes, mutations), at));
  }), { numRuns: RUNS });
});

test('HTTP: random bytes never throw or hang; whatever is answered is an error that closes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), cuts, (bytes, at) => {
    const responses = checkHttp(feed(httpProtocol(), bytes, at));
    for (const r of responses) assert.ok(r.status >= 400, `random bytes got ${r.status}`);
  }), { numRuns: RUNS });
});

test('HTTP: malformed requests get a 4xx or 505 response and the connection ends', () => {
  const malformed = fc.constantFrom(
    'GET\r\n\r\n', 'GET /\r\n\r\n', 'G(T / HTTP/1.1\r\nHost: a\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n', 'GET / HTTP/1.x\r\nHost: a\r\n\r\n',
    'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 'GET / HTTP/1.1\r\nHost a\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    `GET / HTTP/1.1\r\nHost: a\r\nX: ${'y'.repeat(9000)}\r\n\r\n`, `GET /${'z'.repeat(9000)}`,
  );
  fc.assert(fc.property(malformed, cuts, (text, at) => {
    const fed = feed(httpProtocol(), Buffer.from(text, 'latin1'), at);
    const responses = checkHttp(fed);
    assert.is(responses.length, 1, `${JSON.stringify(text.slice(0, 40))}: ${responses.length} responses`);
    assert.ok(responses[0]!.status >= 400 && responses[0]!.status < 600 && responses[0]!.status !== 404, `status ${responses[0]!.status}`);
    assert.ok(fed.ended);
  }), { numRuns: 100 });
});

test.run();
