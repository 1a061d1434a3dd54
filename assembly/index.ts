// The wasm core's front door: the only exports the host sees. Every export
// here is used by the host (src/), is the timer wheel's contract by the tick
// (below), or is a constant of the ABI that
// scripts/build-wasm.mjs turns into src/generated/core-abi.ts. Functions only
// tests call are exported by assembly/testing.ts, the testing build's entry.
export {
  RECORD_WORDS,
  RECORD_BYTES,
  RECORDS_PER_EVENT,
  configure,
  layoutBytes,
  eventsBase,
  recordsBase,
  TIMER_ENTRY_BYTES,
} from './layout';
export {
  KIND_DEAD,
  KIND_ACCEPT,
  KIND_READ,
  KIND_WRITE,
  KIND_HANGUP,
  KIND_ERROR,
  KIND_NODE,
  batchCursor,
  setBatchCursor,
  pendingRecords,
  recordsInBatch,
} from './records';
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
  register,
  unregister,
  setFlags,
  registeredCount,
} from './registry';
export { dispatch } from './dispatch';
export { EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP, EPOLLET, EPOLLONESHOT } from './events';
export {
  metricsBase,
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
  percentile,
  noteWait,
  noteCallback,
  noteCallbacks,
  noteTimer,
  noteCount,
} from './metrics';
// The wheel by the tick (timerInsert, timerGeneration, timerTakeDue,
// timerTakenDeadline) is the core's own contract, driven by fuzz-core and the
// timers benchmark's floor; the host uses the exact way (timerSchedule,
// timerNext) and the calls both share.
export {
  MAX_TIMER_DELAY_MS,
  ERR_TIMERS_FULL,
  timerIndexBits,
  timerInsert,
  timerSchedule,
  timerGeneration,
  timerCancel,
  timerRemove,
  timerMove,
  timerSetRef,
  timerExpire,
  timerTakeDue,
  timerTakenDeadline,
  timerNext,
  timerNextDeadline,
  timerCount,
  timerUnrefCount,
} from './timers';

import { maskAt, generationAt, roleAt, flagsAt, slotOf } from './registry';
import { maxFds } from './layout';

/** The kernel mask registered for fd (0 when unregistered or out of range). */
export function maskOf(fd: i32): u32 {
  return <u32>fd < <u32>maxFds ? maskAt(slotOf(fd)) : 0;
}
export function generationOf(fd: i32): u32 {
  return <u32>fd < <u32>maxFds ? generationAt(slotOf(fd)) : 0;
}
export function roleOf(fd: i32): i32 {
  return <u32>fd < <u32>maxFds ? roleAt(slotOf(fd)) : 0;
}
export function flagsOf(fd: i32): i32 {
  return <u32>fd < <u32>maxFds ? flagsAt(slotOf(fd)) : 0;
}
