// Loops on the MockKernel: deterministic ordering and budgets, and a virtual
// clock the test moves, so timers fire exactly when it says.
import type { EventLoop, EventLoopOptions } from '../../src/index.js';
import { MockKernel } from '../../src/testing/index.js';
import { TestLoop } from '../test-loop.js';

/** A loop on a fresh MockKernel, for deterministic ordering and budget tests. */
export function mockLoop(
  options: Omit<EventLoopOptions, 'backend'> = {},
  mockOptions: { levelOnly?: boolean } = {},
): { loop: EventLoop; mock: MockKernel } {
  const mock = new MockKernel(mockOptions);
  return { loop: new TestLoop({ ...options, backend: mock }), mock };
}

/** A settable clock for `new TestLoop({ clock })`: the loop reads `ms`, the test moves it. */
export interface VirtualClock {
  ms: number;
  /** Moves the clock forward by `ms` (backward for a negative step). */
  advance(ms: number): void;
}

/**
 * A loop on a MockKernel whose time is a VirtualClock starting at `startMs`:
 * its waits never block, so timers fire exactly when the test moves the clock.
 */
export function virtualClockLoop(
  options: Omit<EventLoopOptions, 'backend' | 'clock'> = {},
  startMs = 0,
): { loop: EventLoop; mock: MockKernel; clock: VirtualClock } {
  const clock: VirtualClock = {
    ms: startMs,
    advance(ms: number) {
      clock.ms += ms;
    },
  };
  const mock = new MockKernel();
  return { loop: new TestLoop({ ...options, backend: mock, clock: () => clock.ms }), mock, clock };
}
