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
// Besides the wheel's 384 lists there are four more:
//   overdue: timers inserted with a deadline at or before `elapsed`; they
//            move to `due` on the next timerExpire, ahead of the wheel's.
//   due:     expired timers, in firing order, until the host takes them.
//   held:    timers timerNext found due by the millisecond but not yet by
//            the exact deadline (10.5 at 10.2): they wait here, keeping
//            their entry and handle, until a later pass.
//   pass:    the held timers a pass looks at first: timerExpire moves all of
//            `held` here (after what a pass cut short left).
// Taking from `due` never refills it, so a timer inserted while the host
// drains it (even one already overdue) waits for the next timerExpire.
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
//             PASS) or FREE; cancelling needs it to fix the list's head, tail
//             and bit in O(1).
// next:       also links the free list.
//
// The list heads and tails and the occupied bits are static data (3 KB), not
// part of the sized region. Nothing here allocates.

import { maxTimers, timersBase, TIMER_ENTRY_BYTES } from './layout';
import { noteTimer } from './metrics';

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
const HELD: i32 = DUE + 1;
const PASS: i32 = HELD + 1;
const LIST_COUNT: i32 = PASS + 1;
/** In the batch region: not a list of its own (no head, tail or links kept). */
const BATCH: i32 = LIST_COUNT;
const FREE: i32 = -1;
const NIL: i32 = -1;
const GENERATION_MASK: u32 = (1 << 29) - 1;
const UNREF: u32 = 0x80000000;

// Per list: head i32, tail i32. Per level: the occupied bits, a u64.
const lists = memory.data(LIST_COUNT * 8, 8);
const occupied = memory.data(WHEEL_LEVELS * 8, 8);

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

let elapsed: u64 = 0;
let live: i32 = 0;
/** Live timers with UNREF set. */
let unrefLive: i32 = 0;
/** The time of the pass timerExpire began: timerNext holds back what is due after it. */
let passNow: f64 = 0;
/** The earliest deadline in `held`, when heldMinKnown (else found by a scan). */
let heldMin: f64 = Infinity;
let heldMinKnown: bool = true;
/** A handle is generation << timerIndexBits | index: the bits maxTimers - 1 needs (at least 1). */
export let timerIndexBits: i32 = 1;
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
@inline function deadlineOf(index: i32): f64 {
  return load<f64>(entryAt(index), 0);
}
/** The tick a timer belongs to: the millisecond its deadline falls in. */
@inline function tickOf(index: i32): u64 {
  return <u64>deadlineOf(index);
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
  return load<u32>(entryAt(index), 16) & GENERATION_MASK;
}
@inline function isUnref(index: i32): bool {
  return (load<u32>(entryAt(index), 16) & UNREF) != 0;
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
  if (list == HELD) {
    if (headOf(HELD) == NIL) {
      heldMin = Infinity;
      heldMinKnown = true;
    } else if (deadlineOf(index) <= heldMin) {
      heldMinKnown = false;
    }
  }
}

/** Holds back a timer due by the millisecond, not yet by its exact deadline. */
function hold(index: i32): void {
  const deadline = deadlineOf(index);
  if (headOf(HELD) == NIL) {
    heldMin = deadline;
    heldMinKnown = true;
  } else if (heldMinKnown && deadline < heldMin) {
    heldMin = deadline;
  }
  append(HELD, index);
}

/** The earliest deadline in `list`, by a scan (held and pass lists are short: one millisecond's timers). */
function earliestIn(list: i32): f64 {
  let earliest: f64 = Infinity;
  for (let index = headOf(list); index != NIL; index = nextOf(index)) {
    const deadline = deadlineOf(index);
    if (deadline < earliest) earliest = deadline;
  }
  return earliest;
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
 * Takes a pending entry out of wherever it is: its list, or its batch cell
 * (the host then skips the cell: the timer was cancelled or moved before
 * its turn came).
 */
function detach(index: i32): void {
  if (listOf(index) == BATCH) store<i32>(timerBatchBase + (<usize>prevOf(index) << 2), NIL);
  else unlink(index);
}

/** Puts `index` at the head of `list` (not a wheel list: no occupied bit). */
function prepend(list: i32, index: i32): void {
  const head = headOf(list);
  const entry = entryAt(index);
  store<i32>(entry, head, 8);
  store<i32>(entry, NIL, 12);
  store<i32>(entry, list, 20);
  if (head == NIL) setTail(list, index);
  else setPrev(head, index);
  setHead(list, index);
}

function release(index: i32): void {
  const entry = entryAt(index);
  const word = load<u32>(entry, 16);
  if ((word & UNREF) != 0) unrefLive--;
  store<u32>(entry, ((word & GENERATION_MASK) + 1) & GENERATION_MASK, 16);
  store<i32>(entry, FREE, 20);
  store<i32>(entry, freeHead, 8);
  freeHead = index;
  live--;
}

@inline function isLive(index: i32, generation: u32): bool {
  return <u32>index < <u32>neverUsed && listOf(index) != FREE && generationAt(index) == generation;
}

@inline function isPending(index: i32): bool {
  return <u32>index < <u32>neverUsed && listOf(index) != FREE;
}

/** An entry off the free list (or never used), counted live; NIL when every entry is in use. */
function allocate(): i32 {
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
  memory.fill(lists, 0xff, <usize>LIST_COUNT * 8); // every head and tail NIL
  memory.fill(occupied, 0, <usize>WHEEL_LEVELS * 8);
  elapsed = 0;
  live = 0;
  unrefLive = 0;
  passNow = 0;
  heldMin = Infinity;
  heldMinKnown = true;
  freeHead = NIL;
  neverUsed = 0;
  batchCount = 0;
  timerIndexBits = maxTimers > 2 ? 32 - <i32>clz(<u32>(maxTimers - 1)) : 1;
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
  const entry = entryAt(index);
  const generation = load<u32>(entry, 16);
  if (unref != 0) {
    store<u32>(entry, generation | UNREF, 16);
    unrefLive++;
  }
  place(index, exactDeadline(deadlineMs));
  return <f64>((<u64>generation << <u64>timerIndexBits) | <u64>index);
}

/** The generation that pairs with `index` in a handle (0 for an index never used). */
export function timerGeneration(index: i32): u32 {
  return <u32>index < <u32>neverUsed ? generationAt(index) : 0;
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
  const entry = entryAt(index);
  const word = load<u32>(entry, 16);
  const unref = ref == 0;
  if (unref != ((word & UNREF) != 0)) {
    store<u32>(entry, unref ? word | UNREF : word & ~UNREF, 16);
    unrefLive += unref ? 1 : -1;
  }
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
  // A new pass at nowMs: the held timers are looked at first, after any a
  // pass cut short did not reach.
  passNow = nowMs;
  splice(HELD, PASS);
  heldMin = Infinity;
  heldMinKnown = true;
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
  while (count < TIMER_BATCH) {
    let index = headOf(PASS);
    if (index == NIL) index = headOf(DUE);
    if (index == NIL) break;
    unlink(index);
    if (deadlineOf(index) > passNow) {
      hold(index);
      continue;
    }
    store<i32>(timerBatchBase + (<usize>count << 2), index);
    const entry = entryAt(index);
    store<i32>(entry, count, 12);
    store<i32>(entry, BATCH, 20);
    count++;
  }
  batchCount = count;
  return count;
}

@inline function endBatch(done: i32): void {
  const count = batchCount;
  const ran = done < 0 ? 0 : done < count ? done : count;
  for (let cell = 0; cell < ran; cell++) {
    const index = load<i32>(timerBatchBase + (<usize>cell << 2));
    if (index == NIL) continue;
    noteTimer((passNow - deadlineOf(index)) * 1e6);
    release(index);
  }
  for (let cell = count - 1; cell >= ran; cell--) {
    const index = load<i32>(timerBatchBase + (<usize>cell << 2));
    if (index != NIL) prepend(PASS, index);
  }
  batchCount = 0;
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
    if (!heldMinKnown) {
      heldMin = earliestIn(HELD);
      heldMinKnown = true;
    }
    if (next < 0 || heldMin < next) next = heldMin;
  }
  // Left by a pass cut short: rare, and a scan. Those due by the pass's
  // time are due now.
  if (headOf(PASS) != NIL) {
    const pass = earliestIn(PASS);
    if (pass <= passNow) return <f64>elapsed;
    if (next < 0 || pass < next) next = pass;
  }
  return next;
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
