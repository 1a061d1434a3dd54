// The testing build's front door (build/core.testing.wasm): the product's
// exports; every constant of the ABI, which scripts/build-wasm.mjs reads from
// this module into src/core/abi.ts and tests check against it; and the pure
// functions and probes that only tests call. The product module carries
// none of the last two.
export * from './index';
export { RECORD_WORDS, RECORD_BYTES, RECORDS_PER_EVENT, TIMER_ENTRY_BYTES } from './layout';
export { KIND_DEAD, KIND_ACCEPT, KIND_READ, KIND_WRITE, KIND_HANGUP, KIND_ERROR, KIND_NODE } from './records';
export {
  ROLE_NONE,
  ROLE_SERVER,
  ROLE_CLIENT,
  ROLE_NODE,
  ROLE_WATCH,
  WANT_READ,
  WANT_WRITE,
  EDGE_TRIGGERED,
  WANT_HANGUP,
  ONESHOT,
  PRIORITY_SHIFT,
  PRIORITIES,
  ERR_FD_RANGE,
  ERR_EXISTS,
  ERR_NOT_REGISTERED,
  ERR_BAD_ROLE,
  GENERATION_LIMIT,
} from './registry';
export { EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP, EPOLLET, EPOLLONESHOT } from './events';
export {
  COUNTERS,
  HISTOGRAMS,
  BUCKETS,
  COUNTER_ITERATIONS,
  COUNTER_WAITS,
  COUNTER_EVENTS,
  COUNTER_STALE,
  COUNTER_CALLBACKS,
  COUNTER_WAIT_NS,
  COUNTER_BUSY_NS,
  COUNTER_TIMERS_FIRED,
  COUNTER_DEFERRED_RUN,
  COUNTER_ERRORS,
  COUNTER_SLOW,
  COUNTER_BUDGET_CUTOFFS,
  COUNTER_REPOLLS,
  HISTOGRAM_BATCH,
  HISTOGRAM_CALLBACK_US,
  HISTOGRAM_TIMER_LATENESS_US,
  HISTOGRAM_WAIT_US,
} from './metrics';
export { MAX_TIMER_DELAY_MS, ERR_TIMERS_FULL } from './timers';
export { TIMER_BATCH } from './timer-batch';
export { bucketOf, resetMetrics } from './metrics';
export { levelFor, slotFor, timerReschedule } from './timers';
export { timerCapacity } from './timer-entries';
