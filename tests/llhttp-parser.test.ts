// The llhttp module (build/llhttp.wasm) through its binding: the records its
// glue writes, the host's side of reassembly (a small reassembler here; the
// real one belongs to the HTTP protocol), pauses on a full table, upgrades,
// and what llhttp refuses, in strict mode with its lenient flags off.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { LlhttpParsers, llhttpConstants, llhttpErrorName, type LlhttpOptions } from '../src/protocols/llhttp.js';
import { rangeErr, throws, typeErr } from './helpers/errors.js';

const C = llhttpConstants();
const KIND_NAMES = new Map([...C.all].filter(([name]) => name.startsWith('KIND_')).map(([name, value]) => [value, name.slice(5)]));
const SPAN_KINDS = new Set([C.KIND_URL, C.KIND_HEADER_FIELD, C.KIND_HEADER_VALUE, C.KIND_BODY]);

interface Message {
  method: string;
  url: string;
  version: string;
  headers: [string, string][];
  /** Fields after the headers: a chunked body's trailers. */
  trailers: [string, string][];
  keepAlive: boolean;
  upgrade: boolean;
  chunked: boolean;
  contentLength: number | null;
  /** Sizes from CHUNK_HEADER records, the last chunk's 0 included. */
  chunks: number[];
  chunksCompleted: number;
  body: string;
  complete: boolean;
}

/**
 * The host's side, for tests: feeds reads to one parser, resumes after each
 * pause, and rebuilds messages from the records, copying each piece of a URL,
 * field or value out of the input region before the next read overwrites it.
 * Checks the table's invariants on every record.
 */
class Reassembler {
  readonly messages: Message[] = [];
  pauses = 0;
  executes = 0;
  #pending = '';
  #field = '';

  constructor(
    readonly parsers: LlhttpParsers,
    readonly parser: number = parsers.alloc(),
  ) {}

  /** One read of `bytes`, written at `at` in the input region: llhttp's last status and the bytes consumed. */
  feed(bytes: Buffer, at = 0): { status: number; consumed: number } {
    const { parsers, parser } = this;
    parsers.input.set(bytes, at);
    let done = 0;
    for (;;) {
      const status = parsers.execute(parser, at + done, bytes.length - done);
      this.executes++;
      this.#drain(at + done, bytes.length - done);
      const stop = parsers.table[C.HEADER_STOP]!;
      assert.ok(stop >= 0 && stop <= bytes.length - done, `stop ${stop} outside 0..${bytes.length - done}`);
      if (status !== C.HPE_PAUSED) return { status, consumed: done + stop };
      assert.is(parsers.table[C.HEADER_COUNT], parsers.records, 'a pause comes with a full table');
      this.pauses++;
      parsers.resume(parser);
      done += stop;
    }
  }

  finish(): number {
    const status = this.parsers.finish(this.parser);
    this.#drain(0, 0);
    return status;
  }

  #drain(from: number, length: number): void {
    const { table, input } = this.parsers;
    const count = table[C.HEADER_COUNT]!;
    assert.ok(count >= 0 && count <= this.parsers.records, `count ${count} beyond the table (${this.parsers.records})`);
    for (let i = 0; i < count; i++) {
      const at = C.HEADER_WORDS + i * C.RECORD_WORDS;
      const kind = table[at]!;
      const a = table[at + 1]!;
      const b = table[at + 2]!;
      const c = table[at + 3]!;
      const message = this.messages[this.messages.length - 1];
      if (kind !== C.KIND_MESSAGE_BEGIN) assert.ok(message && !message.complete, `${KIND_NAMES.get(kind)} outside a message`);
      let text = '';
      if (SPAN_KINDS.has(kind)) {
        assert.ok(a >= 0 && b >= 0 && a + b <= length, `span ${a}+${b} outside the ${length} bytes`);
        assert.ok(b > 0 || c === C.LAST, `an empty piece that is not a last one (${KIND_NAMES.get(kind)})`);
        text = Buffer.from(input.buffer, input.byteOffset + from + a, b).toString('latin1');
      }
      switch (kind) {
        case C.KIND_MESSAGE_BEGIN:
          this.messages.push({
            method: '', url: '', version: '', headers: [], trailers: [], keepAlive: false, upgrade: false,
            chunked: false, contentLength: null, chunks: [], chunksCompleted: 0, body: '', complete: false,
          });
          break;
        case C.KIND_URL:
        case C.KIND_HEADER_FIELD:
        case C.KIND_HEADER_VALUE:
          this.#pending += text;
          if (c !== C.LAST) break;
          if (kind === C.KIND_URL) message!.url = this.#pending;
          else if (kind === C.KIND_HEADER_FIELD) this.#field = this.#pending;
          else (message!.version === '' ? message!.headers : message!.trailers).push([this.#field, this.#pending]);
          this.#pending = '';
          break;
        case C.KIND_HEADERS_COMPLETE: {
          const flags = a >>> C.INFO_FLAGS_SHIFT;
          message!.method = C.methods[a & C.INFO_METHOD_MASK]!;
          message!.version = `${(a >> C.INFO_MAJOR_SHIFT) & C.INFO_VERSION_MASK}.${(a >> C.INFO_MINOR_SHIFT) & C.INFO_VERSION_MASK}`;
          message!.keepAlive = (a & C.INFO_KEEP_ALIVE) !== 0;
          message!.upgrade = (a & C.INFO_UPGRADE) !== 0;
          message!.chunked = (flags & C.F_CHUNKED) !== 0;
          message!.contentLength = flags & C.F_CONTENT_LENGTH ? (b >>> 0) + (c >>> 0) * 2 ** 32 : null;
          break;
        }
        case C.KIND_BODY:
          message!.body += text;
          break;
        case C.KIND_CHUNK_HEADER:
          message!.chunks.push((b >>> 0) + (c >>> 0) * 2 ** 32);
          break;
        case C.KIND_CHUNK_COMPLETE:
          message!.chunksCompleted++;
          break;
        case C.KIND_MESSAGE_COMPLETE:
          message!.complete = true;
          break;
        default:
          assert.unreachable(`unknown record kind ${kind}`);
      }
    }
  }
}

/** One instance for the tests that need no particular options. */
const shared = new LlhttpParsers({ maxParsers: 64 });

interface Outcome {
  status: string;
  consumed: number;
  messages: Message[];
  pauses: number;
}

/** Feeds `pieces` as successive reads to a fresh parser, each at its own place in the input region. */
function parse(pieces: (string | Buffer)[], parsers = shared, place = (i: number): number => (i * 37) % 101): Outcome {
  const r = new Reassembler(parsers);
  try {
    let consumed = 0;
    let status = C.HPE_OK;
    for (const [i, piece] of pieces.entries()) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
      const result = r.feed(bytes, place(i));
      consumed += result.consumed;
      status = result.status;
      if (status !== C.HPE_OK) break;
    }
    return { status: llhttpErrorName(status), consumed, messages: r.messages, pauses: r.pauses };
  } finally {
    parsers.free(r.parser);
  }
}

const one = (request: string, parsers = shared): Outcome => parse([request], parsers);

/** The records of one execute, as [kind name, text or numbers...]. */
function records(parsers: LlhttpParsers, from: number): (string | number)[][] {
  const out: (string | number)[][] = [];
  for (let i = 0; i < parsers.table[C.HEADER_COUNT]!; i++) {
    const [kind, a, b, c] = parsers.table.subarray(C.HEADER_WORDS + i * C.RECORD_WORDS, C.HEADER_WORDS + (i + 1) * C.RECORD_WORDS);
    const name = KIND_NAMES.get(kind!)!;
    out.push(SPAN_KINDS.has(kind!) ? [name, a!, b!, c!, Buffer.from(parsers.input.subarray(from + a!, from + a! + b!)).toString('latin1')] : [name, a!, b!, c!]);
  }
  return out;
}

const GET = 'GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n';
const GET_MESSAGE: Message = {
  method: 'GET', url: '/hello?x=1', version: '1.1',
  headers: [['Host', 'example.com'], ['User-Agent', 't'], ['Accept', '*/*']], trailers: [],
  keepAlive: true, upgrade: false, chunked: false, contentLength: null, chunks: [], chunksCompleted: 0, body: '', complete: true,
};
const POST = 'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world';
const CHUNKED =
  'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n';
const HTTP10 = 'GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n';
const ODD = 'PUT /o HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Spaces:   a  b   \r\nX-Long: ' + 'v'.repeat(300) + '\r\nContent-Length: 0\r\n\r\n';

// ---- the module ---------------------------------------------------------------

test('the module imports only WASI proc_exit, and its memory is fixed: it cannot grow, views stay valid', () => {
  const compiled = new WebAssembly.Module(readFileSync(new URL('../llhttp.wasm', import.meta.url)));
  assert.equal(WebAssembly.Module.imports(compiled), [{ module: 'wasi_snapshot_preview1', name: 'proc_exit', kind: 'function' }]);
  const parsers = new LlhttpParsers({ maxParsers: 4 });
  const bytes = parsers.memory.buffer.byteLength;
  throws(() => parsers.memory.grow(1), { type: RangeError });
  for (let i = 0; i < 100; i++) assert.is(one(POST.repeat(20), parsers).messages.length, 20);
  assert.is(parsers.memory.buffer.byteLength, bytes);
  assert.is(parsers.input.byteLength, parsers.inputCapacity, 'the input view is still attached');
  assert.is(parsers.table.buffer, parsers.memory.buffer);
});

test("error codes, names and methods are llhttp's own, from llhttp.h; a parser is 64 bytes", () => {
  const header = readFileSync(`${process.env.LLHTTP_INCLUDE_DIR || '/usr/share/include/llhttp'}/llhttp.h`, 'latin1');
  const errnos = /enum llhttp_errno \{([^}]*)\}/.exec(header)![1]!;
  const fromHeader = [...errnos.matchAll(/(HPE_\w+) = (\d+)/g)].map(([, name, code]) => [Number(code), name]);
  assert.ok(fromHeader.length > 30);
  for (const [code, name] of fromHeader) assert.is(C.errorNames[code as number], name);
  assert.is(C.errorNames.filter(Boolean).length, fromHeader.length);
  const methods = /#define HTTP_ALL_METHOD_MAP\(XX\)([^#]*)/.exec(header)![1]!;
  for (const [, code, text] of methods.matchAll(/XX\((\d+), \w+, ([\w-]+)\)/g)) assert.is(C.methods[Number(code)], text);
  assert.is(C.methods[24], 'M-SEARCH');
  assert.is(C.version, /LLHTTP_VERSION_MAJOR (\d+)/.exec(header)![1] + '.' + /LLHTTP_VERSION_MINOR (\d+)/.exec(header)![1] + '.' + /LLHTTP_VERSION_PATCH (\d+)/.exec(header)![1]);
  assert.is(llhttpErrorName(C.HPE_PAUSED), 'HPE_PAUSED');
  assert.is(llhttpErrorName(99), 'HPE_UNKNOWN_99');
  assert.is(C.PARSER_BYTES, 64, 'sizeof(llhttp_t) in wasm32');
});

// ---- records --------------------------------------------------------------------

test('a GET with three headers is ten records: each URL, field and value marked last, then method, version and keep-alive', () => {
  const p = shared.alloc();
  try {
    shared.input.set(Buffer.from(GET), 0);
    assert.is(shared.execute(p, 0, GET.length), C.HPE_OK);
    assert.is(shared.table[C.HEADER_STOP], GET.length);
    const info = C.methods.indexOf('GET') | (1 << C.INFO_MAJOR_SHIFT) | (1 << C.INFO_MINOR_SHIFT) | C.INFO_KEEP_ALIVE;
    assert.equal(records(shared, 0), [
      ['MESSAGE_BEGIN', 0, 0, 0],
      ['URL', 4, 10, 1, '/hello?x=1'],
      ['HEADER_FIELD', 25, 4, 1, 'Host'],
      ['HEADER_VALUE', 31, 11, 1, 'example.com'],
      ['HEADER_FIELD', 44, 10, 1, 'User-Agent'],
      ['HEADER_VALUE', 56, 1, 1, 't'],
      ['HEADER_FIELD', 59, 6, 1, 'Accept'],
      ['HEADER_VALUE', 67, 3, 1, '*/*'],
      ['HEADERS_COMPLETE', info, 0, 0],
      ['MESSAGE_COMPLETE', 0, 0, 0],
    ]);
  } finally {
    shared.free(p);
  }
});

test('spans count from the first byte given to execute, wherever it lies in the input region', () => {
  for (const at of [0, 1, 4093, shared.inputCapacity - GET.length]) {
    const p = shared.alloc();
    shared.input.set(Buffer.from(GET), at);
    assert.is(shared.execute(p, at, GET.length), C.HPE_OK);
    assert.equal(records(shared, at)[1], ['URL', 4, 10, 1, '/hello?x=1'], `at ${at}`);
    shared.free(p);
  }
  // A token cut by the end of the bytes: a piece without LAST, then the rest, counted from the next call's start.
  const p = shared.alloc();
  shared.input.set(Buffer.from(GET), 500);
  assert.is(shared.execute(p, 500, 27), C.HPE_OK);
  assert.equal(records(shared, 500).slice(-1), [['HEADER_FIELD', 25, 2, 0, 'Ho']]);
  assert.is(shared.execute(p, 527, GET.length - 27), C.HPE_OK);
  assert.equal(records(shared, 527)[0], ['HEADER_FIELD', 0, 2, 1, 'st']);
  // Cut right after the field: its last piece is empty.
  shared.free(p);
  const q = shared.alloc();
  assert.is(shared.execute(q, 500, 29), C.HPE_OK);
  assert.equal(records(shared, 500).slice(-1), [['HEADER_FIELD', 25, 4, 0, 'Host']]);
  assert.is(shared.execute(q, 529, GET.length - 29), C.HPE_OK);
  assert.equal(records(shared, 529)[0], ['HEADER_FIELD', 0, 0, 1, '']);
  shared.free(q);
});

test('a GET, a POST with a body, a chunked POST, HTTP/1.0 and odd headers: the same messages at every split into two reads', () => {
  for (const request of [GET, POST, CHUNKED, HTTP10, ODD, GET + POST + CHUNKED + HTTP10]) {
    const whole = one(request);
    assert.is(whole.status, 'HPE_OK');
    assert.ok(whole.messages.length >= 1 && whole.messages.every((m) => m.complete));
    for (let cut = 1; cut < request.length; cut++) {
      const split = parse([request.slice(0, cut), request.slice(cut)]);
      assert.equal(split, whole, `${JSON.stringify(request.slice(0, 20))}… cut at ${cut}`);
    }
  }
});

test('the same messages one byte per read', () => {
  const request = GET + POST + CHUNKED + HTTP10 + ODD;
  const whole = one(request);
  assert.is(whole.messages.length, 5);
  assert.equal(parse([...request]), whole);
});

// ---- messages ----------------------------------------------------------------------

test('16 pipelined requests in one read are 16 messages, in order, with their bodies', () => {
  let input = '';
  for (let i = 0; i < 16; i++) input += i % 2 ? `POST /${i} HTTP/1.1\r\nHost: x\r\nContent-Length: ${String(i).length}\r\n\r\n${i}` : `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const { status, messages } = one(input);
  assert.is(status, 'HPE_OK');
  assert.equal(messages.map((m) => [m.method, m.url, m.body]), Array.from({ length: 16 }, (_, i) => (i % 2 ? ['POST', `/${i}`, String(i)] : ['GET', `/${i}`, ''])));
});

test('the first GET is as expected, field by field', () => {
  assert.equal(one(GET).messages, [GET_MESSAGE]);
});

test('a chunked body: its bytes, each chunk size, trailers apart from headers, extensions ignored', () => {
  const { status, messages } = one(CHUNKED);
  assert.is(status, 'HPE_OK');
  const [m] = messages;
  assert.is(m!.body, 'hello world');
  assert.equal(m!.chunks, [5, 6, 0]);
  assert.is(m!.chunksCompleted, 3);
  assert.ok(m!.chunked);
  assert.is(m!.contentLength, null);
  assert.equal(m!.headers, [['Host', 'x'], ['Transfer-Encoding', 'chunked']]);
  assert.equal(m!.trailers, [['X-Checksum', 'abc'], ['X-Empty', '']]);
  // A large chunk's size is read whole, high word included.
  const big = one('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1234567890a\r\nabc');
  assert.equal(big.messages[0]!.chunks, [0x1234567890a]);
  assert.is(big.messages[0]!.body, 'abc');
});

test('a Content-Length body: exact, the length in the record (past 32 bits too), incomplete until its last byte', () => {
  const [m] = one(POST).messages;
  assert.is(m!.body, 'hello world');
  assert.is(m!.contentLength, 11);
  assert.ok(!m!.chunked);
  const huge = one('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\nabc');
  assert.is(huge.status, 'HPE_OK');
  assert.is(huge.messages[0]!.contentLength, 5_000_000_000);
  assert.is(huge.messages[0]!.body, 'abc');
  assert.not.ok(huge.messages[0]!.complete);
  assert.is(one('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n').messages[0]!.contentLength, 0);
});

test('HTTP/1.0 closes unless asked to keep alive; 1.1 keeps alive unless Connection: close', () => {
  const keepAlive = (request: string): boolean => one(request).messages[0]!.keepAlive;
  assert.not.ok(keepAlive('GET / HTTP/1.0\r\n\r\n'));
  assert.ok(keepAlive('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'));
  assert.ok(keepAlive('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.not.ok(keepAlive('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  assert.not.ok(keepAlive('GET / HTTP/1.1\r\nHost: x\r\nConnection: CLOSE\r\n\r\n'));
  assert.is(one('GET / HTTP/1.0\r\n\r\n').messages[0]!.version, '1.0');
});

test('bytes after a request that closes the connection stop the parser (strict mode) once that request is complete', () => {
  for (const first of ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'GET / HTTP/1.0\r\n\r\n', 'POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\na']) {
    const out = one(first + GET);
    assert.is(out.status, 'HPE_CLOSED_CONNECTION', first);
    assert.is(out.consumed, first.length + 1, `${first}: STOP is one past the first byte after it`);
    assert.is(out.messages.length, 1);
    assert.ok(out.messages[0]!.complete);
  }
  // Line ends alone after it are allowed (a client's stray CRLF).
  assert.is(one('GET / HTTP/1.0\r\n\r\n\r\n').status, 'HPE_OK');
});

// ---- a full table -------------------------------------------------------------------

test('a full table pauses the parser; resuming from STOP gives the same messages, never more records than the table holds', () => {
  const request = GET + POST + CHUNKED + HTTP10 + ODD;
  const whole = one(request);
  for (const records of [2, 3, 4, 5, 8, 13]) {
    const small = new LlhttpParsers({ maxParsers: 2, records, inputBytes: 4096 });
    const paused = parse([request], small);
    assert.ok(paused.pauses >= 40 / records, `${paused.pauses} pauses with ${records} records`);
    assert.equal({ ...paused, pauses: 0 }, { ...whole, pauses: 0 }, `${records} records`);
    // Pauses and reads cut anywhere, together.
    for (let cut = 1; cut < request.length; cut += 7) {
      assert.equal({ ...parse([request.slice(0, cut), request.slice(cut)], small), pauses: 0 }, { ...whole, pauses: 0 }, `${records} records, cut at ${cut}`);
    }
  }
});

test('a parser paused and not resumed consumes nothing', () => {
  const small = new LlhttpParsers({ maxParsers: 1, records: 2, inputBytes: 256 });
  const p = small.alloc();
  small.input.set(Buffer.from(GET));
  assert.is(small.execute(p, 0, GET.length), C.HPE_PAUSED);
  const stop = small.table[C.HEADER_STOP]!;
  assert.ok(stop > 0 && stop < GET.length);
  assert.is(small.execute(p, stop, GET.length - stop), C.HPE_PAUSED);
  assert.is(small.table[C.HEADER_COUNT], 0);
  assert.is(small.table[C.HEADER_STOP], 0);
  small.resume(p);
  assert.is(small.execute(p, stop, GET.length - stop), C.HPE_PAUSED, 'two records at a time still');
});

// ---- upgrades -------------------------------------------------------------------------

test('an upgrade request stops the parser with HPE_PAUSED_UPGRADE at the first byte of the new protocol', () => {
  const head = 'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  const out = one(head + '\x81\x05hello');
  assert.is(out.status, 'HPE_PAUSED_UPGRADE');
  assert.is(out.consumed, head.length);
  assert.ok(out.messages[0]!.upgrade && out.messages[0]!.complete);
  // The same, cut anywhere in the head.
  for (let cut = 1; cut < head.length; cut++) {
    const split = parse([head.slice(0, cut), head.slice(cut) + '\x81\x05hello']);
    assert.is(split.status, 'HPE_PAUSED_UPGRADE');
    assert.is(split.consumed, head.length, `cut at ${cut}`);
  }
  const connect = 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n';
  const tunnel = one(connect + '\x16\x03\x01');
  assert.is(tunnel.status, 'HPE_PAUSED_UPGRADE');
  assert.is(tunnel.consumed, connect.length);
  assert.ok(tunnel.messages[0]!.upgrade);
  assert.is(tunnel.messages[0]!.url, 'example.com:443');
  // The HTTP/2 preface has a status of its own.
  assert.is(one('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n').status, 'HPE_PAUSED_H2_UPGRADE');
});

test('Upgrade without Connection: upgrade is only a header; resumeAfterUpgrade parses HTTP again', () => {
  const informational = one('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n' + GET);
  assert.is(informational.status, 'HPE_OK');
  assert.equal(informational.messages.map((m) => m.upgrade), [false, false]);

  const head = 'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n';
  const r = new Reassembler(shared);
  const first = r.feed(Buffer.from(head + GET));
  assert.is(first.status, C.HPE_PAUSED_UPGRADE);
  shared.resumeAfterUpgrade(r.parser);
  assert.is(r.feed(Buffer.from(GET)).status, C.HPE_OK);
  assert.equal(r.messages[1], GET_MESSAGE);
  shared.free(r.parser);
});

// ---- what llhttp refuses ----------------------------------------------------------

// llhttp 8.1 in strict mode, lenient flags off. Each refusal stops the parser
// where llhttp found the fault; the requests before it are whole.
const refused: [string, string, string][] = [
  // The hand-written parser's 400 cases.
  ['no spaces', 'GET\r\nHost: x\r\n\r\n', 'HPE_INVALID_METHOD'],
  ['an empty target', 'GET  HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_URL'],
  ['a control byte in the target', 'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_URL'],
  ['a raw non-ASCII byte in the target', 'GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_URL'],
  ['a tab in the target', 'GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_URL'],
  ['a method that is not a token', 'G(T / HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_METHOD'],
  ['an unknown method', 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_METHOD'],
  ['a lower-case method', 'get / HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_METHOD'],
  ['a version that is not HTTP', 'GET / FTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_CONSTANT'],
  ['a version with a letter', 'GET / HTTP/1.x\r\nHost: x\r\n\r\n', 'HPE_INVALID_VERSION'],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: x\r\n\r\n', 'HPE_INVALID_VERSION'],
  ['HTTP/3.0', 'GET / HTTP/3.0\r\nHost: x\r\n\r\n', 'HPE_INVALID_VERSION'],
  ['a two-digit version', 'GET / HTTP/10.0\r\nHost: x\r\n\r\n', 'HPE_INVALID_VERSION'],
  ['a header without a colon', 'GET / HTTP/1.1\r\nHost: x\r\nnonsense\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['space in a name', 'GET / HTTP/1.1\r\nBad Header: x\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['space before Transfer-Encoding\'s colon', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc', 'HPE_INVALID_HEADER_TOKEN'],
  ['whitespace before the first header', 'GET / HTTP/1.1\r\n Host: x\r\n\r\n', 'HPE_UNEXPECTED_SPACE'],
  ['a folded header line', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a folded header line after an empty one', 'GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a folded header line after an empty one, by a tab', 'GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n\t b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a folded Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n , identity\r\n\r\n0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a control byte in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['DEL in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a NUL in a name', 'GET / HTTP/1.1\r\nHo\x00st: x\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a non-numeric Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
  ['a negative Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
  ['a Content-Length with a plus', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc', 'HPE_INVALID_CONTENT_LENGTH'],
  ['an empty Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\nabc', 'HPE_INVALID_CONTENT_LENGTH'],
  ['a Content-Length list', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab', 'HPE_INVALID_CONTENT_LENGTH'],
  ['a Content-Length past 64 bits', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
  ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  // Stricter than the hand-written parser, which took equal repeats as one length; node:http refuses them too.
  ['two equal Content-Lengths', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  // Smuggling probes.
  ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  ['Transfer-Encoding with Content-Length', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
  ['Transfer-Encoding: chunked, identity', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding: identity', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nabc', 'HPE_INVALID_TRANSFER_ENCODING'],
  ['Transfer-Encoding: xchunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
  ['chunked twice', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
  ['chunked, then another coding', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
  ['a chunk size that is not hex', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  ['a chunk size with 0x', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  ['a chunk size past 64 bits', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  ['a chunk longer than its size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n', 'HPE_STRICT'],
  ['a bare LF after chunk data', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n', 'HPE_STRICT'],
  ['a bare LF after a chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
  ['a bare CR in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n', 'HPE_LF_EXPECTED'],
  ['a bare CR ending a line', 'GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n', 'HPE_LF_EXPECTED'],
  ['CR-only line ends', 'GET / HTTP/1.1\rHost: x\r\r', 'HPE_INVALID_VERSION'],
  ['LF-only line ends in the headers', 'GET / HTTP/1.1\nHost: x\n\n', 'HPE_INVALID_HEADER_TOKEN'],
  ['a space after the version', 'GET / HTTP/1.1 \r\nHost: x\r\n\r\n', 'HPE_INVALID_VERSION'],
  ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 'HPE_INVALID_CONSTANT'],
];

for (const [what, request, expected] of refused) {
  test(`refused: ${what} (${expected}), after the good requests before it, and for good`, () => {
    const out = one(GET + request);
    assert.is(out.status, expected, llhttpErrorName(C.all.get(out.status) ?? -1));
    assert.ok(out.consumed >= GET.length && out.consumed < GET.length + request.length, `stopped at ${out.consumed}`);
    assert.equal(out.messages[0], GET_MESSAGE);
    assert.ok(out.messages.length === 1 || !out.messages[1]!.complete);
    // The same verdict however the bad request is cut, at the same byte (but the glue's own refusal,
    // of a folded line, comes at whichever piece of the second line it sees first).
    const folded = what.startsWith('a folded');
    // The one fold the glue cannot see: after an empty line, when the line feed came in the earlier read.
    const lf = request.indexOf('X-A:\r\n') + 5;
    const gap = what.includes('after an empty one') ? [lf + 1, request.indexOf('b', lf)] : [-1, -1];
    for (let cut = 1; cut < request.length; cut++) {
      const split = parse([GET + request.slice(0, cut), request.slice(cut)]);
      if (cut >= gap[0]! && cut <= gap[1]!) {
        // llhttp joins it, as RFC 9112 allows.
        assert.is(split.status, 'HPE_OK', `cut at ${cut}`);
        assert.equal(split.messages[1]!.headers[1], ['X-A', 'b']);
        continue;
      }
      assert.is(split.status, expected, `cut at ${cut}`);
      if (!folded) assert.is(split.consumed, out.consumed, `cut at ${cut}`);
      else assert.ok(split.consumed > GET.length && split.consumed < GET.length + request.length, `cut at ${cut}: ${split.consumed}`);
    }
    // A stopped parser stays stopped and consumes nothing more.
    const p = shared.alloc();
    shared.input.set(Buffer.from(request, 'latin1'));
    const status = shared.execute(p, 0, request.length);
    assert.is(llhttpErrorName(status), expected);
    assert.ok(shared.reason(p).length > 0);
    shared.input.set(Buffer.from(GET), 1000);
    assert.is(shared.execute(p, 1000, GET.length), status);
    assert.is(shared.table[C.HEADER_COUNT], 0);
    assert.is(shared.table[C.HEADER_STOP], 0);
    shared.free(p);
  });
}

test('llhttp names its refusals: reasons of its own and of the glue', () => {
  const reasonOf = (request: string): string => {
    const p = shared.alloc();
    shared.input.set(Buffer.from(request));
    shared.execute(p, 0, request.length);
    const reason = shared.reason(p);
    shared.free(p);
    return reason;
  };
  assert.is(reasonOf('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'), "Content-Length can't be present with Transfer-Encoding");
  assert.is(reasonOf('GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n'), 'Obsolete line folding in a header value');
  assert.is(reasonOf('FOO / HTTP/1.1\r\n\r\n'), 'Invalid method encountered');
  assert.is(reasonOf(GET), '');
});

test('what llhttp accepts and the host must refuse or limit itself', () => {
  // HTTP/2.0 and HTTP/0.9 parse (the host answers 505); so does a request line without a version (0.9).
  assert.is(one('GET / HTTP/2.0\r\nHost: x\r\n\r\n').messages[0]!.version, '2.0');
  assert.is(one('GET / HTTP/0.9\r\nHost: x\r\n\r\n').messages[0]!.version, '0.9');
  assert.is(one('GET /\r\nHost: x\r\n\r\n').messages[0]!.version, '0.9');
  // HTTP/1.1 without Host (the host answers 400).
  assert.is(one('GET / HTTP/1.1\r\n\r\n').status, 'HPE_OK');
  // No limit on a header section: a 100 KB value, a 100 KB target (the host's maxHeaderBytes answers 431 and 414).
  const long = one(`GET /${'u'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\nX-Long: ${'v'.repeat(100_000)}\r\n\r\n`);
  assert.is(long.status, 'HPE_OK');
  assert.is(long.messages[0]!.url.length, 100_001);
  assert.is(long.messages[0]!.headers[1]![1].length, 100_000);
  // Trailing whitespace stays in a value (the host trims it, as node:http does).
  assert.equal(one('GET / HTTP/1.1\r\nHost: x\r\nX-A:  a b  \r\n\r\n').messages[0]!.headers[1], ['X-A', 'a b  ']);
  // Bytes that are not ASCII in a value (obs-text) pass.
  assert.equal(one('GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\n\r\n').messages[0]!.headers[1], ['X-A', 'caf\xe9']);
  // A bare LF may end the request line and the empty line (RFC 9112 2.2 allows it), not a header line.
  assert.is(one('GET / HTTP/1.1\nHost: x\r\n\r\n').status, 'HPE_OK');
  assert.is(one('GET / HTTP/1.1\r\nHost: x\r\n\n').status, 'HPE_OK');
  // Transfer codings with chunked last, any case, with blanks.
  for (const coding of ['gzip, chunked', 'CHUNKED', ' chunked ']) {
    const out = one(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${coding}\r\n\r\n0\r\n\r\n`);
    assert.is(out.status, 'HPE_OK', coding);
    assert.ok(out.messages[0]!.chunked, coding);
  }
  // Empty lines before a request are skipped.
  assert.is(one('\r\n\r\n' + GET).messages.length, 1);
});

// ---- end of input -----------------------------------------------------------------

test('finish: OK between requests, HPE_INVALID_EOF_STATE inside one, OK for a parser already stopped', () => {
  const at = (input: string): string => {
    const r = new Reassembler(shared);
    r.feed(Buffer.from(input, 'latin1'));
    const status = llhttpErrorName(r.finish());
    shared.free(r.parser);
    return status;
  };
  assert.is(at(''), 'HPE_OK');
  assert.is(at(GET), 'HPE_OK');
  assert.is(at(GET + 'GET / HT'), 'HPE_INVALID_EOF_STATE');
  assert.is(at('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab'), 'HPE_INVALID_EOF_STATE');
  assert.is(at('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'), 'HPE_INVALID_EOF_STATE');
  assert.is(at('FOO / HTTP/1.1\r\n\r\n'), 'HPE_OK');
  assert.is(shared.table[C.HEADER_COUNT], 0);
});

// ---- the parser table ---------------------------------------------------------------

test('parsers: handles are small integers, the last freed is reused first, a full table is a RangeError', () => {
  const parsers = new LlhttpParsers({ maxParsers: 3, inputBytes: 1024 });
  assert.equal([parsers.alloc(), parsers.alloc(), parsers.alloc()], [0, 1, 2]);
  assert.is(parsers.live, 3);
  const full = throws(() => parsers.alloc(), rangeErr);
  assert.match(full.message, 'llhttp parser table full (capacity 3)');
  parsers.free(1);
  parsers.free(0);
  assert.is(parsers.live, 1);
  assert.is(parsers.alloc(), 0);
  assert.is(parsers.alloc(), 1);
  // A reused parser starts afresh.
  parsers.free(2);
  assert.is(parsers.alloc(), 2);
  parsers.free(2);
  assert.equal(one(GET, parsers).messages, [GET_MESSAGE]);
});

test('parsers: a freed or unknown handle and bytes outside the input region are RangeErrors, and change nothing', () => {
  const parsers = new LlhttpParsers({ maxParsers: 2, inputBytes: 1024 });
  const p = parsers.alloc();
  parsers.free(p);
  for (const call of [
    () => parsers.free(p),
    () => parsers.execute(p, 0, 1),
    () => parsers.resume(p),
    () => parsers.resumeAfterUpgrade(p),
    () => parsers.finish(p),
    () => parsers.free(-1),
    () => parsers.free(2),
    () => parsers.execute(7, 0, 0),
  ]) {
    assert.match(throws(call, rangeErr).message, 'is not a live parser');
  }
  assert.is(parsers.reason(p), '');
  const q = parsers.alloc();
  for (const [offset, length] of [[-1, 1], [0, 1025], [1024, 1], [1000, 25], [0, -1]]) {
    assert.match(throws(() => parsers.execute(q, offset!, length!), rangeErr).message, 'outside the input region', `${offset}, ${length}`);
  }
  assert.is(parsers.execute(q, 1024, 0), C.HPE_OK);
  parsers.input.set(Buffer.from(GET), 1024 - GET.length);
  assert.is(parsers.execute(q, 1024 - GET.length, GET.length), C.HPE_OK);
  assert.is(parsers.table[C.HEADER_COUNT], 10);
});

test('parsers: options are checked, and a layout larger than the fixed memory says how large it is', () => {
  const make = (options: LlhttpOptions) => () => new LlhttpParsers(options);
  throws(make({ maxParsers: 0 }), rangeErr);
  throws(make({ maxParsers: 1.5 }), rangeErr);
  throws(make({ records: 1 }), rangeErr);
  throws(make({ inputBytes: 0 }), rangeErr);
  throws(make({ maxParsers: '10' as unknown as number }), typeErr);
  const tooBig = throws(make({ maxParsers: 1_000_000 }), rangeErr);
  assert.match(tooBig.message, /1000000 parsers, 4096 records and 1048576 input bytes need 65\d{6} bytes; the module's fixed memory has \d+/);
  assert.match(throws(make({ inputBytes: 2 ** 31 - 1, maxParsers: 2 ** 31 - 1 }), rangeErr).message, 'need over 2 GiB');
  const defaults = new LlhttpParsers();
  assert.is(defaults.maxParsers, 65536);
  assert.is(defaults.records, 4096);
  assert.is(defaults.inputCapacity, 1024 * 1024);
  assert.is(defaults.inputOffset % 16, 0);
  assert.ok(defaults.inputOffset + defaults.inputCapacity <= defaults.memory.buffer.byteLength);
});

test('parsers of one instance keep their own state: two connections whose reads interleave', () => {
  const a = new Reassembler(shared);
  const b = new Reassembler(shared);
  const left = GET + CHUNKED;
  const right = POST + HTTP10;
  const step = 9;
  for (let i = 0; i < Math.max(left.length, right.length); i += step) {
    if (i < left.length) assert.is(a.feed(Buffer.from(left.slice(i, i + step)), i % 50).status, C.HPE_OK);
    if (i < right.length) assert.is(b.feed(Buffer.from(right.slice(i, i + step)), 200 + (i % 50)).status, C.HPE_OK);
  }
  assert.equal(a.messages, one(left).messages);
  assert.equal(b.messages, one(right).messages);
  shared.free(a.parser);
  shared.free(b.parser);
});

test.run();
