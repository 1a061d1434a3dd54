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
// Besides the wheel's 384 lists there are two more:
//   overdue: timers inserted with a deadline at or before `elapsed`; they
//            move to `due` on the next timerExpire, ahead of the wheel's.
//   due:     expired timers, in firing order, until the host takes them.
// Taking from `due` never refills it, so a timer inserted while the host
// drains it (even one already overdue) waits for the next timerExpire.
//
// Entries (the layout's timers region), TIMER_ENTRY_BYTES each:
//
//   0            8       12      16           20       24
//   ┌────────────┬───────┬───────┬────────────┬────────┐
//   │ deadline   │ next  │ prev  │ generation │ list   │
//   │ u64 ticks  │ i32   │ i32   │ u32        │ i32    │
//   └────────────┴───────┴───────┴────────────┴────────┘
//
// generation: bumped when the timer fires (is taken) or is cancelled, so the
//             host's (index, generation) handle goes stale at once. Kept below
//             2^31 so it crosses to JS as a positive number.
// list:       which list holds it (level * 64 + slot, OVERDUE, DUE) or FREE;
//             cancelling needs it to fix the list's head, tail and bit in O(1).
// next:       also links the free list.
//
// The list heads and tails and the occupied bits are static data (3 KB), not
// part of the sized region. Nothing here allocates.

import { maxTimers, timersBase, TIMER_ENTRY_BYTES } from './layout';

const SLOT_BITS: i32 = 6;
const LEVEL_SLOTS: i32 = 1 << SLOT_BITS;
const SLOT_MASK: u64 = <u64>(LEVEL_SLOTS - 1);
export const WHEEL_LEVELS: i32 = 6;
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

const OVERDUE: i32 = WHEEL_LEVELS * LEVEL_SLOTS;
const DUE: i32 = OVERDUE + 1;
const LIST_COUNT: i32 = DUE + 1;
const FREE: i32 = -1;
const NIL: i32 = -1;
const GENERATION_MASK: u32 = 0x7fffffff;

// Per list: head i32, tail i32. Per level: the occupied bits, a u64.
const lists = memory.data(LIST_COUNT * 8, 8);
const occupied = memory.data(WHEEL_LEVELS * 8, 8);

let elapsed: u64 = 0;
let live: i32 = 0;
let freeHead: i32 = NIL;
/** Entries from here to maxTimers have never been used: no O(maxTimers) set-up. */
let neverUsed: i32 = 0;

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

// ---- entries and lists ----------------------------------------------------------

@inline function entryAt(index: i32): usize {
  return timersBase + <usize>index * TIMER_ENTRY_BYTES;
}
@inline function deadlineOf(index: i32): u64 {
  return load<u64>(entryAt(index), 0);
}
@inline function nextOf(index: i32): i32 {
  return load<i32>(entryAt(index), 8);
}
@inline function setNext(index: i32, next: i32): void {
  store<i32>(entryAt(index), next, 8);
}
@inline function prevOf(index: i32): i32 {
  return load<i32>(entryAt(index), 12);
}
@inline function setPrev(index: i32, prev: i32): void {
  store<i32>(entryAt(index), prev, 12);
}
@inline function generationAt(index: i32): u32 {
  return load<u32>(entryAt(index), 16);
}
@inline function listOf(index: i32): i32 {
  return load<i32>(entryAt(index), 20);
}

@inline function headOf(list: i32): i32 {
  return load<i32>(lists + (<usize>list << 3), 0);
}
@inline function tailOf(list: i32): i32 {
  return load<i32>(lists + (<usize>list << 3), 4);
}
@inline function setHead(list: i32, index: i32): void {
  store<i32>(lists + (<usize>list << 3), index, 0);
}
@inline function setTail(list: i32, index: i32): void {
  store<i32>(lists + (<usize>list << 3), index, 4);
}
@inline function occupiedAt(level: i32): u64 {
  return load<u64>(occupied + (<usize>level << 3));
}
@inline function setOccupied(level: i32, bits: u64): void {
  store<u64>(occupied + (<usize>level << 3), bits);
}

function append(list: i32, index: i32): void {
  const tail = tailOf(list);
  const entry = entryAt(index);
  store<i32>(entry, NIL, 8);
  store<i32>(entry, tail, 12);
  store<i32>(entry, list, 20);
  if (tail == NIL) {
    setHead(list, index);
    if (list < OVERDUE) {
      const level = list >> SLOT_BITS;
      setOccupied(level, occupiedAt(level) | (<u64>1 << <u64>(list & (LEVEL_SLOTS - 1))));
    }
  } else {
    setNext(tail, index);
  }
  setTail(list, index);
}

function unlink(index: i32): void {
  const list = listOf(index);
  const next = nextOf(index);
  const prev = prevOf(index);
  if (prev == NIL) setHead(list, next);
  else setNext(prev, next);
  if (next == NIL) setTail(list, prev);
  else setPrev(next, prev);
  if (prev == NIL && next == NIL && list < OVERDUE) {
    const level = list >> SLOT_BITS;
    setOccupied(level, occupiedAt(level) & ~(<u64>1 << <u64>(list & (LEVEL_SLOTS - 1))));
  }
}

/** Files a timer due at `when` (> elapsed) in the wheel, or in overdue. */
function place(index: i32, when: u64): void {
  store<u64>(entryAt(index), when, 0);
  if (when <= elapsed) {
    append(OVERDUE, index);
    return;
  }
  const level = levelFor(elapsed, when);
  append((level << SLOT_BITS) + slotFor(when, level), index);
}

function release(index: i32): void {
  const entry = entryAt(index);
  store<u32>(entry, (load<u32>(entry, 16) + 1) & GENERATION_MASK, 16);
  store<i32>(entry, FREE, 20);
  store<i32>(entry, freeHead, 8);
  freeHead = index;
  live--;
}

@inline function isLive(index: i32, generation: u32): bool {
  return <u32>index < <u32>neverUsed && listOf(index) != FREE && generationAt(index) == generation;
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
    const when = deadlineOf(index);
    if (when == elapsed) {
      append(DUE, index);
      fired++;
    } else {
      place(index, when);
    }
    index = next;
  }
  return fired;
}

// ---- exports --------------------------------------------------------------------

/** Empties the wheel; called by `configure`. */
export function resetTimers(): void {
  memory.fill(lists, 0xff, <usize>LIST_COUNT * 8); // every head and tail NIL
  memory.fill(occupied, 0, <usize>WHEEL_LEVELS * 8);
  elapsed = 0;
  live = 0;
  freeHead = NIL;
  neverUsed = 0;
}

/** Adds a timer due at `deadlineMs`; its entry index, or ERR_TIMERS_FULL. */
export function timerInsert(deadlineMs: f64): i32 {
  let index = freeHead;
  if (index != NIL) {
    freeHead = nextOf(index);
  } else if (neverUsed < maxTimers) {
    index = neverUsed++;
    store<u32>(entryAt(index), 0, 16);
  } else {
    return ERR_TIMERS_FULL;
  }
  live++;
  place(index, deadlineTick(deadlineMs));
  return index;
}

/** The generation that pairs with `index` in a handle (0 for an index never used). */
export function timerGeneration(index: i32): u32 {
  return <u32>index < <u32>neverUsed ? generationAt(index) : 0;
}

/** 1 when the timer was pending (in the wheel or due) and is now cancelled, else 0. */
export function timerCancel(index: i32, generation: u32): i32 {
  if (!isLive(index, generation)) return 0;
  unlink(index);
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
  unlink(index);
  place(index, deadlineTick(deadlineMs));
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
  takenDeadline = deadlineOf(index);
  unlink(index);
  release(index);
  return index;
}

export function timerTakenDeadline(): f64 {
  return <f64>takenDeadline;
}

/**
 * The tick the host should wake at, or -1 when no timer is pending: `elapsed`
 * when timers are due or overdue, else the start of the earliest busy slot.
 * For a level-0 slot that is the exact deadline; for a higher level it may be
 * earlier than the deadline (the slot start), never later: the host wakes,
 * calls timerExpire, which cascades the slot, and asks again. O(levels).
 */
export function timerNextDeadline(): f64 {
  if (headOf(DUE) != NIL || headOf(OVERDUE) != NIL) return <f64>elapsed;
  return earliestLevel() < 0 ? -1 : <f64>earliestStart;
}

/** Pending timers: in the wheel, overdue or due. */
export function timerCount(): i32 {
  return live;
}

export function timerCapacity(): i32 {
  return maxTimers;
}
