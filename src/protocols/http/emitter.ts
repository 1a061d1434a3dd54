// The events of a request and a response ('data', 'end', 'finish', 'close',
// 'drain', 'error'): a small emitter whose listener table is made by the
// first listener, so a request nobody listens to costs one field, and an
// emit with no listener one check. The names and the order of calls are
// node:events' (on, once, off, emit, listenerCount).

type Listener = (...args: never[]) => void;

export class SmallEmitter {
  #listeners: Map<string | symbol, Listener[]> | undefined;

  on(event: string | symbol, listener: (...args: never[]) => void): this {
    if (typeof listener !== 'function') throw new TypeError(`The "listener" argument must be of type function`);
    this.#listeners ??= new Map();
    const list = this.#listeners.get(event);
    if (list === undefined) this.#listeners.set(event, [listener]);
    else list.push(listener);
    this.listenerAdded(event);
    return this;
  }

  addListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return this.on(event, listener);
  }

  once(event: string | symbol, listener: (...args: never[]) => void): this {
    const once = (...args: never[]): void => {
      this.off(event, once);
      listener(...args);
    };
    (once as { listener?: Listener }).listener = listener;
    return this.on(event, once);
  }

  off(event: string | symbol, listener: (...args: never[]) => void): this {
    const list = this.#listeners?.get(event);
    if (list === undefined) return this;
    const at = list.findIndex((l) => l === listener || (l as { listener?: Listener }).listener === listener);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0) this.#listeners!.delete(event);
    return this;
  }

  removeListener(event: string | symbol, listener: (...args: never[]) => void): this {
    return this.off(event, listener);
  }

  removeAllListeners(event?: string | symbol): this {
    if (event === undefined) this.#listeners = undefined;
    else this.#listeners?.delete(event);
    return this;
  }

  listenerCount(event: string | symbol): number {
    return this.#listeners?.get(event)?.length ?? 0;
  }

  /** Calls each listener of `event` in the order added; whether there was one. */
  emit(event: string | symbol, ...args: unknown[]): boolean {
    const list = this.#listeners?.get(event);
    if (list === undefined) return false;
    for (const listener of list.length === 1 ? list : list.slice()) (listener as (...a: unknown[]) => void)(...args);
    return true;
  }

  /** A hook for subclasses: a listener for `event` was just added ('data' starts a request's flow). */
  protected listenerAdded(_event: string | symbol): void {}
}
