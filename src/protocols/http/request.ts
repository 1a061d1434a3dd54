// A request as a handler sees it, shaped like node:http's IncomingMessage:
// method, url, httpVersion, headers (lower case, repeated ones joined as
// node:http joins them), rawHeaders, trailers, the peer's address, and the
// body as 'data'/'end' events or an async iterable.
//
// The body is held in a queue of copies bounded by the connection (it stops
// reading past BODY_BUFFER_BYTES of unread body): each chunk a handler takes
// is reported back, so reading goes on as the handler keeps up. The first
// sign that the handler wants the body (a 'data' listener, resume(), the
// iterator's first pull) is reported too: that is when a request that asked
// for `Expect: 100-continue` gets its 100 Continue.
//
// As in node:http, 'data' flows once a 'data' listener is added (or resume()
// is called; with no listener the body is then discarded), pause() stops it,
// and 'end' comes after the last chunk only when the body was read to its
// end. A connection that closes before the body ended gives 'aborted' and an
// 'error' with code ECONNRESET (message 'aborted'), then 'close'.
import type { Connection } from '../../net/connection.js';
import { Emitter } from '../../net/emitter.js';
import { joinHeaders, type IncomingHeaders } from './headers.js';
import type { RequestHead } from './parser.js';
import { queueJob } from '../../loop/microtask.js';

/** What a request tells the connection it came on. */
export interface BodyReader {
  /** The handler began to read the body. */
  bodyWanted(request: HttpRequest): void;
  /** The handler took `bytes` bytes of body off the queue. */
  bodyConsumed(request: HttpRequest, bytes: number): void;
}

const enum Flow {
  /** Nobody asked for the body yet. */
  Waiting,
  Flowing,
  Paused,
}

// HttpRequest's #bits: its Flow in the low two, then its booleans.
const FLOW = 3;
/** The handler has asked for the body. */
const WANTED = 4;
/** No more body will come (it ended, or the request was aborted). */
const ENDED = 8;
/** A flush of the queued body is due on a microtask. */
const SCHEDULED = 16;
const END_EMITTED = 32;
const CLOSED = 64;

export class HttpRequest extends Emitter implements AsyncIterable<Buffer> {
  // The private fields come first, and few: they are defined as keyed
  // properties, and V8 turns an object whose map left them out of object
  // into a dictionary past 12 such fields (the flow and the booleans are one
  // bit field). See docs/performance.md, "User space on the data path, second pass".
  readonly #connection: Connection;
  readonly #reader: BodyReader;
  #headers: IncomingHeaders | undefined;
  #trailers: IncomingHeaders | undefined;
  #queue: Buffer[] = [];
  /** The body's Flow (FLOW bits), and WANTED, ENDED, SCHEDULED, END_EMITTED, CLOSED. */
  #bits: number = Flow.Waiting;
  #error: Error | undefined;
  /** The async iterator waiting for the next chunk. */
  #waiter: ((result: IteratorResult<Buffer>) => void) | undefined;
  #waiterFailed: ((error: Error) => void) | undefined;
  /** #flush bound to this request, made the first time the body flows (most requests have none). */
  #flushing: (() => void) | undefined;
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly rawHeaders: string[];
  rawTrailers: string[] = [];
  /** Whether the whole body has arrived. */
  complete = false;
  /** Whether the connection closed before the body ended. */
  aborted = false;

  /** `kept`: the head is the parser's kept one, whose rawHeaders stand for later requests too (RequestSink.head): copied. */
  constructor(head: RequestHead, connection: Connection, reader: BodyReader, kept: boolean) {
    super();
    this.method = head.method;
    this.url = head.url;
    this.httpVersionMajor = head.versionMajor;
    this.httpVersionMinor = head.versionMinor;
    this.httpVersion = head.versionMinor === 1 ? '1.1' : `${head.versionMajor}.${head.versionMinor}`;
    this.rawHeaders = kept ? head.rawHeaders.slice() : head.rawHeaders;
    this.#connection = connection;
    this.#reader = reader;
  }

  /** Header names in lower case; repeated headers joined as node:http joins them. */
  get headers(): IncomingHeaders {
    return (this.#headers ??= joinHeaders(this.rawHeaders));
  }

  get trailers(): IncomingHeaders {
    return (this.#trailers ??= joinHeaders(this.rawTrailers));
  }

  get remoteAddress(): string | undefined {
    return this.#connection.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#connection.remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.#connection.remoteFamily;
  }

  /** Body bytes received and not yet read by the handler. */
  get readableLength(): number {
    let bytes = 0;
    for (const chunk of this.#queue) bytes += chunk.length;
    return bytes;
  }

  isPaused(): boolean {
    return (this.#bits & FLOW) === Flow.Paused;
  }

  pause(): this {
    this.#bits = (this.#bits & ~FLOW) | Flow.Paused;
    return this;
  }

  /** Lets 'data' flow; with no 'data' listener the body is read and dropped (node:http's way to discard it). */
  resume(): this {
    this.#bits = (this.#bits & ~FLOW) | Flow.Flowing;
    this.#want();
    this.#schedule();
    return this;
  }

  protected override listenerAdded(event: string | symbol): void {
    if (event === 'data' && (this.#bits & FLOW) !== Flow.Paused) this.resume();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    this.#bits = (this.#bits & ~FLOW) | Flow.Paused;
    this.#want();
    return {
      next: () => this.#next(),
      return: async () => {
        // Leaving the loop early: the rest of the body is dropped, as a stream's iterator destroys it.
        this.#dump();
        return { done: true, value: undefined };
      },
    };
  }

  // ---- from the connection ------------------------------------------------------

  /** A chunk of body (a copy the request owns). */
  push(chunk: Buffer): void {
    if (this.#waiter !== undefined) {
      const waiter = this.#waiter;
      this.#waiter = this.#waiterFailed = undefined;
      this.#reader.bodyConsumed(this, chunk.length);
      waiter({ done: false, value: chunk });
      return;
    }
    this.#queue.push(chunk);
    if ((this.#bits & FLOW) === Flow.Flowing) this.#schedule();
  }

  /** The body ended, with its trailer fields if it had any. */
  finish(rawTrailers: string[] | undefined): void {
    this.complete = true;
    this.#bits |= ENDED;
    if (rawTrailers !== undefined) this.rawTrailers = rawTrailers;
    if (this.#waiter !== undefined && this.#queue.length === 0) {
      const waiter = this.#waiter;
      this.#waiter = this.#waiterFailed = undefined;
      waiter({ done: true, value: undefined });
    } else if ((this.#bits & FLOW) === Flow.Flowing) this.#schedule();
  }

  /** The connection closed (or the body will not come): before the body ended, the request is aborted. Once. */
  closed(): void {
    if ((this.#bits & CLOSED) !== 0) return;
    this.#bits |= CLOSED;
    if ((this.#bits & ENDED) === 0) {
      this.aborted = true;
      this.#bits |= ENDED;
      const error = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      this.#error = error;
      this.emit('aborted');
      if (this.#waiterFailed !== undefined) {
        const failed = this.#waiterFailed;
        this.#waiter = this.#waiterFailed = undefined;
        failed(error);
      }
      if (this.listenerCount('error') > 0) this.emit('error', error);
    }
    this.emit('close');
  }

  /** Whether the handler has asked for the body. */
  get wanted(): boolean {
    return (this.#bits & WANTED) !== 0;
  }

  /** The response ended before the body was read: what is left of it is dropped as it comes. */
  dump(): void {
    this.#dump();
  }

  // ---- inside ---------------------------------------------------------------------

  #want(): void {
    if ((this.#bits & WANTED) !== 0) return;
    this.#bits |= WANTED;
    this.#reader.bodyWanted(this);
  }

  #dump(): void {
    this.#bits = (this.#bits & ~FLOW) | Flow.Flowing;
    this.removeAllListeners('data');
    this.#want();
    this.#schedule();
  }

  #schedule(): void {
    if ((this.#bits & SCHEDULED) !== 0) return;
    this.#bits |= SCHEDULED;
    queueJob((this.#flushing ??= () => this.#flush()));
  }

  /** Hands queued chunks to 'data' (or drops them, with no listener) while flowing; then 'end'. */
  #flush(): void {
    this.#bits &= ~SCHEDULED;
    while ((this.#bits & FLOW) === Flow.Flowing && this.#queue.length > 0) {
      const chunk = this.#queue.shift()!;
      this.#reader.bodyConsumed(this, chunk.length);
      this.emit('data', chunk);
    }
    if ((this.#bits & FLOW) === Flow.Flowing && this.complete && this.#queue.length === 0 && (this.#bits & END_EMITTED) === 0) {
      this.#bits |= END_EMITTED;
      this.emit('end');
    }
  }

  #next(): Promise<IteratorResult<Buffer>> {
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#reader.bodyConsumed(this, chunk.length);
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if ((this.#bits & ENDED) !== 0) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#waiterFailed = reject;
    });
  }
}
