// The timer wheel: hierarchical, 1 ms ticks, shaped like tokio's time driver.
//
// The wheel counts ticks (integer ms) from 0; `elapsed` is the tick it has
// advanced to. Six levels of 64 slots; a slot at level L spans 64^L ticks:
//
//   level  slot spans    level spans
//   0      1 ms          64 ms
//   1      64 ms         4.1 s
//   2      4.1 s         4.4 min
//   3      4.4 min       4.7 h
//   4      4.7 h         12.4 days
//   5      12.4 days     2.18 years (2^36 ms: the wheel's range)
//
// A timer due at tick D sits at level levelFor(elapsed, D) = the highest bit in
// which D and elapsed differ, divided by 6 (a difference only in the low six
// bits counts as level 0), and at slot slotFor(D, level). Each (level, slot)
// is a doubly linked FIFO list, with one occupied bit per slot, so the next
// busy slot of a level is one rotate and one count-trailing-zeros.
//
// Position is a function of (elapsed, D) alone: while `elapsed` moves towards
// a slot's start, the bits that chose the level do not change, and the slot is
// emptied (its timers fire or cascade to lower levels) the moment `elapsed`
// reaches its start. So every timer due at the same tick is in one list, in
// insertion order, which is why equal deadlines fire in insertion order with
// no sequence number stored: cascading appends a slot's timers to lists that
// hold no timer of the same deadline yet.
//
// Deadlines are clamped to elapsed + MAX_TIMER_DELAY_MS (2^36 - 1 ms, about
// 2.18 years): a longer delay fires at the clamp. At the top level a deadline
// may be in the next turn of the level (its bits above bit 35 differ from
// elapsed's), so its slot may be at or behind elapsed's: the next-slot search
// starts one past elapsed's slot and treats a slot it wraps onto as next turn.
//
// The wheel's lists and entries (the entry layout, the other four lists:
// overdue, due, held, pass) are in assembly/timer-entries.ts; the exact way
// out, passes and the batches the host takes them in, in
// assembly/timer-batch.ts.
//
// Two ways in and out, over the same entries and lists:
//   by the tick:  timerInsert rounds a deadline up to its tick (ceil), and
//                 timerTakeDue hands out `due` in order. Never early, to the
//                 millisecond.
//   exact:        timerSchedule keeps the deadline as given and files it
//                 under the millisecond it falls in (floor); timerNext hands
//                 out `pass`, then `due`, holding back what is due only by
//                 the millisecond. Never early, to the clock's precision.
//                 This is what the host uses.

import { maxTimers } from './layout';
import {
  allocate,
  append,
  deadlineOf,
  DUE,
  entryAt,
  headOf,
  heldEarliest,
  HELD,
  isLive,
  isPending,
  LEVEL_SLOTS,
  nextOf,
  NIL,
  occupiedAt,
  OVERDUE,
  release,
  resetEntries,
  setHead,
  setOccupied,
  setTail,
  setUnref,
  SLOT_BITS,
  tickOf,
  timerIndexBits,
  unlink,
  WHEEL_LEVELS,
} from './timer-entries';
import { beginPass, detach, passEarliest, resetPass } from './timer-batch';

const SLOT_MASK: u64 = <u64>(LEVEL_SLOTS - 1);
/** 2^(6 × 6) ticks: one turn of the top level. */
const WHEEL_RANGE: u64 = 1 << (<u64>SLOT_BITS * <u64>WHEEL_LEVELS);
const MAX_DELAY: u64 = WHEEL_RANGE - 1;
/** The longest delay, in ms (about 2.18 years); longer ones are clamped to it. */
export const MAX_TIMER_DELAY_MS: f64 = <f64>MAX_DELAY;
/** timerInsert's answer when all maxTimers entries are in use. */
export const ERR_TIMERS_FULL: i32 = -5;

// The host's clock is capped here (2^52 ms, 142,000 years) so that ticks stay
// exact in an f64 and elapsed + MAX_DELAY cannot overflow.
const CLOCK_LIMIT: f64 = 4503599627370496;

let elapsed: u64 = 0;

// ---- pure placement ---------------------------------------------------------------

/** The level a timer due at `when` belongs to while the wheel is at `elapsed`. */
export function levelFor(elapsed: u64, when: u64): i32 {
  // The low bits are set so a difference within one level-0 turn is level 0.
  let masked = (elapsed ^ when) | SLOT_MASK;
  if (masked >= WHEEL_RANGE) masked = WHEEL_RANGE - 1;
  const significant = 63 - <i32>clz(masked);
  return significant / SLOT_BITS;
}

/** The slot of `level` that holds a timer due at `when`. */
export function slotFor(when: u64, level: i32): i32 {
  return <i32>((when >> (<u64>(SLOT_BITS * level))) & SLOT_MASK);
}

/**
 * Files a timer due at `deadline` in the wheel under its tick, or in overdue.
 * A tick beyond the wheel's range (only an exact deadline can be: the host's
 * clock runs ahead of `elapsed`) is filed at the range's end; when that slot
 * is emptied the timer is not due yet and is filed again, at its own tick.
 */
function place(index: i32, deadline: f64): void {
  store<f64>(entryAt(index), deadline, 0);
  let when = <u64>deadline;
  if (when > elapsed && when - elapsed > MAX_DELAY) when = elapsed + MAX_DELAY;
  if (when <= elapsed) {
    append(OVERDUE, index);
    return;
  }
  const level = levelFor(elapsed, when);
  append((level << SLOT_BITS) + slotFor(when, level), index);
}

/**
 * The tick for a deadline in ms: rounded up so a timer never fires early, a
 * past (or NaN) deadline taken as `elapsed`, a far one clamped.
 */
function deadlineTick(deadlineMs: f64): u64 {
  const now = <f64>elapsed;
  if (!(deadlineMs > now)) return elapsed;
  if (deadlineMs - now >= MAX_TIMER_DELAY_MS) return elapsed + MAX_DELAY;
  return <u64>Math.ceil(deadlineMs);
}

/**
 * An exact deadline as stored: as given (a past one is kept: it is overdue,
 * and its lateness counts from it), NaN or a negative taken as `elapsed`,
 * and capped at CLOCK_LIMIT. It is not clamped to the wheel's range: place()
 * files a far one at the range's end, and it is filed again from there.
 */
function exactDeadline(deadlineMs: f64): f64 {
  if (!(deadlineMs >= 0)) return <f64>elapsed;
  return deadlineMs < CLOCK_LIMIT ? deadlineMs : CLOCK_LIMIT;
}

/** Where the next busy slot of `level` starts; the level must have one. */
function nextSlotStart(level: i32): u64 {
  const shift = <u64>(SLOT_BITS * level);
  const current = <i32>((elapsed >> shift) & SLOT_MASK);
  // Elapsed's own slot is searched last: if busy, it holds next turn's timers.
  const from = (current + 1) & (LEVEL_SLOTS - 1);
  const slot = (from + <i32>ctz(rotr(occupiedAt(level), <u64>from))) & (LEVEL_SLOTS - 1);
  const levelRange: u64 = <u64>1 << (shift + <u64>SLOT_BITS);
  let start = (elapsed & ~(levelRange - 1)) + (<u64>slot << shift);
  if (slot <= current) start += levelRange;
  return start;
}

/** Where earliestLevel's slot starts. */
let earliestStart: u64 = 0;

/**
 * The level whose next busy slot starts first (the lowest on ties), with its
 * start in `earliestStart`; -1 when the wheel is empty.
 */
function earliestLevel(): i32 {
  let best: i32 = -1;
  for (let level = 0; level < WHEEL_LEVELS; level++) {
    if (occupiedAt(level) == 0) continue;
    const start = nextSlotStart(level);
    if (best < 0 || start < earliestStart) {
      best = level;
      earliestStart = start;
    }
  }
  return best;
}

/**
 * Empties the next busy slot of `level`, which starts at `elapsed`: timers due
 * now go to `due`, the rest cascade to lower levels, in list order. Returns
 * how many became due.
 */
function drainSlot(level: i32): i32 {
  const list = (level << SLOT_BITS) + slotFor(elapsed, level);
  let index = headOf(list);
  setHead(list, NIL);
  setTail(list, NIL);
  setOccupied(level, occupiedAt(level) & ~(<u64>1 << <u64>(list & (LEVEL_SLOTS - 1))));
  let fired: i32 = 0;
  while (index != NIL) {
    const next = nextOf(index);
    if (tickOf(index) == elapsed) {
      append(DUE, index);
      fired++;
    } else {
      place(index, deadlineOf(index));
    }
    index = next;
  }
  return fired;
}

// ---- exports --------------------------------------------------------------------

/** Empties the wheel; called by `configure`. */
export function resetTimers(): void {
  resetEntries();
  resetPass();
  elapsed = 0;
}

/** Adds a timer due at `deadlineMs`; its entry index, or ERR_TIMERS_FULL. */
export function timerInsert(deadlineMs: f64): i32 {
  const index = allocate();
  if (index == NIL) return ERR_TIMERS_FULL;
  place(index, <f64>deadlineTick(deadlineMs));
  return index;
}

/**
 * Adds a timer due at exactly `deadlineMs` (see exactDeadline), unref'd when
 * `unref` is not 0. Its handle, generation << timerIndexBits | index (an
 * integer below 2^53), or ERR_TIMERS_FULL. The index is the handle's low
 * timerIndexBits bits.
 */
export function timerSchedule(deadlineMs: f64, unref: i32): f64 {
  const index = allocate();
  if (index == NIL) return <f64>ERR_TIMERS_FULL;
  const generation = load<u32>(entryAt(index), 16);
  if (unref != 0) setUnref(index, true);
  place(index, exactDeadline(deadlineMs));
  return <f64>((<u64>generation << <u64>timerIndexBits) | <u64>index);
}

/** 1 when the timer was pending (in the wheel or due) and is now cancelled, else 0. */
export function timerCancel(index: i32, generation: u32): i32 {
  if (!isLive(index, generation)) return 0;
  detach(index);
  release(index);
  return 1;
}

/**
 * Moves a pending timer, even one already due but not yet taken, to a new
 * deadline, keeping its handle. It then fires after every timer of the same
 * deadline inserted before this call. 1, or 0 for a stale handle.
 */
export function timerReschedule(index: i32, generation: u32, deadlineMs: f64): i32 {
  if (!isLive(index, generation)) return 0;
  detach(index);
  place(index, <f64>deadlineTick(deadlineMs));
  return 1;
}

/**
 * The host's side of its own entries, by index alone (the host knows which
 * entries are its live timers): cancel, move to an exact deadline (like
 * timerReschedule: it then fires after every timer of that deadline set
 * before the move), and set whether it holds the process. Each returns 1,
 * or 0 when the entry is not pending.
 */
export function timerRemove(index: i32): i32 {
  if (!isPending(index)) return 0;
  detach(index);
  release(index);
  return 1;
}

export function timerMove(index: i32, deadlineMs: f64): i32 {
  if (!isPending(index)) return 0;
  detach(index);
  place(index, exactDeadline(deadlineMs));
  return 1;
}

export function timerSetRef(index: i32, ref: i32): i32 {
  if (!isPending(index)) return 0;
  setUnref(index, ref == 0);
  return 1;
}

/**
 * Advances the wheel to floor(nowMs) and appends every timer due by then to
 * `due`, in deadline order, equal deadlines in insertion order. A `nowMs`
 * behind the wheel does nothing. Bounded: each pass of the loop empties one
 * busy slot, and a timer is moved at most once per level.
 */
export function timerExpire(nowMs: f64): i32 {
  if (!(nowMs >= <f64>elapsed)) return 0;
  const now: u64 = nowMs >= CLOCK_LIMIT ? <u64>CLOCK_LIMIT : <u64>Math.floor(nowMs);
  beginPass(nowMs);
  let moved: i32 = 0;
  let index = headOf(OVERDUE);
  setHead(OVERDUE, NIL);
  setTail(OVERDUE, NIL);
  while (index != NIL) {
    const next = nextOf(index);
    append(DUE, index);
    moved++;
    index = next;
  }
  while (true) {
    const level = earliestLevel();
    if (level < 0 || earliestStart > now) break;
    elapsed = earliestStart;
    moved += drainSlot(level);
  }
  elapsed = now;
  return moved;
}

/** The deadline tick of the timer timerTakeDue last returned (for lateness metrics). */
let takenDeadline: u64 = 0;

/** Pops the next due timer: its index (its handle is now stale), or -1. */
export function timerTakeDue(): i32 {
  const index = headOf(DUE);
  if (index == NIL) return -1;
  takenDeadline = tickOf(index);
  unlink(index);
  release(index);
  return index;
}

export function timerTakenDeadline(): f64 {
  return <f64>takenDeadline;
}

/**
 * The tick the host should wake at, or -1 when no timer is pending: `elapsed`
 * when timers are due or overdue, else the start of the earliest busy slot,
 * or the exact deadline of a held timer when that is sooner.
 * For a level-0 slot that is the exact deadline; for a higher level it may be
 * earlier than the deadline (the slot start), never later: the host wakes,
 * calls timerExpire, which cascades the slot, and asks again. O(levels).
 */
export function timerNextDeadline(): f64 {
  if (headOf(DUE) != NIL || headOf(OVERDUE) != NIL) return <f64>elapsed;
  let next: f64 = earliestLevel() < 0 ? -1 : <f64>earliestStart;
  if (headOf(HELD) != NIL) {
    const held = heldEarliest();
    if (next < 0 || held < next) next = held;
  }
  // Left by a pass cut short; those due by the pass's time are due now.
  const pass = passEarliest();
  if (pass == -Infinity) return <f64>elapsed;
  if (pass != Infinity && (next < 0 || pass < next)) next = pass;
  return next;
}
