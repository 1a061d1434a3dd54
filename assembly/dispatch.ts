// Dispatch: turns one batch of kernel events into records for the host.
//
// Cost: O(events). Per event, one registry lookup and up to three stores;
// nothing is allocated. Events whose registration is gone (fd removed, or
// removed and its number registered again since) are dropped here, by
// comparing the generation the kernel carried back with the registry's.

import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP } from './events';
import { eventDataOffset, eventsBase, eventStride, maxFds } from './layout';
import {
  appendRecord,
  KIND_ACCEPT,
  KIND_ERROR,
  KIND_HANGUP,
  KIND_NODE,
  KIND_READ,
  KIND_WRITE,
  recordsInBatch,
  startBatch,
} from './records';
import { generationAt, maskAt, ROLE_CLIENT, ROLE_NONE, ROLE_SERVER, roleAt, setPending, slotOf } from './registry';

let eventsSeen: u64 = 0;
let staleEvents: u64 = 0;

export function eventsTotal(): f64 {
  return <f64>eventsSeen;
}

export function staleTotal(): f64 {
  return <f64>staleEvents;
}

/** Reads `count` events from the events region; returns the records written. */
export function dispatch(count: i32): i32 {
  startBatch();
  eventsSeen += <u64>count;
  for (let i = 0; i < count; i++) {
    const event = eventsBase + <usize>i * eventStride;
    const bits = load<u32>(event);
    const data = load<u64>(event + eventDataOffset);
    const fd = <i32>(data & 0xffffffff);
    const gen = <u32>(data >>> 32);
    if (<u32>fd >= <u32>maxFds) {
      staleEvents++;
      continue;
    }
    const slot = slotOf(fd);
    const role = roleAt(slot);
    if (role == ROLE_NONE || generationAt(slot) != gen) {
      staleEvents++;
      continue;
    }
    const first = recordsInBatch();
    if (role == ROLE_CLIENT) {
      clientRecords(fd, gen, bits, maskAt(slot));
    } else if (role == ROLE_SERVER) {
      // An error on a listening socket is reported by accept() itself.
      if (bits & (EPOLLIN | EPOLLERR | EPOLLHUP)) appendRecord(KIND_ACCEPT, fd, gen, bits);
    } else {
      appendRecord(KIND_NODE, fd, gen, bits);
    }
    setPending(slot, first, recordsInBatch() - first);
  }
  return recordsInBatch();
}

// The order within one fd: read, then write, then hang-up or error. Readable
// data goes first so nothing the peer sent before closing is lost; once the
// connection is dead (ERR or HUP) a write could only fail, so it is skipped.
function clientRecords(fd: i32, gen: u32, bits: u32, mask: u32): void {
  const dead = bits & (EPOLLERR | EPOLLHUP);
  if (bits & mask & EPOLLIN) appendRecord(KIND_READ, fd, gen, bits);
  if (!dead && bits & mask & EPOLLOUT) appendRecord(KIND_WRITE, fd, gen, bits);
  if (bits & EPOLLERR) {
    appendRecord(KIND_ERROR, fd, gen, bits);
  } else if (bits & EPOLLHUP || bits & mask & EPOLLRDHUP) {
    appendRecord(KIND_HANGUP, fd, gen, bits);
  }
}
