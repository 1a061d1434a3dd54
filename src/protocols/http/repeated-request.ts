// The last request a parser read that can stand for itself: its bytes and the
// head llhttp and the parser's checks made of them. A read that begins with
// the same bytes, at a parser between requests, is that request again
// (parser.ts, #repeated): llhttp is deterministic, and a parser between
// requests is in one state. A keep-alive client (health checks, polling, load
// generators) sends the same request on and on.
import { Buffer } from 'node:buffer';

import { REPEAT_MAX_BYTES } from './constants.js';
import type { RequestHead } from './parser.js';

/** Past this many bytes Buffer.compare's native call costs less than a compare byte by byte. */
const COMPARE_IN_JS_AT_MOST = 64;

export class RepeatedRequest {
  /** Its own store, not a slice of Buffer's shared pool: a parser kept in a pool should not keep a pool slab alive. */
  readonly #bytes = Buffer.allocUnsafeSlow(REPEAT_MAX_BYTES);
  #length = 0;
  #head!: RequestHead;

  /** Keeps bytes [from, end) and their head (at most REPEAT_MAX_BYTES: the caller checks). */
  constructor(bytes: Buffer, from: number, end: number, head: RequestHead) {
    this.keep(bytes, from, end, head);
  }

  /** The kept request's bytes. */
  get length(): number {
    return this.#length;
  }

  /** The kept request's head, handed to the sink for each repeat (kept: a reader copies its rawHeaders). */
  get head(): RequestHead {
    return this.#head;
  }

  /** Keeps bytes [from, end) and what they mean, in place of the last. */
  keep(bytes: Buffer, from: number, end: number, head: RequestHead): void {
    bytes.copy(this.#bytes, 0, from, end);
    this.#length = end - from;
    // A copy: the sink's handler may change the array it was given.
    this.#head = { ...head, rawHeaders: head.rawHeaders.slice() };
  }

  /** Whether `input` holds the kept request's bytes from `at` on. */
  isAt(input: Uint8Array, at: number): boolean {
    const length = this.#length;
    if (input.length - at < length) return false;
    const bytes = this.#bytes;
    if (length > COMPARE_IN_JS_AT_MOST) return bytes.compare(input, at, at + length, 0, length) === 0;
    for (let i = 0; i < length; i++) if (input[at + i] !== bytes[i]) return false;
    return true;
  }
}
