// BatchReads: a driver's reads for one batch of readiness events, made in one
// crossing. At the first read callback of a batch (or the first past what
// the last crossing read), the loop lists the batch's read records for the
// driver's handlers, this one first; native.readMany reads each of those
// sockets once into one buffer, each read's bytes right after the last
// one's (packed, so a batch of small requests shares cache lines: slots at a
// fixed power-of-two stride would all fall in the same cache sets); each
// later callback takes its socket's result from there instead of calling
// read() itself. Where a socket turned out to have more (its read came back
// full) the driver reads on as before. A batch of one reads as before too:
// the crossing would cost what the read costs.
//
// Bytes read for a socket whose callback does not come in this batch are
// kept, in order, never lost: its connection stopped reading before its
// turn (a callback before it paused it, or its output passed the
// watermark), or another crossing is about to reuse the buffer. They are
// copied aside ("carried") and are the connection's next read, whenever it
// reads again (so is an error: a reset is said once); a closed connection's
// are dropped. Per socket there is at most one of the two, a slot's result
// or carried bytes: a socket with carried bytes is left out of the next
// crossing.
import { Buffer } from 'node:buffer';
import { constants as osConstants } from 'node:os';

import type { EventLoop } from '../loop/event-loop.js';
import { upcomingReadsUnchecked } from '../loop/internal.js';
import type { ClientHandlers } from '../loop/registration.js';
import { native } from '../kernel/native.js';

const { EAGAIN } = osConstants.errno;

/** Sockets one crossing reads, at most: a batch with more takes another crossing per SLOTS. */
export const SLOTS = 64;
/** Bytes a slot holds, at most (a request, a pipeline of commands; more is read on as before). */
export const SLOT_BYTES = 16 * 1024;

/** The plan's bytes at the start of the crossing's buffer: an int32 per slot. */
const PLAN_BYTES = SLOTS * Int32Array.BYTES_PER_ELEMENT;
/** The plan before the first crossing: nothing is listed into it (no batch of two has come). */
const EMPTY_PLAN = new Int32Array(SLOTS);

/** take()'s answer for a socket this batch did not read. */
export const NOT_READ = -0x7fffffff;

export class BatchReads {
  readonly #loop: EventLoop;
  readonly #handlers: ClientHandlers;
  readonly #slotBytes: number;
  /** The fds to read, then (native.readMany) each one's result: the first PLAN_BYTES of #memory. */
  #plan = EMPTY_PLAN;
  /** The fd each slot was read for, where its bytes begin, and how many slots the last crossing used. */
  readonly #slotFds = new Int32Array(SLOTS);
  readonly #starts = new Int32Array(SLOTS);
  #used = 0;
  /**
   * The plan and the bytes after it, in one ArrayBuffer: the one thing the
   * crossing marshals. Made at the first crossing: a server that never sees
   * a batch of two holds none (and only the pages reads touch count).
   */
  #memory: ArrayBuffer | undefined;
  #data: Buffer | undefined;
  /** Each slot's last view, kept for the next result at the same place (the protocol's view is valid during its data() call only). */
  readonly #views: (Buffer | undefined)[] = new Array<Buffer | undefined>(SLOTS).fill(undefined);
  /** By fd: the slot holding its result, or -1. */
  readonly #slotOf: number[] = [];
  /** By fd: bytes read for it that wait for its next read, or the error a read of it said (-errno), once only. */
  readonly #carried: (Buffer | number | undefined)[] = [];
  /** What the last take() gave: the bytes (when it gave some) and whether the socket may hold more (its slot was full). */
  view: Buffer = Buffer.alloc(0);
  full = false;

  constructor(loop: EventLoop, handlers: ClientHandlers, readBufferSize: number) {
    this.#loop = loop;
    this.#handlers = handlers;
    this.#slotBytes = Math.min(SLOT_BYTES, readBufferSize);
  }

  /**
   * From a read callback, when take() found nothing for its socket: reads
   * it (the loop lists it first) and the batch's other upcoming sockets in
   * one crossing. False when there is no other (the caller reads itself).
   */
  readAhead(): boolean {
    if (this.#memory === undefined) this.#allocate();
    const plan = this.#plan;
    let count = this.#loop[upcomingReadsUnchecked](this.#handlers, plan);
    if (count < 2) return false;
    // The slots are about to be reused: what the last crossing read for
    // sockets not served yet is copied aside first.
    this.#carryUnserved();
    const carried = this.#carried;
    const slotFds = this.#slotFds;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const planned = plan[i]!;
      // Its carried bytes come first: it reads nothing now.
      if (carried[planned] !== undefined) continue;
      plan[kept] = planned;
      slotFds[kept++] = planned;
    }
    count = kept;
    if (count < 2) return false;
    native.readMany(this.#memory!, count, PLAN_BYTES, this.#slotBytes);
    const slotOf = this.#slotOf;
    const starts = this.#starts;
    for (let i = 0, at = 0; i < count; i++) {
      slotOf[slotFds[i]!] = i;
      starts[i] = at;
      if (plan[i]! > 0) at += plan[i]!;
    }
    this.#used = count;
    return true;
  }

  /**
   * Takes what was read for `fd` and not yet handed over: its carried
   * bytes or result, else its slot's result (bytes in `view`); NOT_READ
   * when there is neither.
   */
  take(fd: number): number {
    const carried = this.#carried[fd];
    if (carried !== undefined) {
      this.#carried[fd] = undefined;
      if (typeof carried === 'number') return carried;
      this.view = carried;
      // Not a read of the socket: whatever it holds is still to be read.
      this.full = true;
      return carried.length;
    }
    const slot = this.#slotOf[fd];
    if (slot === undefined || slot < 0) return NOT_READ;
    this.#slotOf[fd] = -1;
    const result = this.#plan[slot]!;
    if (result > 0) {
      const start = this.#starts[slot]!;
      let view = this.#views[slot];
      if (view === undefined || view.length !== result || view.byteOffset !== PLAN_BYTES + start) {
        this.#views[slot] = view = this.#data!.subarray(start, start + result);
      }
      this.view = view;
      this.full = result === this.#slotBytes;
    }
    return result;
  }

  /** Whether `fd` has carried bytes (or a carried result) waiting. */
  hasCarried(fd: number): boolean {
    return this.#carried[fd] !== undefined;
  }

  /** `fd`'s connection stopped reading: what its slot holds is copied aside for when it reads again. */
  carry(fd: number): void {
    const slot = this.#slotOf[fd];
    if (slot === undefined || slot < 0) return;
    this.#slotOf[fd] = -1;
    const result = this.#plan[slot]!;
    if (result > 0) {
      const start = this.#starts[slot]!;
      this.#carried[fd] = Buffer.from(this.#data!.subarray(start, start + result));
    } else if (result < 0 && result !== -EAGAIN) this.#carried[fd] = result;
    // An EOF needs no keeping: the kernel says it again at the next read.
  }

  /** `fd`'s connection closed: what was read for it goes. */
  forget(fd: number): void {
    if (this.#slotOf[fd] !== undefined) this.#slotOf[fd] = -1;
    if (this.#carried[fd] !== undefined) this.#carried[fd] = undefined;
  }

  #allocate(): void {
    const memory = new ArrayBuffer(PLAN_BYTES + SLOTS * this.#slotBytes);
    this.#memory = memory;
    this.#plan = new Int32Array(memory, 0, SLOTS);
    this.#data = Buffer.from(memory, PLAN_BYTES);
  }

  #carryUnserved(): void {
    const slotOf = this.#slotOf;
    const slotFds = this.#slotFds;
    for (let i = 0; i < this.#used; i++) {
      const fd = slotFds[i]!;
      if (slotOf[fd] === i) this.carry(fd);
    }
    this.#used = 0;
  }
}
