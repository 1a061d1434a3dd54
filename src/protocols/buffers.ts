// Byte buffers the request/reply protocols share: the unparsed tail a
// connection keeps between reads, and the scratch buffer replies are built in.
//
// Parsing happens in place, in the server's read buffer, whenever nothing is
// left over from the previous read; only a request cut by the end of a read is
// copied (into the connection's tail), and the next read is appended to it.
import type { Connection } from '../net/connection.js';

/** The same bytes as a Buffer (the server passes Buffers; tests may pass plain views). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A tail this large or larger is given back after use, so one huge request does not pin its memory. */
const KEEP_AT_MOST = 64 * 1024;

/** The bytes of a connection that no parse has consumed yet. */
export class InputTail {
  #bytes: Buffer = Buffer.alloc(0);
  #length = 0;

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
   * returned. `from` equal to the length keeps nothing.
   */
  keep(parsed: Buffer, from: number): void {
    const rest = parsed.length - from;
    if (rest === 0) {
      this.#length = 0;
      if (this.#bytes.length > KEEP_AT_MOST) this.#bytes = Buffer.alloc(0);
      return;
    }
    if (parsed.buffer === this.#bytes.buffer && parsed.byteOffset === this.#bytes.byteOffset) {
      this.#bytes.copyWithin(0, from, parsed.length);
    } else {
      this.#reserve(rest);
      parsed.copy(this.#bytes, 0, from);
    }
    this.#length = rest;
  }

  #reserve(size: number): void {
    if (size <= this.#bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(size, this.#bytes.length * 2, 1024));
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }
}

/** A scratch buffer larger than this is replaced by a fresh default-sized one after its write. */
const REPLY_KEEP_AT_MOST = 1 << 20;
const REPLY_INITIAL_SIZE = 16 * 1024;

/**
 * Replies produced by one data() call, gathered so that they reach the
 * socket in one write. One per protocol instance, shared by its connections:
 * data() calls never nest, and Connection.write copies what it must queue.
 */
export class ReplyBuffer {
  bytes: Buffer = Buffer.allocUnsafe(REPLY_INITIAL_SIZE);
  length = 0;

  /** Makes room for `more` bytes past the current length. */
  reserve(more: number): void {
    const needed = this.length + more;
    if (needed <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.bytes.length * 2));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  append(source: Uint8Array, start = 0, end = source.length): void {
    const size = end - start;
    this.reserve(size);
    if (size === 0) return;
    this.bytes.set(start === 0 && end === source.length ? source : source.subarray(start, end), this.length);
    this.length += size;
  }

  /** Appends text one byte per character (latin1), so binary data read as latin1 comes back intact. */
  latin1(text: string): void {
    this.reserve(text.length);
    this.length += this.bytes.write(text, this.length, 'latin1');
  }

  /** Hands everything gathered to the connection in one write and starts over. */
  flushTo(connection: Pick<Connection, 'write'>): void {
    if (this.length === 0) return;
    const length = this.length;
    this.length = 0;
    connection.write(this.bytes.subarray(0, length));
    if (this.bytes.length > REPLY_KEEP_AT_MOST) this.bytes = Buffer.allocUnsafe(REPLY_INITIAL_SIZE);
  }
}
