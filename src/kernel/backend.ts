// The kernel as the loop sees it: a backend it registers fds with and waits
// on. The native backends (epoll, poll, select) are one C file each behind
// this interface; MockKernel (wasmloop/testing) is a scriptable fake of it for
// tests. Every method returns a result >= 0 or -errno, as the C layer does.
import { native } from './native.js';

/** Where a backend writes the events it reports (the core's events region). */
export interface EventsRegion {
  /** The wasm core's linear memory. It never grows, so this never detaches. */
  readonly buffer: ArrayBuffer;
  /** Byte offset of the events region in `buffer`. */
  readonly offset: number;
  /** Most events one wait may write. */
  readonly maxEvents: number;
  /** Bytes per event (`sizeof(struct epoll_event)`), and where its `data` sits. */
  readonly stride: number;
  readonly dataOffset: number;
}

/**
 * A kernel interface the loop can wait with. Events are written as Linux
 * `struct epoll_event`s: `events` holds EPOLL* bits, `data` holds
 * `generation << 32 | fd`, exactly as registered.
 */
export interface KernelBackend {
  /** `'epoll'`, `'poll'`, `'select'`, or a fake's own name. */
  readonly name: string;
  /** Level-triggered only (poll, select): edge-triggered fds are refused. */
  readonly levelOnly: boolean;
  /** The system call names errors are reported under. */
  readonly syscalls: { readonly create: string; readonly wait: string; readonly control: string };
  /** Called once, by the loop that owns this backend, before anything else. */
  attach(events: EventsRegion): number;
  add(fd: number, mask: number, generation: number): number;
  modify(fd: number, mask: number, generation: number): number;
  remove(fd: number): number;
  /** Waits up to `timeoutMs` (-1: forever). Returns the number of events written. */
  wait(timeoutMs: number): number;
  /** Releases the backend (and its own fd, if it has one). */
  free(): number;
  /** An fd that turns readable when an event is waiting (epoll's own), or -errno (-ENOTSUP) when there is none. */
  fd(): number;
}

export type BackendName = 'epoll' | 'poll' | 'select';
export const BACKEND_NAMES: readonly BackendName[] = ['epoll', 'poll', 'select'];

const SYSCALLS: Record<BackendName, KernelBackend['syscalls']> = {
  epoll: { create: 'epoll_create1', wait: 'epoll_wait', control: 'epoll_ctl' },
  poll: { create: 'poll', wait: 'poll', control: 'poll' },
  select: { create: 'select', wait: 'select', control: 'select' },
};

/** One of the addon's backends, chosen by name once per loop. */
export class NativeBackend implements KernelBackend {
  readonly name: BackendName;
  readonly levelOnly: boolean;
  readonly syscalls: KernelBackend['syscalls'];
  #id = -1;

  constructor(name: BackendName) {
    this.name = name;
    this.levelOnly = name !== 'epoll';
    this.syscalls = SYSCALLS[name];
  }

  attach(events: EventsRegion): number {
    const id = native.backendCreate(this.name, events.buffer, events.offset, events.maxEvents);
    if (id >= 0) this.#id = id;
    return id;
  }
  add(fd: number, mask: number, generation: number): number {
    return native.backendAdd(this.#id, fd, mask, generation);
  }
  modify(fd: number, mask: number, generation: number): number {
    return native.backendModify(this.#id, fd, mask, generation);
  }
  remove(fd: number): number {
    return native.backendRemove(this.#id, fd);
  }
  wait(timeoutMs: number): number {
    return native.backendWait(this.#id, timeoutMs);
  }
  free(): number {
    return native.backendFree(this.#id);
  }
  fd(): number {
    return native.backendFd(this.#id);
  }
}
