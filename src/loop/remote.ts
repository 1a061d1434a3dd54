// RemoteHandle: how another thread talks to a loop. It can wake the loop,
// stop it, and hand it an fd to serve (an accepted socket, say).
//
// Commands go through a bounded lock-free queue in a SharedArrayBuffer
// (after Dmitry Vyukov's bounded MPMC queue: any number of producer threads,
// the loop as the one consumer; here a producer claims and publishes a cell
// in one step), then one eventfd write wakes the loop, whose own set watches
// the eventfd.
//
//   Int32Array over the header           BigUint64Array over the cells
//   ┌───────┬──────────┬──────┬──────┐┌──────────────────────────────────┐
//   │ state │ inFlight │ tail │ head ││ capacity cells of 64 bits each   │
//   └───────┴──────────┴──────┴──────┘└──────────────────────────────────┘
//   one cell:  63      34 33   32 31                   0
//             ┌──────────┬───────┬──────────────────────┐
//             │ seq (30) │ cmd(2)│ arg (32)             │
//             └──────────┴───────┴──────────────────────┘
//
// Position p lives in cell p & (capacity - 1). That cell holds seq = p (and
// no command) while it is free for p, and seq = p + 1 with the command once
// p is published. A producer reads `tail` and the cell, and publishes in one
// compare-and-swap on the cell itself: seq, command and argument together.
// Only then does it move `tail` on, by CAS, and a producer that finds the
// cell at `tail` already published (seq past the position) moves `tail` on
// for it and tries again. The consumer takes position `head` once its cell
// says published, and frees the cell for the next lap with seq = head +
// capacity. Positions count modulo 2^30, the width of seq; comparisons are
// differences in that width.
//
// So nothing lies between claiming a position and publishing it, and a
// producer thread that dies (a terminated worker) anywhere in a send loses
// at most its own command, never blocks the others'. Dead before its CAS,
// it wrote nothing. Dead after, its command is in the queue; `tail` may be
// one behind, and the next producer moves it on; its eventfd write may be
// missing, and the command waits for the next wake. A slow producer is no
// hazard either: its CAS fails if the cell changed since it read it, and a
// cell holds the same value again only 2^30 positions later, when it is
// free for that same position again and publishing there is right.
//
// Closing is the hazard: once the loop closes its eventfd, the number may be
// reused by another file, and a late producer's write would land there. So
// producers count themselves in `inFlight` around the check of `state` and
// the write, and the loop, having set `state` to closed, waits for
// `inFlight` to reach zero before it closes the eventfd. A send takes
// microseconds, so the wait is bounded (SHUT_WAIT_MS): a producer thread
// terminated in the middle of a send leaves its count behind for ever, and
// must not hang the loop's close.
import { performance } from 'node:perf_hooks';

import { WasmloopError } from '../errors.js';
import { native } from '../kernel/native.js';

const STATE = 0;
const IN_FLIGHT = 1;
const TAIL = 2;
const HEAD = 3;
const HEADER_BYTES = 16;

/** Positions, and seq in a cell, count modulo 2^30. */
const POSITION_BITS = 30;
const POSITION_MASK = (1 << POSITION_BITS) - 1;
const SEQ_SHIFT = 34n;
const COMMAND_SHIFT = 32n;

const OPEN = 0;
const CLOSED = 1;

/** Commands in the queue; 0 marks a free cell. */
const COMMAND = { wake: 1, stop: 2, fd: 3 } as const;

/** The longest close() waits for sends in progress on other threads. */
const SHUT_WAIT_MS = 1000;

/**
 * A cell: seq, command, argument. BigInts are heap numbers: a send makes a
 * few (tens of ns), next to its eventfd write (a system call, about 1 µs).
 */
function cell(seq: number, command: number, arg: number): bigint {
  return (BigInt(seq) << SEQ_SHIFT) | (BigInt(command) << COMMAND_SHIFT) | BigInt(arg >>> 0);
}

const seqOf = (value: bigint): number => Number(value >> SEQ_SHIFT);

/** How far `a` is past `b`, as positions count (modulo 2^30, signed). */
const distance = (a: number, b: number): number => ((a - b) << (32 - POSITION_BITS)) >> (32 - POSITION_BITS);

const next = (position: number): number => (position + 1) & POSITION_MASK;

/**
 * @internal The points of a send, in order, at which a test may stop the
 * producer (see `setRemoteSendHook`): counted in `inFlight`; has read
 * `tail` and its cell; has published the cell; has moved `tail` on; has
 * written the eventfd.
 */
export const REMOTE_SEND_STEPS = ['counted', 'read', 'published', 'advanced', 'woken'] as const;
export type RemoteSendStep = (typeof REMOTE_SEND_STEPS)[number];

let sendHook: ((step: RemoteSendStep) => void) | undefined;

/**
 * @internal Calls `hook` at each step of every send from this thread, so
 * that a test can stop a producer there (and end its thread). For tests
 * only; `undefined` removes it.
 */
export function setRemoteSendHook(hook: ((step: RemoteSendStep) => void) | undefined): void {
  sendHook = hook;
}

/** 1024 commands in flight before producers see ERR_REMOTE_QUEUE_FULL. */
export const DEFAULT_REMOTE_QUEUE = 1024;

/** What crosses to another thread: send it with postMessage, rebuild it with `RemoteHandle.from`. */
export interface RemoteHandleData {
  readonly buffer: SharedArrayBuffer;
  readonly eventFd: number;
}

export class RemoteHandle implements RemoteHandleData {
  readonly buffer: SharedArrayBuffer;
  readonly eventFd: number;
  readonly #words: Int32Array;
  readonly #cells: BigUint64Array;

  /** Rebuilds a handle received from another thread (postMessage copies only its data). */
  static from(data: RemoteHandleData): RemoteHandle {
    if (typeof data !== 'object' || data === null || !(data.buffer instanceof SharedArrayBuffer) || !Number.isInteger(data.eventFd)) {
      throw new TypeError('RemoteHandle.from needs the data of a handle made by loop.remote()');
    }
    return new RemoteHandle(data.buffer, data.eventFd);
  }

  /** @internal */
  constructor(buffer: SharedArrayBuffer, eventFd: number) {
    this.buffer = buffer;
    this.eventFd = eventFd;
    this.#words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#cells = new BigUint64Array(buffer, HEADER_BYTES);
  }

  /** Makes the loop return from its wait (and run its iteration). */
  wake(): void {
    this.#send(COMMAND.wake, 0);
  }

  /** Asks the loop's `run()` to return, as `loop.stop()` would. */
  stop(): void {
    this.#send(COMMAND.stop, 0);
  }

  /**
   * Hands `fd` to the loop, which emits it as an `'fd'` event (or closes it
   * when nobody listens). Ownership passes with it: the sender must not use
   * or close it afterwards. Throws ERR_LOOP_CLOSED when the loop is closed,
   * and the fd is still the sender's.
   */
  sendFd(fd: number): void {
    if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`fd must be a non-negative integer, got ${String(fd)}`);
    this.#send(COMMAND.fd, fd);
  }

  /** Whether the loop behind this handle is still open. */
  get isOpen(): boolean {
    return Atomics.load(this.#words, STATE) === OPEN;
  }

  #send(command: number, arg: number): void {
    const words = this.#words;
    Atomics.add(words, IN_FLIGHT, 1);
    try {
      sendHook?.('counted');
      if (Atomics.load(words, STATE) !== OPEN) throw new WasmloopError('ERR_LOOP_CLOSED', 'the loop behind this remote handle is closed');
      if (!this.#push(command, arg)) {
        throw new WasmloopError('ERR_REMOTE_QUEUE_FULL', `the loop's remote queue is full (${this.#cells.length} commands)`);
      }
      const woke = native.eventfdWrite(this.eventFd, 1);
      if (woke < 0) throw new WasmloopError('ERR_REMOTE_WAKE', `could not wake the loop (errno ${-woke})`);
      sendHook?.('woken');
    } finally {
      Atomics.sub(words, IN_FLIGHT, 1);
    }
  }

  /** Publishes one command: false when the queue is full. Lock-free: a turn of the loop fails only when another thread moved the queue on. */
  #push(command: number, arg: number): boolean {
    const words = this.#words;
    const cells = this.#cells;
    const mask = cells.length - 1;
    for (;;) {
      const position = Atomics.load(words, TAIL);
      const index = position & mask;
      const seen = Atomics.load(cells, index);
      const ahead = distance(seqOf(seen), position);
      if (ahead === 0) {
        sendHook?.('read');
        if (Atomics.compareExchange(cells, index, seen, cell(next(position), command, arg)) === seen) {
          sendHook?.('published');
          Atomics.compareExchange(words, TAIL, position, next(position));
          sendHook?.('advanced');
          return true;
        }
      } else if (ahead < 0) {
        return false; // the cell still holds the command of the lap before: full
      } else {
        // Position is published: `tail` is behind (its producer may have
        // died before moving it on). Move it on for them, then try again.
        Atomics.compareExchange(words, TAIL, position, next(position));
      }
    }
  }
}

/** @internal What the loop does with the commands it receives. */
export interface RemoteTarget {
  stop(): void;
  /** Takes ownership of a handed-over fd. */
  adopt(fd: number): void;
}

/** @internal The loop's end of the queue. */
export class RemoteInbox {
  readonly handle: RemoteHandle;
  readonly #words: Int32Array;
  readonly #cells: BigUint64Array;

  /** `capacity`: a power of two, at most 2^29 (positions count modulo 2^30). */
  constructor(eventFd: number, capacity = DEFAULT_REMOTE_QUEUE) {
    const buffer = new SharedArrayBuffer(HEADER_BYTES + capacity * 8);
    this.#words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#cells = new BigUint64Array(buffer, HEADER_BYTES);
    for (let i = 0; i < capacity; i++) this.#cells[i] = cell(i, 0, 0);
    this.handle = new RemoteHandle(buffer, eventFd);
  }

  /** The eventfd turned readable: carries out every command published, in order. */
  serve(target: RemoteTarget): void {
    // Read the counter first: a command published after this read writes
    // the eventfd again, so it is never missed.
    native.eventfdRead(this.handle.eventFd);
    this.#drain((command, arg) => {
      if (command === COMMAND.stop) target.stop();
      else if (command === COMMAND.fd) target.adopt(arg);
    });
  }

  /**
   * The loop is closing: refuses new commands, waits for producers caught in
   * the middle of a send (so none can write to the eventfd once it is
   * closed), and closes the fds handed over but never adopted, which nobody
   * else will close.
   */
  close(): void {
    const words = this.#words;
    Atomics.store(words, STATE, CLOSED);
    const deadline = performance.now() + SHUT_WAIT_MS;
    while (Atomics.load(words, IN_FLIGHT) !== 0 && performance.now() < deadline) Atomics.wait(words, STATE, CLOSED, 1);
    this.#drain((command, arg) => command === COMMAND.fd && native.close(arg));
  }

  /** Calls `each(command, arg)` for every published command, in order. */
  #drain(each: (command: number, arg: number) => void): void {
    const words = this.#words;
    const cells = this.#cells;
    const capacity = cells.length;
    for (;;) {
      const position = words[HEAD]!;
      const index = position & (capacity - 1);
      const value = Atomics.load(cells, index);
      if (seqOf(value) !== next(position)) return;
      words[HEAD] = next(position);
      // Free for the same cell's next lap; only now may a producer write it.
      Atomics.store(cells, index, cell((position + capacity) & POSITION_MASK, 0, 0));
      each(Number((value >> COMMAND_SHIFT) & 3n), Number(value & 0xffffffffn) | 0);
    }
  }
}
