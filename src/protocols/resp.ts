// RESP: the Redis protocol, with a small in-memory string store.
//
// Requests are RESP2 multibulk arrays (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or
// inline lines (`GET k\r\n`), pipelined freely. Commands: the string
// commands (SET with its options, GET, MGET, MSET, INCR/DECR and kin,
// APPEND, STRLEN), the keyspace ones (DEL, EXISTS, TYPE, DBSIZE, FLUSHALL,
// FLUSHDB, EXPIRE, PEXPIRE, TTL, PTTL, PERSIST), and what clients send at
// connect (HELLO 2/3, INFO, CLIENT, SELECT, QUIT, enough of COMMAND and
// CONFIG GET); docs/protocols.md lists them. Replies are RESP2 until HELLO 3.
// Errors are worded as Redis 7 words them. Expiry: resp-keyspace.ts.
//
// Costs: a read whose requests are all complete is parsed where it lies, in
// the server's read buffer; only a request cut by the end of a read is copied
// out, and parsing resumes where it stopped (a long multibulk arriving in many
// reads is scanned once). The replies of one read are gathered in a scratch
// buffer and written with one write, so pipelining costs one syscall per read,
// not per reply. A GET or SET allocates its key string; SET and INCR their
// stored copy.
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
import type { Connection } from '../net/connection.js';
import { assertInteger, assertObject, typeError } from '../errors.js';
import type { Protocol, ProtocolFactory } from '../net/protocol.js';
import { CR, InputTail, LF, ReplyBuffer, asBuffer } from './buffers.js';
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
 * An inline request, or a `*N`/`$N` line, longer than this without its line
 * end is refused: Redis's PROTO_INLINE_MAX_SIZE, so a peer cannot make the
 * server buffer an endless line.
 */
export const MAX_INLINE_LENGTH = 64 * 1024;

const DOLLAR = 36;
const STAR = 42;
const DOUBLE_QUOTE = 34;
const SINGLE_QUOTE = 39;
const BACKSLASH = 92;

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NULL_BULK = Buffer.from('$-1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');
const NOT_AN_INTEGER = Buffer.from('-ERR value is not an integer or out of range\r\n');
const OVERFLOW = Buffer.from('-ERR increment or decrement would overflow\r\n');
const SYNTAX_ERROR = Buffer.from('-ERR syntax error\r\n');
/** Redis's words to a client past maxclients. */
const MAX_CLIENTS_REACHED = Buffer.from('-ERR max number of clients reached\r\n');
const NOTHING = Buffer.alloc(0);
/** Worded as Redis words a value past proto-max-bulk-len, with this server's limit. */
const KEY_TOO_LONG = Buffer.from('-ERR key exceeds maximum allowed size (max-key-length)\r\n');
/** The Redis whose replies these are: clients read it from HELLO and INFO. */
const REDIS_VERSION = '7.2.0';
const NULL_RESP3 = Buffer.from('_\r\n');
/** What CONFIG GET answers: the values of a server that never persists anything. */
const CONFIG: ReadonlyMap<string, string> = new Map([
  ['save', ''],
  ['appendonly', 'no'],
]);

/** Redis logs "Closing client that reached max query buffer length"; the client is told as much. */
const QUERY_BUFFER_LIMIT = 'client reached max query buffer length';
/** Argument offset arrays longer than this are given back after their request. */
const KEEP_ARGUMENTS_AT_MOST = 4096;

/** Outcome of trying to parse one request. */
const INCOMPLETE = -1;
const REJECTED = -2;

interface Command {
  /** Lower-case name, also used in error messages. */
  name: string;
  /** The name's bytes, lower case, for matching without making a string. */
  bytes: Buffer;
  /** Redis's convention: n exactly n arguments (name included), -n at least n. */
  arity: number;
  run(session: RespSession, args: Arguments): void;
}

/**
 * The arguments of the request being executed: offsets into `source`, which
 * is the read buffer, the connection's tail, or the decoded inline line.
 */
interface Arguments {
  source: Buffer;
  count: number;
  starts: number[];
  ends: number[];
}

/**
 * At most the first `max` bytes of argument i as text (latin1, one character
 * per byte): for names and error messages, so no argument, however long,
 * becomes a string of its own size.
 */
function argText(args: Arguments, i: number, max = 128): string {
  const start = args.starts[i]!;
  return args.source.toString('latin1', start, Math.min(args.ends[i]!, start + max));
}

/** Argument i as a key, or undefined when it is longer than keys may be. */
function argKey(session: RespSession, args: Arguments, i: number): string | undefined {
  const start = args.starts[i]!;
  const end = args.ends[i]!;
  return end - start > session.maxKeyLength ? undefined : args.source.toString('latin1', start, end);
}

/** Whether argument i is `lower` (an ASCII-letters word), ignoring case. */
function argIs(args: Arguments, i: number, lower: Buffer): boolean {
  const start = args.starts[i]!;
  if (args.ends[i]! - start !== lower.length) return false;
  const source = args.source;
  for (let k = 0; k < lower.length; k++) {
    // Only 'X' and 'x' satisfy (b | 0x20) === 'x' when 'x' is a letter.
    if ((source[start + k]! | 0x20) !== lower[k]) return false;
  }
  return true;
}

/**
 * Redis's string2ll: an optional '-', then digits without leading zeros, at
 * most 20 characters. Returns a bigint only beyond 2^53, else a number;
 * undefined when the text is not such an integer or leaves the int64 range.
 */
function parseInt64(bytes: Uint8Array, start: number, end: number): number | bigint | undefined {
  const length = end - start;
  if (length === 0 || length > 20) return undefined;
  const negative = bytes[start] === 45;
  let i = negative ? start + 1 : start;
  if (i === end) return undefined;
  if (bytes[i] === 48 && end - i > 1) return undefined;
  if (negative && bytes[i] === 48) return undefined;
  let value = 0;
  for (; i < end; i++) {
    const digit = bytes[i]! - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  if (value <= Number.MAX_SAFE_INTEGER) return negative ? -value : value;
  const big = BigInt(Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('latin1'));
  return big < INT64_MIN || big > INT64_MAX ? undefined : big;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ---- replies ---------------------------------------------------------------

function replyInteger(out: ReplyBuffer, value: number | bigint): void {
  out.latin1(`:${value}\r\n`);
}

function replyBulk(out: ReplyBuffer, source: Uint8Array, start: number, end: number): void {
  out.latin1(`$${end - start}\r\n`);
  out.reserve(end - start + 2);
  out.append(source, start, end);
  out.bytes[out.length++] = CR;
  out.bytes[out.length++] = LF;
}

function replyBulkText(out: ReplyBuffer, text: string): void {
  out.latin1(`$${Buffer.byteLength(text, 'latin1')}\r\n${text}\r\n`);
}

/** An error line; CR and LF become spaces, as Redis does, so the reply stays one line. */
function replyError(out: ReplyBuffer, message: string): void {
  out.latin1(`-ERR ${message.replace(/[\r\n]/g, ' ')}\r\n`);
}

// ---- commands --------------------------------------------------------------

function command(name: string, arity: number, run: Command['run']): Command {
  return { name, bytes: Buffer.from(name), arity, run };
}

/** A key argument for a command that writes it: undefined (and the error sent) when too long. */
function writeKey(session: RespSession, args: Arguments, i: number): string | undefined {
  const key = argKey(session, args, i);
  if (key === undefined) session.out.append(KEY_TOO_LONG);
  return key;
}

/** The live value of key argument i; a key too long to be stored is missing. */
function lookup(session: RespSession, args: Arguments, i: number): Uint8Array | undefined {
  const key = argKey(session, args, i);
  return key === undefined ? undefined : session.keys.get(key);
}

function replyValue(session: RespSession, value: Uint8Array | undefined): void {
  if (value === undefined) session.out.append(session.nullReply);
  else replyBulk(session.out, value, 0, value.length);
}

/** Argument i as a signed 64-bit integer; undefined (and Redis's error sent) when it is not one. */
function argInteger(session: RespSession, args: Arguments, i: number): number | bigint | undefined {
  const value = parseInt64(args.source, args.starts[i]!, args.ends[i]!);
  if (value === undefined) session.out.append(NOT_AN_INTEGER);
  return value;
}

/**
 * INCR, INCRBY, DECR, DECRBY: Redis's incrDecrCommand, the stored value and
 * the result within int64, the deadline kept.
 */
function incrementBy(session: RespSession, args: Arguments, delta: number | bigint): void {
  const key = writeKey(session, args, 1);
  if (key === undefined) return;
  const stored = session.keys.get(key);
  const current = stored === undefined ? 0 : parseInt64(stored, 0, stored.length);
  if (current === undefined) {
    session.out.append(NOT_AN_INTEGER);
    return;
  }
  let next: number | bigint;
  if (typeof current === 'number' && typeof delta === 'number' && Math.abs(current) < 2 ** 52 && Math.abs(delta) < 2 ** 52) next = current + delta;
  else {
    const big = BigInt(current) + BigInt(delta);
    if (big < INT64_MIN || big > INT64_MAX) {
      session.out.append(OVERFLOW);
      return;
    }
    next = big >= -Number.MAX_SAFE_INTEGER && big <= Number.MAX_SAFE_INTEGER ? Number(big) : big;
  }
  session.keys.set(key, Buffer.from(String(next), 'latin1'), true);
  replyInteger(session.out, next);
}

/**
 * A deadline in loop ms, `amount` units from now or, `absolute`, at that Unix
 * time; undefined when Redis finds it out of range (the product, or the Unix
 * time it makes, past int64).
 */
function deadlineOf(session: RespSession, amount: number | bigint, unitMs: number, absolute: boolean): number | undefined {
  const ms = BigInt(amount) * BigInt(unitMs);
  if (ms > INT64_MAX || ms < INT64_MIN) return undefined;
  const unixNow = Date.now();
  if (!absolute && (ms > INT64_MAX - BigInt(unixNow) || ms < INT64_MIN + BigInt(unixNow))) return undefined;
  return absolute ? Number(ms) - unixNow + session.keys.now() : Number(ms) + session.keys.now();
}

const SET_NX = 1;
const SET_XX = 2;
const SET_GET = 4;
const SET_KEEPTTL = 8;
const SET_EX = 16;
const SET_PX = 32;
const SET_EXAT = 64;
const SET_PXAT = 128;
const SET_EXPIRES = SET_EX | SET_PX | SET_EXAT | SET_PXAT;
const SET_FLAGS: ReadonlyArray<readonly [Buffer, number, number]> = [
  // name, flag, flags it cannot go with
  [Buffer.from('nx'), SET_NX, SET_XX],
  [Buffer.from('xx'), SET_XX, SET_NX],
  [Buffer.from('get'), SET_GET, 0],
  [Buffer.from('keepttl'), SET_KEEPTTL, SET_EXPIRES],
  [Buffer.from('ex'), SET_EX, SET_KEEPTTL | SET_EXPIRES],
  [Buffer.from('px'), SET_PX, SET_KEEPTTL | SET_EXPIRES],
  [Buffer.from('exat'), SET_EXAT, SET_KEEPTTL | SET_EXPIRES],
  [Buffer.from('pxat'), SET_PXAT, SET_KEEPTTL | SET_EXPIRES],
];

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL], as Redis 7 parses it. */
function set(session: RespSession, args: Arguments): void {
  let flags = 0;
  let expireArg = -1;
  for (let i = 3; i < args.count; i++) {
    const option = SET_FLAGS.find(([name]) => argIs(args, i, name));
    if (option === undefined || (flags & option[2]) !== 0 || ((option[1] & SET_EXPIRES) !== 0 && i + 1 >= args.count)) {
      session.out.append(SYNTAX_ERROR);
      return;
    }
    flags |= option[1];
    if ((option[1] & SET_EXPIRES) !== 0) expireArg = ++i;
  }
  let deadline: number | undefined;
  if (expireArg > 0) {
    const amount = argInteger(session, args, expireArg);
    if (amount === undefined) return;
    const unit = (flags & (SET_EX | SET_EXAT)) !== 0 ? 1000 : 1;
    deadline = amount <= 0 ? undefined : deadlineOf(session, amount, unit, (flags & (SET_EXAT | SET_PXAT)) !== 0);
    if (deadline === undefined) {
      replyError(session.out, "invalid expire time in 'set' command");
      return;
    }
  }
  const key = writeKey(session, args, 1);
  if (key === undefined) return;
  const old = (flags & (SET_NX | SET_XX | SET_GET)) !== 0 ? session.keys.get(key) : undefined;
  if (((flags & SET_NX) !== 0 && old !== undefined) || ((flags & SET_XX) !== 0 && old === undefined)) {
    if ((flags & SET_GET) !== 0) replyValue(session, old);
    else session.out.append(session.nullReply);
    return;
  }
  session.keys.set(key, copyArgument(args, 2), (flags & SET_KEEPTTL) !== 0);
  if (deadline !== undefined) session.keys.expireAt(key, deadline);
  if ((flags & SET_GET) !== 0) replyValue(session, old);
  else session.out.append(OK);
}

const EXPIRE_NX = Buffer.from('nx');
const EXPIRE_XX = Buffer.from('xx');
const EXPIRE_GT = Buffer.from('gt');
const EXPIRE_LT = Buffer.from('lt');

/** EXPIRE and PEXPIRE key amount [NX|XX|GT|LT]: Redis 7's expireGenericCommand. */
function expire(session: RespSession, args: Arguments, unitMs: number, name: string): void {
  let nx = false;
  let xx = false;
  let gt = false;
  let lt = false;
  for (let i = 3; i < args.count; i++) {
    if (argIs(args, i, EXPIRE_NX)) nx = true;
    else if (argIs(args, i, EXPIRE_XX)) xx = true;
    else if (argIs(args, i, EXPIRE_GT)) gt = true;
    else if (argIs(args, i, EXPIRE_LT)) lt = true;
    else {
      replyError(session.out, `Unsupported option ${argText(args, i)}`);
      return;
    }
  }
  if (nx && (xx || gt || lt)) {
    replyError(session.out, 'NX and XX, GT or LT options at the same time are not compatible');
    return;
  }
  if (gt && lt) {
    replyError(session.out, 'GT and LT options at the same time are not compatible');
    return;
  }
  const amount = argInteger(session, args, 2);
  if (amount === undefined) return;
  const deadline = deadlineOf(session, amount, unitMs, false);
  if (deadline === undefined) {
    replyError(session.out, `invalid expire time in '${name}' command`);
    return;
  }
  const key = argKey(session, args, 1);
  if (key === undefined || session.keys.get(key) === undefined) {
    session.out.append(ZERO);
    return;
  }
  const current = session.keys.deadline(key);
  // No deadline counts as an infinite one for GT and LT.
  if ((nx && current !== undefined) || (xx && current === undefined) || (gt && (current === undefined || deadline <= current)) || (lt && current !== undefined && deadline >= current)) {
    session.out.append(ZERO);
    return;
  }
  session.keys.expireAt(key, deadline);
  session.out.append(ONE);
}

/** TTL and PTTL: -2 for a missing key, -1 for one without a deadline, else what is left (seconds rounded, as Redis). */
function ttl(session: RespSession, args: Arguments, inMs: boolean): void {
  const key = argKey(session, args, 1);
  if (key === undefined || session.keys.get(key) === undefined) {
    replyInteger(session.out, -2);
    return;
  }
  const deadline = session.keys.deadline(key);
  if (deadline === undefined) {
    replyInteger(session.out, -1);
    return;
  }
  const left = Math.max(0, Math.round(deadline - session.keys.now()));
  replyInteger(session.out, inMs ? left : Math.floor((left + 500) / 1000));
}

/** A client name or library field: Redis allows '!' to '~' only. */
function isPrintableWord(args: Arguments, i: number): boolean {
  for (let k = args.starts[i]!; k < args.ends[i]!; k++) {
    const c = args.source[k]!;
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/** Sets the client's name from argument i (empty clears it); false, and the error sent, when it has spaces or controls. */
function setName(session: RespSession, args: Arguments, i: number): boolean {
  if (!isPrintableWord(args, i)) {
    replyError(session.out, 'Client names cannot contain spaces, newlines or special characters.');
    return false;
  }
  session.name = args.ends[i]! > args.starts[i]! ? Buffer.from(args.source.subarray(args.starts[i]!, args.ends[i]!)) : undefined;
  return true;
}

const PROTOCOL_VERSION_NOT_AN_INTEGER = Buffer.from('-ERR Protocol version is not an integer or out of range\r\n');
const NOPROTO = Buffer.from('-NOPROTO unsupported protocol version\r\n');
const AUTH = Buffer.from('auth');
const SETNAME = Buffer.from('setname');

/** HELLO [protover [AUTH username password] [SETNAME name]]: no passwords here, so AUTH is accepted as the default user's. */
function hello(session: RespSession, args: Arguments): void {
  let proto = session.proto;
  if (args.count >= 2) {
    const version = parseInt64(args.source, args.starts[1]!, args.ends[1]!);
    if (version === undefined) {
      session.out.append(PROTOCOL_VERSION_NOT_AN_INTEGER);
      return;
    }
    if (version !== 2 && version !== 3) {
      session.out.append(NOPROTO);
      return;
    }
    proto = version;
  }
  let nameAt = -1;
  for (let i = 2; i < args.count; i++) {
    if (argIs(args, i, AUTH) && i + 2 < args.count) i += 2;
    else if (argIs(args, i, SETNAME) && i + 1 < args.count) nameAt = ++i;
    else {
      replyError(session.out, `Syntax error in HELLO option '${argText(args, i)}'`);
      return;
    }
  }
  if (nameAt > 0 && !setName(session, args, nameAt)) return;
  session.setProtocol(proto);
  const out = session.out;
  out.latin1(proto === 3 ? '%7\r\n' : '*14\r\n');
  replyBulkText(out, 'server');
  replyBulkText(out, 'redis');
  replyBulkText(out, 'version');
  replyBulkText(out, REDIS_VERSION);
  replyBulkText(out, 'proto');
  replyInteger(out, proto);
  replyBulkText(out, 'id');
  replyInteger(out, session.id);
  replyBulkText(out, 'mode');
  replyBulkText(out, 'standalone');
  replyBulkText(out, 'role');
  replyBulkText(out, 'master');
  replyBulkText(out, 'modules');
  out.append(EMPTY_ARRAY);
}

const INFO_SECTIONS = ['server', 'persistence', 'stats', 'replication', 'keyspace'] as const;
const INFO_ALL = new Set(['all', 'default', 'everything']);

/** The INFO text of one section, lines ending in CRLF, as Redis's genRedisInfoString. */
function infoSection(session: RespSession, section: (typeof INFO_SECTIONS)[number]): string {
  const shared = session.shared;
  switch (section) {
    case 'server':
      return (
        `# Server\r\nredis_version:${REDIS_VERSION}\r\nredis_mode:standalone\r\nos:${process.platform}\r\n` +
        `arch_bits:64\r\nprocess_id:${process.pid}\r\nuptime_in_seconds:${Math.floor((performance.now() - shared.startedAt) / 1000)}\r\n`
      );
    case 'persistence':
      return '# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:0\r\naof_enabled:0\r\n';
    case 'stats':
      return `# Stats\r\ntotal_connections_received:${shared.nextId - 1}\r\ntotal_commands_processed:${shared.requests}\r\n`;
    case 'replication':
      return '# Replication\r\nrole:master\r\nconnected_slaves:0\r\n';
    case 'keyspace': {
      const keys = session.keys.values.size;
      return `# Keyspace\r\n${keys === 0 ? '' : `db0:keys=${keys},expires=${session.keys.expiring},avg_ttl=0\r\n`}`;
    }
  }
}

function info(session: RespSession, args: Arguments): void {
  const wanted = new Set<string>();
  for (let i = 1; i < args.count; i++) wanted.add(argText(args, i, 32).toLowerCase());
  const all = wanted.size === 0 || [...wanted].some((name) => INFO_ALL.has(name));
  const text = INFO_SECTIONS.filter((name) => all || wanted.has(name))
    .map((name) => infoSection(session, name))
    .join('\r\n');
  // RESP3 has a verbatim string for text meant for people.
  if (session.proto === 3) session.out.latin1(`=${text.length + 4}\r\ntxt:${text}\r\n`);
  else replyBulkText(session.out, text);
}

const CLIENT_ID = Buffer.from('id');
const CLIENT_GETNAME = Buffer.from('getname');
const CLIENT_SETNAME = Buffer.from('setname');
const CLIENT_SETINFO = Buffer.from('setinfo');
const LIB_NAME = Buffer.from('lib-name');
const LIB_VER = Buffer.from('lib-ver');

function client(session: RespSession, args: Arguments): void {
  const out = session.out;
  if (argIs(args, 1, CLIENT_ID)) {
    if (args.count === 2) replyInteger(out, session.id);
    else replyArity(out, 'client|id');
  } else if (argIs(args, 1, CLIENT_GETNAME)) {
    if (args.count !== 2) replyArity(out, 'client|getname');
    else replyValue(session, session.name);
  } else if (argIs(args, 1, CLIENT_SETNAME)) {
    if (args.count !== 3) replyArity(out, 'client|setname');
    else if (setName(session, args, 2)) out.append(OK);
  } else if (argIs(args, 1, CLIENT_SETINFO)) {
    if (args.count !== 4) replyArity(out, 'client|setinfo');
    else if (!argIs(args, 2, LIB_NAME) && !argIs(args, 2, LIB_VER)) replyError(out, `Unrecognized option '${argText(args, 2)}'`);
    else if (!isPrintableWord(args, 3)) replyError(out, `${argText(args, 2).toLowerCase()} cannot contain spaces, newlines or special characters.`);
    // Accepted and not kept: nothing here reports it back.
    else out.append(OK);
  } else replyUnknownSubcommand(out, args, 'CLIENT');
}

const SYNC = Buffer.from('sync');
const ASYNC = Buffer.from('async');

function flush(session: RespSession, args: Arguments): void {
  if (args.count > 2 || (args.count === 2 && !argIs(args, 1, SYNC) && !argIs(args, 1, ASYNC))) {
    session.out.append(SYNTAX_ERROR);
    return;
  }
  session.keys.clear();
  session.out.append(OK);
}

const DB_OUT_OF_RANGE = Buffer.from('-ERR DB index is out of range\r\n');

const COMMANDS: Command[] = [
  command('get', 2, (session, args) => replyValue(session, lookup(session, args, 1))),
  command('set', -3, set),
  command('ping', -1, (session, args) => {
    if (args.count > 2) replyArity(session.out, 'ping');
    else if (args.count === 2) replyBulk(session.out, args.source, args.starts[1]!, args.ends[1]!);
    else session.out.append(PONG);
  }),
  command('incr', 2, (session, args) => incrementBy(session, args, 1)),
  command('decr', 2, (session, args) => incrementBy(session, args, -1)),
  command('incrby', 3, (session, args) => {
    const delta = argInteger(session, args, 2);
    if (delta !== undefined) incrementBy(session, args, delta);
  }),
  command('decrby', 3, (session, args) => {
    const delta = argInteger(session, args, 2);
    if (delta === undefined) return;
    // -INT64_MIN is no int64.
    if (delta === INT64_MIN) replyError(session.out, 'decrement would overflow');
    else incrementBy(session, args, -delta);
  }),
  command('del', -2, (session, args) => {
    let deleted = 0;
    for (let i = 1; i < args.count; i++) {
      const key = argKey(session, args, i);
      if (key !== undefined && session.keys.delete(key)) deleted++;
    }
    replyInteger(session.out, deleted);
  }),
  command('exists', -2, (session, args) => {
    let found = 0;
    for (let i = 1; i < args.count; i++) if (lookup(session, args, i) !== undefined) found++;
    replyInteger(session.out, found);
  }),
  command('mget', -2, (session, args) => {
    session.out.latin1(`*${args.count - 1}\r\n`);
    for (let i = 1; i < args.count; i++) replyValue(session, lookup(session, args, i));
  }),
  command('mset', -3, (session, args) => {
    if (args.count % 2 === 0) {
      replyArity(session.out, 'mset');
      return;
    }
    // Every key checked before any is set: an MSET is all or nothing.
    for (let i = 1; i < args.count; i += 2) {
      if (args.ends[i]! - args.starts[i]! > session.maxKeyLength) {
        session.out.append(KEY_TOO_LONG);
        return;
      }
    }
    for (let i = 1; i < args.count; i += 2) session.keys.set(argKey(session, args, i)!, copyArgument(args, i + 1));
    session.out.append(OK);
  }),
  command('append', 3, (session, args) => {
    const key = writeKey(session, args, 1);
    if (key === undefined) return;
    const stored = session.keys.get(key);
    const added = args.ends[2]! - args.starts[2]!;
    const length = (stored?.length ?? 0) + added;
    if (length > session.shared.maxBulkLength) {
      session.out.append(STRING_TOO_LONG);
      return;
    }
    const value = allocValue(length);
    if (stored !== undefined) value.set(stored, 0);
    args.source.copy(value, length - added, args.starts[2]!, args.ends[2]!);
    session.keys.set(key, value, true);
    replyInteger(session.out, length);
  }),
  command('strlen', 2, (session, args) => replyInteger(session.out, lookup(session, args, 1)?.length ?? 0)),
  command('type', 2, (session, args) => session.out.append(lookup(session, args, 1) === undefined ? TYPE_NONE : TYPE_STRING)),
  command('dbsize', 1, (session) => replyInteger(session.out, session.keys.values.size)),
  command('flushall', -1, flush),
  command('flushdb', -1, flush),
  command('expire', -3, (session, args) => expire(session, args, 1000, 'expire')),
  command('pexpire', -3, (session, args) => expire(session, args, 1, 'pexpire')),
  command('ttl', 2, (session, args) => ttl(session, args, false)),
  command('pttl', 2, (session, args) => ttl(session, args, true)),
  command('persist', 2, (session, args) => {
    const key = argKey(session, args, 1);
    const live = key !== undefined && session.keys.get(key) !== undefined;
    session.out.append(live && session.keys.persist(key) ? ONE : ZERO);
  }),
  command('echo', 2, (session, args) => {
    replyBulk(session.out, args.source, args.starts[1]!, args.ends[1]!);
  }),
  command('hello', -1, hello),
  command('info', -1, info),
  command('client', -2, client),
  command('select', 2, (session, args) => {
    const db = argInteger(session, args, 1);
    if (db === undefined) return;
    session.out.append(db === 0 ? OK : DB_OUT_OF_RANGE);
  }),
  command('quit', -1, (session) => {
    session.out.append(OK);
    session.quitting = true;
  }),
  command('config', -2, (session, args) => {
    if (!argIs(args, 1, GET)) {
      replyUnknownSubcommand(session.out, args, 'CONFIG');
      return;
    }
    if (args.count < 3) {
      replyArity(session.out, 'config|get');
      return;
    }
    const pairs: string[] = [];
    for (let i = 2; i < args.count; i++) {
      const name = argText(args, i).toLowerCase();
      const value = CONFIG.get(name);
      if (value !== undefined && !pairs.includes(name)) pairs.push(name, value);
    }
    session.out.latin1(session.proto === 3 ? `%${pairs.length / 2}\r\n` : `*${pairs.length}\r\n`);
    for (const text of pairs) replyBulkText(session.out, text);
  }),
  // redis-cli asks for COMMAND DOCS to show hints; an empty answer means "no hints".
  command('command', -1, (session, args) => {
    if (args.count === 1 || argIs(args, 1, DOCS)) session.out.append(EMPTY_ARRAY);
    else if (argIs(args, 1, COUNT)) {
      if (args.count === 2) replyInteger(session.out, COMMANDS.length);
      else replyArity(session.out, 'command|count');
    } else replyUnknownSubcommand(session.out, args, 'COMMAND');
  }),
];

/** Commands by (length, first letter), so finding one compares a few names, not all of them. */
const COMMANDS_BY_SHAPE = new Map<number, Command[]>();
for (const entry of COMMANDS) {
  const shape = entry.bytes.length * 256 + entry.bytes[0]!;
  COMMANDS_BY_SHAPE.set(shape, [...(COMMANDS_BY_SHAPE.get(shape) ?? []), entry]);
}

const GET = Buffer.from('get');
const DOCS = Buffer.from('docs');
const COUNT = Buffer.from('count');
const ZERO = Buffer.from(':0\r\n');
const ONE = Buffer.from(':1\r\n');
const TYPE_NONE = Buffer.from('+none\r\n');
const TYPE_STRING = Buffer.from('+string\r\n');
const STRING_TOO_LONG = Buffer.from('-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n');

function copyArgument(args: Arguments, i: number): Buffer {
  const start = args.starts[i]!;
  const end = args.ends[i]!;
  const length = end - start;
  // Not from the shared pool: a pooled copy would pin its whole 8 KiB slab
  // for as long as the key lives. And a size class (a power of two) rather
  // than the exact size: values of every size set and freed at random
  // fragment malloc's heap until RSS only grows (measured: 78 -> 110 MiB over
  // 400,000 SETs of 0-2000 bytes with a steady JS heap); blocks of a few
  // sizes are reused instead.
  const copy = allocValue(length);
  args.source.copy(copy, 0, start, end);
  return copy;
}

/** A value's buffer: of its own, in a size class (see copyArgument). */
function allocValue(length: number): Buffer {
  return Buffer.allocUnsafeSlow(length <= 64 ? 64 : 2 ** Math.ceil(Math.log2(length))).subarray(0, length);
}

function replyArity(out: ReplyBuffer, name: string): void {
  replyError(out, `wrong number of arguments for '${name}' command`);
}

function replyUnknownSubcommand(out: ReplyBuffer, args: Arguments, container: string): void {
  replyError(out, `unknown subcommand '${argText(args, 1)}'. Try ${container} HELP.`);
}

/** Redis's wording, with its 128-character bounds on the name and on the quoted arguments. */
function replyUnknownCommand(out: ReplyBuffer, args: Arguments): void {
  let quoted = '';
  for (let i = 1; i < args.count && quoted.length < 128; i++) {
    quoted += `'${argText(args, i, 128 - quoted.length)}' `;
  }
  replyError(out, `unknown command '${argText(args, 0)}', with args beginning with: ${quoted}`);
}

function findCommand(args: Arguments): Command | undefined {
  const start = args.starts[0]!;
  const candidates = start < args.ends[0]! ? COMMANDS_BY_SHAPE.get((args.ends[0]! - start) * 256 + (args.source[start]! | 0x20)) : undefined;
  if (candidates === undefined) return undefined;
  for (const candidate of candidates) {
    if (argIs(args, 0, candidate.bytes)) return candidate;
  }
  return undefined;
}

// ---- one connection ---------------------------------------------------------

class RespSession implements Protocol {
  readonly keys: Keyspace;
  readonly out: ReplyBuffer;
  readonly maxKeyLength: number;
  readonly shared: Shared;
  /** CLIENT ID: from 1, in the order of connection. */
  readonly id: number;
  /** RESP2 until HELLO 3. */
  proto: 2 | 3 = 2;
  /** A missing value: `$-1` in RESP2, `_` in RESP3. */
  nullReply: Buffer = NULL_BULK;
  /** CLIENT SETNAME's, HELLO SETNAME's. */
  name: Buffer | undefined;
  /** QUIT ran: its +OK goes out, then the connection ends and later input is ignored. */
  quitting = false;
  readonly #tail: InputTail;
  readonly #args: Arguments = { source: Buffer.alloc(0), count: 0, starts: [], ends: [] };
  /** Bytes of the inline line being decoded, when it has quotes. */
  #decoded: Buffer = Buffer.alloc(0);
  // A multibulk request in progress, resumed at the next read: arguments
  // announced, bulk length of the argument being read (-1: its `$N` line is
  // next), and offsets relative to the request's first byte.
  #expected = 0;
  #bulkLength = -1;
  #resumeAt = 0;
  /** Bytes the suspended request will take in all, once its next bulk is known; 0 when not known. */
  #requestBytes = 0;
  #rejected = false;

  constructor(shared: Shared, connection: Connection) {
    this.shared = shared;
    this.id = shared.nextId++;
    this.keys = shared.keys;
    // A fake connection in a test may come without a loop.
    shared.keys.attach((connection as Partial<Connection>).loop);
    this.out = shared.out;
    this.maxKeyLength = shared.maxKeyLength;
    this.#tail = new InputTail(shared.maxRequestBytes);
  }

  data(connection: Connection, bytes: Uint8Array): void {
    if (this.#rejected) return;
    const out = this.out;
    const input = this.#tail.combine(asBuffer(bytes));
    const highWaterMark = connection.highWaterMark;
    let at = 0;
    let consumed = 0;
    try {
      while (at < input.length) {
        // Only between requests, where nothing of one is half-parsed.
        if (this.#expected === 0 && out.length + connection.queuedBytes >= highWaterMark) break;
        consumed = input[at] === STAR || this.#expected > 0 ? this.#multibulk(input, at) : this.#inline(input, at);
        if (consumed < 0) break;
        at = consumed;
        if (this.quitting) {
          consumed = REJECTED;
          break;
        }
      }
      // Redis closes a client past client-query-buffer-limit without a word;
      // the error line says why before the close.
      if (consumed !== REJECTED && input.length - at > this.#tail.limit) consumed = this.#reject(QUERY_BUFFER_LIMIT);
    } finally {
      out.flushTo(connection);
    }
    if (consumed === REJECTED) {
      this.#rejected = true;
      this.#tail.release();
      connection.end();
      return;
    }
    this.#tail.keep(input, at, this.#requestBytes);
  }

  /** The queue drained: answer what data() kept back at the watermark. */
  resume(connection: Connection): void {
    this.data(connection, NOTHING);
  }

  setProtocol(proto: 2 | 3): void {
    this.proto = proto;
    this.nullReply = proto === 3 ? NULL_RESP3 : NULL_BULK;
  }

  #execute(): void {
    const args = this.#args;
    this.shared.requests++;
    const found = findCommand(args);
    if (found === undefined) replyUnknownCommand(this.out, args);
    else if (found.arity > 0 ? args.count !== found.arity : args.count < -found.arity) replyArity(this.out, found.name);
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
    const args = this.#args;
    let at = start + this.#resumeAt;
    if (this.#expected === 0) {
      const lineEnd = this.#lineEnd(input, at);
      if (lineEnd < 0) return lineEnd === INCOMPLETE ? INCOMPLETE : this.#reject('too big mbulk count string');
      const count = parseInt64(input, at + 1, lineEnd);
      if (count === undefined || count > this.shared.maxArguments) return this.#reject('invalid multibulk length');
      at = lineEnd + 2;
      // `*0` and `*-1` are empty requests: Redis skips them without a reply.
      if (count <= 0) return at;
      this.#expected = Number(count);
      args.count = 0;
    }
    while (args.count < this.#expected) {
      if (this.#bulkLength < 0) {
        if (at >= input.length) return this.#suspend(start, at);
        if (input[at] !== DOLLAR) return this.#reject(`expected '$', got '${String.fromCharCode(input[at]!)}'`);
        const lineEnd = this.#lineEnd(input, at);
        if (lineEnd === INCOMPLETE) return this.#suspend(start, at);
        if (lineEnd < 0) return this.#reject('too big bulk count string');
        const length = parseInt64(input, at + 1, lineEnd);
        if (length === undefined || length < 0 || length > this.shared.maxBulkLength) return this.#reject('invalid bulk length');
        this.#bulkLength = Number(length);
        at = lineEnd + 2;
        // Refused as soon as announced, before any of it is buffered.
        if (at - start + this.#bulkLength + 2 > this.#tail.limit) return this.#reject(QUERY_BUFFER_LIMIT);
      }
      // As in Redis, the two bytes after the data are taken to be CRLF unchecked.
      if (input.length - at < this.#bulkLength + 2) return this.#suspend(start, at);
      args.starts[args.count] = at - start;
      args.ends[args.count] = at - start + this.#bulkLength;
      args.count++;
      at += this.#bulkLength + 2;
      this.#bulkLength = -1;
    }
    for (let i = 0; i < args.count; i++) {
      args.starts[i]! += start;
      args.ends[i]! += start;
    }
    args.source = input;
    this.#expected = 0;
    this.#resumeAt = 0;
    this.#requestBytes = 0;
    this.#execute();
    // A request of a million arguments leaves no million-entry arrays behind.
    if (args.starts.length > KEEP_ARGUMENTS_AT_MOST) {
      args.starts = [];
      args.ends = [];
    }
    return at;
  }

  /**
   * Remembers where to resume: offsets stay valid because the tail keeps the
   * request from its first byte. With the next bulk's length known, so is
   * the least the request will take, and the tail makes room for it at once.
   */
  #suspend(start: number, at: number): number {
    this.#resumeAt = at - start;
    this.#requestBytes = this.#bulkLength < 0 ? 0 : at - start + this.#bulkLength + 2;
    return INCOMPLETE;
  }

  /**
   * The CR of the line starting at `from`, with its LF present; INCOMPLETE
   * while the line may still end, REJECTED once it is too long.
   */
  #lineEnd(input: Buffer, from: number): number {
    const cr = input.indexOf(CR, from);
    if (cr < 0 || cr + 1 >= input.length) {
      return input.length - from > MAX_INLINE_LENGTH ? REJECTED : INCOMPLETE;
    }
    return cr;
  }

  /** Parses the inline request at `start`: words split as redis-cli's own splitter does. */
  #inline(input: Buffer, start: number): number {
    const newline = input.indexOf(LF, start);
    if (newline < 0) return input.length - start > MAX_INLINE_LENGTH ? this.#reject('too big inline request') : INCOMPLETE;
    let end = newline;
    if (end > start && input[end - 1] === CR) end--;
    if (!this.#splitPlain(input, start, end) && !this.#splitQuoted(input, start, end)) {
      return this.#reject('unbalanced quotes in request');
    }
    if (this.#args.count > 0) this.#execute();
    return newline + 1;
  }

  /** Splits a line without quotes where it lies; false at the first quote, for #splitQuoted to redo. */
  #splitPlain(input: Buffer, start: number, end: number): boolean {
    const args = this.#args;
    args.source = input;
    args.count = 0;
    let i = start;
    while (i < end) {
      while (i < end && isSpace(input[i]!)) i++;
      if (i === end) break;
      args.starts[args.count] = i;
      for (; i < end && !isSpace(input[i]!); i++) {
        if (input[i] === DOUBLE_QUOTE || input[i] === SINGLE_QUOTE) return false;
      }
      args.ends[args.count++] = i;
    }
    return true;
  }

  /** Splits into #decoded as Redis's sdssplitargs does: "..." with \xHH, \n, \r, \t, \b, \a escapes; '...' with \'; a closing quote must end the word. */
  #splitQuoted(input: Buffer, start: number, end: number): boolean {
    if (this.#decoded.length < end - start) this.#decoded = Buffer.allocUnsafe(Math.max(end - start, 256));
    const out = this.#decoded;
    const args = this.#args;
    args.source = out;
    args.count = 0;
    let o = 0;
    let i = start;
    while (i < end) {
      while (i < end && isSpace(input[i]!)) i++;
      if (i === end) break;
      args.starts[args.count] = o;
      let quote = 0;
      for (; i < end; i++) {
        const c = input[i]!;
        if (quote === 0) {
          if (isSpace(c)) break;
          if (c === DOUBLE_QUOTE || c === SINGLE_QUOTE) quote = c;
          else out[o++] = c;
        } else if (c === quote) {
          if (i + 1 < end && !isSpace(input[i + 1]!)) return false;
          quote = 0;
          i++;
          break;
        } else if (c === BACKSLASH && quote === DOUBLE_QUOTE && i + 1 < end) {
          const next = input[i + 1]!;
          if (next === 120 && i + 3 < end && isHex(input[i + 2]!) && isHex(input[i + 3]!)) {
            out[o++] = (hexValue(input[i + 2]!) << 4) | hexValue(input[i + 3]!);
            i += 3;
          } else {
            out[o++] = ESCAPES[next] ?? next;
            i++;
          }
        } else if (c === BACKSLASH && quote === SINGLE_QUOTE && i + 1 < end && input[i + 1] === SINGLE_QUOTE) {
          out[o++] = SINGLE_QUOTE;
          i++;
        } else out[o++] = c;
      }
      if (quote !== 0) return false;
      args.ends[args.count++] = o;
    }
    return true;
  }
}

const ESCAPES: Record<number, number> = { 110: 10, 114: 13, 116: 9, 98: 8, 97: 7 };

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}

/** What the sessions of one server share. */
interface Shared {
  keys: Keyspace;
  nextId: number;
  /** performance.now() when made, for INFO's uptime. */
  startedAt: number;
  out: ReplyBuffer;
  requests: number;
  maxRequestBytes: number;
  maxBulkLength: number;
  maxKeyLength: number;
  maxArguments: number;
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
  const store = options.store ?? new Map<string, Uint8Array>();
  if (!(store instanceof Map)) throw typeError('options.store', 'a Map', store);
  const keys = new Keyspace(store);
  const shared: Shared = {
    keys,
    nextId: 1,
    startedAt: performance.now(),
    out: new ReplyBuffer(),
    requests: 0,
    maxRequestBytes,
    maxBulkLength,
    maxKeyLength,
    maxArguments,
  };
  const factory = ((connection: Connection) => new RespSession(shared, connection)) as ProtocolFactory;
  factory.refuse = () => MAX_CLIENTS_REACHED;
  Object.defineProperty(factory, 'requests', { get: () => shared.requests, enumerable: true });
  Object.defineProperty(factory, 'store', { value: store, enumerable: true });
  return factory as RespProtocolFactory;
}
