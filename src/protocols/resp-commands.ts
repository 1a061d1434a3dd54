// RESP's commands: the table the session looks a request's name up in, and
// what each command does to the keyspace and answers (the argument and reply
// helpers: resp-replies.ts). The session (resp.ts) parses requests into Arguments
// and runs the command found; docs/protocols.md lists the commands.
import { performance } from 'node:perf_hooks';
import { Buffer } from 'node:buffer';

import type { RespSession } from './resp.js';
import {
  argIs,
  argKey,
  argText,
  INT64_MAX,
  INT64_MIN,
  parseInt64,
  replyArity,
  replyBulk,
  replyBulkText,
  replyError,
  replyInteger,
  replyUnknownSubcommand,
} from './resp-replies.js';

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
export const NULL_BULK = Buffer.from('$-1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');
const NOT_AN_INTEGER = Buffer.from('-ERR value is not an integer or out of range\r\n');
const OVERFLOW = Buffer.from('-ERR increment or decrement would overflow\r\n');
const SYNTAX_ERROR = Buffer.from('-ERR syntax error\r\n');
/** Worded as Redis words a value past proto-max-bulk-len, with this server's limit. */
const KEY_TOO_LONG = Buffer.from('-ERR key exceeds maximum allowed size (max-key-length)\r\n');
/** The Redis whose replies these are: clients read it from HELLO and INFO. */
const REDIS_VERSION = '7.2.0';
export const NULL_RESP3 = Buffer.from('_\r\n');
/** What CONFIG GET answers: the values of a server that never persists anything. */
const CONFIG: ReadonlyMap<string, string> = new Map([
  ['save', ''],
  ['appendonly', 'no'],
  ['maxmemory-policy', 'noeviction'],
]);

export interface Command {
  /** Lower-case name, also used in error messages. */
  name: string;
  /** The name's bytes, lower case, for matching without making a string. */
  bytes: Buffer;
  /** Redis's convention: n exactly n arguments (name included), -n at least n. */
  arity: number;
  /** Redis's denyoom flag: it may add data, so it is refused while the store is past maxMemory. */
  denyOom: boolean;
  run(session: RespSession, args: Arguments): void;
}

/**
 * The arguments of the request being executed: offsets into `source`, which
 * is the read buffer, the connection's tail, or the decoded inline line.
 */
export interface Arguments {
  source: Buffer;
  count: number;
  starts: number[];
  ends: number[];
}


// ---- replies ---------------------------------------------------------------

// ---- commands --------------------------------------------------------------

function command(name: string, arity: number, run: Command['run'], denyOom = false): Command {
  return { name, bytes: Buffer.from(name), arity, denyOom, run };
}

/** A command that may add data: Redis's denyoom. */
const DENY_OOM = true;

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

/** Argument i stored as `key`'s value (resp-keyspace.ts's write: in the old value's place when it fits). */
function storeArgument(session: RespSession, key: string, args: Arguments, i: number, keepDeadline = false): void {
  const start = args.starts[i]!;
  const end = args.ends[i]!;
  const value = session.keys.write(key, end - start, keepDeadline);
  const source = args.source;
  // Buffer.copy of part of a buffer makes a Uint8Array view of the part first
  // (perf: 2% of SET's CPU at -P16); a short value is copied byte by byte.
  if (end - start > SHORT_COPY) source.copy(value, 0, start, end);
  else for (let k = start; k < end; k++) value[k - start] = source[k]!;
}

/** Values up to this many bytes are copied in a loop: below it the loop beats the view Buffer.copy makes. */
const SHORT_COPY = 64;

function replyValue(session: RespSession, value: Uint8Array | undefined): void {
  if (value === undefined) session.out.appendConstant(session.nullReply);
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
  const text = String(next);
  session.keys.write(key, text.length, true).write(text, 'latin1');
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
    else session.out.appendConstant(session.nullReply);
    return;
  }
  // The old value goes into the reply before the new one may be written over it.
  if ((flags & SET_GET) !== 0) replyValue(session, old);
  storeArgument(session, key, args, 2, (flags & SET_KEEPTTL) !== 0);
  if (deadline !== undefined) session.keys.expireAt(key, deadline);
  if ((flags & SET_GET) === 0) session.out.appendConstant(OK);
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

const INFO_SECTIONS = ['server', 'memory', 'persistence', 'stats', 'replication', 'keyspace'] as const;
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
    case 'memory':
      // used_memory is the store's, as maxmemory counts it (resp-values.ts's usedBytes), not the process's.
      return `# Memory\r\nused_memory:${session.keys.pages.usedBytes}\r\nmaxmemory:${shared.maxMemory}\r\nmaxmemory_policy:noeviction\r\n`;
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
    else if (setName(session, args, 2)) out.appendConstant(OK);
  } else if (argIs(args, 1, CLIENT_SETINFO)) {
    if (args.count !== 4) replyArity(out, 'client|setinfo');
    else if (!argIs(args, 2, LIB_NAME) && !argIs(args, 2, LIB_VER)) replyError(out, `Unrecognized option '${argText(args, 2)}'`);
    else if (!isPrintableWord(args, 3)) replyError(out, `${argText(args, 2).toLowerCase()} cannot contain spaces, newlines or special characters.`);
    // Accepted and not kept: nothing here reports it back.
    else out.appendConstant(OK);
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
  session.out.appendConstant(OK);
}

const DB_OUT_OF_RANGE = Buffer.from('-ERR DB index is out of range\r\n');

const COMMANDS: Command[] = [
  command('get', 2, (session, args) => replyValue(session, lookup(session, args, 1))),
  command('set', -3, set, DENY_OOM),
  command('ping', -1, (session, args) => {
    if (args.count > 2) replyArity(session.out, 'ping');
    else if (args.count === 2) replyBulk(session.out, args.source, args.starts[1]!, args.ends[1]!);
    else session.out.appendConstant(PONG);
  }),
  command('incr', 2, (session, args) => incrementBy(session, args, 1), DENY_OOM),
  command('decr', 2, (session, args) => incrementBy(session, args, -1), DENY_OOM),
  command('incrby', 3, (session, args) => {
    const delta = argInteger(session, args, 2);
    if (delta !== undefined) incrementBy(session, args, delta);
  }, DENY_OOM),
  command('decrby', 3, (session, args) => {
    const delta = argInteger(session, args, 2);
    if (delta === undefined) return;
    // -INT64_MIN is no int64.
    if (delta === INT64_MIN) replyError(session.out, 'decrement would overflow');
    else incrementBy(session, args, -delta);
  }, DENY_OOM),
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
    for (let i = 1; i < args.count; i += 2) storeArgument(session, argKey(session, args, i)!, args, i + 1);
    session.out.appendConstant(OK);
  }, DENY_OOM),
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
    const value = session.keys.write(key, length, true, length - added);
    args.source.copy(value, length - added, args.starts[2]!, args.ends[2]!);
    replyInteger(session.out, length);
  }, DENY_OOM),
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
    session.out.appendConstant(OK);
    session.quit();
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
      const value = name === 'maxmemory' ? String(session.shared.maxMemory) : CONFIG.get(name);
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
/**
 * The commands by shape, the name's length × 256 + its first byte in lower
 * case: an array index, not a Map key (a Map lookup per request was 4% of a
 * pipelined PING's server time, perf); a name longer than any command's has
 * no shape and is unknown at once.
 */
const LONGEST_NAME = Math.max(...COMMANDS.map((entry) => entry.bytes.length));
const COMMANDS_BY_SHAPE: (Command[] | undefined)[] = new Array((LONGEST_NAME + 1) * 256).fill(undefined);
for (const entry of COMMANDS) {
  const shape = entry.bytes.length * 256 + entry.bytes[0]!;
  COMMANDS_BY_SHAPE[shape] = [...(COMMANDS_BY_SHAPE[shape] ?? []), entry];
}

const GET = Buffer.from('get');
const DOCS = Buffer.from('docs');
const COUNT = Buffer.from('count');
const ZERO = Buffer.from(':0\r\n');
const ONE = Buffer.from(':1\r\n');
const TYPE_NONE = Buffer.from('+none\r\n');
const TYPE_STRING = Buffer.from('+string\r\n');
const STRING_TOO_LONG = Buffer.from('-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n');

export function findCommand(args: Arguments): Command | undefined {
  const start = args.starts[0]!;
  const length = args.ends[0]! - start;
  if (length <= 0 || length > LONGEST_NAME) return undefined;
  const candidates = COMMANDS_BY_SHAPE[length * 256 + (args.source[start]! | 0x20)];
  if (candidates === undefined) return undefined;
  for (let i = 0; i < candidates.length; i++) {
    if (argIs(args, 0, candidates[i]!.bytes)) return candidates[i];
  }
  return undefined;
}
