// Dispatch: turns one batch of kernel events into records for the host.
//
// Cost: O(events), in two passes: the first counts each priority's records,
// the second writes them where their priority's run begins, so the batch
// comes out ordered by priority and FIFO within one without a sort. Per
// event, one registry lookup and up to three stores; nothing is allocated.
// Events whose registration is gone (fd removed, or removed and its number
// registered again since) are dropped here, by comparing the generation the
// kernel carried back with the registry's.

import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP } from './events';
import { eventDataOffset, eventsBase, eventStride, maxFds } from './layout';
import { count, COUNTER_EVENTS, COUNTER_STALE } from './metrics';
import {
  appendRecord,
  KIND_ACCEPT,
  KIND_ERROR,
  KIND_HANGUP,
  KIND_NODE,
  KIND_READ,
  KIND_WRITE,
  nextRecord,
  seekRecord,
  startBatch,
} from './records';
import {
  disarm,
  flagsAt,
  generationAt,
  maskAt,
  ONESHOT,
  PRIORITIES,
  priorityOf,
  ROLE_CLIENT,
  ROLE_NODE,
  ROLE_NONE,
  ROLE_SERVER,
  roleAt,
  setPending,
  slotOf,
  WANT_HANGUP,
} from './registry';

// Kinds as bits, in the order an fd's records go out.
const K_WRITE: i32 = 1;
const K_READ: i32 = 2;
const K_ERROR: i32 = 4;
const K_HANGUP: i32 = 8;
const K_ACCEPT: i32 = 16;
const K_NODE: i32 = 32;

/** Where each priority's run of records begins (then: where it has got to). */
const runStart = memory.data(PRIORITIES * 4, 4);

/** The registry slot an event is for, or 0 when the event is stale. */
function liveSlot(event: usize): usize {
  const data = load<u64>(event + eventDataOffset);
  const fd = <i32>(data & 0xffffffff);
  if (<u32>fd >= <u32>maxFds) return 0;
  const slot = slotOf(fd);
  if (roleAt(slot) == ROLE_NONE || generationAt(slot) != <u32>(data >>> 32)) return 0;
  return slot;
}

// Which records one event yields, as K_* bits.
//
// The order within one fd: write, read, then error or hang-up. Queued output
// goes out before more input is read, so a connection's replies flush before
// it produces new ones (Redis's AE_BARRIER discusses the trade-off; the
// other order helps only when a reply could go out in the same turn, and the
// host already writes replies straight through when nothing is queued).
// Readable data goes before the hang-up or error, so nothing the peer sent
// before closing is lost. Once the connection is dead (ERR or HUP) a write
// could only fail, so it is skipped.
function kindsFor(role: i32, bits: u32, mask: u32, flags: i32): i32 {
  if (role == ROLE_SERVER) {
    // An error on a listening socket is reported by accept() itself.
    return bits & (EPOLLIN | EPOLLERR | EPOLLHUP) ? K_ACCEPT : 0;
  }
  if (role == ROLE_NODE) return K_NODE;
  let kinds: i32 = 0;
  const dead = bits & (EPOLLERR | EPOLLHUP);
  if (!dead && bits & mask & EPOLLOUT) kinds |= K_WRITE;
  if (bits & mask & EPOLLIN) kinds |= K_READ;
  if (bits & EPOLLERR) kinds |= K_ERROR;
  else if (bits & EPOLLHUP || bits & mask & EPOLLRDHUP) {
    // A watcher that did not ask for hang-ups still hears of a full one
    // (EPOLLHUP is always reported, and level-triggered it would repeat).
    if (role == ROLE_CLIENT || bits & EPOLLHUP || flags & WANT_HANGUP) kinds |= K_HANGUP;
  }
  return kinds;
}

/** Reads `count` events from the events region; returns the records written. */
export function dispatch(events: i32): i32 {
  count(COUNTER_EVENTS, <f64>events);
  for (let p = 0; p < PRIORITIES; p++) store<i32>(runStart + (<usize>p << 2), 0);
  let total: i32 = 0;
  let stale: i32 = 0;
  for (let i = 0; i < events; i++) {
    const event = eventsBase + <usize>i * eventStride;
    const slot = liveSlot(event);
    if (slot == 0) {
      stale++;
      continue;
    }
    const flags = flagsAt(slot);
    const n = <i32>popcnt(kindsFor(roleAt(slot), load<u32>(event), maskAt(slot), flags));
    const run = runStart + (<usize>priorityOf(flags) << 2);
    store<i32>(run, load<i32>(run) + n);
    total += n;
  }
  count(COUNTER_STALE, <f64>stale);
  // Counts to starting offsets.
  let at: i32 = 0;
  for (let p = 0; p < PRIORITIES; p++) {
    const run = runStart + (<usize>p << 2);
    const n = load<i32>(run);
    store<i32>(run, at);
    at += n;
  }
  startBatch(total);
  for (let i = 0; i < events; i++) {
    const event = eventsBase + <usize>i * eventStride;
    const slot = liveSlot(event);
    if (slot == 0) continue;
    const flags = flagsAt(slot);
    const bits = load<u32>(event);
    const kinds = kindsFor(roleAt(slot), bits, maskAt(slot), flags);
    if (kinds == 0) continue;
    const run = runStart + (<usize>priorityOf(flags) << 2);
    const first = load<i32>(run);
    seekRecord(first);
    const fd = <i32>(load<u64>(event + eventDataOffset) & 0xffffffff);
    const gen = generationAt(slot);
    if (kinds & K_WRITE) appendRecord(KIND_WRITE, fd, gen, bits);
    if (kinds & K_READ) appendRecord(KIND_READ, fd, gen, bits);
    if (kinds & K_ERROR) appendRecord(KIND_ERROR, fd, gen, bits);
    if (kinds & K_HANGUP) appendRecord(KIND_HANGUP, fd, gen, bits);
    if (kinds & K_ACCEPT) appendRecord(KIND_ACCEPT, fd, gen, bits);
    if (kinds & K_NODE) appendRecord(KIND_NODE, fd, gen, bits);
    store<i32>(run, nextRecord());
    setPending(slot, first, nextRecord() - first);
    if (flags & ONESHOT) disarm(slot);
  }
  return total;
}
