// The pieces one loop is made of, made once (makeParts) when the EventLoop
// is constructed and handed to the turn and the driver. Each is one idea:
//
//   config     the options, checked (options.ts)
//   core       the wasm core, its instance and memory (core/loader.ts); the
//              constants it shares with the host are imported from core/abi.ts
//   kernel     the backend it waits on (kernel/backend.ts)
//   clock      the loop's time (clock.ts)
//   state      where the loop is in its life (state.ts)
//   fds        the fds it holds, one entry each (fd-table.ts)
//   timers     the host's side of the timer wheel (timer-table.ts, and its pass: timer-pass.ts)
//   deferred   the deferred queue (deferred.ts)
//   callbacks  running a callback: call, time, report, trace (callbacks.ts)
import type { EventEmitter } from 'node:events';

import { NativeBackend, type KernelBackend } from '../kernel/backend.js';
import { createCore, type Core } from '../core/loader.js';
import { DeferredQueue } from './deferred.js';
import { check } from '../errors.js';
import { native } from '../kernel/native.js';
import { CallbackRunner, type CallbackContext, type SlowCallback } from './callbacks.js';
import { LoopClock } from './clock.js';
import { FdTable } from './fd-table.js';
import { PRIORITY_LOWEST, type LoopConfig } from './options.js';
import { LoopState } from './state.js';
import { TimerTable, type TimersChanged } from './timer-table.js';

export interface LoopParts {
  readonly config: LoopConfig;
  readonly core: Core;
  readonly kernel: KernelBackend;
  readonly clock: LoopClock;
  readonly state: LoopState;
  readonly fds: FdTable;
  readonly timers: TimerTable;
  readonly deferred: DeferredQueue;
  readonly callbacks: CallbackRunner;
}

/** The loop's events (it is an EventEmitter of these); the parts emit them on it. */
export interface EventLoopEvents {
  error: [error: unknown, context: CallbackContext];
  slow: [info: SlowCallback];
  /** An fd handed over by `remote.sendFd()`: the listener now owns it. */
  fd: [fd: number];
}

export type LoopEvents = EventEmitter<EventLoopEvents>;

/**
 * Makes a loop's parts from its checked options. `timersChanged` runs when
 * timers are set, cancelled, refreshed or ref'd (a started loop may have to
 * wake sooner; whether the loop holds the process may change).
 */
export function makeParts(events: LoopEvents, config: LoopConfig, timersChanged: TimersChanged): LoopParts {
  const clock = new LoopClock(config.clock);
  const kernel: KernelBackend = typeof config.backend === 'string' ? new NativeBackend(config.backend) : config.backend;
  const core = createCore(config.maxFds, config.maxEvents, native.EVENT_SIZE, native.EVENT_DATA_OFFSET, config.maxTimers);
  const state = new LoopState();
  const callbacks = new CallbackRunner(events, core.exports, state, config);
  const timers = new TimerTable(core, config.maxTimers, clock, state, callbacks, timersChanged);
  const parts: LoopParts = {
    config,
    core,
    kernel,
    clock,
    state,
    fds: new FdTable(core.exports, kernel, config.logger),
    timers,
    deferred: new DeferredQueue(config.maxDeferred, PRIORITY_LOWEST + 1),
    callbacks,
  };
  const region = {
    buffer: core.memory.buffer,
    offset: core.eventsOffset,
    maxEvents: config.maxEvents,
    stride: native.EVENT_SIZE,
    dataOffset: native.EVENT_DATA_OFFSET,
  };
  check(kernel.attach(region), kernel.syscalls.create);
  return parts;
}
