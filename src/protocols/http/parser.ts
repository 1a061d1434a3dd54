// One connection's request parser: llhttp (the parser node:http uses) in the
// shared module instance, fed one read at a time, its span table turned into
// calls on a sink. One llhttp_execute per read (more only when the table
// fills, every DEFAULT_RECORDS records), one pass over the records.
//
// The parser's slot is taken when a request begins and handed back when the
// connection is between requests at the end of a read: an idle keep-alive
// connection holds no parser (a fresh llhttp_init is the same state as one
// that has just finished a message).
//
// What llhttp does not bound or check, this does: the header section's size
// (maxHeaderBytes: 431, or 414 when the request line alone passes it), the
// body's (maxBodyBytes: 413), empty lines before a request line
// (MAX_EMPTY_LINES: 400), one Host and Host in HTTP/1.1 (400), versions other
// than 1.0 and 1.1 (505). The sink is told of a refusal once; the parser
// then stops reading.
//
// A request that repeats the last bodiless one byte for byte, from a parser
// between requests, is not parsed again (#repeated, #remember, repeated-request.ts): llhttp is
// deterministic, so the same bytes from the same state make the same records,
// and the checks above the same verdict. The sink is told of it as of a parsed
// one. wrk's request costs 0.39 µs through a handler this way, 0.91 µs parsed
// (bench/http-handler-path.ts).
//
// The header section's size is counted as the bytes fed while it lasts.
// Where it begins or ends inside a read, the span table gives the positions
// (the first span of the request, the last of its header section) and the
// bytes around them are counted as a well-formed request has them (one space
// after the method, CRLF CRLF at the end): exact for a section that spans
// reads or is well-formed, within a few bytes otherwise.
import { Buffer } from 'node:buffer';

import { LlhttpParsers, llhttpConstants, llhttpErrorName, type LlhttpConstants } from '../llhttp.js';
import { MAX_EMPTY_LINES, REPEAT_MAX_BYTES } from './constants.js';
import { RepeatedRequest } from './repeated-request.js';

export interface RequestHead {
  method: string;
  url: string;
  versionMajor: number;
  versionMinor: number;
  /** Names and values in turn, as they arrived. */
  rawHeaders: string[];
  keepAlive: boolean;
  upgrade: boolean;
  /** The Content-Length, -1 when there is none. */
  contentLength: number;
  chunked: boolean;
  expectContinue: boolean;
}

/** What the parser tells its connection, in request order. Offsets are into `RequestParser.bytes`, valid during the call. */
export interface RequestSink {
  /**
   * A request's head. `kept`: the object is the parser's own, kept to stand
   * for the repeats of this request (#repeated): read it, neither change nor
   * keep it, and copy its rawHeaders before handing them out.
   */
  head(head: RequestHead, kept: boolean): void;
  body(bytes: Buffer, offset: number, length: number): void;
  /** The message ended; `rawTrailers` are a chunked body's trailer fields (undefined: none). */
  complete(rawTrailers: string[] | undefined): void;
  /**
   * The request asked for another protocol (Upgrade, CONNECT); its bytes
   * begin at `offset`. Returns whether the connection is handed over (the
   * parser stops) or goes on as HTTP.
   */
  upgrade(bytes: Buffer, offset: number, length: number): boolean;
  /** The request is refused with `status`; nothing more is parsed. */
  refuse(status: number, reason: string): void;
}

// llhttp's constants, read from the module when the first parser is made
// (so that importing this file, as the CLI does, loads no module).
let C!: LlhttpConstants;
let KIND_URL = 0;
let KIND_FIELD = 0;
let KIND_VALUE = 0;
let KIND_BEGIN = 0;
let KIND_HEADERS = 0;
let KIND_BODY = 0;
let KIND_COMPLETE = 0;
let WORDS = 0;
let FIRST = 0;
let F_CHUNKED = 0;
let F_CONTENT_LENGTH = 0;

function readConstants(): void {
  C = llhttpConstants();
  KIND_URL = C.KIND_URL;
  KIND_FIELD = C.KIND_HEADER_FIELD;
  KIND_VALUE = C.KIND_HEADER_VALUE;
  KIND_BEGIN = C.KIND_MESSAGE_BEGIN;
  KIND_HEADERS = C.KIND_HEADERS_COMPLETE;
  KIND_BODY = C.KIND_BODY;
  KIND_COMPLETE = C.KIND_MESSAGE_COMPLETE;
  WORDS = C.RECORD_WORDS;
  FIRST = C.HEADER_WORDS;
  F_CHUNKED = C.F_CHUNKED << C.INFO_FLAGS_SHIFT;
  F_CONTENT_LENGTH = C.F_CONTENT_LENGTH << C.INFO_FLAGS_SHIFT;
}
const CR = 13;
const LF = 10;
/** Bytes around the spans of a well-formed header section: "M" SP url SP "HTTP/1.1" CRLF, then CRLF. */
const VERSION_AND_LINE_END = 11;
const LINE_END = 2;
/** The method's bytes and its space, counted before llhttp names the method (at the end of the header section). */
const METHOD_GUESS = 4;

/** Whether a header name (a token) is `lower` in any case, without making a string. */
function isName(field: string, lower: string): boolean {
  if (field.length !== lower.length) return false;
  // A token's letters differ from their lower case by bit 0x20, and its other characters have that bit already or are not letters.
  for (let i = 0; i < lower.length; i++) if ((field.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * Whether bytes [at, at + length) hold `text` (a latin1 string). A
 * keep-alive connection sends the same URL and header lines request after
 * request: comparing the bytes with the previous request's strings and
 * reusing them costs less than making new ones.
 */
function holds(bytes: Buffer, at: number, length: number, text: string | undefined): boolean {
  if (typeof text !== 'string' || text.length !== length) return false;
  for (let i = 0; i < length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

let shared: { parsers: LlhttpParsers; bytes: Buffer } | undefined;
/** Every connection's parser lives in one instance: one module, one table, one input region per thread. */
function instance(): { parsers: LlhttpParsers; bytes: Buffer } {
  if (shared === undefined) {
    readConstants();
    const parsers = new LlhttpParsers();
    shared = { parsers, bytes: Buffer.from(parsers.memory.buffer, parsers.inputOffset, parsers.inputCapacity) };
  }
  return shared;
}

const enum Phase {
  /** Between requests: no parser slot held. */
  Idle,
  Head,
  Body,
  /** Refused, closed after a request that ends the connection, or handed over: nothing more is parsed. */
  Stopped,
}

export class RequestParser {
  #sink: RequestSink | undefined;
  readonly #maxHeaderBytes: number;
  readonly #maxBodyBytes: number;
  readonly #parsers: LlhttpParsers;
  /** The input region as a Buffer (one for all connections), for the sink's offsets. */
  readonly bytes: Buffer;
  #parser = -1;
  #phase = Phase.Idle;
  #emptyLines = 0;
  /** Header bytes counted before the running execute. */
  #headerBytes = 0;
  /** Where the header section's bytes in the running execute begin: its first byte, or where the request began in it. */
  #headStart = 0;
  /** Whether the request began in the running execute and its URL has not come yet. */
  #begunHere = false;
  /** The end of the last span of the header section in the running execute (-1: none yet). */
  #lastSpanEnd = -1;
  /** Whether that span was the URL's (the version and its line end follow it). */
  #lastSpanUrl = false;
  /** Whether #headStart was placed METHOD_GUESS before the URL (the method's real length is known at the end of the section). */
  #methodGuessed = false;
  #url = '';
  #urlDone = false;
  #field = '';
  #value = '';
  #raw: string[] = [];
  /** The previous request's URL and raw headers, whose strings a request that repeats them reuses. */
  #lastUrl = '';
  #lastRaw: string[] = [];
  /** The last request whose bytes can stand for themselves (#remember), made at the first. */
  #repeat: RepeatedRequest | undefined;
  /** Where the message being parsed began, when it began at the first byte of an execute from a parser between messages (-1: it did not). */
  #messageFrom = -1;
  /** The head the sink was given for the message being parsed. */
  #head: RequestHead | undefined;
  /** The trailer fields, made at the first (most requests have none). */
  #trailers: string[] | undefined;
  #hosts = 0;
  #expectContinue = false;
  #bodyBytes = 0;
  /** The request in progress ends the connection (close, HTTP/1.0): parsing stops after it. */
  #last = false;

  constructor(sink: RequestSink, maxHeaderBytes: number, maxBodyBytes: number) {
    this.#sink = sink;
    this.#maxHeaderBytes = maxHeaderBytes;
    this.#maxBodyBytes = maxBodyBytes;
    const { parsers, bytes } = instance();
    this.#parsers = parsers;
    this.bytes = bytes;
  }

  /**
   * Between requests, holding nothing of the connection's (no llhttp slot,
   * no empty lines counted): it can serve another connection.
   */
  get betweenRequests(): boolean {
    return this.#phase === Phase.Idle && this.#emptyLines === 0 && this.#parser < 0;
  }

  /** Serves `sink` from now on (a parser between requests, from a pool). */
  attach(sink: RequestSink): this {
    this.#sink = sink;
    return this;
  }

  /** Lets go of its sink (it goes back to a pool between requests). */
  detach(): this {
    this.#sink = undefined;
    return this;
  }

  /** Whether a request is partly read (its deadlines run). */
  get inRequest(): boolean {
    return this.#phase === Phase.Head || this.#phase === Phase.Body;
  }

  /** Whether the request being read has its whole header section. */
  get headDone(): boolean {
    return this.#phase === Phase.Body;
  }

  get stopped(): boolean {
    return this.#phase === Phase.Stopped;
  }

  /** One read. */
  feed(input: Uint8Array): void {
    const capacity = this.#parsers.inputCapacity;
    for (let at = 0; at < input.length && this.#phase !== Phase.Stopped; at += capacity) {
      this.#chunk(at === 0 && input.length <= capacity ? input : input.subarray(at, at + capacity));
    }
    if (this.#phase === Phase.Idle) this.#release();
  }

  /** Nothing more will be fed: the parser's slot goes back. */
  stop(): void {
    this.#phase = Phase.Stopped;
    this.#release();
  }

  #release(): void {
    if (this.#parser >= 0) {
      this.#parsers.free(this.#parser);
      this.#parser = -1;
    }
  }

  #chunk(chunk: Uint8Array): void {
    const length = chunk.length;
    let skipped = 0;
    if (this.#phase === Phase.Idle) {
      // RFC 9112 2.2: empty lines before a request line, a few at most.
      while (skipped < length && (chunk[skipped] === CR || chunk[skipped] === LF)) {
        if (chunk[skipped++] === LF && ++this.#emptyLines > MAX_EMPTY_LINES) return this.#refuse(400, 'too many empty lines');
      }
      if (skipped === length) return;
      if (this.#repeat !== undefined) {
        skipped = this.#repeated(this.#repeat, chunk, skipped);
        if (skipped === length || this.#phase !== Phase.Idle) return;
      }
    }
    const fresh = this.#phase === Phase.Idle;
    const p = this.#parsers;
    if (this.#parser < 0) this.#parser = p.alloc();
    p.input.set(chunk, 0);
    let offset = skipped;
    for (;;) {
      const status = p.execute(this.#parser, offset, length - offset);
      const stop = p.table[C.HEADER_STOP]!;
      this.#records(offset, offset + (status === C.HPE_OK ? length - offset : stop), fresh && offset === skipped);
      if (this.#phase === Phase.Stopped) return;
      if (status === C.HPE_OK) return;
      if (status === C.HPE_PAUSED) {
        p.resume(this.#parser);
        offset += stop;
        continue;
      }
      if (status === C.HPE_PAUSED_UPGRADE) {
        offset += stop;
        if (this.#sink!.upgrade(this.bytes, offset, length - offset)) {
          this.#phase = Phase.Stopped;
          this.#release();
          return;
        }
        p.resumeAfterUpgrade(this.#parser);
        continue;
      }
      const name = llhttpErrorName(status);
      const reason = p.reason(this.#parser);
      // A well-formed version llhttp does not know (HTTP/1.2) is 505; a malformed one (HTTP/1.x) is 400.
      return this.#refuse(name === 'HPE_INVALID_VERSION' && reason === 'Invalid HTTP version' ? 505 : 400, `${name}: ${reason}`);
    }
  }

  /**
   * The requests at `at` in `chunk` that repeat `repeat`, told to the
   * sink as the parse would tell them, one after another while they last and
   * the parser stays between requests. Returns where the rest begins.
   */
  #repeated(repeat: RepeatedRequest, chunk: Uint8Array, at: number): number {
    const head = repeat.head;
    while (repeat.isAt(chunk, at)) {
      at += repeat.length;
      this.#emptyLines = 0;
      this.#last = !head.keepAlive;
      this.#trailers = undefined;
      this.#phase = Phase.Body;
      // The strings a next request parsed afresh may reuse.
      this.#lastUrl = head.url;
      this.#lastRaw = head.rawHeaders;
      this.#sink!.head(head, true);
      if ((this.#phase as Phase) === Phase.Stopped) break;
      this.#complete();
      if ((this.#phase as Phase) !== Phase.Idle) break;
    }
    return at;
  }

  /**
   * At MESSAGE_COMPLETE: keeps the message's bytes and head for #repeated
   * when they can stand for themselves: it began an execute from a parser
   * between messages, had no body (a chunked one counts, empty or not: it
   * ends past the header section), did not ask for an upgrade
   * (the sink decides each one, in sink.upgrade, which #repeated does not
   * call), and its header section ends with its last value and CRLF CRLF (so
   * its last byte is known without a record for it).
   */
  #remember(bytes: Buffer, executeEnd: number): void {
    const from = this.#messageFrom;
    const head = this.#head;
    const end = this.#lastSpanEnd + 2 * LINE_END;
    if (from < 0 || head === undefined || head.upgrade || head.chunked || this.#bodyBytes !== 0) return;
    if (end - from > REPEAT_MAX_BYTES || end > executeEnd) return;
    if (bytes[end - 4] !== CR || bytes[end - 3] !== LF || bytes[end - 2] !== CR || bytes[end - 1] !== LF) return;
    if (this.#repeat === undefined) this.#repeat = new RepeatedRequest(bytes, from, end, head);
    else this.#repeat.keep(bytes, from, end, head);
  }

  /**
   * One pass over the table of the execute that read bytes [base, end) of
   * the input region; `fresh`: it began with the parser between messages.
   */
  #records(base: number, end: number, fresh: boolean): void {
    const table = this.#parsers.table;
    const bytes = this.bytes;
    const count = table[C.HEADER_COUNT]!;
    this.#headStart = base;
    this.#begunHere = false;
    this.#lastSpanEnd = -1;
    // A message that began in an earlier execute is never remembered: its bytes are not all here.
    this.#messageFrom = -1;
    for (let i = 0, r = FIRST; i < count && this.#phase !== Phase.Stopped; i++, r += WORDS) {
      const kind = table[r]!;
      const a = table[r + 1]! + base;
      const b = table[r + 2]!;
      if (kind === KIND_VALUE) {
        if (b > 0) {
          const last = this.#value === '' ? this.#lastRaw[this.#raw.length + 1] : undefined;
          this.#value += holds(bytes, a, b, last) ? last! : bytes.toString('latin1', a, a + b);
          this.#spanEnd(a + b, false);
        }
        if (table[r + 3] !== 0) this.#fieldDone();
      } else if (kind === KIND_FIELD) {
        if (b > 0) {
          const last = this.#field === '' ? this.#lastRaw[this.#raw.length] : undefined;
          this.#field += holds(bytes, a, b, last) ? last! : bytes.toString('latin1', a, a + b);
          this.#spanEnd(a + b, false);
        }
      } else if (kind === KIND_BODY) {
        this.#lastSpanEnd = a + b;
        this.#bodyBytes += b;
        if (this.#bodyBytes > this.#maxBodyBytes) return this.#refuse(413, 'body over maxBodyBytes');
        this.#sink!.body(bytes, a, b);
      } else if (kind === KIND_URL) {
        if (b > 0) {
          if (this.#url === '' && this.#begunHere) {
            // The method and its space are before the URL: counted as METHOD_GUESS bytes until llhttp names the method.
            this.#methodGuessed = a - METHOD_GUESS >= this.#headStart;
            this.#headStart = Math.max(this.#headStart, a - METHOD_GUESS);
            this.#begunHere = false;
          }
          this.#url += this.#url === '' && holds(bytes, a, b, this.#lastUrl) ? this.#lastUrl : bytes.toString('latin1', a, a + b);
          this.#spanEnd(a + b, true);
        }
        if (table[r + 3] !== 0) this.#urlDone = true;
      } else if (kind === KIND_BEGIN) {
        this.#begin(this.#lastSpanEnd < 0 ? base : this.#lastSpanEnd);
        this.#messageFrom = fresh && i === 0 ? base : -1;
      } else if (kind === KIND_HEADERS) {
        this.#headers(table[r + 1]!, table[r + 2]!, table[r + 3]!, end);
      } else if (kind === KIND_COMPLETE) {
        if (this.#messageFrom >= 0) this.#remember(bytes, end);
        this.#complete();
      }
    }
    if (this.#phase === Phase.Head) {
      // Still in the header section at the end of the bytes: all of them count.
      this.#headerBytes += end - this.#headStart;
      if (this.#headerBytes >= this.#maxHeaderBytes) this.#refuse(this.#urlDone ? 431 : 414, 'header section over maxHeaderBytes');
    }
  }

  #spanEnd(at: number, url: boolean): void {
    this.#lastSpanEnd = at;
    this.#lastSpanUrl = url;
  }

  /** MESSAGE_BEGIN, somewhere after `after` (the end of the last span before it in this execute, or its first byte). */
  #begin(after: number): void {
    this.#phase = Phase.Head;
    this.#emptyLines = 0;
    this.#headerBytes = 0;
    this.#headStart = after;
    this.#begunHere = true;
    this.#lastSpanEnd = -1;
    this.#methodGuessed = false;
    this.#url = '';
    this.#urlDone = false;
    this.#raw = [];
    this.#trailers = undefined;
    this.#hosts = 0;
    this.#expectContinue = false;
    this.#bodyBytes = 0;
  }

  #fieldDone(): void {
    const field = this.#field;
    // Trailing blanks are not part of a value (RFC 9110 5.5); llhttp leaves them in the span.
    let value = this.#value;
    const last = value.charCodeAt(value.length - 1);
    if (last === 32 || last === 9) value = value.replace(/[ \t]+$/, '');
    this.#field = this.#value = '';
    if (this.#phase === Phase.Body) {
      (this.#trailers ??= []).push(field, value);
      return;
    }
    this.#raw.push(field, value);
    if (isName(field, 'host')) this.#hosts++;
    else if (isName(field, 'expect') && value.toLowerCase() === '100-continue') this.#expectContinue = true;
  }

  /** HEADERS_COMPLETE: checks what llhttp leaves to its user, then tells the sink; false when refused. */
  #headers(info: number, lengthLow: number, lengthHigh: number, end: number): boolean {
    const method = C.methods[info & C.INFO_METHOD_MASK]!;
    const raw = this.#raw;
    // The section's size: what came before this execute, and this execute's
    // part up to its last span and the line ends after it.
    const start = this.#headStart;
    const headEnd =
      this.#lastSpanEnd < 0 ? start + Math.min(LINE_END * 2, end - start) : this.#lastSpanEnd + LINE_END * 2 + (this.#lastSpanUrl ? VERSION_AND_LINE_END - LINE_END : 0);
    const size = this.#headerBytes + headEnd - start + (this.#methodGuessed ? method.length + 1 - METHOD_GUESS : 0);
    if (size > this.#maxHeaderBytes) {
      const requestLine = method.length + 1 + this.#url.length + VERSION_AND_LINE_END;
      this.#refuse(requestLine > this.#maxHeaderBytes ? 414 : 431, 'header section over maxHeaderBytes');
      return false;
    }
    const major = (info >> C.INFO_MAJOR_SHIFT) & C.INFO_VERSION_MASK;
    const minor = (info >> C.INFO_MINOR_SHIFT) & C.INFO_VERSION_MASK;
    if (major !== 1 || minor > 1) {
      // HTTP/0.9 (a request line without a version) has no way to carry a status: 400, as a malformed line.
      this.#refuse(major === 0 ? 400 : 505, `HTTP/${major}.${minor}`);
      return false;
    }
    // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
    if (this.#hosts > 1 || (minor === 1 && this.#hosts === 0)) {
      this.#refuse(400, this.#hosts > 1 ? 'more than one Host' : 'no Host');
      return false;
    }
    const contentLength = (info & F_CONTENT_LENGTH) !== 0 ? lengthHigh * 2 ** 32 + (lengthLow >>> 0) : -1;
    if (contentLength > this.#maxBodyBytes) {
      this.#refuse(413, 'Content-Length over maxBodyBytes');
      return false;
    }
    const keepAlive = (info & C.INFO_KEEP_ALIVE) !== 0;
    this.#last = !keepAlive;
    this.#phase = Phase.Body;
    this.#lastUrl = this.#url;
    this.#lastRaw = raw;
    this.#sink!.head((this.#head = {
      method,
      url: this.#url,
      versionMajor: major,
      versionMinor: minor,
      rawHeaders: raw,
      keepAlive,
      upgrade: (info & C.INFO_UPGRADE) !== 0,
      contentLength,
      chunked: (info & F_CHUNKED) !== 0,
      expectContinue: this.#expectContinue,
    }), false);
    return true;
  }

  #complete(): void {
    this.#phase = this.#last ? Phase.Stopped : Phase.Idle;
    this.#sink!.complete(this.#trailers);
    if (this.#phase === Phase.Stopped) this.#release();
  }

  #refuse(status: number, reason: string): void {
    this.#phase = Phase.Stopped;
    this.#release();
    this.#sink!.refuse(status, reason);
  }
}
