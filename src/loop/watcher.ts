// Watcher: one fd of any kind (pipe, eventfd, timerfd, tty, socket) watched
// through `loop.watch()`. The loop owns the registration; the fd stays the
// caller's: closing the watcher never closes the fd.
import { WasmloopError } from '../errors.js';

export type WatchEvent = 'readable' | 'writable' | 'hangup' | 'error';

/** Called once per kind of readiness, in the order writable, readable, then error or hangup. */
export type WatchHandler = (event: WatchEvent, watcher: Watcher) => void;

export interface WatchInterest {
  /** Watch for readability. */
  readable?: boolean;
  /** Watch for writability. */
  writable?: boolean;
  /** Report the peer's half-close (EPOLLRDHUP) as `'hangup'`. A full hang-up is always reported. */
  hangup?: boolean;
  /** 0 (served first) to 3. */
  priority?: number;
}

/** @internal What a watcher asks of its loop. */
export interface WatcherControl {
  modify(watcher: Watcher, interest: WatchInterest): void;
  close(watcher: Watcher): void;
}

export class Watcher {
  readonly fd: number;
  readonly label: string | undefined;
  /** @internal */ readonly handler: WatchHandler;
  /** @internal */ generation: number;
  #control: WatcherControl | undefined;

  /** @internal */
  constructor(fd: number, handler: WatchHandler, label: string | undefined, generation: number, control: WatcherControl) {
    this.fd = fd;
    this.handler = handler;
    this.label = label;
    this.generation = generation;
    this.#control = control;
  }

  /** False once closed, by `close()`, by the loop closing, or after a hang-up or error. */
  get active(): boolean {
    return this.#control !== undefined;
  }

  /**
   * Changes what is watched; what `interest` leaves out stays as it was. One
   * system call when the kernel's interest changes, none otherwise. On a
   * one-shot watcher this re-arms it.
   */
  modify(interest: WatchInterest): void {
    if (this.#control === undefined) throw new WasmloopError('ERR_WATCHER_CLOSED', `the watcher for fd ${this.fd} is closed`);
    this.#control.modify(this, interest);
  }

  /** Stops watching. The fd stays open. Closing twice does nothing. */
  close(): void {
    const control = this.#control;
    if (control === undefined) return;
    control.close(this);
  }

  /** @internal The loop has forgotten this watcher. */
  detach(): void {
    this.#control = undefined;
  }
}
