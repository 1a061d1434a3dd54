// The timer wheel's entries and lists: the storage under assembly/timers.ts
// (the wheel: where a timer is filed, and when it becomes due) and
// assembly/timer-batch.ts (the exact way out: held timers, passes, batches).
//
// Entries (the layout's timers region), TIMER_ENTRY_BYTES each:
//
//   0            8       12      16           20       24
//   ┌────────────┬───────┬───────┬────────────┬────────┐
//   │ deadline   │ next  │ prev  │ generation │ list   │
//   │ f64 ms     │ i32   │ i32   │ u32        │ i32    │
//   └────────────┴───────┴───────┴────────────┴────────┘
//
// deadline:   the exact deadline; the timer belongs to tick floor(deadline).
//             Exact in an f64 for every tick the clock can reach (CLOCK_LIMIT).
// generation: bumped when the timer fires (is taken) or is cancelled, so the
//             host's handle goes stale at once. Kept below 2^29 so that a
//             handle (generation << timerIndexBits | index) is an integer an
//             f64 holds exactly. Bit 31 is UNREF: the timer does not hold
//             the host's process (timerUnrefCount counts them).
// list:       which list holds it (level * 64 + slot, OVERDUE, DUE, HELD,
//             PASS), BATCH (then `prev` is its batch cell) or FREE;
//             cancelling needs it to fix the list's head, tail and bit in O(1).
// next:       also links the free list.
//
// Each list is doubly linked and FIFO. Besides the wheel's 384 there are four:
//   overdue: timers inserted with a deadline at or before `elapsed`; they
//            move to `due` on the next timerExpire, ahead of the wheel's.
//   due:     expired timers, in firing order, until the host takes them.
//   held:    timers timerNext found due by the millisecond but not yet by
//            the exact deadline (10.5 at 10.2): they wait here, keeping
//            their entry and handle, until a later pass.
//   pass:    the held timers a pass looks at first: timerExpire moves all of
//            `held` here (after what a pass cut short left).
//
// The list heads and tails and the occupied bits are static data (3 KB), not
// part of the sized region. Nothing here allocates.

import { maxTimers, timersBase, TIMER_ENTRY_BYTES } from './layout';

export const SLOT_BITS: i32 = 6;
export const LEVEL_SLOTS: i32 = 1 << SLOT_BITS;
export const WHEEL_LEVELS: i32 = 6;

export const OVERDUE: i32 = WHEEL_LEVELS * LEVEL_SLOTS;
export const DUE: i32 = OVERDUE + 1;
export const HELD: i32 = DUE + 1;
export const PASS: i32 = HELD + 1;
const LIST_COUNT: i32 = PASS + 1;
/** In the batch region: not a list of its own (no head, tail or links kept). */
export const BATCH: i32 = LIST_COUNT;
const FREE: i32 = -1;
export const NIL: i32 = -1;
const GENERATION_MASK: u32 = (1 << 29) - 1;
const UNREF: u32 = 0x80000000;

// Per list: head i32, tail i32. Per level: the occupied bits, a u64.
const lists = memory.data(LIST_COUNT * 8, 8);
const occupied = memory.data(WHEEL_LEVELS * 8, 8);

let live: i32 = 0;
/** Live timers with UNREF set. */
let unrefLive: i32 = 0;
/** The earliest deadline in `held`, when heldMinKnown (else found by a scan). */
let heldMin: f64 = Infinity;
let heldMinKnown: bool = true;
/** A handle is generation << timerIndexBits | index: the bits maxTimers - 1 needs (at least 1). */
export let timerIndexBits: i32 = 1;
let freeHead: i32 = NIL;
/** Entries from here to maxTimers have never been used: no O(maxTimers) set-up. */
let neverUsed: i32 = 0;

/** Every list empty, every entry free; called by resetTimers. */
export function resetEntries(): void {
  memory.fill(lists, 0xff, <usize>LIST_COUNT * 8); // every head and tail NIL
  memory.fill(occupied, 0, <usize>WHEEL_LEVELS * 8);
  live = 0;
  unrefLive = 0;
  heldMin = Infinity;
  heldMinKnown = true;
  freeHead = NIL;
  neverUsed = 0;
  timerIndexBits = maxTimers > 2 ? 32 - <i32>clz(<u32>(maxTimers - 1)) : 1;
}

// ---- one entry -----------------------------------------------------------------

@inline export function entryAt(index: i32): usize {
  return timersBase + <usize>index * TIMER_ENTRY_BYTES;
}
@inline export function deadlineOf(index: i32): f64 {
  return load<f64>(entryAt(index), 0);
}
/** The tick a timer belongs to: the millisecond its deadline falls in. */
@inline export function tickOf(index: i32): u64 {
  return <u64>deadlineOf(index);
}
@inline export function nextOf(index: i32): i32 {
  return load<i32>(entryAt(index), 8);
}
@inline function setNext(index: i32, next: i32): void {
  store<i32>(entryAt(index), next, 8);
}
@inline export function prevOf(index: i32): i32 {
  return load<i32>(entryAt(index), 12);
}
@inline export function setPrev(index: i32, prev: i32): void {
  store<i32>(entryAt(index), prev, 12);
}
@inline export function generationAt(index: i32): u32 {
  return load<u32>(entryAt(index), 16) & GENERATION_MASK;
}
@inline export function listOf(index: i32): i32 {
  return load<i32>(entryAt(index), 20);
}

// ---- lists ---------------------------------------------------------------------

@inline export function headOf(list: i32): i32 {
  return load<i32>(lists + (<usize>list << 3), 0);
}
@inline export function tailOf(list: i32): i32 {
  return load<i32>(lists + (<usize>list << 3), 4);
}
@inline export function setHead(list: i32, index: i32): void {
  store<i32>(lists + (<usize>list << 3), index, 0);
}
@inline export function setTail(list: i32, index: i32): void {
  store<i32>(lists + (<usize>list << 3), index, 4);
}
@inline export function occupiedAt(level: i32): u64 {
  return load<u64>(occupied + (<usize>level << 3));
}
@inline export function setOccupied(level: i32, bits: u64): void {
  store<u64>(occupied + (<usize>level << 3), bits);
}

export function append(list: i32, index: i32): void {
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

export function unlink(index: i32): void {
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
  if (list == HELD) {
    if (headOf(HELD) == NIL) {
      heldMin = Infinity;
      heldMinKnown = true;
    } else if (deadlineOf(index) <= heldMin) {
      heldMinKnown = false;
    }
  }
}

/** Puts `index` at the head of `list` (not a wheel list: no occupied bit). */
export function prepend(list: i32, index: i32): void {
  const head = headOf(list);
  const entry = entryAt(index);
  store<i32>(entry, head, 8);
  store<i32>(entry, NIL, 12);
  store<i32>(entry, list, 20);
  if (head == NIL) setTail(list, index);
  else setPrev(head, index);
  setHead(list, index);
}

/** Appends all of `from` to `to`, in order: O(length of `from`), each entry relabelled. */
function splice(from: i32, to: i32): void {
  const head = headOf(from);
  if (head == NIL) return;
  const tail = tailOf(from);
  for (let index = head; index != NIL; index = nextOf(index)) store<i32>(entryAt(index), to, 20);
  const last = tailOf(to);
  if (last == NIL) setHead(to, head);
  else {
    setNext(last, head);
    setPrev(head, last);
  }
  setTail(to, tail);
  setHead(from, NIL);
  setTail(from, NIL);
}

/** The earliest deadline in `list`, by a scan (held and pass lists are short: one millisecond's timers). */
export function earliestIn(list: i32): f64 {
  let earliest: f64 = Infinity;
  for (let index = headOf(list); index != NIL; index = nextOf(index)) {
    const deadline = deadlineOf(index);
    if (deadline < earliest) earliest = deadline;
  }
  return earliest;
}

// ---- the held list -------------------------------------------------------------

/** Holds back a timer due by the millisecond, not yet by its exact deadline. */
export function hold(index: i32): void {
  const deadline = deadlineOf(index);
  if (headOf(HELD) == NIL) {
    heldMin = deadline;
    heldMinKnown = true;
  } else if (heldMinKnown && deadline < heldMin) {
    heldMin = deadline;
  }
  append(HELD, index);
}

/** Moves every held timer to the end of `pass`, for a new pass to look at first. */
export function passHeld(): void {
  splice(HELD, PASS);
  heldMin = Infinity;
  heldMinKnown = true;
}

/** The earliest deadline of a held timer; `held` must not be empty. */
export function heldEarliest(): f64 {
  if (!heldMinKnown) {
    heldMin = earliestIn(HELD);
    heldMinKnown = true;
  }
  return heldMin;
}

// ---- allocation ----------------------------------------------------------------

/** An entry off the free list (or never used), counted live; NIL when every entry is in use. */
export function allocate(): i32 {
  let index = freeHead;
  if (index != NIL) {
    freeHead = nextOf(index);
  } else if (neverUsed < maxTimers) {
    index = neverUsed++;
    store<u32>(entryAt(index), 0, 16);
  } else {
    return NIL;
  }
  live++;
  return index;
}

export function release(index: i32): void {
  const entry = entryAt(index);
  const word = load<u32>(entry, 16);
  if ((word & UNREF) != 0) unrefLive--;
  store<u32>(entry, ((word & GENERATION_MASK) + 1) & GENERATION_MASK, 16);
  store<i32>(entry, FREE, 20);
  store<i32>(entry, freeHead, 8);
  freeHead = index;
  live--;
}

/** Sets whether a pending entry holds the host's process. */
export function setUnref(index: i32, unref: bool): void {
  const entry = entryAt(index);
  const word = load<u32>(entry, 16);
  if (unref != ((word & UNREF) != 0)) {
    store<u32>(entry, unref ? word | UNREF : word & ~UNREF, 16);
    unrefLive += unref ? 1 : -1;
  }
}

@inline export function isLive(index: i32, generation: u32): bool {
  return <u32>index < <u32>neverUsed && listOf(index) != FREE && generationAt(index) == generation;
}

@inline export function isPending(index: i32): bool {
  return <u32>index < <u32>neverUsed && listOf(index) != FREE;
}

/** The generation that pairs with `index` in a handle (0 for an index never used). */
export function timerGeneration(index: i32): u32 {
  return <u32>index < <u32>neverUsed ? generationAt(index) : 0;
}

/** Pending timers: in the wheel, overdue, due or held. */
export function timerCount(): i32 {
  return live;
}

/** Pending timers that do not hold the host's process (timerSchedule's unref, timerSetRef). */
export function timerUnrefCount(): i32 {
  return unrefLive;
}

export function timerCapacity(): i32 {
  return maxTimers;
}
