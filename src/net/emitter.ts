// A small event emitter for objects made by the thousand (connections, HTTP
// requests and responses).
//
// node:events' EventEmitter gives each instance its own state when it is
// constructed (an `_events` object, counts, flags): tens of bytes per idle
// connection that nobody listens to. Here an instance holds one field, empty
// until the first listener is added; an emit with no listener costs that
// field's check. The calls are node:events' own names (on, once, off,
// emit...), so code written for a node:net socket reads the same.
//
// One difference, on purpose: an 'error' nobody listens to is dropped, not
// thrown. A connection's errors also reach its 'close' and its protocol's
// close hook, and a throw from inside the loop's dispatch would land on the
// loop's 'error', a connection's trouble reported as everyone's.

import { typeError } from '../errors.js';

type Listener = (...args: never[]) => void;

/** A listener registered with once(): the wrapper remembers what it wraps, so off() finds either. */
interface OnceWrapper {
  (...args: unknown[]): void;
  listener: Listener;
}

/** Events of any name with any arguments: for a subclass that types its events in its own docs. */
// Any arguments, as node:events takes them.
export type AnyEvents = Record<string | symbol, (...args: any[]) => void>;

export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void } = AnyEvents> {
  /** Each event's listeners, created by the first on(). */
  #listeners: Map<keyof Events, Listener[]> | undefined;

  /** Adds `listener` for `event`, after those added before. */
  on<E extends keyof Events>(event: E, listener: Events[E]): this {
    if (typeof listener !== 'function') throw typeError('listener', 'a function', listener);
    const listeners = (this.#listeners ??= new Map());
    const list = listeners.get(event);
    if (list === undefined) listeners.set(event, [listener]);
    else list.push(listener);
    this.listenerAdded(event);
    return this;
  }

  /** node:events' other name for on(). */
  addListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.on(event, listener);
  }

  /** Adds `listener` for the next `event` only. */
  once<E extends keyof Events>(event: E, listener: Events[E]): this {
    if (typeof listener !== 'function') throw typeError('listener', 'a function', listener);
    const wrapper = ((...args: unknown[]) => {
      this.off(event, wrapper as unknown as Events[E]);
      (listener as unknown as (...args: unknown[]) => void).apply(this, args);
    }) as OnceWrapper;
    wrapper.listener = listener;
    return this.on(event, wrapper as unknown as Events[E]);
  }

  /** Removes the most recently added registration of `listener` (added by on() or once()). */
  off<E extends keyof Events>(event: E, listener: Events[E]): this {
    const list = this.#listeners?.get(event);
    if (list === undefined) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      const entry = list[i]!;
      if (entry === listener || (entry as unknown as OnceWrapper).listener === listener) {
        if (list.length === 1) this.#listeners!.delete(event);
        else list.splice(i, 1);
        break;
      }
    }
    return this;
  }

  /** node:events' other name for off(). */
  removeListener<E extends keyof Events>(event: E, listener: Events[E]): this {
    return this.off(event, listener);
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: keyof Events): this {
    if (event === undefined) this.#listeners = undefined;
    else this.#listeners?.delete(event);
    return this;
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners?.get(event)?.length ?? 0;
  }

  /**
   * Calls each listener of `event` with `args`, in the order they were
   * added (a listener added or removed meanwhile takes effect from the next
   * emit). Returns whether there was one. A listener's throw propagates to
   * the caller, as in node:events.
   */
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): boolean {
    if (this.#listeners === undefined) return false;
    const list = this.#listeners.get(event);
    if (list === undefined) return false;
    if (list.length === 1) (list[0] as (...args: unknown[]) => void).apply(this, args);
    else for (const listener of list.slice()) (listener as (...args: unknown[]) => void).apply(this, args);
    return true;
  }

  /** A hook for subclasses: a listener for `event` was just added (an HTTP request's 'data' starts its flow). */
  protected listenerAdded(_event: keyof Events): void {}
}
