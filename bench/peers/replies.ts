// The replies of one 'data' event, gathered in one buffer and written with
// one socket.write, as a careful node:net server does it.
//
// One buffer serves every connection of the process: 'data' handlers never
// nest, and each one flushes before it returns. The buffer is reused from one
// read to the next while the kernel takes each write whole (socket.write
// then completes synchronously and keeps no reference: writableLength is 0
// right after it). When a write is left queued, the socket owns that buffer
// until it is written, and the next read gathers into a fresh one. So a
// buffer is allocated only when one grows or a write waits for the peer.
//
// flushTo also applies backpressure: when a write is left queued and the
// socket's queue is past its high-water mark, the socket stops being read
// until 'drain' (onDrain, which a peer registers once per connection), so a
// client that does not read its replies cannot make the server buffer
// without bound. A write the kernel took whole pauses nothing, even when it
// was larger than the high-water mark (socket.write says false for those).
import type { Socket } from 'node:net';

const INITIAL_SIZE = 64 * 1024;

export class Replies {
  bytes: Buffer = Buffer.allocUnsafeSlow(INITIAL_SIZE);
  length = 0;

  /** Makes room for `more` bytes past the current length. */
  reserve(more: number): void {
    const needed = this.length + more;
    if (needed <= this.bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.bytes.length * 2));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  /** Appends a whole buffer (a constant reply, a stored value). */
  put(source: Uint8Array): void {
    this.reserve(source.length);
    this.bytes.set(source, this.length);
    this.length += source.length;
  }

  /** Appends source[start, end) (an argument echoed back). */
  putRange(source: Buffer, start: number, end: number): void {
    this.reserve(end - start);
    this.length += source.copy(this.bytes, this.length, start, end);
  }

  /** Appends a non-negative integer in decimal, without making a string. */
  putDecimal(value: number): void {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.reserve(digits);
    const bytes = this.bytes;
    let at = this.length + digits;
    this.length = at;
    do {
      bytes[--at] = 48 + (value % 10);
      value = Math.floor(value / 10);
    } while (value > 0);
  }

  /** Appends text one byte per character (replies that are not on the hot path: errors, integers). */
  putLatin1(text: string): void {
    this.reserve(text.length);
    this.length += this.bytes.write(text, this.length, 'latin1');
  }

  /** Writes what was gathered, if anything, with one socket.write, and starts over. */
  flushTo(socket: Socket): void {
    if (this.length === 0) return;
    const belowMark = socket.write(this.bytes.subarray(0, this.length));
    this.length = 0;
    if (socket.writableLength === 0) return;
    this.bytes = Buffer.allocUnsafeSlow(INITIAL_SIZE);
    if (!belowMark) socket.pause();
  }
}

/** The 'drain' listener that undoes flushTo's pause. */
export function onDrain(this: Socket): void {
  this.resume();
}

/** The 'error' listener: a reset or a write to a closed peer ends that connection only. */
export function onError(this: Socket): void {
  this.destroy();
}
