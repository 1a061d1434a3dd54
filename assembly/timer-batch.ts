// The exact way out of the timer wheel (assembly/timers.ts): a pass at the
// host's time, the timers held back for the last fraction of their
// millisecond, and the batches the host takes a pass in.
//
// timerExpire begins a pass at nowMs (beginPass): what `held` holds moves to
// `pass`, which the pass looks at first, then `due`. A timer whose exact
// deadline is after the pass's time is held back again. Taking from `due`
// never refills it, so a timer inserted while the host drains it (even one
// already overdue) waits for the next timerExpire.
//
// The host takes a pass in batches (timerTakeBatch): up to TIMER_BATCH due
// entries at a time, their indices written to the batch region, one call
// for the lot instead of one per timer. A batch's entries stay pending
// (live, same generation, list BATCH, `prev` = their cell) until the host
// says how far it ran (timerEndBatch): so none is reused while the host may
// still reach its cell, and a cancel or move of one not yet run writes NIL
// into its cell, which the host skips.
//
//   batch region (written by the core; read by the host)
//   ┌──────┬──────┬──────┬─────┬──────┐
//   │ idx  │ idx  │ NIL  │ ... │ idx  │  cells 0 .. count - 1
//   └──────┴──────┴──────┴─────┴──────┘
//      ran    ran   cancelled    not yet run
//
// timerEndBatch(done) releases the entries of cells 0 .. done - 1 (they
// fired: counted, with their lateness) and puts those after them back at the
// head of `pass`, in order, for the next take: a pass the host left early
// goes on where it stopped.

import { noteTimer, noteTimers } from './metrics';
import {
  BATCH,
  deadlineOf,
  DUE,
  entryAt,
  nextOf,
  headOf,
  hold,
  listOf,
  NIL,
  PASS,
  passHeld,
  prepend,
  prevOf,
  release,
  setHead,
  setPrev,
  setTail,
  unlink,
  earliestIn,
} from './timer-entries';

/**
 * Due entries per batch, at most: 4 KB of static data. A pass of 100,000
 * timeouts takes about a hundred calls into wasm instead of 100,000
 * (bench/timers.ts, fire-same-ms). A larger batch saves little more, and
 * keeps more entries from reuse while it is open (timerReleaseRan gives
 * them back when the table is full).
 */
export const TIMER_BATCH: i32 = 1024;
/** Where the batch region is (static data): the host reads it once. */
export const timerBatchBase: usize = memory.data(TIMER_BATCH * 4, 16);
/** Cells filled by the last timerTakeBatch, until timerEndBatch. */
let batchCount: i32 = 0;
/** The time of the pass timerExpire began: timerNext holds back what is due after it. */
let passNow: f64 = 0;

/** No pass, no batch; called by resetTimers. */
export function resetPass(): void {
  passNow = 0;
  batchCount = 0;
}

/** A new pass at nowMs: the held timers are looked at first, after any a pass cut short did not reach. */
export function beginPass(nowMs: f64): void {
  passNow = nowMs;
  passHeld();
}

/**
 * The earliest deadline among the timers a pass cut short left in `pass`
 * (rare, and a scan), or -Infinity when one of them is due by the pass's
 * time, so due now; Infinity when there are none.
 */
export function passEarliest(): f64 {
  if (headOf(PASS) == NIL) return Infinity;
  const pass = earliestIn(PASS);
  return pass <= passNow ? -Infinity : pass;
}

/**
 * Takes a pending entry out of wherever it is: its list, or its batch cell
 * (the host then skips the cell: the timer was cancelled or moved before
 * its turn came).
 */
export function detach(index: i32): void {
  if (listOf(index) == BATCH) store<i32>(timerBatchBase + (<usize>prevOf(index) << 2), NIL);
  else unlink(index);
}

/**
 * The exact way out: pops the pass's next timer, `pass` first, then `due`,
 * and returns its index (its handle is now stale), or -1 when the pass is
 * over. A timer whose exact deadline is after the pass's time (timerExpire's
 * nowMs) is held back instead, for a later pass. Counts each timer it
 * returns as fired, with its lateness from the exact deadline. Bounded: a
 * timer is held at most once per pass.
 */
export function timerNext(): i32 {
  while (true) {
    let index = headOf(PASS);
    if (index == NIL) index = headOf(DUE);
    if (index == NIL) return -1;
    unlink(index);
    const deadline = deadlineOf(index);
    if (deadline > passNow) {
      hold(index);
      continue;
    }
    noteTimer((passNow - deadline) * 1e6);
    release(index);
    return index;
  }
}

/**
 * The batched way out (the host's): fills the batch region with the pass's
 * next due entries, as timerNext would hand them out one by one (held ones
 * held back the same way), up to TIMER_BATCH. Returns how many cells it
 * filled, 0 when the pass is over. The entries stay pending until the batch
 * is ended; the previous batch must have been ended.
 */
export function timerTakeBatch(): i32 {
  assert(batchCount == 0, 'a batch is still open');
  return takeBatch();
}

/**
 * The host ran the batch's cells 0 .. done - 1 (skipping NIL ones): those
 * entries fired, and are counted and released. The rest go back to the head
 * of `pass`, in order, still pending. A `done` past the batch is the batch.
 */
export function timerEndBatch(done: i32): void {
  endBatch(done);
}

/**
 * timerEndBatch(done), then timerTakeBatch(): the one call per batch of a
 * pass that runs its batches through (the others are once per pass, so
 * only this one grows hot enough for V8 to recompile it mid-pass).
 */
export function timerNextBatch(done: i32): i32 {
  endBatch(done);
  return takeBatch();
}

/**
 * Releases the entries of the batch's cells 0 .. done - 1 now, as ended
 * batches are, and marks those cells NIL: the host ran them, and needs
 * their entries for timers its callbacks set while every other entry is in
 * use. The batch stays open.
 */
export function timerReleaseRan(done: i32): void {
  const ran = done < 0 ? 0 : done < batchCount ? done : batchCount;
  for (let cell = 0; cell < ran; cell++) {
    const at = timerBatchBase + (<usize>cell << 2);
    const index = load<i32>(at);
    if (index == NIL) continue;
    noteTimer((passNow - deadlineOf(index)) * 1e6);
    release(index);
    store<i32>(at, NIL);
  }
}

@inline function takeBatch(): i32 {
  let count: i32 = 0;
  // `pass` first: the held timers of earlier passes (one millisecond's at most).
  while (count < TIMER_BATCH) {
    const index = headOf(PASS);
    if (index == NIL) break;
    unlink(index);
    if (deadlineOf(index) > passNow) hold(index);
    else count = toCell(index, count);
  }
  // Then `due`, walked from its head: the run taken is cut off the list
  // once, at the end, rather than unlinked entry by entry (a pass of many
  // timers is mostly this loop).
  let index = headOf(DUE);
  while (count < TIMER_BATCH && index != NIL) {
    const next = nextOf(index);
    if (deadlineOf(index) > passNow) {
      cutDue(index);
      unlink(index);
      hold(index);
    } else {
      count = toCell(index, count);
    }
    index = next;
  }
  cutDue(index);
  batchCount = count;
  return count;
}

/** `due` begins at `index` (NIL: empty): the entries before it were taken. */
@inline function cutDue(index: i32): void {
  setHead(DUE, index);
  if (index == NIL) setTail(DUE, NIL);
  else setPrev(index, NIL);
}

/** Puts a due entry in the batch's next cell, pending; returns the cells filled. */
@inline function toCell(index: i32, count: i32): i32 {
  store<i32>(timerBatchBase + (<usize>count << 2), index);
  const entry = entryAt(index);
  store<i32>(entry, count, 12);
  store<i32>(entry, BATCH, 20);
  return count + 1;
}

@inline function endBatch(done: i32): void {
  const count = batchCount;
  const ran = done < 0 ? 0 : done < count ? done : count;
  // Fired timers are counted by runs of one deadline (timers due together
  // share it): one histogram update per run instead of one per timer.
  let deadline: f64 = NaN;
  let alike: i32 = 0;
  for (let cell = 0; cell < ran; cell++) {
    const index = load<i32>(timerBatchBase + (<usize>cell << 2));
    if (index == NIL) continue;
    const own = deadlineOf(index);
    if (own != deadline) {
      if (alike > 0) noteTimers((passNow - deadline) * 1e6, alike);
      deadline = own;
      alike = 0;
    }
    alike++;
    release(index);
  }
  if (alike > 0) noteTimers((passNow - deadline) * 1e6, alike);
  for (let cell = count - 1; cell >= ran; cell--) {
    const index = load<i32>(timerBatchBase + (<usize>cell << 2));
    if (index != NIL) prepend(PASS, index);
  }
  batchCount = 0;
}
