// The wasm core on its own, with the test as the kernel: synthetic
// epoll_event records go into the events region, dispatch() turns them into
// records, and the registry decides which survive.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  COUNTER_EVENTS,
  COUNTER_STALE,
  COUNTERS,
  EDGE_TRIGGERED,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  ERR_BAD_ROLE,
  ERR_EXISTS,
  ERR_FD_RANGE,
  ERR_NOT_REGISTERED,
  KIND_ACCEPT,
  KIND_DEAD,
  KIND_ERROR,
  KIND_HANGUP,
  KIND_NODE,
  KIND_READ,
  KIND_WRITE,
  ROLE_CLIENT,
  ROLE_NODE,
  ROLE_SERVER,
  WANT_READ,
  WANT_WRITE,
} from '../src/core/abi.js';
import { createCore, type Core } from '../src/core/loader.js';

// x86-64 packs struct epoll_event: u32 events at +0, u64 data at +4.
const STRIDE = 12;
const DATA_OFFSET = 4;
const MAX_FDS = 64;
const MAX_EVENTS = 16;

function newCore(maxFds = MAX_FDS, maxEvents = MAX_EVENTS): Core {
  return createCore(maxFds, maxEvents, STRIDE, DATA_OFFSET);
}

const v = (global: WebAssembly.Global): number => global.value as number;
const KIND = {
  DEAD: KIND_DEAD,
  ACCEPT: KIND_ACCEPT,
  READ: KIND_READ,
  WRITE: KIND_WRITE,
  HANGUP: KIND_HANGUP,
  ERROR: KIND_ERROR,
  NODE: KIND_NODE,
};
const KIND_NAME = new Map(Object.entries(KIND).map(([name, value]) => [value, name]));
const ROLE = { SERVER: ROLE_SERVER, CLIENT: ROLE_CLIENT, NODE: ROLE_NODE };
const EDGE = EDGE_TRIGGERED;
const ERR = { FD_RANGE: ERR_FD_RANGE, EXISTS: ERR_EXISTS, NOT_REGISTERED: ERR_NOT_REGISTERED, BAD_ROLE: ERR_BAD_ROLE };
const IN = EPOLLIN;
const OUT = EPOLLOUT;
const ERRB = EPOLLERR;
const HUP = EPOLLHUP;
const RDHUP = EPOLLRDHUP;
const EPOLLET = 0x80000000;

const counter = (core: Core, which: number): number =>
  new Float64Array(core.memory.buffer, v(core.exports.metricsBase), COUNTERS)[which]!;
const staleTotal = (core: Core): number => counter(core, COUNTER_STALE);
const eventsTotal = (core: Core): number => counter(core, COUNTER_EVENTS);

interface FakeEvent {
  bits: number;
  fd: number;
  gen: number;
}

/** Writes `events` into the events region as the kernel would, and dispatches them. */
function deliver(core: Core, events: FakeEvent[]): number {
  const view = new DataView(core.memory.buffer);
  events.forEach(({ bits, fd, gen }, i) => {
    const at = core.eventsOffset + i * STRIDE;
    view.setUint32(at, bits >>> 0, true);
    view.setUint32(at + DATA_OFFSET, fd >>> 0, true); // low 32 bits of data
    view.setUint32(at + DATA_OFFSET + 4, gen >>> 0, true); // high 32 bits
  });
  return core.exports.dispatch(events.length);
}

/** Records [0, count) as readable strings: "KIND fd gen bits". */
function records(core: Core, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const [kind, fd, gen, bits] = core.records.subarray(i * 4, i * 4 + 4);
    out.push(`${KIND_NAME.get(kind!) ?? `?${kind}`} ${fd} ${gen} ${(bits! >>> 0).toString(16)}`);
  }
  return out;
}

/** Just the kinds of records [0, count). */
function kinds(core: Core, count: number): string[] {
  return records(core, count).map((r) => r.split(' ')[0]!);
}

function client(core: Core, fd: number, flags: number): number {
  const gen = core.exports.register(fd, ROLE.CLIENT, flags);
  assert.ok(gen > 0, `register(${fd}) returned ${gen}`);
  return gen;
}

const hex = (n: number): string => (n >>> 0).toString(16);

// ---- record order for a client ---------------------------------------------

test('client IN|OUT with read and write interest: WRITE then READ, carrying fd, gen and bits', () => {
  const core = newCore();
  const gen = client(core, 5, WANT_READ | WANT_WRITE);
  const count = deliver(core, [{ bits: IN | OUT, fd: 5, gen }]);
  assert.is(count, 2);
  assert.equal(records(core, count), [`WRITE 5 ${gen} ${hex(IN | OUT)}`, `READ 5 ${gen} ${hex(IN | OUT)}`]);
});

test('client IN|RDHUP: READ then HANGUP, so data sent before the close is read first', () => {
  const core = newCore();
  const gen = client(core, 7, WANT_READ);
  const count = deliver(core, [{ bits: IN | RDHUP, fd: 7, gen }]);
  assert.equal(kinds(core, count), ['READ', 'HANGUP']);
});

test('client ERR|HUP|OUT: ERROR only, no WRITE to a dead connection', () => {
  const core = newCore();
  const gen = client(core, 3, WANT_READ | WANT_WRITE);
  const count = deliver(core, [{ bits: ERRB | HUP | OUT, fd: 3, gen }]);
  assert.equal(records(core, count), [`ERROR 3 ${gen} ${hex(ERRB | HUP | OUT)}`]);
});

test('client IN|ERR|HUP: READ first, then ERROR (not HANGUP)', () => {
  const core = newCore();
  const gen = client(core, 3, WANT_READ | WANT_WRITE);
  const count = deliver(core, [{ bits: IN | ERRB | HUP | OUT, fd: 3, gen }]);
  assert.equal(kinds(core, count), ['READ', 'ERROR']);
});

test('client HUP|OUT: HANGUP only, even without read interest', () => {
  const core = newCore();
  const gen = client(core, 3, WANT_WRITE);
  const count = deliver(core, [{ bits: HUP | OUT, fd: 3, gen }]);
  assert.equal(kinds(core, count), ['HANGUP']);
});

test('client OUT without write interest, or IN|RDHUP without read interest: no records', () => {
  const core = newCore();
  const reader = client(core, 3, WANT_READ);
  const writer = client(core, 4, WANT_WRITE);
  const count = deliver(core, [
    { bits: OUT, fd: 3, gen: reader },
    { bits: IN | RDHUP, fd: 4, gen: writer },
  ]);
  assert.is(count, 0);
  assert.is(staleTotal(core), 0, 'unwanted bits are not stale events');
});

test('server role: IN is one ACCEPT; node role: one NODE record', () => {
  const core = newCore();
  const server = core.exports.register(10, ROLE.SERVER, 0);
  const node = core.exports.register(11, ROLE.NODE, 0);
  const count = deliver(core, [
    { bits: IN, fd: 10, gen: server },
    { bits: IN, fd: 11, gen: node },
  ]);
  assert.equal(records(core, count), [`ACCEPT 10 ${server} ${hex(IN)}`, `NODE 11 ${node} ${hex(IN)}`]);
});

test('a batch keeps kernel order across fds', () => {
  const core = newCore();
  const a = client(core, 1, WANT_READ | WANT_WRITE);
  const b = core.exports.register(2, ROLE.SERVER, 0);
  const c = client(core, 3, WANT_READ);
  const count = deliver(core, [
    { bits: OUT, fd: 1, gen: a },
    { bits: IN, fd: 2, gen: b },
    { bits: IN | RDHUP, fd: 3, gen: c },
  ]);
  assert.equal(
    records(core, count).map((r) => r.split(' ').slice(0, 2).join(' ')),
    ['WRITE 1', 'ACCEPT 2', 'READ 3', 'HANGUP 3'],
  );
  assert.is(eventsTotal(core), 3);
});

// ---- stale events ----------------------------------------------------------

test('events with a stale generation, for an unregistered fd or beyond maxFds are dropped and counted', () => {
  const core = newCore();
  const gen = client(core, 5, WANT_READ);
  const live = client(core, 6, WANT_READ);
  const count = deliver(core, [
    { bits: IN, fd: 5, gen: gen + 1 }, // a generation not yet issued
    { bits: IN, fd: 5, gen: gen - 1 }, // an earlier one
    { bits: IN, fd: 9, gen: 1 }, // never registered
    { bits: IN, fd: MAX_FDS, gen: 1 }, // beyond the registry
    { bits: IN, fd: 6, gen: live },
  ]);
  assert.equal(records(core, count), [`READ 6 ${live} ${hex(IN)}`]);
  assert.is(staleTotal(core), 4);
  assert.is(eventsTotal(core), 5);
});

test('re-registering an fd bumps its generation, and events of the old one are stale', () => {
  const core = newCore();
  const first = client(core, 8, WANT_READ);
  assert.is(core.exports.generationOf(8), first);
  assert.is(core.exports.unregister(8), 0);
  const second = client(core, 8, WANT_READ);
  assert.is(second, first + 1);
  assert.is(core.exports.generationOf(8), second);
  const count = deliver(core, [
    { bits: IN, fd: 8, gen: first },
    { bits: IN, fd: 8, gen: second },
  ]);
  assert.equal(records(core, count), [`READ 8 ${second} ${hex(IN)}`]);
  assert.is(staleTotal(core), 1);
});

// ---- changes during a batch ------------------------------------------------

test("unregister during a batch marks that fd's pending records DEAD and leaves the others", () => {
  const core = newCore();
  const a = client(core, 4, WANT_READ | WANT_WRITE);
  const b = client(core, 5, WANT_READ | WANT_WRITE);
  const count = deliver(core, [
    { bits: IN | OUT, fd: 4, gen: a },
    { bits: IN | OUT | RDHUP, fd: 5, gen: b },
  ]);
  assert.equal(kinds(core, count), ['WRITE', 'READ', 'WRITE', 'READ', 'HANGUP']);
  // The host has run record 0 (fd 4's WRITE); its handler removes fd 5.
  assert.is(core.exports.unregister(5), 0);
  assert.equal(kinds(core, count), ['WRITE', 'READ', 'DEAD', 'DEAD', 'DEAD']);
  assert.is(core.exports.roleOf(5), 0);
  assert.is(core.exports.maskOf(5), 0);
  assert.is(core.exports.registeredCount(), 1);
  assert.is(core.exports.unregister(5), ERR.NOT_REGISTERED);
});

test('unregistering an fd whose records are from an earlier batch leaves the current batch alone', () => {
  const core = newCore();
  const a = client(core, 4, WANT_READ);
  const b = client(core, 5, WANT_READ);
  deliver(core, [{ bits: IN, fd: 4, gen: a }]); // fd 4's record sits at index 0
  const count = deliver(core, [{ bits: IN, fd: 5, gen: b }]); // now index 0 is fd 5's
  assert.is(core.exports.unregister(4), 0);
  assert.equal(records(core, count), [`READ 5 ${b} ${hex(IN)}`]);
});

test('setFlags dropping WANT_WRITE kills a pending WRITE and returns 1; unchanged flags return 0', () => {
  const core = newCore();
  const gen = client(core, 6, WANT_READ | WANT_WRITE);
  const other = client(core, 7, WANT_READ | WANT_WRITE);
  const count = deliver(core, [
    { bits: IN | OUT, fd: 6, gen },
    { bits: IN | OUT, fd: 7, gen: other },
  ]);
  assert.is(core.exports.setFlags(6, WANT_READ), 1);
  assert.equal(kinds(core, count), ['DEAD', 'READ', 'WRITE', 'READ']);
  assert.is(core.exports.flagsOf(6), WANT_READ);
  assert.is(core.exports.maskOf(6) >>> 0, IN | RDHUP);
  assert.is(core.exports.setFlags(6, WANT_READ), 0, 'same mask: no syscall needed');
  assert.is(core.exports.generationOf(6), gen, 'setFlags keeps the generation');
});

test('setFlags dropping WANT_READ kills a pending READ but not the HANGUP', () => {
  const core = newCore();
  const gen = client(core, 6, WANT_READ);
  const count = deliver(core, [{ bits: IN | RDHUP, fd: 6, gen }]);
  assert.is(core.exports.setFlags(6, 0), 1);
  assert.equal(kinds(core, count), ['DEAD', 'HANGUP']);
});

test('setFlags refuses servers, unregistered fds and fds beyond the registry', () => {
  const core = newCore();
  core.exports.register(2, ROLE.SERVER, 0);
  assert.is(core.exports.setFlags(2, WANT_WRITE), ERR.BAD_ROLE);
  assert.is(core.exports.maskOf(2) >>> 0, IN);
  assert.is(core.exports.setFlags(3, WANT_READ), ERR.NOT_REGISTERED);
  assert.is(core.exports.setFlags(MAX_FDS, WANT_READ), ERR.FD_RANGE);
  assert.is(core.exports.setFlags(-1, WANT_READ), ERR.FD_RANGE);
});

// ---- registry --------------------------------------------------------------

test('register twice is ERR_EXISTS and changes nothing', () => {
  const core = newCore();
  const gen = client(core, 9, WANT_READ);
  assert.is(core.exports.register(9, ROLE.CLIENT, WANT_WRITE), ERR.EXISTS);
  assert.is(core.exports.register(9, ROLE.SERVER, 0), ERR.EXISTS);
  assert.is(core.exports.registeredCount(), 1);
  assert.is(core.exports.generationOf(9), gen);
  assert.is(core.exports.roleOf(9), ROLE.CLIENT);
  assert.is(core.exports.flagsOf(9), WANT_READ);
});

test('fd >= maxFds or negative is ERR_FD_RANGE; an unknown role is ERR_BAD_ROLE', () => {
  const core = newCore();
  assert.is(core.exports.register(MAX_FDS, ROLE.CLIENT, WANT_READ), ERR.FD_RANGE);
  assert.is(core.exports.register(-1, ROLE.CLIENT, WANT_READ), ERR.FD_RANGE);
  assert.is(core.exports.unregister(MAX_FDS), ERR.FD_RANGE);
  assert.is(core.exports.register(1, 0, 0), ERR.BAD_ROLE);
  assert.is(core.exports.register(1, 99, 0), ERR.BAD_ROLE);
  assert.is(core.exports.registeredCount(), 0);
  // The last slot is usable.
  assert.ok(core.exports.register(MAX_FDS - 1, ROLE.CLIENT, WANT_READ) > 0);
  assert.is(core.exports.roleOf(MAX_FDS), 0);
  assert.is(core.exports.maskOf(MAX_FDS), 0);
});

test('maskOf reflects the flags', () => {
  const core = newCore();
  client(core, 1, WANT_READ);
  client(core, 2, WANT_WRITE);
  client(core, 3, WANT_READ | WANT_WRITE);
  client(core, 4, WANT_READ | EDGE);
  client(core, 5, 0);
  core.exports.register(6, ROLE.SERVER, WANT_WRITE);
  const mask = (fd: number): number => core.exports.maskOf(fd) >>> 0;
  assert.is(mask(1), IN | RDHUP);
  assert.is(mask(2), OUT);
  assert.is(mask(3), IN | RDHUP | OUT);
  assert.is(mask(4), (IN | RDHUP | EPOLLET) >>> 0);
  assert.is(mask(5), 0);
  assert.is(mask(6), IN, 'a listener is always just EPOLLIN');
  assert.is(mask(7), 0, 'unregistered');
});

test('registeredCount follows register and unregister', () => {
  const core = newCore();
  assert.is(core.exports.registeredCount(), 0);
  client(core, 1, WANT_READ);
  core.exports.register(2, ROLE.SERVER, 0);
  core.exports.register(3, ROLE.NODE, 0);
  assert.is(core.exports.registeredCount(), 3);
  core.exports.unregister(2);
  assert.is(core.exports.registeredCount(), 2);
  core.exports.unregister(2);
  assert.is(core.exports.registeredCount(), 2, 'a failed unregister does not count');
  core.exports.unregister(1);
  core.exports.unregister(3);
  assert.is(core.exports.registeredCount(), 0);
});

test('layoutBytes grows with maxFds and maxEvents', () => {
  const sizing = newCore(1, 1).exports;
  const base = sizing.layoutBytes(1024, 64, STRIDE, 0);
  const moreFds = sizing.layoutBytes(2048, 64, STRIDE, 0);
  const moreEvents = sizing.layoutBytes(1024, 128, STRIDE, 0);
  // At least one 16-byte slot per fd, and per event its kernel record plus three 16-byte records.
  assert.ok(moreFds - base >= 1024 * 16, `+1024 fds added ${moreFds - base} bytes`);
  assert.ok(moreEvents - base >= 64 * (STRIDE + 3 * 16), `+64 events added ${moreEvents - base} bytes`);
  // And each loop's memory holds its layout.
  const big = newCore(4096, 256);
  assert.ok(big.memory.buffer.byteLength >= sizing.layoutBytes(4096, 256, STRIDE, 0));
  assert.is(big.records.length, 256 * 3 * 4);
});

test('layoutBytes on a configured core does not disturb its layout (it is documented as pure)', () => {
  const core = newCore();
  const gen = client(core, 5, WANT_READ);
  const recordsBase = v(core.exports.recordsBase);
  core.exports.layoutBytes(MAX_FDS * 4, MAX_EVENTS * 4, STRIDE, 0);
  assert.is(core.exports.roleOf(5), ROLE.CLIENT, 'fd 5 must still be registered');
  assert.is(core.exports.generationOf(5), gen);
  assert.is(core.exports.register(5, ROLE.CLIENT, WANT_READ), ERR.EXISTS);
  assert.is(v(core.exports.recordsBase), recordsBase);
  const count = deliver(core, [{ bits: IN, fd: 5, gen }]);
  assert.equal(records(core, count), [`READ 5 ${gen} ${hex(IN)}`]);
});

test.run();
