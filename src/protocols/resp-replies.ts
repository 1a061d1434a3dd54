// RESP's arguments and replies: reading a request's arguments without
// making strings of their size, and writing the reply types, errors worded as
// Redis words them. The session (resp.ts) and the commands (resp-commands.ts)
// share them.
import { Buffer } from 'node:buffer';

import { CR, LF, type ReplyBuffer } from './buffers.js';
import type { Arguments } from './resp-commands.js';
import type { RespSession } from './resp.js';
import { keyString } from './resp-key-strings.js';

/** The range of Redis's integers (long long). */
/** The byte that begins a bulk string, in requests and replies. */
export const DOLLAR = 36;
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/**
 * At most the first `max` bytes of argument i as text (latin1, one character
 * per byte): for names and error messages, so no argument, however long,
 * becomes a string of its own size.
 */
export function argText(args: Arguments, i: number, max = 128): string {
  const start = args.starts[i]!;
  return args.source.toString('latin1', start, Math.min(args.ends[i]!, start + max));
}

/** Argument i as a key, or undefined when it is longer than keys may be. */
export function argKey(session: RespSession, args: Arguments, i: number): string | undefined {
  const start = args.starts[i]!;
  const end = args.ends[i]!;
  return end - start > session.maxKeyLength ? undefined : keyString(args.source, start, end);
}

/** Whether argument i is `lower` (an ASCII-letters word), ignoring case. */
export function argIs(args: Arguments, i: number, lower: Buffer): boolean {
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
export function parseInt64(bytes: Uint8Array, start: number, end: number): number | bigint | undefined {
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

export function replyInteger(out: ReplyBuffer, value: number | bigint): void {
  out.latin1(`:${value}\r\n`);
}

export function replyBulk(out: ReplyBuffer, source: Uint8Array, start: number, end: number): void {
  // `$`, the length, CRLF, written as bytes: no string per reply.
  out.reserve(1);
  out.bytes[out.length++] = DOLLAR;
  out.decimal(end - start);
  out.reserve(end - start + 4);
  out.bytes[out.length++] = CR;
  out.bytes[out.length++] = LF;
  out.append(source, start, end);
  out.bytes[out.length++] = CR;
  out.bytes[out.length++] = LF;
}

export function replyBulkText(out: ReplyBuffer, text: string): void {
  out.latin1(`$${Buffer.byteLength(text, 'latin1')}\r\n${text}\r\n`);
}

/** An error line; CR and LF become spaces, as Redis does, so the reply stays one line. */
export function replyError(out: ReplyBuffer, message: string): void {
  out.latin1(`-ERR ${message.replace(/[\r\n]/g, ' ')}\r\n`);
}

export function replyArity(out: ReplyBuffer, name: string): void {
  replyError(out, `wrong number of arguments for '${name}' command`);
}

export function replyUnknownSubcommand(out: ReplyBuffer, args: Arguments, container: string): void {
  replyError(out, `unknown subcommand '${argText(args, 1)}'. Try ${container} HELP.`);
}

/** Redis's wording, with its 128-character bounds on the name and on the quoted arguments. */
export function replyUnknownCommand(out: ReplyBuffer, args: Arguments): void {
  let quoted = '';
  for (let i = 1; i < args.count && quoted.length < 128; i++) {
    quoted += `'${argText(args, i, 128 - quoted.length)}' `;
  }
  replyError(out, `unknown command '${argText(args, 0)}', with args beginning with: ${quoted}`);
}
