// Byte buffers the request/reply protocols share: the unparsed tail a
// connection keeps between reads, the scratch buffer replies are built in,
// and the bytes that end their lines.
//
// Parsing happens in place, in the server's read buffer, whenever nothing is
// left over from the previous read; only a request cut by the end of a read is
// copied (into the connection's tail), and the next read is appended to it.
import { Buffer } from 'node:buffer';

import type { Connection } from '../net/connection.js';

/** The same bytes as a Buffer (the server passes Buffers; tests may pass plain views). */
/** The bytes that end a line in RESP and HTTP/1.1. */
export const CR = 13;
export const LF = 10;

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A tail this large or larger is given back after use, so one huge request does not pin its memory. */
const KEEP_AT_MOST = 64 * 1024;

/**
 * The bytes of a connection that no parse has consumed yet: one unfinished
 * request (and what was pipelined after it), never more than `limit` bytes
 * plus one read.
 *
 * Past KEEP_AT_MOST the tail lives in a resizable ArrayBuffer whose maximum
 * is the limit: it grows in place (doubling, so O(log n) resizes, and no
 * copy: a doubling copy would leave the old buffers to the garbage
 * collector, which an idle server may not run for a long time), and is
 * shrunk to nothing once its request is done or refused, which hands the
 * pages back to the kernel at once (V8 decommits them) instead of at some
 * later collection. A caller that knows how long the request will be (a
 * RESP bulk announced by its `$N` line) reserves that much at once.
 */
export class InputTail {
  readonly limit: number;
  #bytes: Buffer = EMPTY;
  #length = 0;
  /** The resizable buffer under #bytes once the tail outgrew KEEP_AT_MOST. */
  #large: ResizableArrayBuffer | undefined;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes kept now. */
  get length(): number {
    return this.#length;
  }

  /** Bytes of memory held now (the buffer's size, not what it holds). */
  get capacity(): number {
    return this.#bytes.length;
  }

  /**
   * The bytes to parse: `incoming` itself when nothing is pending (no copy),
   * else the pending bytes with `incoming` appended.
   */
  combine(incoming: Buffer): Buffer {
    if (this.#length === 0) return incoming;
    this.#reserve(this.#length + incoming.length);
    incoming.copy(this.#bytes, this.#length);
    this.#length += incoming.length;
    return this.#bytes.subarray(0, this.#length);
  }

  /**
   * Keeps `parsed[from..]` for the next read, where `parsed` is what combine()
   * returned; it is not valid afterwards. `from` equal to the length keeps
   * nothing. `expected`, when known, is how many bytes the unfinished request
   * will take in all (at most the limit): room for it is made now, once.
   */
  keep(parsed: Buffer, from: number, expected = 0): void {
    const rest = parsed.length - from;
    if (rest === 0) {
      this.#length = 0;
      if (this.#bytes.length > KEEP_AT_MOST) this.release();
      return;
    }
    // Never cut short: the caller bounds what it keeps (a request past the
    // limit is refused before it gets here), and the pipelined requests kept
    // back at the output watermark may pass the limit by one read.
    const wanted = Math.max(rest, Math.min(expected, this.limit));
    const own = parsed.buffer === this.#bytes.buffer && parsed.byteOffset === this.#bytes.byteOffset;
    if (own && (this.#bytes.length <= KEEP_AT_MOST || wanted > KEEP_AT_MOST || from === 0)) {
      if (from > 0) this.#bytes.copyWithin(0, from, parsed.length);
      this.#length = rest;
      this.#reserve(wanted);
      return;
    }
    // From the read buffer, or out of a large buffer into a small one.
    const large = own ? this.#large : undefined;
    if (own) {
      this.#bytes = EMPTY;
      this.#large = undefined;
    }
    this.#length = 0;
    this.#reserve(wanted);
    parsed.copy(this.#bytes, 0, from);
    this.#length = rest;
    large?.resize(0);
  }

  /** Forgets everything kept and gives the memory back now (a refused request, a closing connection). */
  release(): void {
    this.#large?.resize(0);
    this.#large = undefined;
    this.#bytes = EMPTY;
    this.#length = 0;
  }

  #reserve(size: number): void {
    if (size <= this.#bytes.length) return;
    const target = Math.max(size, this.#bytes.length * 2, 1024);
    if (size <= KEEP_AT_MOST) {
      const grown = Buffer.allocUnsafeSlow(Math.min(target, KEEP_AT_MOST));
      this.#bytes.copy(grown, 0, 0, this.#length);
      this.#bytes = grown;
      return;
    }
    let large = this.#large;
    if (large !== undefined && size <= large.maxByteLength) {
      large.resize(Math.min(target, large.maxByteLength));
    } else {
      // The maximum is only reserved address space; pages are committed as the tail grows.
      const next = new ResizableArrayBuffer(Math.min(target, Math.max(size, this.limit)), { maxByteLength: Math.max(size, this.limit + KEEP_AT_MOST) });
      this.#bytes.copy(Buffer.from(next), 0, 0, this.#length);
      large?.resize(0);
      this.#large = large = next;
    }
    this.#bytes = Buffer.from(large, 0, large.byteLength);
  }
}

const EMPTY = Buffer.alloc(0);

/** A resizable ArrayBuffer (ES2024, in Node 20's V8), which the TypeScript lib used here does not type yet. */
interface ResizableArrayBuffer extends ArrayBuffer {
  readonly maxByteLength: number;
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (byteLength: number, options: { maxByteLength: number }) => ResizableArrayBuffer;

/** A scratch buffer larger than this is replaced by a fresh default-sized one after its write. */
const REPLY_KEEP_AT_MOST = 1 << 20;
const REPLY_INITIAL_SIZE = 16 * 1024;
/**
 * Bytes and characters up to this many are copied one at a time: Buffer's
 * latin1 write is a call into Node's C++ (about 60 ns for a RESP bulk header,
 * 29% of an in-process GET), TypedArray.set a builtin call and, for part of
 * a buffer, a view (bench/resp-path.ts; docs/performance.md).
 */
const COPY_BY_HAND_AT_MOST = 32;

/**
 * Replies produced by one data() call, gathered so that they reach the
 * socket in one write. One per protocol instance, shared by its connections:
 * data() calls never nest.
 *
 * A flush lends its bytes: a corked connection (one whose read is being
 * handled) queues the view as it is and copies it only when it uncorks or
 * reads again (Connection.keepBorrowed). So the bytes after a flush go to the
 * other of two buffers, and to a fresh one at a second flush in the same
 * batch (a large response between small ones): a lent buffer is written
 * again only after begin() says the batch that lent it is over.
 */
export class ReplyBuffer {
  bytes: Buffer = Buffer.allocUnsafe(REPLY_INITIAL_SIZE);
  length = 0;
  /** The buffer the next flush's bytes go to after this one's. */
  #spare: Buffer = Buffer.allocUnsafe(REPLY_INITIAL_SIZE);
  /** A flush of this batch lent the spare: it may still be queued on a corked connection. */
  #spareLent = false;
  /**
   * The views the last two flushes lent, and the buffers they view, reused
   * when a flush lends the same buffer at the same length (a server's
   * replies mostly are): a view costs an allocation, and it is read-only as
   * a view (its bytes are what the two-buffer rule above protects). Keyed
   * by the buffer object: a view's `buffer` is a call into the runtime.
   */
  #lastView: Buffer | undefined;
  #lastViewed: Buffer | undefined;
  #viewBefore: Buffer | undefined;
  #viewedBefore: Buffer | undefined;
  /**
   * A constant reply that is, so far, the batch's only bytes: counted in
   * `length` but not copied into `bytes` (appendConstant). A read answered
   * by one fixed reply — an HTTP hello, a RESP +OK at one request in
   * flight — is written from the constant itself; anything more copies it
   * in first (reserve).
   */
  #constant: Buffer | undefined;

  /**
   * A batch begins (a protocol's data(), or its replies outside one): what
   * earlier batches lent has been written or copied by now, as every
   * connection uncorks, or copies what it still holds, before the next read.
   */
  begin(): void {
    this.#spareLent = false;
  }

  /** Makes room for `more` bytes past the current length. */
  reserve(more: number): void {
    if (this.#constant !== undefined) this.#copyConstant();
    const needed = this.length + more;
    if (needed <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  append(source: Uint8Array, start = 0, end = source.length): void {
    const size = end - start;
    this.reserve(size);
    if (size <= COPY_BY_HAND_AT_MOST) {
      const bytes = this.bytes;
      let at = this.length;
      for (let i = start; i < end; i++) bytes[at++] = source[i]!;
      this.length = at;
      return;
    }
    this.bytes.set(start === 0 && end === source.length ? source : source.subarray(start, end), this.length);
    this.length += size;
  }

  /**
   * Appends bytes that are never written to again (a module's constant
   * reply): the first of a batch is not copied until anything follows it,
   * and is written as it is if nothing does.
   */
  appendConstant(reply: Buffer): void {
    if (this.length === 0) {
      this.#constant = reply;
      this.length = reply.length;
    } else this.append(reply);
  }

  /** The constant the batch began with, copied into `bytes` so more can follow. */
  #copyConstant(): void {
    const constant = this.#constant!;
    this.#constant = undefined;
    this.length = 0;
    this.append(constant);
  }

  /** Appends text one byte per character (latin1), so binary data read as latin1 comes back intact. */
  latin1(text: string): void {
    const length = text.length;
    this.reserve(length);
    if (length > COPY_BY_HAND_AT_MOST) {
      this.length += this.bytes.write(text, this.length, 'latin1');
      return;
    }
    // As latin1 encodes: the low byte of each UTF-16 code unit.
    const bytes = this.bytes;
    let at = this.length;
    for (let i = 0; i < length; i++) bytes[at++] = text.charCodeAt(i) & 0xff;
    this.length = at;
  }

  /** Appends a non-negative integer's decimal digits (no string made). */
  decimal(value: number): void {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.reserve(digits);
    const bytes = this.bytes;
    let at = this.length + digits;
    this.length = at;
    let rest = value;
    do {
      bytes[--at] = 48 + (rest % 10);
      rest = Math.floor(rest / 10);
    } while (rest > 0);
  }

  /** Hands everything gathered to the connection in one write and starts over, in a buffer the write does not hold. */
  flushTo(connection: Pick<Connection, 'write'>): void {
    if (this.length === 0) return;
    const constant = this.#constant;
    if (constant !== undefined) {
      this.#constant = undefined;
      this.length = 0;
      connection.write(constant);
      return;
    }
    const length = this.length;
    const lent = this.bytes;
    this.length = 0;
    this.bytes = this.#spareLent ? Buffer.allocUnsafe(REPLY_INITIAL_SIZE) : this.#spare;
    this.#spare = lent.length > REPLY_KEEP_AT_MOST ? Buffer.allocUnsafe(REPLY_INITIAL_SIZE) : lent;
    this.#spareLent = true;
    connection.write(this.#viewOf(lent, length));
  }

  /** `bytes`' first `length` bytes as a view: one the last two flushes made, or a new one. */
  #viewOf(bytes: Buffer, length: number): Buffer {
    if (this.#lastViewed === bytes && this.#lastView!.length === length) return this.#lastView!;
    if (this.#viewedBefore === bytes && this.#viewBefore!.length === length) return this.#viewBefore!;
    // A buffer too large to be kept is not held by a cached view either.
    if (bytes.length > REPLY_KEEP_AT_MOST) return bytes.subarray(0, length);
    this.#viewBefore = this.#lastView;
    this.#viewedBefore = this.#lastViewed;
    this.#lastViewed = bytes;
    return (this.#lastView = bytes.subarray(0, length));
  }
}
