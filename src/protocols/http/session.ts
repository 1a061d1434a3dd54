// One HTTP connection: the parser's requests in, the handler's responses out
// in request order, and the bounds between them.
//
//   - Pipelining: each request's handler is called as soon as its head is
//     parsed; the response of the oldest request goes to the connection,
//     later ones are held (PIPELINED_OUTPUT_BYTES each, then write() says
//     wait) until it is their turn. At most MAX_PIPELINED requests wait for
//     their responses; past that the connection stops reading.
//   - Body backpressure: unread body is held up to BODY_BUFFER_BYTES, then
//     the connection stops reading until the handler reads on.
//   - Output backpressure: res.write() returns false once the connection's
//     queue is past its high watermark; 'drain' follows in resume().
//   - Everything written while a read is handled goes out in one write (the
//     shared ReplyBuffer); the default handler's constant replies too.
//   - Errors: a request the parser refuses gets its status (400, 413, 414,
//     431, 505) in its turn, then the connection ends; a handler that
//     throws or rejects gets 500 if it had sent nothing (else the
//     connection closes), the error goes to the loop's 'error', and the
//     connection ends after it, as node:http ends one after an error it
//     answered itself. Other connections are not touched.
//   - Timeouts: headersTimeoutMs and requestTimeoutMs (deadlines.ts).
import { Buffer } from 'node:buffer';

import type { CloseReason, Connection } from '../../net/connection.js';
import type { EventLoop } from '../../loop/event-loop.js';
import type { Protocol } from '../../net/protocol.js';
import { emptyList } from '../../loop/lists.js';
import { afterPassUnchecked, reportErrorUnchecked } from '../../loop/internal.js';
import { native } from '../../kernel/native.js';
import type { ReplyBuffer } from '../buffers.js';
import { BODY_BUFFER_BYTES, CONTINUE, ERROR_REPLIES, MAX_PIPELINED, PARSER_POOL_MAX, Persistence, PIPELINED_OUTPUT_BYTES } from './constants.js';
import { HttpDeadlines } from './deadlines.js';
import { answerByDefault } from './default-handler.js';
import { RequestParser, type RequestHead, type RequestSink } from './parser.js';
import { HttpRequest } from './request.js';
import type { HttpResponse } from './response.js';
import { Exchange, type ExchangeOwner } from './exchange.js';
import { queueJob } from '../../loop/microtask.js';

export type HttpHandler = (req: HttpRequest, res: HttpResponse) => unknown;
/**
 * Takes over a connection whose request asked for another protocol
 * (Upgrade, CONNECT). `head` holds the bytes that came after the request.
 * The protocol it returns gets the connection's later bytes and events; with
 * none, later bytes are dropped (end or close the connection yourself).
 */
export type UpgradeHandler = (req: HttpRequest, connection: Connection, head: Buffer) => Protocol | void;

/** What the sessions of one server share. */
export interface Shared {
  out: ReplyBuffer;
  requests: number;
  metrics: () => string;
  handler: HttpHandler | undefined;
  upgrade: UpgradeHandler | undefined;
  maxHeaderBytes: number;
  maxBodyBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  deadlines: WeakMap<EventLoop, HttpDeadlines>;
  /** Parsers no session holds: a session takes one for a read and gives it back when the read leaves it between requests. */
  parsers: RequestParser[];
}

/**
 * The list every session starts with in place of its own (exchanges, due
 * handlers, waiting answers): an idle connection makes no arrays. Never
 * pushed to: a session makes its own list at its first entry.
 */
const NONE: never[] = [];

// A session's states, bits of its `#flags`.
/** Inside data(): writes gather in the shared buffer, for one write per read. */
const BATCHING = 1;
/** No more requests: the connection ends once the responses before are out. */
const CLOSING = 2;
/** The connection was ended or closed. */
const ENDED = 4;
/** Reading is held off by a bound (body held, requests pipelined). */
const READ_HELD = 8;

/** Bytes written at once past which the read's batch is flushed first and the bytes go straight to the connection. */
const BATCH_AT_MOST = 16 * 1024;

/** A session's state that most connections never need, kept off the session itself. */
class RareState {
  upgrading: { req: HttpRequest; head: Buffer } | undefined = undefined;
  upgraded: Protocol | null | undefined = undefined;
  pendingRefusal: Buffer | undefined = undefined;
}

export class HttpSession implements Protocol, RequestSink, ExchangeOwner {
  readonly #shared: Shared;
  readonly #connection: Connection;
  /**
   * Held while a request is partly read, stopped, or handed over; between
   * requests it is back in the server's pool, so an idle connection holds
   * none (see data()).
   */
  #parser: RequestParser | undefined;
  /** Requests waiting for their responses, oldest (on the wire) first. */
  #exchanges: Exchange[] = NONE;
  /** The request whose body is being read. */
  #current: Exchange | undefined;
  /** Requests whose handlers are due once the read is parsed (no user code runs during the parser's pass). */
  #due: Exchange[] = NONE;
  /** The other of two lists that #due alternates between, so that a read makes no new one. */
  #dueSpare: Exchange[] = NONE;
  /** What few sessions need (an upgrade, a refusal waiting its turn), made at the first: see the accessors below. */
  #rare: RareState | undefined;
  /** The default handler's requests not answered yet: the output was at its watermark (bounded by one read's requests). */
  #waiting: { method: string; url: string; persistence: Persistence }[] = NONE;
  /** BATCHING, CLOSING, ENDED, READ_HELD: one field, not four (an idle connection's session is as small as it can be). */
  #flags = 0;
  /** Body bytes held for handlers that have not read them. */
  #bodyHeld = 0;
  /** When the pending request's first byte was read (loop time); -1 when none is pending. */
  #startedAt = -1;
  #deadlines: HttpDeadlines | undefined;

  constructor(shared: Shared, connection: Connection) {
    this.#shared = shared;
    this.#connection = connection;
  }

  /** The rare state, made at its first use (read through `this.#rare?.`: most sessions never make it). */
  #rareState(): RareState {
    return (this.#rare ??= new RareState());
  }

  // ---- Protocol -----------------------------------------------------------------

  data(connection: Connection, bytes: Uint8Array): void {
    const upgraded = this.#rare?.upgraded;
    if (upgraded !== undefined) {
      upgraded?.data(connection, bytes);
      return;
    }
    if ((this.#flags & (CLOSING | ENDED)) !== 0 || this.#parser?.stopped === true) return;
    const shared = this.#shared;
    const out = shared.out;
    out.begin();
    const parser = (this.#parser ??= shared.parsers.pop()?.attach(this) ?? new RequestParser(this, shared.maxHeaderBytes, shared.maxBodyBytes));
    this.#flags |= BATCHING;
    try {
      parser.feed(bytes);
      this.#runDue();
    } finally {
      this.#flags &= ~BATCHING;
      out.flushTo(connection);
    }
    if ((this.#flags & CLOSING) !== 0 && this.#exchanges.length === 0 && this.#waiting.length === 0 && this.#rare?.upgrading === undefined) this.#end();
    if (this.#rare?.upgrading !== undefined) this.#handOver();
    this.#afterRead();
    if (parser.betweenRequests && this.#parser === parser) {
      this.#parser = undefined;
      if (shared.parsers.length < PARSER_POOL_MAX) shared.parsers.push(parser.detach());
    }
  }

  resume(connection: Connection): void {
    const upgraded = this.#rare?.upgraded;
    if (upgraded !== undefined) {
      upgraded?.resume?.(connection);
      return;
    }
    if (this.#waiting.length > 0) this.#answerWaiting();
    this.#exchanges[0]?.res.drained();
  }

  /** The default handler's answers held back at the watermark, while under it. */
  #answerWaiting(): void {
    const shared = this.#shared;
    const waiting = this.#waiting;
    let answered = 0;
    shared.out.begin();
    this.#flags |= BATCHING;
    try {
      while (answered < waiting.length && !this.#atWatermark()) {
        const { method, url, persistence } = waiting[answered++]!;
        if (!answerByDefault(shared.out, method, url, persistence, shared.metrics)) {
          this.#stop();
          answered = waiting.length;
        }
      }
    } finally {
      this.#flags &= ~BATCHING;
      waiting.splice(0, answered);
      shared.out.flushTo(this.#connection);
    }
    if ((this.#flags & CLOSING) !== 0 && waiting.length === 0) this.#end();
  }

  #atWatermark(): boolean {
    const connection = this.#connection;
    return this.#shared.out.length + connection.queuedBytes >= connection.highWaterMark;
  }

  end(connection: Connection): void {
    const upgraded = this.#rare?.upgraded;
    if (upgraded !== undefined) {
      if (upgraded?.end) upgraded.end(connection);
      else connection.end();
      return;
    }
    // A body cut by the peer's end will not come: its request is aborted.
    if (this.#current !== undefined) {
      abort(this.#current.req);
      this.#current = undefined;
    }
    this.#parser?.stop();
    this.#flags |= CLOSING;
    this.#forget();
    if (this.#exchanges.length === 0 && this.#waiting.length === 0) this.#end();
  }

  close(connection: Connection, reason: CloseReason, error?: Parameters<NonNullable<Protocol['close']>>[2]): void {
    this.#parser?.stop();
    this.#forget();
    this.#flags |= ENDED;
    const exchanges = this.#exchanges.splice(0);
    for (const exchange of exchanges) {
      abort(exchange.req);
      exchange.res.closed();
    }
    this.#rare?.upgraded?.close?.(connection, reason, error);
  }

  // ---- RequestSink (during the parser's pass) ---------------------------------------

  head(head: RequestHead, kept: boolean): void {
    const shared = this.#shared;
    shared.requests++;
    const handler = shared.handler;
    if (head.upgrade && shared.upgrade !== undefined) {
      this.#rareState().upgrading = { req: new HttpRequest(head, this.#connection, this, kept), head: EMPTY };
      return;
    }
    if (handler === undefined) {
      const persistence = !head.keepAlive ? Persistence.Close : head.versionMinor === 0 ? Persistence.KeepAlive : Persistence.Default;
      if (persistence === Persistence.Close) this.#stop();
      // Past the output watermark the answers wait (the request's words, not its reply) for resume().
      if (this.#waiting.length > 0 || this.#atWatermark()) {
        if (this.#waiting === NONE) this.#waiting = [];
        this.#waiting.push({ method: head.method, url: head.url, persistence });
      }
      else if (!answerByDefault(shared.out, head.method, head.url, persistence, shared.metrics)) this.#stop();
      return;
    }
    const exchange = new Exchange(this, head, this.#connection, kept);
    if (this.#exchanges === NONE) this.#exchanges = [];
    if (this.#due === NONE) this.#due = [];
    this.#exchanges.push(exchange);
    this.#due.push(exchange);
    this.#current = exchange;
  }

  body(bytes: Buffer, offset: number, length: number): void {
    const current = this.#current;
    if (current === undefined || current.dumped) return;
    const chunk = Buffer.allocUnsafe(length);
    bytes.copy(chunk, 0, offset, offset + length);
    this.#bodyHeld += length;
    current.req.push(chunk);
  }

  complete(rawTrailers: string[] | undefined): void {
    // The next request's deadlines count from its own first read.
    if (this.#startedAt >= 0) this.#forget();
    if (this.#rare?.upgrading !== undefined) return;
    this.#current?.req.finish(rawTrailers);
    this.#current = undefined;
  }

  upgrade(bytes: Buffer, offset: number, length: number): boolean {
    const upgrading = this.#rare?.upgrading;
    if (upgrading === undefined) return false;
    upgrading.head = Buffer.from(bytes.subarray(offset, offset + length));
    return true;
  }

  refuse(status: number): void {
    this.#shared.requests++;
    const reply = ERROR_REPLIES.get(status)!;
    const current = this.#current;
    this.#current = undefined;
    // A body cut by the refusal: its request is aborted; if its response has not begun, the refusal takes its place.
    if (current !== undefined) {
      abort(current.req);
      if (!current.res.headersSent) this.#replace(current, reply);
      this.#flags |= CLOSING;
      return;
    }
    this.#flags |= CLOSING;
    if (this.#exchanges.length === 0) this.#writeAndEnd(reply);
    else this.#rareState().pendingRefusal = reply;
  }

  // ---- BodyReader -------------------------------------------------------------------

  bodyWanted(req: HttpRequest): void {
    const exchange = this.#exchangeOf(req);
    if (exchange === undefined || !exchange.expectContinue || exchange.continued || req.complete || exchange.res.headersSent) return;
    exchange.continued = true;
    this.send(exchange, CONTINUE);
  }

  bodyConsumed(_req: HttpRequest, bytes: number): void {
    this.#bodyHeld -= bytes;
    if ((this.#flags & READ_HELD) !== 0 && !this.#mustHold()) {
      this.#flags &= ~READ_HELD;
      this.#connection.resumeReading();
    }
  }

  // ---- responses ----------------------------------------------------------------------

  /** An exchange's bytes, in request order. */
  send(exchange: Exchange, bytes: Uint8Array): boolean {
    if ((this.#flags & ENDED) !== 0 || exchange.replacement !== undefined) return false;
    if (this.#exchanges[0] !== exchange) {
      (exchange.held ??= []).push(Uint8Array.prototype.slice.call(bytes));
      exchange.heldBytes += bytes.length;
      return exchange.heldBytes < PIPELINED_OUTPUT_BYTES;
    }
    return this.#write(bytes);
  }

  /** A response's head and body in one piece: straight into the read's batch when it is on the wire, else one buffer. */
  sendWhole(exchange: Exchange, head: string | Uint8Array, body: Uint8Array): boolean {
    const out = this.#shared.out;
    if ((this.#flags & BATCHING) !== 0 && this.#exchanges[0] === exchange && exchange.replacement === undefined && (this.#flags & ENDED) === 0 && head.length + body.length <= BATCH_AT_MOST) {
      if (typeof head === 'string') out.latin1(head);
      else out.append(head);
      out.append(body);
      return out.length + this.#connection.queuedBytes < this.#connection.highWaterMark;
    }
    const whole = Buffer.allocUnsafe(head.length + body.length);
    if (typeof head === 'string') whole.write(head, 0, 'latin1');
    else whole.set(head, 0);
    whole.set(body, head.length);
    return this.send(exchange, whole);
  }

  responseEnded(exchange: Exchange): void {
    // The rest of a body nobody read is dropped as it arrives (node:http dumps it too).
    if (!exchange.req.complete && !exchange.req.wanted) {
      exchange.dumped = true;
      exchange.req.dump();
    }
    if (this.#exchanges[0] === exchange) this.#advance();
  }

  /** Takes finished exchanges off the front and puts the next one on the wire. */
  #advance(): void {
    const exchanges = this.#exchanges;
    while (exchanges.length > 0) {
      const first = exchanges[0]!;
      if (first.replacement !== undefined) {
        exchanges.splice(0).forEach((e) => queueJob(() => e.res.closed()));
        this.#writeAndEnd(first.replacement);
        return;
      }
      if (!first.done) break;
      exchanges.shift();
      this.#finish(first.res);
      if (first.res.closesConnection) {
        this.#stop();
        for (const later of exchanges.splice(0)) {
          abort(later.req);
          queueJob(() => later.res.closed());
        }
        break;
      }
      const next = exchanges[0];
      if (next === undefined) break;
      const held = next.held;
      next.held = undefined;
      next.heldBytes = 0;
      let ok = true;
      if (held !== undefined) for (const bytes of held) ok = this.#write(bytes);
      if (ok && !next.done) queueJob(() => next.res.drained());
    }
    if (exchanges.length === 0) {
      if (this.#rare?.pendingRefusal !== undefined) this.#writeAndEnd(this.#rare.pendingRefusal);
      else if ((this.#flags & CLOSING) !== 0) this.#end();
    }
    if ((this.#flags & READ_HELD) !== 0 && !this.#mustHold()) {
      this.#flags &= ~READ_HELD;
      this.#connection.resumeReading();
    }
  }

  /**
   * 'finish' and 'close' after the handler's call, as node:http emits them
   * after the write: at the end of the loop's pass (after its batch writes)
   * when ended inside one, else on a microtask; one step for all the
   * responses finished meanwhile.
   */
  #finish(res: HttpResponse): void {
    if (finishing.push(res) !== 1) return;
    const loop = this.#connection.loop;
    if (loop === undefined || loop.isClosed || !loop[afterPassUnchecked](finishAll, true)) queueJob(finishAll);
  }

  #write(bytes: Uint8Array): boolean {
    const connection = this.#connection;
    if ((this.#flags & BATCHING) === 0) return connection.write(bytes);
    const out = this.#shared.out;
    if (bytes.length > BATCH_AT_MOST) {
      out.flushTo(connection);
      return connection.write(bytes);
    }
    out.append(bytes);
    return out.length + connection.queuedBytes < connection.highWaterMark;
  }

  /** The server's own reply in place of the exchange's response. */
  #replace(exchange: Exchange, reply: Buffer): void {
    exchange.replacement = reply;
    exchange.held = undefined;
    if (this.#exchanges[0] === exchange) this.#advance();
  }

  #writeAndEnd(reply: Buffer): void {
    if (this.#rare !== undefined) this.#rare.pendingRefusal = undefined;
    this.#write(reply);
    this.#stop();
    this.#end();
  }

  /** No more requests are read. */
  #stop(): void {
    this.#flags |= CLOSING;
    this.#parser?.stop();
  }

  #end(): void {
    if ((this.#flags & ENDED) !== 0) return;
    this.#flags |= ENDED;
    if ((this.#flags & BATCHING) !== 0) this.#shared.out.flushTo(this.#connection);
    this.#connection.end();
  }

  // ---- handlers -----------------------------------------------------------------------

  #runDue(): void {
    const due = this.#due;
    if (due.length === 0) return;
    // data() calls never nest, so the list is not in use when its turn as #due comes again.
    this.#due = this.#dueSpare;
    this.#dueSpare = due;
    const handler = this.#shared.handler!;
    try {
      for (const exchange of due) {
        if ((this.#flags & ENDED) !== 0) break;
        try {
          const result = handler(exchange.req, exchange.res);
          if (result !== undefined && typeof (result as PromiseLike<unknown>)?.then === 'function') {
            (result as PromiseLike<unknown>).then(undefined, (error: unknown) => this.#handlerFailed(exchange, error));
          }
        } catch (error) {
          this.#handlerFailed(exchange, error);
        }
      }
    } finally {
      emptyList(due);
    }
  }

  /** 500 in the exchange's place if it sent nothing yet, else the connection closes; the loop hears of the error. */
  #handlerFailed(exchange: Exchange, error: unknown): void {
    const connection = this.#connection;
    if (!connection.loop?.isClosed) connection.loop?.[reportErrorUnchecked](error, 'read', connection.fd);
    if ((this.#flags & ENDED) !== 0) return;
    this.#stop();
    if (exchange.res.headersSent) {
      connection.close('close');
      return;
    }
    this.#replace(exchange, ERROR_REPLIES.get(500)!);
  }

  #handOver(): void {
    const rare = this.#rare!;
    const { req, head } = rare.upgrading!;
    rare.upgrading = undefined;
    this.#forget();
    req.finish(undefined);
    const connection = this.#connection;
    try {
      rare.upgraded = this.#shared.upgrade!(req, connection, head) ?? null;
    } catch (error) {
      rare.upgraded = null;
      if (!connection.loop?.isClosed) connection.loop?.[reportErrorUnchecked](error, 'read', connection.fd);
      connection.close('close');
    }
  }

  #exchangeOf(req: HttpRequest): Exchange | undefined {
    for (const exchange of this.#exchanges) if (exchange.req === req) return exchange;
    return undefined;
  }

  // ---- bounds ---------------------------------------------------------------------------

  #mustHold(): boolean {
    return this.#bodyHeld > BODY_BUFFER_BYTES || this.#exchanges.length > MAX_PIPELINED;
  }

  /** After a read: hold reading off if a bound says so; the deadlines of a request that spans reads. */
  #afterRead(): void {
    if ((this.#flags & (READ_HELD | ENDED)) === 0 && this.#mustHold()) {
      this.#flags |= READ_HELD;
      this.#connection.pauseReading();
    }
    if (this.#parser?.inRequest === true && (this.#flags & CLOSING) === 0) {
      if (this.#startedAt < 0) this.#started();
    } else if (this.#startedAt >= 0) this.#forget();
  }

  /**
   * From the sweep: whether this session is done with it (its request
   * finished, its connection closed, or it has just timed out: 408 and a
   * gentle close).
   */
  expire(now: number): boolean {
    if (this.#startedAt < 0 || (this.#flags & (CLOSING | ENDED)) !== 0 || this.#connection.isClosed) {
      this.#deadlines = undefined;
      return true;
    }
    const { headersTimeoutMs, requestTimeoutMs } = this.#shared;
    const elapsed = now - this.#startedAt;
    const headDone = this.#parser?.headDone === true;
    const expired = (requestTimeoutMs > 0 && elapsed >= requestTimeoutMs) || (!headDone && headersTimeoutMs > 0 && elapsed >= headersTimeoutMs);
    if (!expired) return false;
    this.#startedAt = -1;
    this.#deadlines = undefined;
    const reply = ERROR_REPLIES.get(408)!;
    const current = this.#current;
    this.#current = undefined;
    this.#stop();
    if (current !== undefined) {
      // Its body did not come in time. A response already begun can only be cut short, as node:http does.
      abort(current.req);
      if (!current.res.headersSent) this.#replace(current, reply);
      else this.#end();
    } else if (!headDone) {
      this.#shared.requests++;
      if (this.#exchanges.length === 0) this.#writeAndEnd(reply);
      else this.#rareState().pendingRefusal = reply;
    } else this.#end();
    return true;
  }

  /** A request began in this read and did not end in it: its deadlines start now. */
  #started(): void {
    const shared = this.#shared;
    // A stand-in connection with no loop (a unit test's) has no deadlines.
    const loop = (this.#connection as Partial<Connection>).loop;
    if ((shared.headersTimeoutMs === 0 && shared.requestTimeoutMs === 0) || loop === undefined || loop.isClosed) return;
    this.#startedAt = loop.now();
    const sweep = HttpDeadlines.of(loop, shared, shared.deadlines);
    this.#deadlines = sweep;
    sweep.add(this);
  }

  /** No request is pending any more (or the connection is closing): out of the sweep. */
  #forget(): void {
    this.#startedAt = -1;
    this.#deadlines?.delete(this);
    this.#deadlines = undefined;
  }
}

const EMPTY = Buffer.alloc(0);

/** Responses whose 'finish' is due, across connections (one thread, one list). */
let finishing: HttpResponse[] = [];
function finishAll(): void {
  const due = finishing;
  finishing = [];
  // What a listener throws is Node's uncaught exception, as from a microtask, and the other responses still finish.
  for (const res of due) {
    try {
      res.finished();
    } catch (error) {
      native.uncaught(error);
    }
  }
}

/**
 * A request whose connection closed or whose body will not come: told on a
 * microtask, so that a handler called in the same read (handlers run after
 * the parser's pass) has added its listeners first.
 */
function abort(req: HttpRequest): void {
  queueJob(() => req.closed());
}
