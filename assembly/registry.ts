// The fd registry: one 16-byte slot per fd number.
//
//   0       4          8      9       10            12           16
//   ┌───────┬──────────┬──────┬───────┬─────────────┬────────────┐
//   │ gen   │ epoll    │ role │ flags │ pending     │ first      │
//   │ u32   │ mask u32 │ u8   │ u8    │ count u16   │ record i32 │
//   └───────┴──────────┴──────┴───────┴─────────────┴────────────┘
//
// flags:   bit 0 WANT_READ, 1 WANT_WRITE, 2 EDGE_TRIGGERED, 3 WANT_HANGUP,
//          4 ONESHOT, 5-6 the priority (0 highest).
//
// gen:     bumped on every registration and carried in the kernel event's
//          data, so an event meant for an earlier use of the same fd number
//          is recognised and dropped. Kept below 2^31 so it crosses to JS as
//          a positive i32.
// mask:    the EPOLL* bits registered with the kernel for this fd.
// role:    ROLE_NONE when the fd is not registered.
// pending: where this fd's records sit in the current batch, so removing or
//          narrowing the fd mid-batch can cancel them in O(1).

import { maxFds, registryBase, SLOT_BYTES } from './layout';
import { EPOLLET, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLRDHUP } from './events';
import { cancelRecords, KIND_HANGUP, KIND_READ, KIND_WRITE } from './records';

export const ROLE_NONE: i32 = 0;
export const ROLE_SERVER: i32 = 1;
export const ROLE_CLIENT: i32 = 2;
/** Node's own libuv backend fd, watched while `run()` owns the thread. */
export const ROLE_NODE: i32 = 3;
/** Any other fd (pipe, eventfd, timerfd, tty...) watched through `loop.watch`. */
export const ROLE_WATCH: i32 = 4;

export const WANT_READ: i32 = 1;
export const WANT_WRITE: i32 = 2;
export const EDGE_TRIGGERED: i32 = 4;
/** Report the peer's half-close (EPOLLRDHUP) as a hang-up. Watchers only. */
export const WANT_HANGUP: i32 = 8;
/** Disarm after one event until the host changes the interest again. */
export const ONESHOT: i32 = 16;
export const PRIORITY_SHIFT: i32 = 5;
/** Priorities 0 (first) to PRIORITIES - 1 (last). */
export const PRIORITIES: i32 = 4;

export const ERR_FD_RANGE: i32 = -1;
export const ERR_EXISTS: i32 = -2;
export const ERR_NOT_REGISTERED: i32 = -3;
export const ERR_BAD_ROLE: i32 = -4;

/** The highest generation; the next registration wraps to 1 (see gen above). */
export const GENERATION_LIMIT: u32 = 0x7fffffff;

let registered: i32 = 0;

@inline export function slotOf(fd: i32): usize {
  return registryBase + <usize>fd * SLOT_BYTES;
}

@inline export function generationAt(slot: usize): u32 {
  return load<u32>(slot, 0);
}
@inline export function maskAt(slot: usize): u32 {
  return load<u32>(slot, 4);
}
@inline export function roleAt(slot: usize): i32 {
  return <i32>load<u8>(slot, 8);
}
@inline export function flagsAt(slot: usize): i32 {
  return <i32>load<u8>(slot, 9);
}
@inline export function pendingCountAt(slot: usize): i32 {
  return <i32>load<u16>(slot, 10);
}
@inline export function firstRecordAt(slot: usize): i32 {
  return load<i32>(slot, 12);
}
@inline export function priorityOf(flags: i32): i32 {
  return (flags >> PRIORITY_SHIFT) & (PRIORITIES - 1);
}
@inline export function setPending(slot: usize, first: i32, count: i32): void {
  store<u16>(slot, <u16>count, 10);
  store<i32>(slot, first, 12);
}

/** The kernel interest for a role and the host's flags. */
export function maskFor(role: i32, flags: i32): u32 {
  if (role == ROLE_SERVER || role == ROLE_NODE) return EPOLLIN;
  let mask: u32 = 0;
  if (flags & WANT_READ) mask |= EPOLLIN;
  // A client socket always wants to hear of a half-close, but only while it
  // reads: once the host stops reading (after a half-close, say), a
  // level-triggered RDHUP would otherwise fire forever.
  if (role == ROLE_CLIENT ? flags & WANT_READ : flags & WANT_HANGUP) mask |= EPOLLRDHUP;
  if (flags & WANT_WRITE) mask |= EPOLLOUT;
  // A disarmed one-shot fd (no interest left) stays registered with no bits.
  if (mask == 0) return 0;
  if (flags & EDGE_TRIGGERED) mask |= EPOLLET;
  if (flags & ONESHOT) mask |= EPOLLONESHOT;
  return mask;
}

/**
 * A one-shot fd just fired: the kernel disarmed it, and so does the
 * registry, by clearing the mask only, so that the host's next change is a
 * real one (one epoll_ctl that re-arms it). The interest flags stay: they are
 * what a re-arm that leaves the interest out (`modify({})`) restores.
 */
export function disarm(slot: usize): void {
  store<u32>(slot, 0, 4);
}

@inline function inRange(fd: i32): bool {
  return <u32>fd < <u32>maxFds;
}

/** Registers fd. Returns its new generation (> 0), or an ERR_* code. */
export function register(fd: i32, role: i32, flags: i32): i32 {
  if (!inRange(fd)) return ERR_FD_RANGE;
  if (role < ROLE_SERVER || role > ROLE_WATCH) return ERR_BAD_ROLE;
  const slot = slotOf(fd);
  if (roleAt(slot) != ROLE_NONE) return ERR_EXISTS;
  let gen = generationAt(slot) + 1;
  if (gen > GENERATION_LIMIT) gen = 1;
  store<u32>(slot, gen, 0);
  store<u32>(slot, maskFor(role, flags), 4);
  store<u8>(slot, <u8>role, 8);
  store<u8>(slot, <u8>flags, 9);
  setPending(slot, 0, 0);
  registered++;
  return <i32>gen;
}

/** Forgets fd. Any of its records still pending in this batch are cancelled. */
export function unregister(fd: i32): i32 {
  if (!inRange(fd)) return ERR_FD_RANGE;
  const slot = slotOf(fd);
  if (roleAt(slot) == ROLE_NONE) return ERR_NOT_REGISTERED;
  cancelRecords(firstRecordAt(slot), pendingCountAt(slot), fd, generationAt(slot), -1);
  store<u8>(slot, <u8>ROLE_NONE, 8);
  store<u32>(slot, 0, 4);
  registered--;
  return 0;
}

/**
 * Changes a client's flags. Returns 1 when the kernel mask changed (the host
 * must tell the backend), 0 when it did not (no syscall), or an ERR_* code.
 * Pending records the new flags no longer want are cancelled.
 */
export function setFlags(fd: i32, flags: i32): i32 {
  if (!inRange(fd)) return ERR_FD_RANGE;
  const slot = slotOf(fd);
  const role = roleAt(slot);
  if (role == ROLE_NONE) return ERR_NOT_REGISTERED;
  if (role != ROLE_CLIENT && role != ROLE_WATCH) return ERR_BAD_ROLE;
  store<u8>(slot, <u8>flags, 9);
  // Cancel before comparing masks: a disarmed one-shot fd has mask 0 both
  // before and after losing its interest, yet its pending records must go.
  let unwanted: i32 = 0;
  if (!(flags & WANT_READ)) unwanted |= 1 << KIND_READ;
  if (!(flags & WANT_WRITE)) unwanted |= 1 << KIND_WRITE;
  if (role == ROLE_WATCH && !(flags & WANT_HANGUP)) unwanted |= 1 << KIND_HANGUP;
  cancelRecords(firstRecordAt(slot), pendingCountAt(slot), fd, generationAt(slot), unwanted);
  const mask = maskFor(role, flags);
  if (mask == maskAt(slot)) return 0;
  store<u32>(slot, mask, 4);
  return 1;
}

export function registeredCount(): i32 {
  return registered;
}
