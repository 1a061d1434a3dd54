// A response as a handler writes it, shaped like node:http's ServerResponse:
// statusCode, statusMessage, setHeader/getHeader/removeHeader/hasHeader,
// writeHead, write() returning false with 'drain' to follow, end(),
// headersSent, 'finish' and 'close'.
//
// Framing as node:http frames it: end(data) before anything was written
// sends a Content-Length; a body written in pieces without one is chunked in
// HTTP/1.1, and ends the connection in HTTP/1.0 (which has no chunks); HEAD,
// 1xx, 204 and 304 have no body. A Date header unless sendDate is false,
// `Connection: close` when the exchange ends the connection, `Connection:
// keep-alive` to an HTTP/1.0 client that asked to keep it.
//
// The response does not write to the connection itself: its bytes go to the
// exchange's output (ResponseOutput), which keeps pipelined responses in
// request order.
import { Buffer } from 'node:buffer';
import { STATUS_CODES } from 'node:http';

import { WasmloopError } from '../../errors.js';
import { CONTINUE } from './constants.js';
import { Emitter } from '../../net/emitter.js';
import { cachedHeaders, checkHeader, HeadLines, type CachedHeaders, type OutgoingHeaders, type OutgoingValue } from './head-lines.js';
import type { HttpRequest } from './request.js';
import { queueJob } from '../../loop/microtask.js';

/** Where a response's bytes go, in request order. */
export interface ResponseOutput {
  /** Hands bytes over; false when the writer should wait for the response's 'drain'. */
  send(response: HttpResponse, bytes: Uint8Array): boolean;
  /** A whole response: its head (latin1 text, or its bytes) and its body, in one piece. */
  sendWhole(response: HttpResponse, head: string | Uint8Array, body: Uint8Array): boolean;
  /** The response's last bytes were handed over. */
  ended(response: HttpResponse): void;
}

export type { OutgoingHeaders, OutgoingValue } from './head-lines.js';

let dateText = '';
let dateExpires = 0;

/** The Date header's value, made once a second. */
function httpDate(): string {
  const now = Date.now();
  if (now >= dateExpires) {
    dateText = new Date(now).toUTCString();
    dateExpires = now - (now % 1000) + 1000;
  }
  return dateText;
}

function headersSentError(what: string): WasmloopError {
  return new WasmloopError('ERR_HTTP_HEADERS_SENT', `Cannot ${what} headers after they are sent to the client`);
}

function toBytes(chunk: string | Uint8Array, encoding: BufferEncoding): Uint8Array {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding);
  if (chunk instanceof Uint8Array) return chunk;
  throw Object.assign(new TypeError('The "chunk" argument must be of type string or an instance of Buffer or Uint8Array'), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
}

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
const NO_HEADERS: ReadonlyMap<string, [string, OutgoingValue]> = new Map();

type Callback = (error?: Error | null) => void;

// HttpResponse's booleans, bits of its #bits.
/** The connection closes after this response (the request said so, or the response). */
const CLOSING = 1;
/** A HEAD request's response: no body is sent. */
const HEAD_ONLY = 2;
const HTTP10 = 4;
const HEAD_WRITTEN = 8;
const CHUNKED = 16;
const NO_BODY = 32;
const ENDED = 64;
const FINISHED = 128;
const CLOSED = 256;
const NEED_DRAIN = 512;

export class HttpResponse extends Emitter {
  // The private fields come first, and few: they are defined as keyed
  // properties, and V8 turns an object whose map left them out of object
  // into a dictionary past 12 such fields (the booleans are one bit field).
  /** CLOSING, HEAD_ONLY, HTTP10, HEAD_WRITTEN, CHUNKED, NO_BODY, ENDED, FINISHED, CLOSED, NEED_DRAIN. */
  #bits: number;
  readonly #output: ResponseOutput;
  /** Set headers by lower-case name: [name as given, value]. */
  #headers: Map<string, [string, OutgoingValue]> | undefined;
  /** The header object given to writeHead() when it was the only source of headers: encoded once for all responses that give it. */
  #given: CachedHeaders | undefined;
  /** The encoded head, once writeHead() or the first write made it (headersSent). */
  #headText: string | Buffer | undefined;
  statusCode = 200;
  statusMessage: string | undefined = undefined;
  /** Whether a Date header is added (node:http's default, true). */
  sendDate = true;
  readonly req: HttpRequest;

  constructor(req: HttpRequest, output: ResponseOutput, closing: boolean) {
    super();
    this.#bits = (closing ? CLOSING : 0) | (req.method === 'HEAD' ? HEAD_ONLY : 0) | (req.httpVersionMinor === 0 ? HTTP10 : 0);
    this.#output = output;
    this.req = req;
  }

  /** Sets or clears bits of #bits. */
  #mark(bits: number, on: boolean): void {
    this.#bits = on ? this.#bits | bits : this.#bits & ~bits;
  }

  get headersSent(): boolean {
    return this.#headText !== undefined;
  }

  get writableEnded(): boolean {
    return (this.#bits & ENDED) !== 0;
  }

  get writableFinished(): boolean {
    return (this.#bits & FINISHED) !== 0;
  }

  /** Whether the connection will close after this response. */
  get closesConnection(): boolean {
    return (this.#bits & CLOSING) !== 0;
  }

  setHeader(name: string, value: OutgoingValue): this {
    if (this.#headText !== undefined) throw headersSentError('set');
    checkHeader(name, value);
    (this.#headers ??= new Map()).set(name.toLowerCase(), [name, value]);
    return this;
  }

  getHeader(name: string): OutgoingValue | undefined {
    return this.#map()?.get(String(name).toLowerCase())?.[1];
  }

  getHeaders(): OutgoingHeaders {
    const headers: OutgoingHeaders = Object.create(null) as OutgoingHeaders;
    const map = this.#map();
    if (map !== undefined) for (const [key, [, value]] of map) headers[key] = value;
    return headers;
  }

  getHeaderNames(): string[] {
    const map = this.#map();
    return map === undefined ? [] : [...map.keys()];
  }

  hasHeader(name: string): boolean {
    return this.#map()?.has(String(name).toLowerCase()) ?? false;
  }

  removeHeader(name: string): void {
    if (this.#headText !== undefined) throw headersSentError('remove');
    this.#headers?.delete(String(name).toLowerCase());
  }

  /** Sets the status (and message) and headers, as node:http's writeHead: headers given here win over setHeader's. */
  writeHead(statusCode: number, message?: string | OutgoingHeaders | readonly unknown[], headers?: OutgoingHeaders | readonly unknown[]): this {
    if (this.#headText !== undefined) throw headersSentError('write');
    if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 999) {
      throw Object.assign(new RangeError(`Invalid status code: ${statusCode}`), { code: 'ERR_HTTP_INVALID_STATUS_CODE' });
    }
    if (typeof message === 'string') this.statusMessage = message;
    else headers = message;
    this.statusCode = statusCode;
    if (Array.isArray(headers)) {
      // [[name, value], ...] or [name, value, name, value, ...], as node:http takes them.
      if (headers.length > 0 && Array.isArray(headers[0])) for (const [name, value] of headers as [string, OutgoingValue][]) this.setHeader(name, value);
      else for (let i = 0; i < headers.length; i += 2) this.setHeader(headers[i] as string, headers[i + 1] as OutgoingValue);
    } else if (headers !== undefined && headers !== null) {
      // A header object alone (nothing set before): its lines come encoded, from the cache when it was given before.
      if (this.#headers === undefined || this.#headers.size === 0) this.#given = cachedHeaders(headers as OutgoingHeaders);
      if (this.#given === undefined) for (const name of Object.keys(headers)) {
        const value = (headers as OutgoingHeaders)[name];
        if (value !== undefined) this.setHeader(name, value);
      }
    }
    this.#makeHead(-1);
    return this;
  }

  /** Sends the head now, before any body. */
  flushHeaders(): void {
    if (this.#headText === undefined) this.#makeHead(-1);
    this.#sendHead();
  }

  /** Sends `100 Continue` (for a request that asked with Expect: 100-continue). */
  writeContinue(): void {
    this.#output.send(this, CONTINUE);
  }

  write(chunk: string | Uint8Array, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if ((this.#bits & ENDED) !== 0) {
      const error = new WasmloopError('ERR_STREAM_WRITE_AFTER_END', 'write after end');
      queueJob(() => {
        callback?.(error);
        if (this.listenerCount('error') > 0) this.emit('error', error);
      });
      return false;
    }
    const bytes = toBytes(chunk, encoding ?? 'utf8');
    if (this.#headText === undefined) this.#makeHead(-1);
    const ok = this.#sendBody(bytes);
    if (callback !== undefined) queueJob(() => callback!(null));
    if (!ok) this.#bits |= NEED_DRAIN;
    return ok;
  }

  end(chunk?: string | Uint8Array | Callback, encoding?: BufferEncoding | Callback, callback?: Callback): this {
    if (typeof chunk === 'function') {
      callback = chunk;
      chunk = undefined;
    } else if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if ((this.#bits & ENDED) !== 0) {
      if (callback !== undefined) queueJob(() => callback!(null));
      return this;
    }
    const bytes = chunk === undefined || chunk === null ? EMPTY : toBytes(chunk, (encoding as BufferEncoding | undefined) ?? 'utf8');
    this.#bits |= ENDED;
    if (callback !== undefined) this.once('finish', callback);
    if (this.#headText === undefined) {
      // Nothing written yet: the whole body is known, so it gets a Content-Length, in one write with the head.
      this.#makeHead(bytes.length);
      this.#bits |= HEAD_WRITTEN;
      this.#output.sendWhole(this, this.#headText!, (this.#bits & NO_BODY) !== 0 ? EMPTY : bytes);
    } else if ((this.#bits & HEAD_WRITTEN) === 0 && (this.#bits & CHUNKED) === 0) {
      // writeHead() then end(body): still one piece.
      this.#bits |= HEAD_WRITTEN;
      this.#output.sendWhole(this, this.#headText!, (this.#bits & NO_BODY) !== 0 ? EMPTY : bytes);
    } else {
      if (bytes.length > 0) this.#sendBody(bytes);
      else this.#sendHead();
      if ((this.#bits & CHUNKED) !== 0) this.#output.send(this, LAST_CHUNK);
    }
    this.#output.ended(this);
    return this;
  }

  // ---- from the connection --------------------------------------------------------

  /** Its bytes are all with the connection: 'finish', then 'close'. */
  finished(): void {
    if ((this.#bits & FINISHED) !== 0) return;
    this.#bits |= FINISHED;
    this.emit('finish');
    this.closed();
  }

  /** The connection took the bytes that write() said to wait for. */
  drained(): void {
    if ((this.#bits & NEED_DRAIN) === 0) return;
    this.#bits &= ~NEED_DRAIN;
    this.emit('drain');
  }

  /** The exchange is over, finished or not (the connection closed under it). */
  closed(): void {
    if ((this.#bits & CLOSED) !== 0) return;
    this.#bits |= CLOSED;
    this.emit('close');
  }

  /** The exchange has to end the connection (a later refusal, a server-side error): say so in the head, if not sent yet. */
  mustClose(): void {
    if (this.#headText === undefined) this.#bits |= CLOSING;
  }

  // ---- inside ---------------------------------------------------------------------

  /** The set headers by lower-case name; made from writeHead()'s header object when that was encoded without them. */
  #map(): Map<string, [string, OutgoingValue]> | undefined {
    const given = this.#given;
    if (given !== undefined && this.#headers === undefined) {
      const map = (this.#headers = new Map());
      for (let i = 0; i < given.keys.length; i++) map.set(given.keys[i]!.toLowerCase(), [given.keys[i]!, given.values[i]!]);
    }
    return this.#headers;
  }

  /** Encodes the head; `length` is the whole body's when end() came first, else -1. */
  #makeHead(length: number): void {
    const status = this.statusCode;
    const message = this.statusMessage ?? STATUS_CODES[status] ?? 'unknown';
    this.#mark(NO_BODY, (this.#bits & HEAD_ONLY) !== 0 || status < 200 || status === 204 || status === 304);
    let lines: HeadLines | undefined = this.#given;
    if (lines === undefined) {
      lines = new HeadLines();
      for (const [key, [name, value]] of this.#headers ?? NO_HEADERS) lines.add(key, name, value);
    }
    if (lines.close) this.#bits |= CLOSING;
    // The lines the response adds after the given ones.
    let tail = '';
    if (this.sendDate && !lines.hasDate) tail += `Date: ${httpDate()}\r\n`;
    const bodyAllowed = status >= 200 && status !== 204 && status !== 304;
    if (lines.transferEncoding !== undefined) {
      this.#mark(CHUNKED, (this.#bits & NO_BODY) === 0 && /(^|,)\s*chunked\s*$/i.test(lines.transferEncoding));
    } else if (!lines.hasLength && bodyAllowed) {
      if (length >= 0) tail += `Content-Length: ${length}\r\n`;
      else if ((this.#bits & NO_BODY) === 0 && (this.#bits & HTTP10) === 0) {
        tail += 'Transfer-Encoding: chunked\r\n';
        this.#bits |= CHUNKED;
      } else if ((this.#bits & NO_BODY) === 0) this.#bits |= CLOSING; // HTTP/1.0 has no chunks: the end of the connection ends the body.
    }
    if (!lines.hasConnection) {
      if ((this.#bits & CLOSING) !== 0) tail += 'Connection: close\r\n';
      else if ((this.#bits & HTTP10) !== 0) tail += 'Connection: keep-alive\r\n';
    }
    this.#headText = this.#given !== undefined ? this.#given.head(status, message, tail) : `HTTP/1.1 ${status} ${message}\r\n${lines.text}${tail}\r\n`;
  }

  #sendHead(): boolean {
    if ((this.#bits & HEAD_WRITTEN) !== 0) return true;
    this.#bits |= HEAD_WRITTEN;
    const head = this.#headText!;
    return this.#output.send(this, typeof head === 'string' ? Buffer.from(head, 'latin1') : head);
  }

  #sendBody(bytes: Uint8Array): boolean {
    if ((this.#bits & NO_BODY) !== 0 || bytes.length === 0) return this.#sendHead();
    const head = (this.#bits & HEAD_WRITTEN) !== 0 ? '' : this.#headText!;
    this.#bits |= HEAD_WRITTEN;
    const size = (this.#bits & CHUNKED) !== 0 ? `${bytes.length.toString(16)}\r\n` : '';
    const whole = Buffer.allocUnsafe(head.length + size.length + bytes.length + ((this.#bits & CHUNKED) !== 0 ? 2 : 0));
    if (typeof head === 'string') whole.write(head, 0, 'latin1');
    else whole.set(head, 0);
    whole.write(size, head.length, 'latin1');
    const at = head.length + size.length;
    whole.set(bytes, at);
    if ((this.#bits & CHUNKED) !== 0) whole.set(CRLF, at + bytes.length);
    return this.#output.send(this, whole);
  }
}
