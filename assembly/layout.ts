// The core's one linear memory, and who writes what in it.
//
// The host creates the memory with initial == maximum pages (sized by
// `layoutBytes`), so it never grows: the buffer never detaches and the native
// addon may keep its base pointer for the loop's life.
//
//   0             heapBase
//   ┌─────────────┬──────────────┬──────────────┬──────────────┬──────────────┐
//   │ static data │ events       │ records      │ registry     │ timers       │
//   │ (asc; the   │ maxEvents ×  │ maxRecords × │ maxFds × 16  │ maxTimers ×  │
//   │ wheel's     │ eventStride  │ 16           │              │ 24           │
//   │ list heads) │              │              │              │              │
//   └─────────────┴──────────────┴──────────────┴──────────────┴──────────────┘
//
//   region     written by                        read by
//   events     the native wait                   the core
//   records    the core (dispatch, unregister)   the host
//   registry   the core only                     the core
//   timers     the core only                     the core
//
// events:   the kernel's `struct epoll_event` array, as the native wait fills
//           it. Its stride and the offset of `data` come from the addon
//           (12 and 4 on x86-64, where the struct is packed).
// records:  what the host must do, in order: one per handler call.
// registry: one slot per fd number, indexed directly (as Redis's ae does):
//           O(1) lookups, and fd numbers are small and dense by POSIX rule.
// timers:   the timer wheel's entries (assembly/timer-entries.ts draws one); the
//           host holds (index, generation) handles into it, never pointers.

import { resetTimers } from './timers';

/** Every dispatch record is four i32 words. */
export const RECORD_WORDS: i32 = 4;
export const RECORD_BYTES: i32 = RECORD_WORDS * 4;
/** An event yields at most three records: read, write, hang-up or error. */
export const RECORDS_PER_EVENT: i32 = 3;
export const SLOT_BYTES: i32 = 16;
/** One timer: deadline, two links, generation, list (assembly/timer-entries.ts). */
export const TIMER_ENTRY_BYTES: i32 = 24;

// Set once by `configure`, before any other call.
export let maxFds: i32 = 0;
export let maxEvents: i32 = 0;
export let eventStride: i32 = 0;
export let eventDataOffset: i32 = 0;
export let eventsBase: usize = 0;
export let recordsBase: usize = 0;
export let registryBase: usize = 0;
export let maxTimers: i32 = 0;
export let timersBase: usize = 0;

@inline function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

// The regions, in order, each 16-byte aligned. Both functions below derive
// them from here, so the layout is written once.
@inline function eventsStart(): usize {
  return align16(__heap_base);
}
@inline function recordsStart(events: i32, stride: i32): usize {
  return align16(eventsStart() + <usize>events * <usize>stride);
}
@inline function registryStart(events: i32, stride: i32): usize {
  return align16(recordsStart(events, stride) + <usize>events * RECORDS_PER_EVENT * RECORD_BYTES);
}

@inline function timersStart(fds: i32, events: i32, stride: i32): usize {
  return align16(registryStart(events, stride) + <usize>fds * SLOT_BYTES);
}

/** Bytes of linear memory a loop with these capacities needs. Pure. */
export function layoutBytes(fds: i32, events: i32, stride: i32, timers: i32): usize {
  return timersStart(fds, events, stride) + <usize>timers * TIMER_ENTRY_BYTES;
}

/** Fixes the capacities and region offsets for this instance's life. */
export function configure(fds: i32, events: i32, stride: i32, dataOffset: i32, timers: i32): void {
  maxFds = fds;
  maxEvents = events;
  eventStride = stride;
  eventDataOffset = dataOffset;
  eventsBase = eventsStart();
  recordsBase = recordsStart(events, stride);
  registryBase = registryStart(events, stride);
  maxTimers = timers;
  timersBase = timersStart(fds, events, stride);
  // A fresh imported memory is zero-filled, which is the registry's empty
  // state; clear anyway so a reused memory cannot leak old registrations.
  memory.fill(registryBase, 0, <usize>fds * SLOT_BYTES);
  // Timer entries need no clearing: one is read only after it is handed out.
  resetTimers();
}
