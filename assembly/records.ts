// Dispatch records: what the host must call, in order, one record per call.
//
//   0      4      8      12     16
//   ┌──────┬──────┬──────┬──────┐
//   │ kind │ fd   │ gen  │ bits │   four i32 words
//   └──────┴──────┴──────┴──────┘
//
// The core writes a batch of them in `dispatch`, ordered by priority (all of
// priority 0 first), FIFO within a priority, an fd's records side by side.
// The host reads them from the cursor on. While the host runs handlers, the
// core may still turn a record into KIND_DEAD (its fd was removed, or no
// longer wants that kind), and the host skips it: this is how no stale
// callback ever runs.
//
// The batch is also the pending list: when the host stops early (a callback
// or time budget ran out), it leaves the cursor where it stopped, and the
// rest of the batch is served next iteration before any new wait. Nothing
// is lost, edge-triggered or not.

import { recordsBase, RECORD_BYTES } from './layout';

export const KIND_DEAD: i32 = 0;
/** A listening socket is readable: accept. */
export const KIND_ACCEPT: i32 = 1;
export const KIND_READ: i32 = 2;
export const KIND_WRITE: i32 = 3;
/** The peer closed its side (EPOLLRDHUP) or the connection hung up (EPOLLHUP). */
export const KIND_HANGUP: i32 = 4;
/** EPOLLERR: the reason is in the socket's SO_ERROR. */
export const KIND_ERROR: i32 = 5;
/** Node's libuv backend fd is readable: Node has I/O to handle. */
export const KIND_NODE: i32 = 6;

/** Records written by the last dispatch; the host reads [cursor, batchRecords). */
let batchRecords: i32 = 0;
/** The first record the host has not yet handled. */
let cursor: i32 = 0;
/** Where the next record goes, while a batch is being written. */
let writeAt: i32 = 0;

export function recordsInBatch(): i32 {
  return batchRecords;
}

export function batchCursor(): i32 {
  return cursor;
}

/** The host handled records up to `at`. */
export function setBatchCursor(at: i32): void {
  cursor = min(max(at, 0), batchRecords);
}

/** Records of the batch not yet handled. */
export function pendingRecords(): i32 {
  return batchRecords - cursor;
}

/** Starts a batch of `total` records; appends go to `start` on. */
export function startBatch(total: i32): void {
  batchRecords = total;
  cursor = 0;
}

/** Directs the following appends to start at record `index`. */
export function seekRecord(index: i32): void {
  writeAt = index;
}

export function nextRecord(): i32 {
  return writeAt;
}

@inline export function recordAt(index: i32): usize {
  return recordsBase + <usize>index * RECORD_BYTES;
}

export function appendRecord(kind: i32, fd: i32, gen: u32, bits: u32): void {
  const record = recordAt(writeAt++);
  store<i32>(record, kind, 0);
  store<i32>(record, fd, 4);
  store<u32>(record, gen, 8);
  store<u32>(record, bits, 12);
}

/**
 * Cancels the records in [first, first + count) that belong to (fd, gen) and
 * whose kind bit is set in `kinds`. The range may be left over from an earlier
 * batch whose records were since overwritten, hence the ownership check.
 */
export function cancelRecords(first: i32, count: i32, fd: i32, gen: u32, kinds: i32): void {
  const end = min(first + count, batchRecords);
  for (let i = max(first, cursor); i < end; i++) {
    const record = recordAt(i);
    if (load<i32>(record, 4) != fd || load<u32>(record, 8) != gen) continue;
    if ((1 << load<i32>(record, 0)) & kinds) store<i32>(record, KIND_DEAD, 0);
  }
}
