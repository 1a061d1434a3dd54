// HTTP/1.1: a hello-world origin server, for load generators such as wrk.
//
//   GET /         200 "hello" (text/plain)
//   GET /metrics  200 with the text of the `metrics` option
//   HEAD          as GET, without the body
//   other methods on those paths 405; other paths 404
//
// Keep-alive is the default for HTTP/1.1, opt-in for HTTP/1.0, and
// `Connection: close` is honoured. Pipelined requests are answered in order,
// and all the answers to one read go out in one write. Content-Length bodies
// are skipped without being stored; a Transfer-Encoding body (chunked) is
// refused with 411 Length Required, since its end cannot be found without
// decoding it. A malformed request gets 400, a header section over the limit
// 431, an HTTP version other than 1.0 and 1.1 gets 505; each closes the
// connection once the reply is written. No Date header: every reply but
// /metrics is a constant, encoded once.
//
// Costs: the request line and headers are parsed where they lie, in the
// server's read buffer, without making strings; only a request cut by the end
// of a read is copied out (at most the header limit, re-scanned from its start
// on each read until complete).
//
// Output is bounded as RESP's is: before each request the replies gathered
// and the connection's queue are held against its high watermark; at it,
// parsing stops with the rest kept, and resume() goes on once the queue has
// drained. The shared scratch buffer is handed over in a finally, so no
// reply can stay behind for another connection.
//
// Bounds (docs/protocols.md lists them with their reasons): the header
// section must arrive within headersTimeoutMs of the request's first byte and
// the whole request within requestTimeoutMs, however slowly it trickles (408,
// then a gentle close); at most MAX_EMPTY_LINES empty lines before a request
// line (400); maxHeaderBytes of header section (431); one Host header (400).
// The deadlines cost no timer per connection: a request that spans reads
// joins a set its loop sweeps (HttpDeadlines, below), one interval per loop
// while any request is pending, none when none is.
import type { Connection } from '../net/connection.js';
import type { EventLoop } from '../loop/event-loop.js';
import type { Timer } from '../loop/timer.js';
import { assertFunction, assertInteger, assertObject } from '../errors.js';
import type { Protocol, ProtocolFactory } from '../net/protocol.js';
import { CR, InputTail, LF, ReplyBuffer, asBuffer } from './buffers.js';

export interface HttpOptions {
  /** The body of `GET /metrics`. Default: the request count, in Prometheus text format. */
  metrics?: () => string;
  /** Longest header section (request line and headers), in bytes. Default 8 KiB. */
  maxHeaderBytes?: number;
  /**
   * How long the header section may take to arrive, from the request's first
   * byte (ms); then 408 and close. 0 turns it off. Default 60,000 (node:http's
   * server.headersTimeout). At most requestTimeoutMs when both are on.
   */
  headersTimeoutMs?: number;
  /**
   * How long the whole request, body included, may take to arrive, from its
   * first byte (ms); then 408 and close. 0 turns it off. Default 300,000
   * (node:http's server.requestTimeout).
   */
  requestTimeoutMs?: number;
}

export interface HttpProtocolFactory extends ProtocolFactory {
  /** Requests answered (any status) since the factory was made. */
  readonly requests: number;
}

/** 8 KiB, the limit of nginx's default large_client_header_buffers line and of many proxies. */
export const DEFAULT_MAX_HEADER_BYTES = 8 * 1024;
/** node:http's server.headersTimeout: a minute for a header section is ample for any live client. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
/** node:http's server.requestTimeout: five minutes for a whole request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/**
 * Empty lines skipped before a request line: RFC 9112 2.2 asks a server to
 * skip at least one (a client's stray CRLF after a body); more than a few
 * is no client's mistake, and each would be a read that resets nothing.
 */
export const MAX_EMPTY_LINES = 8;
/**
 * The deadline sweep's period: at most this, so a request is timed out at
 * most a second after its deadline (never before), and an eighth of the
 * shortest timeout below 8 s, so short test timeouts stay precise.
 */
export const DEADLINE_SWEEP_MAX_MS = 1000;

const SPACE = 32;
const TAB = 9;
const COLON = 58;
const QUESTION_MARK = 63;

// ---- replies, encoded once --------------------------------------------------

/** How a reply ends the exchange: 1.1 keep-alive says nothing, 1.0 keep-alive says so, close says so. */
const enum Persistence {
  Default = 0,
  KeepAlive = 1,
  Close = 2,
}

const CONNECTION_HEADER = ['', 'Connection: keep-alive\r\n', 'Connection: close\r\n'];

function encodeHead(status: string, contentType: string, length: number, persistence: Persistence, extra = ''): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n${extra}${CONNECTION_HEADER[persistence]}\r\n`;
}

/** One reply in each persistence mode, with and without its body (HEAD). */
function encodeAll(status: string, body: string, extra = ''): Buffer[] {
  const replies: Buffer[] = [];
  for (const persistence of [Persistence.Default, Persistence.KeepAlive, Persistence.Close]) {
    const head = encodeHead(status, 'text/plain', body.length, persistence, extra);
    replies.push(Buffer.from(head + body, 'latin1'), Buffer.from(head, 'latin1'));
  }
  return replies;
}

const HELLO = encodeAll('200 OK', 'hello');
const NOT_FOUND = encodeAll('404 Not Found', 'not found\n');
const METHOD_NOT_ALLOWED = encodeAll('405 Method Not Allowed', 'method not allowed\n', 'Allow: GET, HEAD\r\n');
// Replies that end the connection always carry their body: the request may
// be too broken to tell whether it was a HEAD.
const BAD_REQUEST = Buffer.from(encodeHead('400 Bad Request', 'text/plain', 12, Persistence.Close) + 'bad request\n');
const HEADERS_TOO_LARGE = Buffer.from(
  encodeHead('431 Request Header Fields Too Large', 'text/plain', 32, Persistence.Close) + 'request header fields too large\n',
);
const LENGTH_REQUIRED = Buffer.from(encodeHead('411 Length Required', 'text/plain', 16, Persistence.Close) + 'length required\n');
const VERSION_NOT_SUPPORTED = Buffer.from(
  encodeHead('505 HTTP Version Not Supported', 'text/plain', 27, Persistence.Close) + 'http version not supported\n',
);
const REQUEST_TIMEOUT = Buffer.from(encodeHead('408 Request Timeout', 'text/plain', 16, Persistence.Close) + 'request timeout\n');
const INTERNAL_ERROR = Buffer.from(encodeHead('500 Internal Server Error', 'text/plain', 22, Persistence.Close) + 'internal server error\n');
/** To a client past the server's maxConnections: try again later (RFC 9110 15.6.4). */
const SERVICE_UNAVAILABLE = Buffer.from(
  encodeHead('503 Service Unavailable', 'text/plain', 20, Persistence.Close) + 'too many connections',
);
const NOTHING = Buffer.alloc(0);

function pick(replies: Buffer[], persistence: Persistence, head: boolean): Buffer {
  return replies[persistence * 2 + (head ? 1 : 0)]!;
}

// ---- parsing helpers ---------------------------------------------------------

const GET = Buffer.from('GET');
const HEAD = Buffer.from('HEAD');
const ROOT = Buffer.from('/');
const METRICS = Buffer.from('/metrics');
const HTTP_1_ = Buffer.from('HTTP/1.');
const CONTENT_LENGTH = Buffer.from('content-length');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding');
const CONNECTION = Buffer.from('connection');
const HOST = Buffer.from('host');
const CLOSE = Buffer.from('close');
const KEEP_ALIVE = Buffer.from('keep-alive');

/** RFC 9110 tchar: the characters of a method or header name. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN[c] = TOKEN[c + 32] = 1;

function equals(input: Buffer, start: number, end: number, expected: Buffer): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (input[start + i] !== expected[i]) return false;
  return true;
}

/** Case-insensitive match against a lower-case `expected`. */
function equalsIgnoreCase(input: Buffer, start: number, end: number, expected: Buffer): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) {
    const c = input[start + i]!;
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== expected[i]) return false;
  }
  return true;
}

function isToken(input: Buffer, start: number, end: number): boolean {
  if (start === end) return false;
  for (let i = start; i < end; i++) if (TOKEN[input[i]!] === 0) return false;
  return true;
}

/** Outcome of parsing one request, when it is not the offset after it. */
const INCOMPLETE = -1;
const CLOSED = -2;

// ---- one connection ------------------------------------------------------------

/** What the sessions of one server share. */
interface Shared {
  out: ReplyBuffer;
  requests: number;
  metrics: () => string;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Each loop's sweep of pending requests, made when one first has one. */
  deadlines: WeakMap<EventLoop, HttpDeadlines>;
}

/**
 * The requests of one loop's connections that span reads, swept every
 * period: those past their deadline get 408 and are closed. A request that
 * arrives whole in one read never joins, so keep-alive traffic costs one
 * comparison per read. The interval runs only while the set is not empty.
 */
class HttpDeadlines {
  readonly #loop: EventLoop;
  readonly #periodMs: number;
  readonly #pending = new Set<HttpSession>();
  readonly #owner: WeakMap<EventLoop, HttpDeadlines>;
  #timer: Timer | undefined;

  constructor(loop: EventLoop, shared: Shared) {
    this.#loop = loop;
    this.#owner = shared.deadlines;
    const shortest = Math.min(shared.headersTimeoutMs || Infinity, shared.requestTimeoutMs || Infinity);
    this.#periodMs = Math.max(1, Math.min(DEADLINE_SWEEP_MAX_MS, Math.ceil(shortest / 8)));
  }

  add(session: HttpSession): void {
    this.#pending.add(session);
    if (this.#timer === undefined && !this.#loop.isClosed) {
      this.#timer = this.#loop.setInterval(this.#sweep, this.#periodMs, { label: 'http deadlines' });
    }
  }

  delete(session: HttpSession): void {
    this.#pending.delete(session);
  }

  readonly #sweep = (): void => {
    const now = this.#loop.now();
    for (const session of this.#pending) {
      if (!session.expire(now)) continue;
      this.#pending.delete(session);
    }
    if (this.#pending.size === 0) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#owner.delete(this.#loop);
    }
  };
}

/** The headers that matter here, read from one request. */
interface Headers {
  contentLength: number;
  transferEncoding: boolean;
  close: boolean;
  keepAlive: boolean;
  host: boolean;
}

class HttpSession implements Protocol {
  readonly #shared: Shared;
  readonly #connection: Connection;
  readonly #tail: InputTail;
  readonly #headers: Headers = { contentLength: -1, transferEncoding: false, close: false, keepAlive: false, host: false };
  /** Body bytes of the last request still to arrive, skipped as they do. */
  #bodyLeft = 0;
  #closing = false;
  /** Empty lines skipped since the last request line. */
  #emptyLines = 0;
  /** When the pending request's first byte was read (loop time); -1 when none is pending. */
  #startedAt = -1;
  /** Whether the pending request's header section is complete (only its body is awaited). */
  #headersDone = false;
  /** The sweep this session's pending request is in, if any. */
  #deadlines: HttpDeadlines | undefined;

  constructor(shared: Shared, connection: Connection) {
    this.#shared = shared;
    this.#connection = connection;
    this.#tail = new InputTail(shared.maxHeaderBytes);
  }

  data(connection: Connection, bytes: Uint8Array): void {
    if (this.#closing) return;
    this.#parse(connection, asBuffer(bytes));
    if (this.#closing) this.#forget();
    else if (this.#bodyLeft > 0 || this.#tail.length > 0) {
      if (this.#startedAt < 0) this.#started();
    } else if (this.#startedAt >= 0) this.#forget();
  }

  /**
   * From the sweep: whether this session is done with it (its request
   * finished, its connection closed, or it has just timed out: 408 and a
   * gentle close).
   */
  expire(now: number): boolean {
    const connection = this.#connection;
    if (this.#startedAt < 0 || this.#closing || connection.isClosed) {
      this.#deadlines = undefined;
      return true;
    }
    const { headersTimeoutMs, requestTimeoutMs } = this.#shared;
    const elapsed = now - this.#startedAt;
    const expired = (requestTimeoutMs > 0 && elapsed >= requestTimeoutMs) || (!this.#headersDone && headersTimeoutMs > 0 && elapsed >= headersTimeoutMs);
    if (!expired) return false;
    // Past its header section a request has had its answer (this server
    // answers before the body): a second one would read as the answer to
    // the next request, so the connection only closes, as node:http's does
    // once its response headers are sent.
    if (!this.#headersDone) {
      this.#shared.requests++;
      connection.write(REQUEST_TIMEOUT);
    }
    this.#closing = true;
    this.#startedAt = -1;
    this.#deadlines = undefined;
    this.#tail.release();
    connection.end();
    return true;
  }

  /** A request began in this read and did not end in it: its deadlines start now. */
  #started(): void {
    const { headersTimeoutMs, requestTimeoutMs, deadlines } = this.#shared;
    // A stand-in connection with no loop (a unit test's) has no deadlines.
    const loop = (this.#connection as Partial<Connection>).loop;
    if ((headersTimeoutMs === 0 && requestTimeoutMs === 0) || loop === undefined || loop.isClosed) return;
    this.#startedAt = loop.now();
    let sweep = deadlines.get(loop);
    if (sweep === undefined) deadlines.set(loop, (sweep = new HttpDeadlines(loop, this.#shared)));
    this.#deadlines = sweep;
    sweep.add(this);
  }

  /** No request is pending any more (or the connection is closing): out of the sweep. */
  #forget(): void {
    this.#startedAt = -1;
    this.#headersDone = false;
    this.#deadlines?.delete(this);
    this.#deadlines = undefined;
  }

  #parse(connection: Connection, bytes: Buffer): void {
    let incoming = bytes;
    if (this.#bodyLeft > 0) {
      const skipped = Math.min(this.#bodyLeft, incoming.length);
      this.#bodyLeft -= skipped;
      if (skipped === incoming.length) return;
      incoming = incoming.subarray(skipped);
      // The body ended: the request with it.
      this.#forget();
    }
    const input = this.#tail.combine(incoming);
    const out = this.#shared.out;
    const highWaterMark = connection.highWaterMark;
    let at = 0;
    try {
      while (at < input.length) {
        if (out.length + connection.queuedBytes >= highWaterMark) break;
        const next = this.#request(input, at);
        if (next === INCOMPLETE) break;
        if (next === CLOSED) {
          this.#closing = true;
          break;
        }
        at = next;
      }
    } finally {
      out.flushTo(connection);
    }
    if (this.#closing) connection.end();
    else this.#tail.keep(input, at);
  }

  /** The queue drained: answer the pipelined requests data() kept back at the watermark. */
  resume(connection: Connection): void {
    this.data(connection, NOTHING);
  }

  /** Answers the request at `start`; returns the offset after it (and its body), INCOMPLETE or CLOSED. */
  #request(input: Buffer, start: number): number {
    const out = this.#shared.out;
    const limit = start + this.#shared.maxHeaderBytes;
    const lineEnd = input.indexOf(LF, start);
    if (lineEnd < 0 || lineEnd >= limit) return input.length >= limit ? this.#tooLarge() : INCOMPLETE;
    // RFC 9112 2.2: an empty line before a request line is ignored, a few of them at most.
    if (lineEnd === start || (lineEnd === start + 1 && input[start] === CR)) {
      if (++this.#emptyLines <= MAX_EMPTY_LINES) return lineEnd + 1;
      this.#shared.requests++;
      return this.#fail(BAD_REQUEST);
    }

    // The whole header section must be here before anything is answered.
    let headerEnd = lineEnd + 1;
    for (;;) {
      const next = input.indexOf(LF, headerEnd);
      if (next < 0 || next >= limit) return input.length >= limit ? this.#tooLarge() : INCOMPLETE;
      const blank = next === headerEnd || (next === headerEnd + 1 && input[headerEnd] === CR);
      headerEnd = next + 1;
      if (blank) break;
    }
    this.#shared.requests++;
    this.#emptyLines = 0;

    const requestEnd = lineEnd > start && input[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    const methodEnd = input.indexOf(SPACE, start);
    const targetEnd = methodEnd < 0 ? -1 : input.indexOf(SPACE, methodEnd + 1);
    if (methodEnd < 0 || targetEnd < 0 || targetEnd >= requestEnd || !isToken(input, start, methodEnd) || targetEnd === methodEnd + 1) {
      return this.#fail(BAD_REQUEST);
    }
    for (let i = methodEnd + 1; i < targetEnd; i++) if (input[i]! <= SPACE || input[i] === 127) return this.#fail(BAD_REQUEST);
    const versionStart = targetEnd + 1;
    if (requestEnd - versionStart !== 8 || !equals(input, versionStart, versionStart + 7, HTTP_1_)) {
      return this.#fail(/^HTTP\/\d\.\d$/.test(input.toString('latin1', versionStart, requestEnd)) ? VERSION_NOT_SUPPORTED : BAD_REQUEST);
    }
    const minor = input[versionStart + 7]! - 48;
    if (minor !== 0 && minor !== 1) {
      return this.#fail(minor >= 2 && minor <= 9 ? VERSION_NOT_SUPPORTED : BAD_REQUEST);
    }

    const headers = this.#headers;
    if (!this.#readHeaders(input, lineEnd + 1, headerEnd)) return this.#fail(BAD_REQUEST);
    if (headers.transferEncoding) return this.#fail(LENGTH_REQUIRED);
    if (minor === 1 && !headers.host) return this.#fail(BAD_REQUEST);

    const persistence = headers.close
      ? Persistence.Close
      : minor === 1
        ? Persistence.Default
        : headers.keepAlive
          ? Persistence.KeepAlive
          : Persistence.Close;
    const isHead = equals(input, start, methodEnd, HEAD);
    const isRead = isHead || equals(input, start, methodEnd, GET);
    let pathEnd = input.indexOf(QUESTION_MARK, methodEnd + 1);
    if (pathEnd < 0 || pathEnd > targetEnd) pathEnd = targetEnd;
    if (equals(input, methodEnd + 1, pathEnd, ROOT)) out.append(pick(isRead ? HELLO : METHOD_NOT_ALLOWED, persistence, isHead));
    else if (!equals(input, methodEnd + 1, pathEnd, METRICS)) out.append(pick(NOT_FOUND, persistence, isHead));
    else if (!isRead) out.append(pick(METHOD_NOT_ALLOWED, persistence, false));
    else if (!this.#metrics(persistence, isHead)) return this.#fail(INTERNAL_ERROR);

    if (persistence === Persistence.Close) return CLOSED;
    const bodyLength = Math.max(headers.contentLength, 0);
    const available = input.length - headerEnd;
    if (bodyLength <= available) {
      // Done: the next request's deadlines count from its own first byte.
      if (this.#startedAt >= 0) this.#forget();
      return headerEnd + bodyLength;
    }
    this.#bodyLeft = bodyLength - available;
    this.#headersDone = true;
    return input.length;
  }

  /** Reads the header lines in [from, end) into #headers; false when one is malformed. */
  #readHeaders(input: Buffer, from: number, end: number): boolean {
    const headers = this.#headers;
    headers.contentLength = -1;
    headers.transferEncoding = headers.close = headers.keepAlive = headers.host = false;
    let lineStart = from;
    for (;;) {
      const lineEnd = input.indexOf(LF, lineStart);
      let valueEnd = lineEnd > lineStart && input[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
      if (valueEnd === lineStart) return lineEnd + 1 === end;
      const colon = input.indexOf(COLON, lineStart);
      // Also refuses obsolete line folding: a continuation line has no name.
      if (colon < 0 || colon > valueEnd || !isToken(input, lineStart, colon)) return false;
      let valueStart = colon + 1;
      while (valueStart < valueEnd && (input[valueStart] === SPACE || input[valueStart] === TAB)) valueStart++;
      while (valueEnd > valueStart && (input[valueEnd - 1] === SPACE || input[valueEnd - 1] === TAB)) valueEnd--;
      for (let i = valueStart; i < valueEnd; i++) {
        const c = input[i]!;
        if ((c < SPACE && c !== TAB) || c === 127) return false;
      }
      if (equalsIgnoreCase(input, lineStart, colon, CONTENT_LENGTH)) {
        const length = parseLength(input, valueStart, valueEnd);
        // A repeated Content-Length must agree, or the request's end is ambiguous (RFC 9112 6.3).
        if (length < 0 || (headers.contentLength >= 0 && headers.contentLength !== length)) return false;
        headers.contentLength = length;
      } else if (equalsIgnoreCase(input, lineStart, colon, TRANSFER_ENCODING)) headers.transferEncoding = true;
      else if (equalsIgnoreCase(input, lineStart, colon, HOST)) {
        // RFC 9112 3.2: a request with more than one Host is answered 400.
        if (headers.host) return false;
        headers.host = true;
      }
      else if (equalsIgnoreCase(input, lineStart, colon, CONNECTION)) this.#readConnection(input, valueStart, valueEnd);
      lineStart = lineEnd + 1;
    }
  }

  /** Connection is a comma-separated list of options; only close and keep-alive matter. */
  #readConnection(input: Buffer, start: number, end: number): void {
    let optionStart = start;
    while (optionStart < end) {
      let optionEnd = input.indexOf(44, optionStart);
      if (optionEnd < 0 || optionEnd > end) optionEnd = end;
      let s = optionStart;
      let e = optionEnd;
      while (s < e && (input[s] === SPACE || input[s] === TAB)) s++;
      while (e > s && (input[e - 1] === SPACE || input[e - 1] === TAB)) e--;
      if (equalsIgnoreCase(input, s, e, CLOSE)) this.#headers.close = true;
      else if (equalsIgnoreCase(input, s, e, KEEP_ALIVE)) this.#headers.keepAlive = true;
      optionStart = optionEnd + 1;
    }
  }

  /** Appends the /metrics reply; false when the metrics function failed. */
  #metrics(persistence: Persistence, isHead: boolean): boolean {
    let text: string;
    try {
      text = this.#shared.metrics();
      if (typeof text !== 'string') return false;
    } catch {
      return false;
    }
    const out = this.#shared.out;
    out.latin1(encodeHead('200 OK', 'text/plain; version=0.0.4', Buffer.byteLength(text), persistence));
    if (!isHead) {
      const length = Buffer.byteLength(text);
      out.reserve(length);
      out.length += out.bytes.write(text, out.length, 'utf8');
    }
    return true;
  }

  /** The header section outgrew the limit before it ended: answered, and counted, without parsing it. */
  #tooLarge(): number {
    this.#shared.requests++;
    return this.#fail(HEADERS_TOO_LARGE);
  }

  #fail(reply: Buffer): number {
    this.#shared.out.append(reply);
    return CLOSED;
  }
}

/** A Content-Length value: digits only; -1 when malformed or beyond 2^53. */
function parseLength(input: Buffer, start: number, end: number): number {
  if (start === end || end - start > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = input[i]! - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * An HTTP protocol for one server. `metrics` is called for each
 * `GET /metrics`; if it throws, that request gets 500 and its connection closes.
 */
export function httpProtocol(options: HttpOptions = {}): HttpProtocolFactory {
  assertObject('options', options);
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  assertInteger('options.maxHeaderBytes', maxHeaderBytes, 64, 1 << 20);
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  assertInteger('options.requestTimeoutMs', requestTimeoutMs, 0, 0x7fffffff);
  // As node:http: by default the smaller of a minute and the request timeout.
  const headersTimeoutMs = options.headersTimeoutMs ?? (requestTimeoutMs === 0 ? DEFAULT_HEADERS_TIMEOUT_MS : Math.min(DEFAULT_HEADERS_TIMEOUT_MS, requestTimeoutMs));
  assertInteger('options.headersTimeoutMs', headersTimeoutMs, 0, requestTimeoutMs === 0 ? 0x7fffffff : requestTimeoutMs);
  if (options.metrics !== undefined) assertFunction('options.metrics', options.metrics);
  const shared: Shared = {
    out: new ReplyBuffer(),
    requests: 0,
    maxHeaderBytes,
    headersTimeoutMs,
    requestTimeoutMs,
    deadlines: new WeakMap(),
    metrics: options.metrics ?? (() => `# TYPE wasmloop_http_requests_total counter\nwasmloop_http_requests_total ${shared.requests}\n`),
  };
  const factory = ((connection: Connection) => new HttpSession(shared, connection)) as ProtocolFactory;
  factory.refuse = () => SERVICE_UNAVAILABLE;
  Object.defineProperty(factory, 'requests', { get: () => shared.requests, enumerable: true });
  return factory as HttpProtocolFactory;
}
