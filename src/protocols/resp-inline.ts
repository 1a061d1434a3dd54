// RESP's inline requests (`SET key value` typed at a terminal): a line split
// into words as redis-cli and Redis split it. A line without quotes is split
// where it lies; one with quotes is decoded into a scratch buffer (escapes,
// quoted spaces), as Redis's sdssplitargs does.
import type { Buffer } from 'node:buffer';

import type { Arguments } from './resp-commands.js';

const DOUBLE_QUOTE = 34;
const SINGLE_QUOTE = 39;
const BACKSLASH = 92;

/** Splits a line without quotes where it lies, into `args`; false at the first quote, for splitQuoted to redo. */
export function splitPlain(args: Arguments, input: Buffer, start: number, end: number): boolean {
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

/**
 * Splits into `out` (at least end - start bytes: decoding never lengthens a
 * word) as Redis's sdssplitargs does: "..." with \xHH, \n, \r, \t, \b, \a
 * escapes; '...' with \'; a closing quote must end the word. `args` then
 * points into `out`.
 */
export function splitQuoted(args: Arguments, input: Buffer, start: number, end: number, out: Buffer): boolean {
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
