// The testing build of the wasm core (build/core.testing.wasm): the product's
// exports plus the ones only tests call (levelFor, slotFor, bucketOf...), with
// asserts on. Same source, same layout, same loader as the product's.
import { CoreModule, DEFAULT_MAX_TIMERS, type Core } from '../core/loader.js';
import type { TestingCoreExports } from '../core/abi.js';

const testing = new CoreModule<TestingCoreExports>(new URL('../../core.testing.wasm', import.meta.url));

/** Creates a core of the testing build, as createCore does of the product's. */
export function createTestingCore(
  maxFds: number,
  maxEvents: number,
  eventStride: number,
  eventDataOffset: number,
  maxTimers: number = DEFAULT_MAX_TIMERS,
): Core<TestingCoreExports> {
  return testing.create(maxFds, maxEvents, eventStride, eventDataOffset, maxTimers);
}
