// The testing build's front door (build/core.testing.wasm): the product's
// exports, plus the pure functions and probes that only tests call, so the
// product module carries none of them.
export * from './index';
export { bucketOf, resetMetrics } from './metrics';
export { levelFor, slotFor, timerReschedule, timerCapacity } from './timers';
