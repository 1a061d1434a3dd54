// The loop's options, their defaults, and the one place they are checked:
// resolveOptions() turns what a caller passed into a LoopConfig, every value
// present and valid, before anything native is made.
//
// The starvation guards (maxEvents, callbacksPerIteration, iterationBudgetMs,
// maxRepolls, acceptsPerEvent) were chosen by `wasmloop bench --guards`; the
// runs and their figures are in docs/performance.md.

import { PRIORITIES } from '../core/abi.js';
import { performanceClock } from './clock.js';
import type { BackendName, KernelBackend } from '../kernel/backend.js';
import { BACKEND_NAMES } from '../kernel/backend.js';
import { DEFAULT_MAX_TIMERS, MAX_TIMERS_LIMIT } from '../core/loader.js';
import {
  assertBoolean,
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertOptionalFunction,
  assertPositiveNumber,
} from '../errors.js';

export interface EventLoopOptions {
  /**
   * How the loop waits for readiness: `'epoll'` (default), `'poll'` or
   * `'select'` (level-triggered only; select only for fds below 1024), or a
   * KernelBackend such as a MockKernel.
   */
  backend?: BackendName | KernelBackend;
  /**
   * The most events one wait returns (epoll's `maxevents`): the batch size.
   * Default 1024.
   */
  maxEvents?: number;
  /** One more than the highest fd the loop can register. Default 65536. */
  maxFds?: number;
  /** Timers that can be pending at once (24 bytes of wheel each). Default 65536. */
  maxTimers?: number;
  /**
   * The loop's clock, in ms: a function that returns the time, such as a
   * test's virtual clock. Default `performance.now`. The loop never lets its
   * time go backwards: a clock that does is offset so that time stands still
   * and then moves on at the clock's pace.
   */
  clock?: () => number;
  /**
   * I/O callbacks per iteration. The rest of the batch is served next
   * iteration, before any new wait, after timers and deferred callbacks had
   * their turn. Default 256.
   */
  callbacksPerIteration?: number;
  /** Time (ms) I/O callbacks may take per iteration before the rest waits for the next. Default 50. */
  iterationBudgetMs?: number;
  /**
   * When a wait comes back full (maxEvents events), wait again at once without
   * blocking, up to this many times per iteration: more work is likely
   * ready. Default 8.
   */
  maxRepolls?: number;
  /** Capacity of the deferred queue. Default 65536. */
  maxDeferred?: number;
  /** A callback taking longer (ms) is counted and reported as `'slow'`. Default 100. */
  slowCallbackMs?: number;
  /** Errors thrown by callbacks stop the loop instead of being reported. Default false. */
  fatalErrors?: boolean;
  /**
   * Where the loop logs what helps debug it: callback errors nobody listens
   * for, slow callbacks, budget cut-offs, shutdown steps. Anything with
   * pino's `debug`/`info`/`warn`/`error` methods (`(object, message)`); a
   * missing method is skipped. Default: none, and the loop is silent (but for
   * uncaught callback errors, printed to stderr once each).
   */
  logger?: Logger;
  /**
   * Keep a ring of the last callbacks run (true: 4096 entries, or a number).
   * Default: on with 4096 entries when the environment has WASMLOOP_TRACE=1.
   */
  trace?: boolean | number;
}

/** pino's interface, or any part of it: each method takes `(object, message)`. */
export interface Logger {
  debug?(object: object, message: string): void;
  info?(object: object, message: string): void;
  warn?(object: object, message: string): void;
  error?(object: object, message: string): void;
}

/** libuv's batch size (1024 events, 12 KiB of kernel records): no size beat it outside the noise. */
export const DEFAULT_MAX_EVENTS = 1024;
export const MAX_EVENTS_LIMIT = 65536;
/** 16 bytes of registry per fd, so 1 MiB; a common RLIMIT_NOFILE hard limit. */
export const DEFAULT_MAX_FDS = 65536;
/** The kernel's default `nr_open`: no process can hold an fd above it. */
export const MAX_FDS_LIMIT = 1 << 20;
/**
 * Accepts per readiness event of a listener, so a connect storm cannot starve
 * the connections already open (the listener is level-triggered: the rest is
 * accepted next turn). 128 accept4 calls are about 0.15 ms of system time;
 * no value from 1 to 128 was seen to limit accepting.
 */
export const DEFAULT_ACCEPTS_PER_EVENT = 128;
/** I/O callbacks per iteration: the one guard whose runs set it apart (1,000 active connections). */
export const DEFAULT_CALLBACKS_PER_ITERATION = 256;
/** An iteration's I/O callbacks stop after this long (ms): a backstop for slow handlers; smaller did not help timers. */
export const DEFAULT_ITERATION_BUDGET_MS = 50;
/** Non-blocking re-polls after a full batch (libuv allows 48); after 8 full batches timers are due a turn. */
export const DEFAULT_MAX_REPOLLS = 8;
export const DEFAULT_MAX_DEFERRED = 65536;
export const DEFAULT_SLOW_CALLBACK_MS = 100;
export const DEFAULT_TRACE_ENTRIES = 4096;
/** Priorities go from 0 (served first) to PRIORITY_LOWEST: the core orders records in PRIORITIES runs. */
export const PRIORITY_LOWEST = PRIORITIES - 1;
export const DEFAULT_PRIORITY = 1;

/** The options, checked, with every default filled in. */
export interface LoopConfig {
  readonly backend: BackendName | KernelBackend;
  readonly maxEvents: number;
  readonly maxFds: number;
  readonly maxTimers: number;
  readonly clock: () => number;
  readonly callbacksPerIteration: number;
  readonly iterationBudgetMs: number;
  readonly maxRepolls: number;
  readonly maxDeferred: number;
  readonly slowCallbackMs: number;
  readonly fatalErrors: boolean;
  readonly logger: Logger | undefined;
  /** Entries of the trace ring; 0 when tracing is off. */
  readonly traceEntries: number;
}

/** Checks every option (a TypeError or RangeError names the first bad one) and fills in the defaults. */
export function resolveOptions(options: EventLoopOptions): LoopConfig {
  assertObject('options', options);
  const backend = options.backend ?? 'epoll';
  // Anything but an object must name a native backend.
  if (typeof backend !== 'object' || backend === null) assertOneOf('options.backend', backend, BACKEND_NAMES);
  const maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
  assertInteger('options.maxEvents', maxEvents, 1, MAX_EVENTS_LIMIT);
  const maxFds = options.maxFds ?? DEFAULT_MAX_FDS;
  assertInteger('options.maxFds', maxFds, 1, MAX_FDS_LIMIT);
  const maxTimers = options.maxTimers ?? DEFAULT_MAX_TIMERS;
  assertInteger('options.maxTimers', maxTimers, 1, MAX_TIMERS_LIMIT);
  const clock = options.clock ?? performanceClock;
  assertFunction('options.clock', clock);
  const callbacksPerIteration = options.callbacksPerIteration ?? DEFAULT_CALLBACKS_PER_ITERATION;
  assertInteger('options.callbacksPerIteration', callbacksPerIteration, 1, 0x7fffffff);
  const iterationBudgetMs = options.iterationBudgetMs ?? DEFAULT_ITERATION_BUDGET_MS;
  assertPositiveNumber('options.iterationBudgetMs', iterationBudgetMs);
  const maxRepolls = options.maxRepolls ?? DEFAULT_MAX_REPOLLS;
  assertInteger('options.maxRepolls', maxRepolls, 0, 1 << 20);
  const maxDeferred = options.maxDeferred ?? DEFAULT_MAX_DEFERRED;
  assertInteger('options.maxDeferred', maxDeferred, 1, 1 << 26);
  const slowCallbackMs = options.slowCallbackMs ?? DEFAULT_SLOW_CALLBACK_MS;
  assertPositiveNumber('options.slowCallbackMs', slowCallbackMs);
  const fatalErrors = options.fatalErrors ?? false;
  assertBoolean('options.fatalErrors', fatalErrors);
  const logger = options.logger;
  if (logger !== undefined) {
    assertObject('options.logger', logger);
    for (const level of ['debug', 'info', 'warn', 'error'] as const) assertOptionalFunction(`options.logger.${level}`, logger[level]);
  }
  const trace = options.trace ?? process.env['WASMLOOP_TRACE'] === '1';
  if (typeof trace === 'number') assertInteger('options.trace', trace, 1, 1 << 24);
  else assertBoolean('options.trace', trace);
  const traceEntries = trace === false ? 0 : trace === true ? DEFAULT_TRACE_ENTRIES : trace;
  return {
    backend, maxEvents, maxFds, maxTimers, clock, callbacksPerIteration, iterationBudgetMs,
    maxRepolls, maxDeferred, slowCallbackMs, fatalErrors, logger, traceEntries,
  };
}
