// MockKernel: a scriptable fake kernel behind the loop's backend interface,
// so dispatch logic can be tested deterministically: the test says which fds
// are ready, which calls fail, when a wait is interrupted and which fds
// vanish, and the loop runs its real core and host code on top.
//
// It writes `struct epoll_event`s into the core's events region exactly as
// the native backends do. No system call is made: fds are plain numbers.
import { constants as osConstants } from 'node:os';

import type { EventsRegion, KernelBackend } from '../kernel/backend.js';
import { EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLRDHUP } from '../core/abi.js';

const { EEXIST, ENOENT, EBADF, EINTR, ENOTSUP } = osConstants.errno;

/** EPOLL* bits, for scripting readiness: the core's (assembly/events.ts). */
export const EPOLL = {
  IN: EPOLLIN,
  OUT: EPOLLOUT,
  ERR: EPOLLERR,
  HUP: EPOLLHUP,
  RDHUP: EPOLLRDHUP,
  ONESHOT: EPOLLONESHOT,
  ET: EPOLLET,
} as const;

interface Registration {
  mask: number;
  generation: number;
  /** Bits ready now (level): reported on every wait while the mask wants them. */
  level: number;
  /** Bits of edges not yet reported (edge-triggered fds). */
  edges: number;
}

export interface MockRegistration {
  readonly fd: number;
  readonly mask: number;
  readonly generation: number;
}

export class MockKernel implements KernelBackend {
  readonly name = 'mock';
  readonly levelOnly: boolean;
  readonly syscalls = { create: 'mock_create', wait: 'mock_wait', control: 'mock_ctl' } as const;
  /** Every wait's timeout, in order: what the loop asked the kernel for. */
  readonly waits: number[] = [];
  readonly #fds = new Map<number, Registration>();
  readonly #closedFds = new Set<number>();
  readonly #failures: { call: 'add' | 'modify' | 'remove' | 'wait'; errno: number }[] = [];
  #interrupts = 0;
  #events: EventsRegion | undefined;
  #view: DataView | undefined;
  #freed = false;

  constructor(options: { levelOnly?: boolean } = {}) {
    this.levelOnly = options.levelOnly ?? false;
  }

  // ---- scripting -------------------------------------------------------------

  /**
   * Makes `fd` ready with `bits` (EPOLL.IN...). Level-triggered fds stay ready
   * until `idle(fd)`; edge-triggered ones report this edge once.
   */
  ready(fd: number, bits: number): this {
    const entry = this.#fds.get(fd);
    if (entry === undefined) throw new Error(`mock: fd ${fd} is not registered`);
    entry.level |= bits;
    entry.edges |= bits;
    return this;
  }

  /** `fd` is no longer ready for `bits` (all bits when omitted). */
  idle(fd: number, bits = -1): this {
    const entry = this.#fds.get(fd);
    if (entry !== undefined) {
      entry.level &= ~bits;
      entry.edges &= ~bits;
    }
    return this;
  }

  /** The next `call` fails with `errno` (a positive E* number). */
  fail(call: 'add' | 'modify' | 'remove' | 'wait', errno: number): this {
    this.#failures.push({ call, errno });
    return this;
  }

  /**
   * The next `times` waits are interrupted by a signal: each returns no
   * events, as a native wait never does (it retries EINTR), so a loop that
   * treated EINTR as an error or as "nothing happened, stop" would show it.
   */
  interrupt(times = 1): this {
    this.#interrupts += times;
    return this;
  }

  /**
   * `fd` is closed behind the loop's back: its registration disappears (as
   * epoll forgets a closed file) and later control calls on it fail EBADF.
   */
  vanish(fd: number): this {
    this.#fds.delete(fd);
    this.#closedFds.add(fd);
    return this;
  }

  /** What is registered now, in fd order. */
  registrations(): MockRegistration[] {
    return [...this.#fds].sort(([a], [b]) => a - b).map(([fd, r]) => ({ fd, mask: r.mask, generation: r.generation }));
  }

  get freed(): boolean {
    return this.#freed;
  }

  // ---- KernelBackend ---------------------------------------------------------

  attach(events: EventsRegion): number {
    this.#events = events;
    this.#view = new DataView(events.buffer);
    return 0;
  }

  add(fd: number, mask: number, generation: number): number {
    const failed = this.#failure('add');
    if (failed) return failed;
    if (this.#fds.has(fd)) return -EEXIST;
    this.#closedFds.delete(fd);
    this.#fds.set(fd, { mask: mask >>> 0, generation, level: 0, edges: 0 });
    return 0;
  }

  modify(fd: number, mask: number, generation: number): number {
    const failed = this.#failure('modify');
    if (failed) return failed;
    const entry = this.#fds.get(fd);
    if (entry === undefined) return this.#closedFds.has(fd) ? -EBADF : -ENOENT;
    entry.mask = mask >>> 0;
    entry.generation = generation;
    // epoll re-checks readiness on EPOLL_CTL_MOD: a re-armed edge fires again.
    entry.edges = entry.level;
    return 0;
  }

  remove(fd: number): number {
    const failed = this.#failure('remove');
    if (failed) return failed;
    if (!this.#fds.delete(fd)) return this.#closedFds.has(fd) ? -EBADF : -ENOENT;
    return 0;
  }

  wait(timeoutMs: number): number {
    this.waits.push(timeoutMs);
    const failed = this.#failure('wait');
    if (failed) return failed;
    if (this.#interrupts > 0) {
      this.#interrupts--;
      return -EINTR;
    }
    const events = this.#events!;
    const view = this.#view!;
    let count = 0;
    const reported: [number, Registration][] = [];
    // A snapshot: reported level-triggered fds move to the back of the map below.
    for (const [fd, entry] of [...this.#fds]) {
      if (count === events.maxEvents) break;
      const edge = (entry.mask & EPOLL.ET) !== 0;
      // ERR and HUP are reported whatever the mask says, as epoll does.
      const wanted = entry.mask | EPOLL.ERR | EPOLL.HUP;
      const bits = (edge ? entry.edges : entry.level) & wanted;
      if (bits === 0 || (entry.mask & ~(EPOLL.ET | EPOLL.ONESHOT)) === 0) continue;
      entry.edges &= ~bits;
      if (entry.mask & EPOLL.ONESHOT) entry.mask = 0;
      const at = events.offset + count * events.stride;
      view.setUint32(at, bits >>> 0, true);
      view.setUint32(at + events.dataOffset, fd, true);
      view.setUint32(at + events.dataOffset + 4, entry.generation, true);
      count++;
      if (!edge) reported.push([fd, entry]);
    }
    // epoll puts a reported level-triggered fd back at the tail of its ready
    // list, so with more ready fds than maxEvents every one gets its turn.
    for (const [fd, entry] of reported) {
      this.#fds.delete(fd);
      this.#fds.set(fd, entry);
    }
    return count;
  }

  free(): number {
    this.#freed = true;
    this.#fds.clear();
    return 0;
  }

  /** A fake kernel has no fd Node could watch. */
  fd(): number {
    return -ENOTSUP;
  }

  #failure(call: 'add' | 'modify' | 'remove' | 'wait'): number {
    const index = this.#failures.findIndex((f) => f.call === call);
    if (index < 0) return 0;
    return -this.#failures.splice(index, 1)[0]!.errno;
  }
}
