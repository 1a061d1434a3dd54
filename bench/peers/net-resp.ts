// The peer: a RESP server on node:net as a careful Node user writes one,
// with the commands of wasmloop's RESP protocol (PING, ECHO, SET, GET, DEL,
// INCR, EXISTS, CONFIG GET, COMMAND) and its replies, byte for byte, for
// the requests the benchmarks and redis-cli send.
//
// The hot path allocates no Buffer: requests are parsed where they lie, in
// the chunk Node read (lengths read digit by digit, command names matched
// byte by byte, arguments kept as offsets); constant replies are encoded
// once; every reply of one read is gathered in the shared reply buffer and
// written with one socket.write (replies.ts). GET copies the stored value
// into that buffer. A SET whose value is as long as the one it replaces
// overwrites it in place (redis-benchmark's SET always does); other SETs
// store a copy. The key is a string, the one thing a GET or SET allocates
// besides what Node allocates per read.
//
// A request cut by the end of a read is kept (a view of that read), joined
// to the next read and parsed again from its first byte. Inline requests are
// split at whitespace; quotes are not decoded (wasmloop's server decodes
// them, as redis does). Options: see listen.ts.
import { createServer, type Socket } from 'node:net';

import { listen } from './listen.js';
import { Replies, onDrain, onError } from './replies.js';

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NULL_BULK = Buffer.from('$-1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');
const SYNTAX_ERROR = Buffer.from('-ERR syntax error\r\n');
const NOT_AN_INTEGER = Buffer.from('-ERR value is not an integer or out of range\r\n');
const OVERFLOW = Buffer.from('-ERR increment or decrement would overflow\r\n');
const SET_OPTIONS = new Set(['nx', 'xx', 'get', 'ex', 'px', 'exat', 'pxat', 'keepttl']);
const CONFIG: ReadonlyMap<string, string> = new Map([
  ['save', ''],
  ['appendonly', 'no'],
]);
/** What COMMAND COUNT answers: the commands this server has. */
const COMMAND_COUNT = 9;

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
const MINUS = 45;
const ZERO = 48;
/** Redis's limits, as wasmloop's server has them. */
const MAX_INLINE_LENGTH = 64 * 1024;
const MAX_BULK_LENGTH = 512 * 1024 * 1024;
const MAX_ARGUMENTS = 1024 * 1024;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// What a parse returns when it is not the offset after the request; what
// lineNumber returns when it is not a number >= 0.
const INCOMPLETE = -1;
const REJECTED = -2;
const TOO_LONG = -3;
const INVALID = -4;
const NEGATIVE = -5;

const GET = Buffer.from('get');
const SET = Buffer.from('set');
const DEL = Buffer.from('del');
const PING = Buffer.from('ping');
const ECHO = Buffer.from('echo');
const INCR = Buffer.from('incr');
const EXISTS = Buffer.from('exists');
const CONFIG_ = Buffer.from('config');
const COMMAND = Buffer.from('command');
const DOCS = Buffer.from('docs');
const COUNT = Buffer.from('count');

const store = new Map<string, Buffer>();
const replies = new Replies();

// The request being executed, as offsets into the input: one set for the
// process, since requests execute one at a time.
const starts: number[] = [];
const ends: number[] = [];
let argc = 0;
/** The offset after the line lineNumber read. */
let lineAfter = 0;

/**
 * The integer after the type byte at `at` (`*3\r\n`, `$5\r\n`), read as
 * Redis's string2ll does (no sign but '-', no leading zero); sets lineAfter.
 * INCOMPLETE while its line may still end, TOO_LONG once it cannot, INVALID,
 * or NEGATIVE for any number below 0.
 */
function lineNumber(input: Buffer, at: number): number {
  const end = input.length;
  let i = at + 1;
  const negative = i < end && input[i] === MINUS;
  if (negative) i++;
  const first = i;
  let value = 0;
  for (; i < end && input[i] !== CR; i++) {
    const digit = input[i]! - ZERO;
    if (digit < 0 || digit > 9) return INVALID;
    value = value * 10 + digit;
  }
  if (i + 1 >= end) return end - at > MAX_INLINE_LENGTH ? TOO_LONG : INCOMPLETE;
  const digits = i - first;
  if (digits === 0 || digits > 18 || (input[first] === ZERO && (digits > 1 || negative))) return INVALID;
  lineAfter = i + 2;
  return negative ? NEGATIVE : value;
}

/** Answers a protocol error; the caller ends the connection. */
function reject(message: string): number {
  error(`Protocol error: ${message}`);
  return REJECTED;
}

/** Parses and executes the multibulk request at `start`: the offset after it, INCOMPLETE or REJECTED. */
function multibulk(input: Buffer, start: number): number {
  const count = lineNumber(input, start);
  if (count === INCOMPLETE) return INCOMPLETE;
  if (count === TOO_LONG) return reject('too big mbulk count string');
  if (count === INVALID || count > MAX_ARGUMENTS) return reject('invalid multibulk length');
  let at = lineAfter;
  // `*0` and `*-1` are empty requests: skipped without a reply.
  if (count === NEGATIVE || count === 0) return at;
  for (let i = 0; i < count; i++) {
    if (at >= input.length) return INCOMPLETE;
    if (input[at] !== DOLLAR) return reject(`expected '$', got '${String.fromCharCode(input[at]!)}'`);
    const length = lineNumber(input, at);
    if (length === INCOMPLETE) return INCOMPLETE;
    if (length === TOO_LONG) return reject('too big bulk count string');
    if (length < 0 || length > MAX_BULK_LENGTH) return reject('invalid bulk length');
    at = lineAfter;
    // As in Redis, the two bytes after the data are taken to be CRLF unchecked.
    if (input.length - at < length + 2) return INCOMPLETE;
    starts[i] = at;
    ends[i] = at + length;
    at += length + 2;
  }
  argc = count;
  execute(input);
  return at;
}

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

/** Parses and executes the inline request (one line) at `start`. */
function inline(input: Buffer, start: number): number {
  const newline = input.indexOf(LF, start);
  if (newline < 0) return input.length - start > MAX_INLINE_LENGTH ? reject('too big inline request') : INCOMPLETE;
  argc = 0;
  for (let i = start; i < newline; ) {
    while (i < newline && isSpace(input[i]!)) i++;
    if (i === newline) break;
    starts[argc] = i;
    while (i < newline && !isSpace(input[i]!)) i++;
    ends[argc++] = i;
  }
  if (argc > 0) execute(input);
  return newline + 1;
}

/** Whether argument i is `lower` (a word of ASCII letters), ignoring case. */
function argIs(input: Buffer, i: number, lower: Buffer): boolean {
  const start = starts[i]!;
  if (ends[i]! - start !== lower.length) return false;
  for (let k = 0; k < lower.length; k++) {
    // Only 'X' and 'x' satisfy (b | 0x20) === 'x' when 'x' is a letter.
    if ((input[start + k]! | 0x20) !== lower[k]) return false;
  }
  return true;
}

const argString = (input: Buffer, i: number): string => input.toString('latin1', starts[i], ends[i]);

function execute(input: Buffer): void {
  switch (ends[0]! - starts[0]!) {
    case 3:
      if (argIs(input, 0, GET)) return argc === 2 ? get(input) : arity('get');
      if (argIs(input, 0, SET)) return argc >= 3 ? set(input) : arity('set');
      if (argIs(input, 0, DEL)) return argc >= 2 ? count(input, true) : arity('del');
      break;
    case 4:
      if (argIs(input, 0, PING)) {
        if (argc > 2) arity('ping');
        else if (argc === 2) bulk(input, starts[1]!, ends[1]!);
        else replies.put(PONG);
        return;
      }
      if (argIs(input, 0, ECHO)) return argc === 2 ? bulk(input, starts[1]!, ends[1]!) : arity('echo');
      if (argIs(input, 0, INCR)) return argc === 2 ? incr(input) : arity('incr');
      break;
    case 6:
      if (argIs(input, 0, EXISTS)) return argc >= 2 ? count(input, false) : arity('exists');
      if (argIs(input, 0, CONFIG_)) return argc >= 2 ? config(input) : arity('config');
      break;
    case 7:
      if (argIs(input, 0, COMMAND)) return command(input);
      break;
  }
  unknownCommand(input);
}

function get(input: Buffer): void {
  const value = store.get(argString(input, 1));
  if (value === undefined) replies.put(NULL_BULK);
  else bulk(value, 0, value.length);
}

function set(input: Buffer): void {
  if (argc > 3) {
    const option = argString(input, 3);
    if (SET_OPTIONS.has(option.toLowerCase())) error(`SET option '${option}' is not supported by this server`);
    else replies.put(SYNTAX_ERROR);
    return;
  }
  const key = argString(input, 1);
  const start = starts[2]!;
  const length = ends[2]! - start;
  const stored = store.get(key);
  if (stored !== undefined && stored.length === length) input.copy(stored, 0, start, start + length);
  else {
    const copy = Buffer.allocUnsafeSlow(length);
    input.copy(copy, 0, start, start + length);
    store.set(key, copy);
  }
  replies.put(OK);
}

/** DEL (`remove`) or EXISTS: how many of the keys were there. */
function count(input: Buffer, remove: boolean): void {
  let found = 0;
  for (let i = 1; i < argc; i++) {
    const key = argString(input, i);
    if (remove ? store.delete(key) : store.has(key)) found++;
  }
  replies.putLatin1(`:${found}\r\n`);
}

function incr(input: Buffer): void {
  const key = argString(input, 1);
  const text = store.get(key)?.toString('latin1') ?? '0';
  const current = /^(0|-?[1-9]\d{0,19})$/.test(text) ? BigInt(text) : undefined;
  if (current === undefined || current < INT64_MIN || current > INT64_MAX) {
    replies.put(NOT_AN_INTEGER);
    return;
  }
  if (current === INT64_MAX) {
    replies.put(OVERFLOW);
    return;
  }
  const next = String(current + 1n);
  store.set(key, Buffer.from(next, 'latin1'));
  replies.putLatin1(`:${next}\r\n`);
}

function config(input: Buffer): void {
  if (!argIs(input, 1, GET)) return unknownSubcommand(input, 'CONFIG');
  if (argc < 3) return arity('config|get');
  const pairs: string[] = [];
  for (let i = 2; i < argc; i++) {
    const name = argString(input, i).toLowerCase();
    const value = CONFIG.get(name);
    if (value !== undefined && !pairs.includes(name)) pairs.push(name, value);
  }
  replies.putLatin1(`*${pairs.length}\r\n`);
  for (const text of pairs) replies.putLatin1(`$${text.length}\r\n${text}\r\n`);
}

// redis-cli asks for COMMAND DOCS to show hints; an empty answer means "no hints".
function command(input: Buffer): void {
  if (argc === 1 || argIs(input, 1, DOCS)) replies.put(EMPTY_ARRAY);
  else if (argIs(input, 1, COUNT)) {
    if (argc === 2) replies.putLatin1(`:${COMMAND_COUNT}\r\n`);
    else arity('command|count');
  } else unknownSubcommand(input, 'COMMAND');
}

/** `$<length>\r\n<bytes>\r\n`, built in the reply buffer. */
function bulk(source: Buffer, start: number, end: number): void {
  replies.reserve(end - start + 24);
  replies.bytes[replies.length++] = DOLLAR;
  replies.putDecimal(end - start);
  replies.bytes[replies.length++] = CR;
  replies.bytes[replies.length++] = LF;
  replies.putRange(source, start, end);
  replies.bytes[replies.length++] = CR;
  replies.bytes[replies.length++] = LF;
}

/** An error line; CR and LF become spaces, as Redis does, so the reply stays one line. */
function error(message: string): void {
  replies.putLatin1(`-ERR ${message.replace(/[\r\n]/g, ' ')}\r\n`);
}

function arity(name: string): void {
  error(`wrong number of arguments for '${name}' command`);
}

function unknownSubcommand(input: Buffer, container: string): void {
  error(`unknown subcommand '${argString(input, 1).slice(0, 128)}'. Try ${container} HELP.`);
}

/** Redis's wording, with its 128-character bounds on the name and on the quoted arguments. */
function unknownCommand(input: Buffer): void {
  let quoted = '';
  for (let i = 1; i < argc && quoted.length < 128; i++) quoted += `'${argString(input, i).slice(0, 128 - quoted.length)}' `;
  error(`unknown command '${argString(input, 0).slice(0, 128)}', with args beginning with: ${quoted}`);
}

const server = createServer({ noDelay: true }, (socket: Socket) => {
  /** The start of a request cut by the end of the last read: a view of that read, kept until the next. */
  let pending: Buffer | null = null;
  let rejected = false;
  socket.on('error', onError);
  socket.on('drain', onDrain);
  socket.on('data', (chunk: Buffer) => {
    if (rejected) return;
    const input = pending === null ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (at < input.length) {
      const next = input[at] === STAR ? multibulk(input, at) : inline(input, at);
      if (next === INCOMPLETE) break;
      if (next === REJECTED) {
        rejected = true;
        replies.flushTo(socket);
        socket.end();
        return;
      }
      at = next;
    }
    pending = at === input.length ? null : input.subarray(at);
    replies.flushTo(socket);
  });
});
listen(server, 'node:net resp server');
