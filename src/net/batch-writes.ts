// BatchWrites: a driver's replies for one pass of the loop's callbacks,
// written in one crossing. A read callback of a batch (one whose bytes came
// from the batch's reads, so other sockets are served in the same pass)
// hands the connection's corked output to the send region instead of
// writing it: the bytes are copied there, one connection's after another's,
// and the connection stays corked. When the pass's last callback is done,
// native.writeMany writes each connection's bytes with one write() each,
// all in one call, as redis writes its clients' replies before it sleeps;
// each connection then takes its result (what the kernel did not take goes
// to the front of its queue) and uncorks as it would have.
//
// What a held connection is given meanwhile (a write from another
// connection's callback, a resume) is copied behind the held bytes, never
// ahead of them. A connection that closes meanwhile is dropped from the
// plan before its fd can be reused. Output that does not fit in the region,
// or a connection with bytes queued from before the callback (its socket
// was full), is written as before, and so is a read callback outside a pass
// (a deferred one): there is no pass end to wait for.
import type { EventLoop } from '../loop/event-loop.js';
import { afterPassUnchecked, reportErrorUnchecked } from '../loop/internal.js';
import { constants as osConstants } from 'node:os';

import { systemError } from '../errors.js';
import { native } from '../kernel/native.js';
import { sendInBatch, sentInBatch, type Connection } from './connection.js';

/** Connections one crossing writes, at most: a pass with more makes a crossing per SEND_ENTRIES. */
export const SEND_ENTRIES = 64;
/** The region's bytes: room for SEND_ENTRIES replies of 2 KiB; a connection's output past it is written as before. */
export const SEND_BYTES = 128 * 1024;

const { EAGAIN } = osConstants.errno;

/** The plan at the start of the crossing's buffer: an fd and a length per entry. */
const PLAN_BYTES = SEND_ENTRIES * 2 * Int32Array.BYTES_PER_ELEMENT;

export class BatchWrites {
  readonly #loop: EventLoop;
  /** After a held connection took its result: the driver's follow-up (a resume that came due). */
  readonly #afterSent: (connection: Connection) => void;
  /** The plan and the bytes after it, in one ArrayBuffer, made at the first hold. */
  #memory: ArrayBuffer | undefined;
  #plan: Int32Array | undefined;
  #region: Uint8Array | undefined;
  /** Each entry's connection (undefined once it closed), where its bytes begin and how many. */
  readonly #held: (Connection | undefined)[] = [];
  readonly #starts = new Int32Array(SEND_ENTRIES);
  readonly #lengths = new Int32Array(SEND_ENTRIES);
  #count = 0;
  #used = 0;
  /** The crossing is asked for, at the end of the pass under way. */
  #due = false;
  /** By fd: the entry of its held bytes, or -1. */
  readonly #entryOf: number[] = [];

  constructor(loop: EventLoop, afterSent: (connection: Connection) => void) {
    this.#loop = loop;
    this.#afterSent = afterSent;
  }

  /** Takes `connection`'s corked output for the pass's crossing; false when it should uncork now. */
  hold(connection: Connection): boolean {
    const queued = connection.queuedBytes;
    if (queued === 0 || queued > SEND_BYTES) return false;
    // The first of the pass: the crossing runs when the pass's callbacks are done.
    if (!this.#due) {
      if (!this.#loop[afterPassUnchecked](this.#flush)) return false;
      this.#due = true;
    }
    if (this.#memory === undefined) this.#allocate();
    // A full region is written now: a long pass's first replies wait for
    // SEND_ENTRIES callbacks at most, not for the whole pass.
    if (this.#count === SEND_ENTRIES || this.#used + queued > SEND_BYTES) this.#writeHeld();
    const count = this.#count;
    const at = this.#used;
    const length = connection[sendInBatch](this.#region!, at, SEND_BYTES - at);
    if (length === 0) return false;
    const fd = connection.fd;
    const plan = this.#plan!;
    plan[2 * count] = fd;
    plan[2 * count + 1] = length;
    this.#held[count] = connection;
    this.#starts[count] = at;
    this.#lengths[count] = length;
    this.#entryOf[fd] = count;
    this.#count = count + 1;
    this.#used = at + length;
    return true;
  }

  /** `fd`'s connection closed: its held bytes are not written (the fd may be another socket's by the crossing). */
  forget(fd: number): void {
    const entry = this.#entryOf[fd];
    if (entry === undefined || entry < 0) return;
    this.#entryOf[fd] = -1;
    this.#plan![2 * entry] = -1;
    this.#held[entry] = undefined;
  }

  readonly #flush = (): void => {
    this.#due = false;
    this.#writeHeld();
  };

  /** The crossing: every held connection's bytes written, then each one given its result. */
  #writeHeld(): void {
    const count = this.#count;
    const plan = this.#plan!;
    const held = this.#held;
    let live = 0;
    for (let i = 0; i < count; i++) if (held[i] !== undefined) live++;
    let failure: unknown;
    if (live > 0) {
      let crossed = -1;
      try {
        crossed = native.writeMany(this.#memory!, count, PLAN_BYTES);
      } catch (error) {
        failure = error;
      }
      if (crossed !== count) {
        // A crossing that wrote nothing (it threw, or refused the plan):
        // every held byte is written as before, and the failure reported
        // (as a write callback's error).
        failure ??= systemError(crossed, 'writeMany');
        for (let i = 0; i < count; i++) plan[2 * i + 1] = -EAGAIN;
      }
    }
    // Taken out of the batch before any result is handed over: what a
    // connection's close or a resume does next is outside it.
    this.#count = 0;
    this.#used = 0;
    const region = this.#region!;
    for (let i = 0; i < count; i++) {
      const connection = held[i];
      if (connection === undefined) continue;
      held[i] = undefined;
      const fd = connection.fd;
      this.#entryOf[fd] = -1;
      try {
        connection[sentInBatch](plan[2 * i + 1]!, this.#lengths[i]!, region, this.#starts[i]!);
        this.#afterSent(connection);
      } catch (error) {
        if (!this.#loop.isClosed) this.#loop[reportErrorUnchecked](error, 'write', fd);
      }
    }
    // Reported, not thrown: a full region is written from inside a read
    // callback (hold()), whose connection must still be held or uncorked.
    if (failure !== undefined && !this.#loop.isClosed) this.#loop[reportErrorUnchecked](failure, 'write', -1);
  }

  #allocate(): void {
    const memory = new ArrayBuffer(PLAN_BYTES + SEND_BYTES);
    this.#memory = memory;
    this.#plan = new Int32Array(memory, 0, SEND_ENTRIES * 2);
    this.#region = new Uint8Array(memory, PLAN_BYTES);
  }
}
