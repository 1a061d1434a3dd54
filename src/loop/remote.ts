// RemoteHandle: how another thread talks to a loop. It can wake the loop,
// stop it, and hand it an fd to serve (an accepted socket, say).
//
// Commands go through a bounded lock-free queue in a SharedArrayBuffer
// (Dmitry Vyukov's bounded MPMC queue: any number of producer threads, the
// loop as the one consumer), then one eventfd write wakes the loop, whose
// own set watches the eventfd.
//
//   Int32Array over the SharedArrayBuffer
//   ┌───────┬──────────┬──────┬──────┬───────────────────────────────────┐
//   │ state │ inFlight │ tail │ head │ slots: capacity × [seq, cmd, arg] │
//   └───────┴──────────┴──────┴──────┴───────────────────────────────────┘
//
// A producer claims position `tail` by CAS, writes cmd and arg, then
// publishes by storing seq = position + 1; the consumer takes a slot only
// once its seq says it is published, and frees it with seq = position +
// capacity. Positions are i32 and wrap; all comparisons are differences.
//
// Closing is the hazard: once the loop closes its eventfd, the number may be
// reused by another file, and a late producer's write would land there. So
// producers count themselves in `inFlight` around the check of `state` and
// the write, and the loop, having set `state` to closed, waits for
// `inFlight` to reach zero before it closes the eventfd. A send takes
// microseconds, so the wait is bounded (SHUT_WAIT_MS): a producer thread
// terminated in the middle of a send leaves its count behind for ever, and
// must not hang the loop's close.
import { WasmloopError } from '../errors.js';
import { native } from '../kernel/native.js';

const STATE = 0;
const IN_FLIGHT = 1;
const TAIL = 2;
const HEAD = 3;
const HEADER = 4;
const SLOT_WORDS = 3;

const OPEN = 0;
const CLOSED = 1;

/** Commands in the queue. */
const COMMAND = { wake: 1, stop: 2, fd: 3 } as const;

/** The longest close() waits for sends in progress on other threads. */
const SHUT_WAIT_MS = 1000;

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
  readonly #capacity: number;

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
    this.#words = new Int32Array(buffer);
    this.#capacity = (this.#words.length - HEADER) / SLOT_WORDS;
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
      if (Atomics.load(words, STATE) !== OPEN) throw new WasmloopError('ERR_LOOP_CLOSED', 'the loop behind this remote handle is closed');
      if (!this.#push(command, arg)) {
        throw new WasmloopError('ERR_REMOTE_QUEUE_FULL', `the loop's remote queue is full (${this.#capacity} commands)`);
      }
      const woke = native.eventfdWrite(this.eventFd, 1);
      if (woke < 0) throw new WasmloopError('ERR_REMOTE_WAKE', `could not wake the loop (errno ${-woke})`);
    } finally {
      Atomics.sub(words, IN_FLIGHT, 1);
    }
  }

  #push(command: number, arg: number): boolean {
    const words = this.#words;
    const mask = this.#capacity - 1;
    let position = Atomics.load(words, TAIL);
    for (;;) {
      const slot = HEADER + (position & mask) * SLOT_WORDS;
      const difference = (Atomics.load(words, slot) - position) | 0;
      if (difference === 0) {
        if (Atomics.compareExchange(words, TAIL, position, (position + 1) | 0) === position) {
          words[slot + 1] = command;
          words[slot + 2] = arg;
          Atomics.store(words, slot, (position + 1) | 0);
          return true;
        }
        position = Atomics.load(words, TAIL);
      } else if (difference < 0) {
        return false; // the slot still holds an unconsumed command: full
      } else {
        position = Atomics.load(words, TAIL);
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
  readonly #capacity: number;

  constructor(eventFd: number, capacity = DEFAULT_REMOTE_QUEUE) {
    const buffer = new SharedArrayBuffer((HEADER + capacity * SLOT_WORDS) * 4);
    const words = new Int32Array(buffer);
    for (let i = 0; i < capacity; i++) words[HEADER + i * SLOT_WORDS] = i;
    this.#words = words;
    this.#capacity = capacity;
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
    const mask = this.#capacity - 1;
    for (;;) {
      const position = words[HEAD]!;
      const slot = HEADER + (position & mask) * SLOT_WORDS;
      if (((Atomics.load(words, slot) - (position + 1)) | 0) !== 0) return;
      const command = words[slot + 1]!;
      const arg = words[slot + 2]!;
      words[HEAD] = (position + 1) | 0;
      Atomics.store(words, slot, (position + this.#capacity) | 0);
      each(command, arg);
    }
  }
}
