// The wasm core's front door: the only exports the host sees, each one it
// calls or reads at run time. The constants the host shares with the core
// (record kinds, roles, flags, counters...) are not exported here: the host
// imports them from src/core/abi.ts, which scripts/build-wasm.mjs generates
// from the testing build (assembly/testing.ts), compiled from the same
// sources. Functions only tests call are exported there too.
export { configure, layoutBytes, eventsBase, recordsBase } from './layout';
export { batchCursor, setBatchCursor, pendingRecords, recordsInBatch } from './records';
export { register, unregister, setFlags, registeredCount } from './registry';
export { dispatch } from './dispatch';
export { metricsBase, percentile, noteWait, noteCallback, noteCallbacks, noteTimer, noteCount } from './metrics';
// The wheel by the tick (timerInsert, timerGeneration, timerTakeDue,
// timerTakenDeadline) is the core's own contract, driven by fuzz-core and the
// timers benchmark's floor; the host uses the exact way (timerSchedule, and
// timerTakeBatch/timerEndBatch: timerNext is the same one timer at a time)
// and the calls both share. timerIndexBits, like eventsBase, is
// set by `configure`: the host reads it from the instance.
export {
  timerInsert,
  timerSchedule,
  timerCancel,
  timerRemove,
  timerMove,
  timerSetRef,
  timerExpire,
  timerTakeDue,
  timerTakenDeadline,
  timerNextDeadline,
} from './timers';
export { timerIndexBits, timerGeneration, timerCount, timerUnrefCount } from './timer-entries';
export { timerNext, timerBatchBase, timerTakeBatch, timerEndBatch, timerNextBatch, timerReleaseRan } from './timer-batch';

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
