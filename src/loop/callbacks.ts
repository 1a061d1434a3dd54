// Running a callback, and everything that goes with it, in one place: the
// call (under run() and start(), Node runs ticks and microtasks after each
// I/O callback, as after any of its own: see drainTicks below), the
// timing (one performance.now() per callback: each one's end is the next
// one's start), the count and histogram in the core, the 'slow' report, the
// trace ring, and what happens to an exception ('error', the logger,
// stderr, or with fatalErrors the end of the turn).
import { performance } from 'node:perf_hooks';

import { COUNTER_ERRORS, COUNTER_SLOW } from '../core/abi.js';
import type { CoreExports } from '../core/loader.js';
import { native } from '../kernel/native.js';
import { TraceRing } from './trace.js';
import type { LoopConfig, Logger } from './options.js';
import type { LoopEvents } from './parts.js';
import type { LoopState } from './state.js';

export type CallbackKind = 'accept' | 'read' | 'write' | 'hangup' | 'error' | 'watch' | 'timer' | 'deferred';

/** What ran when a callback threw or was slow. */
export interface CallbackContext {
  /** `'read'`, `'write'`, `'hangup'`, `'error'`, `'accept'`, `'watch'`, `'timer'` or `'deferred'`. */
  kind: CallbackKind;
  /** The fd, for I/O callbacks. */
  fd?: number;
  /** The label given when the callback was registered, if any. */
  label?: string;
}

export interface SlowCallback extends CallbackContext {
  durationMs: number;
}

/** Callback kinds as small integers (the trace ring stores these). */
export const CALLBACK_KINDS: readonly CallbackKind[] = ['accept', 'read', 'write', 'hangup', 'error', 'watch', 'timer', 'deferred'];
export const CB = { accept: 0, read: 1, write: 2, hangup: 3, error: 4, watch: 5, timer: 6, deferred: 7 } as const;

/**
 * Node's own "after a callback" step, callable from JS: process._tickCallback
 * is runNextTicks (lib/internal/bootstrap/node.js), the same steps as
 * closing an outermost callback scope (InternalCallbackScope::Close): the
 * microtask checkpoint when no tick is queued, else every tick and the
 * microtasks between them, and the unhandled rejections (Node's timers call
 * it between timers). Called after each callback that call() runs (reads,
 * writes, Timer and deferred callbacks) in a turn that Node called outside any
 * scope (run(), start()), it keeps the guarantee that what a callback queued
 * runs before the next one without a native crossing and a callback scope per
 * event (napi_make_callback: about 0.3 µs an HTTP request, docs/performance.md).
 * It is documentation-deprecated (DEP0134), not gone; the check on its name
 * takes Node's own function only, not --pending-deprecation's wrapper (which
 * would print a warning) nor a replacement. Without it, those callbacks go
 * through native.invoke too.
 */
const nodeTickCallback = (process as unknown as { _tickCallback?: () => void })._tickCallback;
const drainTicks = typeof nodeTickCallback === 'function' && nodeTickCallback.name === 'runNextTicks' ? nodeTickCallback : undefined;

/**
 * Node's tick step, and what a tick throws goes where it would after one of
 * Node's own callbacks: to Node's uncaught-exception handling (its
 * 'uncaughtException' listeners, or the end of the process), not to the
 * loop's 'error' (a tick is no callback of the loop's). Node's handling also
 * unwinds the async id stack, which the throwing tick left with its own id
 * on top: caught here and kept, that id would be every later callback's
 * executionAsyncId(), and the first AsyncLocalStorage or async hook enabled
 * would make Node abort at the next callback scope's close. The ticks after
 * the one that threw run at the next step, as in Node.
 */
function runTicks(): void {
  try {
    drainTicks!();
  } catch (error) {
    native.uncaught(error);
  }
}

/** Node's tick step as the loop calls it between two callbacks (runTicks), or undefined where Node's own function is missing. */
export const nodeTickStep: (() => void) | undefined = drainTicks !== undefined ? runTicks : undefined;

/** Distinct uncaught errors printed per loop, at most; then they are only counted. */
const PRINTED_ERRORS_LIMIT = 100;

export class CallbackRunner {
  readonly #events: LoopEvents;
  readonly #wasm: CoreExports;
  readonly #state: LoopState;
  readonly #slowMs: number;
  readonly #fatalErrors: boolean;
  readonly #logger: Logger | undefined;
  readonly #trace: TraceRing | undefined;
  readonly #printed = new Set<string>();
  /** When the callback being run started: the previous one's end. */
  #start = 0;
  /**
   * The turn running now was called by Node outside any callback scope
   * (run(), start()), so what a callback queues must run before the next
   * one; not under runOnce(), whose caller's scope holds it until it yields.
   */
  outermost = false;

  constructor(events: LoopEvents, wasm: CoreExports, state: LoopState, config: LoopConfig) {
    this.#events = events;
    this.#wasm = wasm;
    this.#state = state;
    this.#slowMs = config.slowCallbackMs;
    this.#fatalErrors = config.fatalErrors;
    this.#logger = config.logger;
    this.#trace = config.traceEntries === 0 ? undefined : new TraceRing(config.traceEntries, CALLBACK_KINDS);
  }

  get trace(): TraceRing | undefined {
    return this.#trace;
  }

  /**
   * What must follow each callback of this turn for it to be a plain call:
   * nothing under runOnce() (undefined), Node's tick step under run() and
   * start(); null when that step is missing and each callback needs a
   * callback scope of its own (native.invoke).
   */
  get afterCallback(): (() => void) | undefined | null {
    return !this.outermost ? undefined : drainTicks !== undefined ? runTicks : null;
  }

  /** Starts the clock for the first callback of a pass; returns the time. */
  begin(): number {
    return (this.#start = performance.now());
  }

  /** Starts the clock at `reading`, a performance.now() just taken (a wait's end): one read fewer. */
  beginAt(reading: number): void {
    this.#start = reading;
  }

  /** The latest clock reading: when the last callback finished, or the pass began (performance.now()). */
  get lastReading(): number {
    return this.#start;
  }

  /**
   * After a step of the loop's own between callbacks (a pass's batch
   * writes, which may close connections and so call their listeners): what
   * it queued runs, as after a callback, and the clock is read for the next
   * one's start. It is not a callback: not counted, not timed.
   */
  settle(): void {
    if (this.outermost && drainTicks !== undefined) runTicks();
    this.#start = performance.now();
  }

  /** Calls a user callback (with `fd`, for I/O), catches and reports what it throws, accounts for it. Returns when it finished. */
  call(kind: number, fd: number, label: string | undefined, recv: unknown, fn: (fd: number) => void): number {
    // Under runOnce(), a plain call: the caller's scope holds what the callback queues until it yields.
    const scoped = this.outermost && drainTicks === undefined;
    try {
      if (scoped) {
        if (fd >= 0) native.invoke(recv, fn, fd);
        else native.invoke(recv, fn);
      } else if (fd >= 0) fn.call(recv, fd);
      else (fn as () => void).call(recv);
    } catch (error) {
      this.failed(error, kind, fd, label);
    }
    if (this.outermost && !scoped) runTicks();
    return this.ran(kind, fd, label);
  }

  /** After each callback (a plain one, or a step of the loop's own that calls user code): count and time it, report it if slow, trace it. */
  ran(kind: number, fd: number, label: string | undefined): number {
    const start = this.#start;
    const finished = performance.now();
    const duration = finished - start;
    this.#start = finished;
    this.#wasm.noteCallback(duration * 1e6);
    if (duration >= this.#slowMs) this.#slow(kind, fd, label, duration);
    this.#trace?.record(kind, fd, label, start, duration);
    return finished;
  }

  /**
   * After `count` callbacks run back to back without a clock read between
   * them (the handle-free timeouts of a timer pass): each is counted, at
   * their mean duration, and the group is reported as one slow callback if
   * it took slowCallbackMs. With the trace ring on, groups are of one.
   * Returns how long they took (ms).
   */
  ranMany(kind: number, count: number): number {
    const start = this.#start;
    const finished = performance.now();
    const duration = finished - start;
    this.#start = finished;
    this.#wasm.noteCallbacks(count, duration * 1e6);
    if (duration >= this.#slowMs) this.#slow(kind, -1, undefined, duration);
    this.#trace?.record(kind, -1, undefined, start, duration);
    return duration;
  }

  /**
   * A callback threw. The loop goes on: the error goes to the `'error'`
   * listeners, or the logger, or is printed once to stderr. With
   * `fatalErrors` the turn stops instead, after the current callback.
   */
  failed(error: unknown, kind: number, fd: number, label: string | undefined): void {
    this.#wasm.noteCount(COUNTER_ERRORS, 1);
    if (this.#fatalErrors) {
      this.#state.fatal ??= { error };
      return;
    }
    const context = contextOf(kind, fd, label);
    if (this.#events.listenerCount('error') > 0) {
      try {
        this.#events.emit('error', error, context);
        return;
      } catch (listenerError) {
        error = listenerError;
      }
    }
    if (this.#logger?.error !== undefined) {
      this.#logger.error({ err: error, ...context }, 'wasmloop: uncaught error in a callback; the loop goes on');
      return;
    }
    const text = error instanceof Error ? (error.stack ?? String(error)) : String(error);
    if (this.#printed.has(text) || this.#printed.size >= PRINTED_ERRORS_LIMIT) return;
    this.#printed.add(text);
    const where = `${context.kind}${fd >= 0 ? ` fd ${fd}` : ''}${label !== undefined ? ` (${label})` : ''}`;
    process.stderr.write(`wasmloop: uncaught error in a ${where} callback; the loop goes on:\n${text}\n`);
  }

  #slow(kind: number, fd: number, label: string | undefined, duration: number): void {
    this.#wasm.noteCount(COUNTER_SLOW, 1);
    const logger = this.#logger;
    if (this.#events.listenerCount('slow') === 0 && logger?.warn === undefined) return;
    const info: SlowCallback = { kind: CALLBACK_KINDS[kind]!, durationMs: duration };
    if (fd >= 0) info.fd = fd;
    if (label !== undefined) info.label = label;
    logger?.warn?.(info, 'wasmloop: slow callback');
    try {
      this.#events.emit('slow', info);
    } catch (error) {
      this.failed(error, kind, fd, label);
    }
  }
}

function contextOf(kind: number, fd: number, label: string | undefined): CallbackContext {
  const context: CallbackContext = { kind: CALLBACK_KINDS[kind]! };
  if (fd >= 0) context.fd = fd;
  if (label !== undefined) context.label = label;
  return context;
}
