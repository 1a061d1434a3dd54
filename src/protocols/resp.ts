// RESP: the Redis protocol, with a small in-memory string store.
//
// Requests are RESP2 multibulk arrays (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or
// inline lines (`GET k\r\n`), pipelined freely. Commands: the string
// commands (SET with its options, GET, MGET, MSET, INCR/DECR and kin,
// APPEND, STRLEN), the keyspace ones (DEL, EXISTS, TYPE, DBSIZE, FLUSHALL,
// FLUSHDB, EXPIRE, PEXPIRE, TTL, PTTL, PERSIST), and what clients send at
// connect (HELLO 2/3, INFO, CLIENT, SELECT, QUIT, enough of COMMAND and
// CONFIG GET); docs/protocols.md lists them. Replies are RESP2 until HELLO 3.
// Errors are worded as Redis 7 words them. This file is the session (parsing,
// bounds, output); the commands are in resp-commands.ts, their argument and
// reply helpers in resp-replies.ts, the store and its expiry in resp-keyspace.ts,
// the inline lines' word splitting in resp-inline.ts.
//
// Costs: a read whose requests are all complete is parsed where it lies, in
// the server's read buffer; only a request cut by the end of a read is copied
// out, and parsing resumes where it stopped (a long multibulk arriving in many
// reads is scanned once). The replies of one read are gathered in a scratch
// buffer and written with one write, so pipelining costs one syscall per read,
// not per reply. A GET allocates its key string; a SET its key string and,
// unless the value keeps its old length, one Buffer view of a slab slot, never
// a backing store of its own (resp-values.ts).
//
// Bounds on output: before each request the replies gathered so far and the
// connection's queue are held against its high watermark; at it, parsing
// stops, the rest of the input is kept as a cut request would be, and
// resume() picks it up once the queue has drained. The scratch buffer is
// shared by the server's connections, so it is handed to the connection in
// a finally: whatever a command throws, no reply stays behind for the next
// connection to send.
//
// Bounds (docs/protocols.md lists them with their reasons): one unfinished
// request keeps at most maxRequestBytes between reads, one bulk string is at
// most maxBulkLength, and nothing a client sends is ever made into a string
// longer than maxKeyLength: values stay bytes from the read to the reply, so
// no argument can hit V8's string limit. Past the first two the client gets
// a protocol error and the connection closes gently, its buffer given back.
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';

import type { Connection } from '../net/connection.js';
import { assertInteger, assertObject, typeError } from '../errors.js';
import type { Protocol, ProtocolFactory } from '../net/protocol.js';
import { CR, InputTail, LF, ReplyBuffer, asBuffer } from './buffers.js';
import { findCommand, NULL_BULK, NULL_RESP3, type Arguments } from './resp-commands.js';
import { DOLLAR, parseInt64, replyArity, replyError, replyUnknownCommand } from './resp-replies.js';
import { splitPlain, splitQuoted } from './resp-inline.js';
import { Keyspace } from './resp-keyspace.js';

export interface RespOptions {
  /**
   * Most bytes one unfinished request may hold between reads (Redis's
   * client-query-buffer-limit). Default 64 MiB; at most 1 GiB.
   */
  maxRequestBytes?: number;
  /**
   * Longest bulk string accepted, in bytes (Redis's proto-max-bulk-len).
   * Default 32 MiB; at most maxRequestBytes.
   */
  maxBulkLength?: number;
  /**
   * Longest key, in bytes: keys are the one argument made into a string.
   * A longer key is refused by SET and INCR and found by no read. Default 64 KiB.
   */
  maxKeyLength?: number;
  /** Most arguments in one multibulk request. Default 1,048,576, Redis's limit before 7.0. */
  maxArguments?: number;
  /**
   * Most bytes the store may hold (Redis's maxmemory, with its noeviction
   * policy): past it, commands that add data (SET, MSET, APPEND, INCR and
   * the like) are refused with Redis's `-OOM` error while reads and DEL go
   * on, so no client can fill the process's memory. Counted are the values'
   * storage (pages and large buffers) and each key, its characters and an
   * estimate of what a Map entry costs; the command that crosses the limit
   * still runs, as in Redis. Default 1 GiB; 0: no limit.
   */
  maxMemory?: number;
  /** The keys and values. Default a new Map; pass one to share it between servers or to look inside. */
  store?: Map<string, Uint8Array>;
}

/** A RESP server's protocol: makes one session per connection, all sharing one store. */
export interface RespProtocolFactory extends ProtocolFactory {
  /** Commands executed (including those answered with an error) since the factory was made. */
  readonly requests: number;
  /** The keys and values, shared by every connection of the server. */
  readonly store: ReadonlyMap<string, Uint8Array>;
}

/**
 * 64 MiB: Redis allows 1 GiB, but a Node process holds every request in its
 * own external memory and V8 refuses strings past ~512 MiB; 64 MiB lets a few
 * hostile clients at the limit fit a small machine and is far above any sane
 * request.
 */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024;
/** The largest maxRequestBytes accepted: Redis's own default. */
export const MAX_REQUEST_BYTES = 1024 * 1024 * 1024;
/**
 * 32 MiB: half the request limit, as Redis's 512 MiB is half its 1 GiB, so a
 * SET of the largest value fits in one request.
 */
export const DEFAULT_MAX_BULK_LENGTH = 32 * 1024 * 1024;
/** 64 KiB: keys become strings (the store's Map keys); far longer than any real key, far below V8's string limit. */
export const DEFAULT_MAX_KEY_LENGTH = 64 * 1024;
/** The largest maxKeyLength accepted: a key string stays far below V8's string limit. */
export const MAX_KEY_LENGTH = 16 * 1024 * 1024;
export const DEFAULT_MAX_ARGUMENTS = 1024 * 1024;
/**
 * 1 GiB: Redis sets no limit, but its keys live in its own heap; here they
 * live in V8's, whose limit ends the whole process when a client reaches it
 * (a few GiB by default). 1 GiB of keys and values fits under it with room
 * for the connections' buffers.
 */
export const DEFAULT_MAX_MEMORY = 1024 * 1024 * 1024;
/** The largest maxMemory accepted: 2^53 - 1, any real memory. */
const MAX_MEMORY = Number.MAX_SAFE_INTEGER;
/**
 * An inline request, or a `*N`/`$N` line, longer than this without its line
 * end is refused: Redis's PROTO_INLINE_MAX_SIZE, so a peer cannot make the
 * server buffer an endless line.
 */
export const MAX_INLINE_LENGTH = 64 * 1024;
/** Bytes of a line scanned in JS for its CR before indexOf takes over: a count line (`*3`, `$5`, up to `$` and 20 digits) fits. */
const SHORT_LINE = 24;

const STAR = 42;
const DIGIT_0 = 48;
const DIGIT_9 = 57;

/** Redis's words to a client past maxclients. */
const MAX_CLIENTS_REACHED = Buffer.from('-ERR max number of clients reached\r\n');
/** Redis's reply to a command that adds data while the store is past maxmemory (noeviction). */
const OUT_OF_MEMORY = Buffer.from("-OOM command not allowed when used memory > 'maxmemory'.\r\n");
const NOTHING = Buffer.alloc(0);
/** Redis logs "Closing client that reached max query buffer length"; the client is told as much. */
const QUERY_BUFFER_LIMIT = 'client reached max query buffer length';
/** Argument offset arrays longer than this are given back after their request. */
const KEEP_ARGUMENTS_AT_MOST = 4096;

/** Outcome of trying to parse one request. */
const INCOMPLETE = -1;
const REJECTED = -2;
/** #whole found something it leaves to the general parser (#multibulk's own return values are never this). */
const NOT_PLAIN = -3;

/**
 * Requests of at most this many arguments, whole in the input, are read by
 * #whole in one pass; the general parser, with its resumable state, reads
 * the rest.
 */
const PLAIN_ARGUMENTS_AT_MOST = 16;

// ---- one connection ---------------------------------------------------------

/** RespSession's flags. */
const PROTO_3 = 1;
const QUITTING = 2;
/** Refused (a malformed request, the query buffer's limit) or quit: later input is ignored. */
const REJECTED_SESSION = 4;

/** A session's rare parts. */
interface RareSessionState {
  name: Buffer | undefined;
  /** What no parse has consumed yet; made at the first request cut by the end of a read. */
  tail: InputTail | undefined;
}

// An idle session costs one small object: what every request needs and no
// request keeps between reads (the arguments, the decoded inline line, the
// reply buffer, the limits) is the server's, in Shared; the input tail is
// made when a request is first cut by the end of a read, and a request's
// own arguments only while it is suspended across reads.
export class RespSession implements Protocol {
  readonly shared: Shared;
  /** CLIENT ID: from 1, in the order of connection. */
  readonly id: number;
  /** PROTO_3, QUITTING, REJECTED: three booleans in one field (each field is 8 bytes of every idle session). */
  #flags = 0;
  /** The multibulk request suspended across reads: its parse state and arguments, taken from Shared while it is. */
  #partial: Request | undefined;
  /** What few sessions need (a name, an input tail), made at the first. */
  #rare: RareSessionState | undefined;

  constructor(shared: Shared, connection: Connection) {
    this.shared = shared;
    this.id = shared.nextId++;
    // A fake connection in a test may come without a loop.
    shared.keys.attach((connection as Partial<Connection>).loop);
  }

  /** RESP2 until HELLO 3. */
  get proto(): 2 | 3 {
    return (this.#flags & PROTO_3) !== 0 ? 3 : 2;
  }

  /** CLIENT SETNAME's, HELLO SETNAME's. */
  get name(): Buffer | undefined {
    return this.#rare?.name;
  }

  set name(name: Buffer | undefined) {
    this.#rareState().name = name;
  }

  /** QUIT ran: its +OK goes out, then the connection ends and later input is ignored. */
  get quitting(): boolean {
    return (this.#flags & QUITTING) !== 0;
  }

  /** QUIT's: the connection ends after its reply. */
  quit(): void {
    this.#flags |= QUITTING;
  }

  get keys(): Keyspace {
    return this.shared.keys;
  }

  get out(): ReplyBuffer {
    return this.shared.out;
  }

  get maxKeyLength(): number {
    return this.shared.maxKeyLength;
  }

  /** A missing value: `$-1` in RESP2, `_` in RESP3. */
  get nullReply(): Buffer {
    return this.proto === 3 ? NULL_RESP3 : NULL_BULK;
  }

  data(connection: Connection, bytes: Uint8Array): void {
    if ((this.#flags & REJECTED_SESSION) !== 0) return;
    const out = this.shared.out;
    out.begin();
    const tail = this.#rare?.tail;
    const input = tail === undefined ? asBuffer(bytes) : tail.combine(asBuffer(bytes));
    const highWaterMark = connection.highWaterMark;
    let at = 0;
    let consumed = 0;
    try {
      while (at < input.length) {
        // Only between requests, where nothing of one is half-parsed.
        if (this.#partial === undefined && out.length + connection.queuedBytes >= highWaterMark) break;
        consumed = input[at] === STAR || this.#partial !== undefined ? this.#multibulk(input, at) : this.#inline(input, at);
        if (consumed < 0) break;
        at = consumed;
        if (this.quitting) {
          consumed = REJECTED;
          break;
        }
      }
      // Redis closes a client past client-query-buffer-limit without a word;
      // the error line says why before the close.
      if (consumed !== REJECTED && input.length - at > this.shared.maxRequestBytes) consumed = this.#reject(QUERY_BUFFER_LIMIT);
    } finally {
      out.flushTo(connection);
      // A request refused (or a command that threw) half-way leaves no parse state for the next session.
      const shared = this.shared.args;
      if (this.#partial === undefined && (shared.expected !== 0 || shared.bulkLength !== -1)) {
        shared.expected = 0;
        shared.bulkLength = -1;
        shared.resumeAt = 0;
        shared.requestBytes = 0;
      }
    }
    if (consumed === REJECTED) {
      this.#flags |= REJECTED_SESSION;
      tail?.release();
      connection.end();
      return;
    }
    const requestBytes = this.#partial?.requestBytes ?? 0;
    if (tail !== undefined) tail.keep(input, at, requestBytes);
    else if (at < input.length) (this.#rareState().tail = new InputTail(this.shared.maxRequestBytes)).keep(input, at, requestBytes);
  }

  #rareState(): RareSessionState {
    return (this.#rare ??= { name: undefined, tail: undefined });
  }

  /** The queue drained: answer what data() kept back at the watermark. */
  resume(connection: Connection): void {
    this.data(connection, NOTHING);
  }

  setProtocol(proto: 2 | 3): void {
    this.#flags = proto === 3 ? this.#flags | PROTO_3 : this.#flags & ~PROTO_3;
  }

  #execute(args: Arguments): void {
    this.shared.requests++;
    const found = findCommand(args);
    if (found === undefined) replyUnknownCommand(this.out, args);
    else if (found.arity > 0 ? args.count !== found.arity : args.count < -found.arity) replyArity(this.out, found.name);
    else if (found.denyOom && this.shared.keys.pages.usedBytes > this.shared.memoryLimit) this.out.append(OUT_OF_MEMORY);
    else found.run(this, args);
  }

  #reject(message: string): number {
    replyError(this.out, `Protocol error: ${message}`);
    return REJECTED;
  }

  /**
   * Parses (or resumes) the multibulk request at `start`. Returns the offset
   * after it once executed, INCOMPLETE, or REJECTED.
   */
  #multibulk(input: Buffer, start: number): number {
    if (this.#partial === undefined) {
      const done = this.#whole(input, start);
      if (done !== NOT_PLAIN) return done;
    }
    const args = this.#partial ?? this.shared.args;
    let at = start + args.resumeAt;
    if (args.expected === 0) {
      const lineEnd = this.#lineEnd(input, at);
      if (lineEnd < 0) return lineEnd === INCOMPLETE ? INCOMPLETE : this.#reject('too big mbulk count string');
      const count = parseInt64(input, at + 1, lineEnd);
      if (count === undefined || count > this.shared.maxArguments) return this.#reject('invalid multibulk length');
      at = lineEnd + 2;
      // `*0` and `*-1` are empty requests: Redis skips them without a reply.
      if (count <= 0) return at;
      args.expected = Number(count);
      args.count = 0;
    }
    while (args.count < args.expected) {
      if (args.bulkLength < 0) {
        if (at >= input.length) return this.#suspend(args, start, at);
        if (input[at] !== DOLLAR) return this.#reject(`expected '$', got '${String.fromCharCode(input[at]!)}'`);
        const lineEnd = this.#lineEnd(input, at);
        if (lineEnd === INCOMPLETE) return this.#suspend(args, start, at);
        if (lineEnd < 0) return this.#reject('too big bulk count string');
        const length = parseInt64(input, at + 1, lineEnd);
        if (length === undefined || length < 0 || length > this.shared.maxBulkLength) return this.#reject('invalid bulk length');
        args.bulkLength = Number(length);
        at = lineEnd + 2;
        // Refused as soon as announced, before any of it is buffered.
        if (at - start + args.bulkLength + 2 > this.shared.maxRequestBytes) return this.#reject(QUERY_BUFFER_LIMIT);
      }
      // As in Redis, the two bytes after the data are taken to be CRLF unchecked.
      if (input.length - at < args.bulkLength + 2) return this.#suspend(args, start, at);
      args.starts[args.count] = at - start;
      args.ends[args.count] = at - start + args.bulkLength;
      args.count++;
      at += args.bulkLength + 2;
      args.bulkLength = -1;
    }
    for (let i = 0; i < args.count; i++) {
      args.starts[i]! += start;
      args.ends[i]! += start;
    }
    args.source = input;
    args.expected = 0;
    args.resumeAt = 0;
    args.requestBytes = 0;
    // The suspended request's arguments become the server's again (the ones made in their place are dropped).
    if (this.#partial !== undefined) {
      this.shared.args = this.#partial;
      this.#partial = undefined;
    }
    this.#execute(args);
    // A request of a million arguments leaves no million-entry arrays behind.
    if (args.starts.length > KEEP_ARGUMENTS_AT_MOST) {
      args.starts = [];
      args.ends = [];
    }
    return at;
  }

  /**
   * The common request in one pass, with no state kept between its
   * arguments: whole in the input, at most PLAIN_ARGUMENTS_AT_MOST
   * arguments, counts of plain digits (no sign, no leading zero), every
   * limit well clear. Executes it and returns the offset after it; anything
   * else is NOT_PLAIN, with nothing changed but the shared arguments'
   * offsets, and #multibulk reads it from its first byte, answering as
   * before (errors, limits, a request cut across reads). Most of a
   * pipelined request's parse: 37% of an in-process SET's time went to the
   * general parser's steps.
   */
  #whole(input: Buffer, start: number): number {
    const length = input.length;
    const shared = this.shared;
    let at = start + 1;
    let count = 0;
    let c = 0;
    while (at < length && (c = input[at]!) >= DIGIT_0 && c <= DIGIT_9 && at - start <= 2) {
      count = count * 10 + (c - DIGIT_0);
      at++;
    }
    if (count === 0 || input[start + 1] === DIGIT_0 || count > PLAIN_ARGUMENTS_AT_MOST || count > shared.maxArguments) return NOT_PLAIN;
    if (at + 1 >= length || input[at] !== CR) return NOT_PLAIN;
    at += 2;
    const args = shared.args;
    const starts = args.starts;
    const ends = args.ends;
    const maxBulkLength = shared.maxBulkLength;
    for (let i = 0; i < count; i++) {
      if (at >= length || input[at] !== DOLLAR) return NOT_PLAIN;
      const digits = at + 1;
      let p = digits;
      let bulk = 0;
      while (p < length && (c = input[p]!) >= DIGIT_0 && c <= DIGIT_9) {
        bulk = bulk * 10 + (c - DIGIT_0);
        p++;
      }
      // A long run of digits only grows past maxBulkLength (at most 512 MiB): no digit count needed.
      if (p === digits || (input[digits] === DIGIT_0 && p - digits > 1) || bulk > maxBulkLength) return NOT_PLAIN;
      if (p + 1 >= length || input[p] !== CR) return NOT_PLAIN;
      const data = p + 2;
      // As in Redis (and #multibulk), the two bytes after the data are taken to be CRLF unchecked.
      if (length - data < bulk + 2) return NOT_PLAIN;
      starts[i] = data;
      ends[i] = data + bulk;
      at = data + bulk + 2;
    }
    if (at - start > shared.maxRequestBytes) return NOT_PLAIN;
    args.source = input;
    args.count = count;
    this.#execute(args);
    return at;
  }

  /**
   * Remembers where to resume: offsets stay valid because the tail keeps the
   * request from its first byte. With the next bulk's length known, so is
   * the least the request will take, and the tail makes room for it at once.
   */
  #suspend(args: Request, start: number, at: number): number {
    if (this.#partial === undefined) {
      this.#partial = args;
      this.shared.args = emptyRequest();
    }
    args.resumeAt = at - start;
    args.requestBytes = args.bulkLength < 0 ? 0 : at - start + args.bulkLength + 2;
    return INCOMPLETE;
  }

  /**
   * The CR of the line starting at `from`, with its LF present; INCOMPLETE
   * while the line may still end, REJECTED once it is too long.
   */
  #lineEnd(input: Buffer, from: number): number {
    const length = input.length;
    // A count line (`*3`, `$5`) is a few bytes: a scan here costs less than
    // indexOf's call into C++ (perf: 3.6% of a pipelined PING's samples).
    const scanned = from + SHORT_LINE < length ? from + SHORT_LINE : length;
    let cr = from;
    while (cr < scanned && input[cr] !== CR) cr++;
    if (cr === scanned) cr = scanned < length ? input.indexOf(CR, scanned) : -1;
    if (cr < 0 || cr + 1 >= length) {
      return length - from > MAX_INLINE_LENGTH ? REJECTED : INCOMPLETE;
    }
    return cr;
  }

  /** Parses the inline request at `start`: words split as redis-cli's own splitter does. */
  #inline(input: Buffer, start: number): number {
    const newline = input.indexOf(LF, start);
    if (newline < 0) return input.length - start > MAX_INLINE_LENGTH ? this.#reject('too big inline request') : INCOMPLETE;
    let end = newline;
    if (end > start && input[end - 1] === CR) end--;
    const shared = this.shared;
    if (!splitPlain(shared.args, input, start, end)) {
      if (shared.decoded.length < end - start) shared.decoded = Buffer.allocUnsafe(Math.max(end - start, 256));
      if (!splitQuoted(shared.args, input, start, end, shared.decoded)) return this.#reject('unbalanced quotes in request');
    }
    if (this.shared.args.count > 0) this.#execute(this.shared.args);
    return newline + 1;
  }
}

/**
 * The request being parsed: its arguments, and where a multibulk one stands
 * when a read ends inside it, resumed at the next read: arguments announced,
 * bulk length of the argument being read (-1: its `$N` line is next), the
 * offset to go on from, relative to the request's first byte, and the bytes
 * the request will take in all once its next bulk is known (0 when not).
 */
interface Request extends Arguments {
  expected: number;
  bulkLength: number;
  resumeAt: number;
  requestBytes: number;
}

function emptyRequest(): Request {
  return { source: NOTHING, count: 0, starts: [], ends: [], expected: 0, bulkLength: -1, resumeAt: 0, requestBytes: 0 };
}

/** What the sessions of one server share. */
interface Shared {
  keys: Keyspace;
  /** The arguments of the request being parsed, unless it is a suspended one (RespSession's #partial). */
  args: Request;
  /** Bytes of the inline line being decoded, when it has quotes; the decoded line lives only while its request runs. */
  decoded: Buffer;
  nextId: number;
  /** performance.now() when made, for INFO's uptime. */
  startedAt: number;
  out: ReplyBuffer;
  requests: number;
  maxRequestBytes: number;
  maxBulkLength: number;
  maxKeyLength: number;
  maxArguments: number;
  /** Bytes the store may hold before commands that add data are refused: Infinity for no limit (maxMemory 0). */
  memoryLimit: number;
  /** maxMemory as given, for CONFIG GET maxmemory. */
  maxMemory: number;
}

/**
 * A RESP protocol for one server: every connection it serves shares one store.
 * Make one per server (the store is the server's database).
 */
export function respProtocol(options: RespOptions = {}): RespProtocolFactory {
  assertObject('options', options);
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  assertInteger('options.maxRequestBytes', maxRequestBytes, 1, MAX_REQUEST_BYTES);
  const maxBulkLength = options.maxBulkLength ?? Math.min(DEFAULT_MAX_BULK_LENGTH, maxRequestBytes);
  assertInteger('options.maxBulkLength', maxBulkLength, 0, maxRequestBytes);
  const maxKeyLength = options.maxKeyLength ?? Math.min(DEFAULT_MAX_KEY_LENGTH, maxBulkLength);
  assertInteger('options.maxKeyLength', maxKeyLength, 0, MAX_KEY_LENGTH);
  const maxArguments = options.maxArguments ?? DEFAULT_MAX_ARGUMENTS;
  assertInteger('options.maxArguments', maxArguments, 1, 2 ** 31 - 1);
  const maxMemory = options.maxMemory ?? DEFAULT_MAX_MEMORY;
  assertInteger('options.maxMemory', maxMemory, 0, MAX_MEMORY);
  const store = options.store ?? new Map<string, Uint8Array>();
  if (!(store instanceof Map)) throw typeError('options.store', 'a Map', store);
  const keys = new Keyspace(store);
  const shared: Shared = {
    keys,
    args: emptyRequest(),
    decoded: NOTHING,
    nextId: 1,
    startedAt: performance.now(),
    out: new ReplyBuffer(),
    requests: 0,
    maxRequestBytes,
    maxBulkLength,
    maxKeyLength,
    maxArguments,
    memoryLimit: maxMemory === 0 ? Infinity : maxMemory,
    maxMemory,
  };
  const factory = ((connection: Connection) => new RespSession(shared, connection)) as ProtocolFactory;
  factory.refuse = () => MAX_CLIENTS_REACHED;
  Object.defineProperty(factory, 'requests', { get: () => shared.requests, enumerable: true });
  Object.defineProperty(factory, 'store', { value: store, enumerable: true });
  return factory as RespProtocolFactory;
}
