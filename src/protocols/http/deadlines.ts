// The header and request timeouts without a timer per connection: the
// connections of one loop with a request that spans reads join a set the
// loop sweeps every period; those past their deadline are timed out. A
// request that arrives whole in one read never joins, so keep-alive traffic
// costs one comparison per read. The interval runs only while the set is
// not empty.
import type { EventLoop } from '../../loop/event-loop.js';
import type { Timer } from '../../loop/timer.js';
import { DEADLINE_SWEEP_MAX_MS } from './constants.js';

/** What the sweep asks of a connection's session. */
export interface Expiring {
  /** Whether it is done with the sweep: its request finished, its connection closed, or it has just timed out. */
  expire(now: number): boolean;
}

export interface DeadlineOptions {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

export class HttpDeadlines {
  readonly #loop: EventLoop;
  readonly #periodMs: number;
  readonly #pending = new Set<Expiring>();
  readonly #owner: WeakMap<EventLoop, HttpDeadlines>;
  #timer: Timer | undefined;

  constructor(loop: EventLoop, options: DeadlineOptions, owner: WeakMap<EventLoop, HttpDeadlines>) {
    this.#loop = loop;
    this.#owner = owner;
    const shortest = Math.min(options.headersTimeoutMs || Infinity, options.requestTimeoutMs || Infinity);
    this.#periodMs = Math.max(1, Math.min(DEADLINE_SWEEP_MAX_MS, Math.ceil(shortest / 8)));
  }

  /** The sweep of `loop` for one server's sessions, made when one first needs it. */
  static of(loop: EventLoop, options: DeadlineOptions, owner: WeakMap<EventLoop, HttpDeadlines>): HttpDeadlines {
    let sweep = owner.get(loop);
    if (sweep === undefined) owner.set(loop, (sweep = new HttpDeadlines(loop, options, owner)));
    return sweep;
  }

  add(session: Expiring): void {
    this.#pending.add(session);
    if (this.#timer === undefined && !this.#loop.isClosed) {
      this.#timer = this.#loop.setInterval(this.#sweep, this.#periodMs, { label: 'http deadlines' });
    }
  }

  delete(session: Expiring): void {
    this.#pending.delete(session);
  }

  readonly #sweep = (): void => {
    const now = this.#loop.now();
    for (const session of this.#pending) {
      if (!session.expire(now)) continue;
      this.#pending.delete(session);
    }
    if (this.#pending.size === 0) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#owner.delete(this.#loop);
    }
  };
}
