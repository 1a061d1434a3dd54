// Random operation sequences on the wasm core, checked step by step against
// a small reference model written here: the registry (register, setFlags,
// unregister), dispatch of synthetic kernel events (live, stale, for fds
// never registered or beyond maxFds), the host serving part of a batch and
// then unregistering or narrowing fds whose records are still pending, and
// timers (insert, cancel, expire, take) through tests/timer-model.ts.
//
// The model states the rules the way assembly/dispatch.ts documents them:
// an event is live when its fd is registered with the generation it
// carries; it yields records per kindsFor (write, read, error or hang-up,
// accept, node), ordered by priority, FIFO within one; a one-shot fd is
// disarmed by its first records; removing an fd, or turning off the interest
// a pending record is for, turns that record dead.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import {
  EDGE_TRIGGERED,
  EPOLLERR,
  EPOLLET,
  EPOLLHUP,
  EPOLLIN,
  EPOLLONESHOT,
  EPOLLOUT,
  EPOLLRDHUP,
  ERR_BAD_ROLE,
  ERR_EXISTS,
  ERR_FD_RANGE,
  ERR_NOT_REGISTERED,
  ERR_TIMERS_FULL,
  KIND_ACCEPT,
  KIND_DEAD,
  KIND_ERROR,
  KIND_HANGUP,
  KIND_NODE,
  KIND_READ,
  KIND_WRITE,
  MAX_TIMER_DELAY_MS,
  ONESHOT,
  PRIORITY_SHIFT,
  RECORD_BYTES,
  ROLE_CLIENT,
  ROLE_NODE,
  ROLE_SERVER,
  ROLE_WATCH,
  WANT_HANGUP,
  WANT_READ,
  WANT_WRITE,
} from '../src/core/abi.js';
import { createCore, type Core } from '../src/core/loader.js';
import { TimerModel } from './timer-model.js';

const STRIDE = 12;
const DATA_OFFSET = 4;
const MAX_FDS = 16;
const MAX_EVENTS = 12;
const MAX_TIMERS = 8;
const RUNS = Number(process.env['WASMLOOP_FUZZ_RUNS'] ?? 400);

const v = (g: WebAssembly.Global): number => g.value as number;
const KIND = { DEAD: KIND_DEAD, ACCEPT: KIND_ACCEPT, READ: KIND_READ, WRITE: KIND_WRITE, HANGUP: KIND_HANGUP, ERROR: KIND_ERROR, NODE: KIND_NODE };
const ROLE = { SERVER: ROLE_SERVER, CLIENT: ROLE_CLIENT, NODE: ROLE_NODE, WATCH: ROLE_WATCH };
const EDGE = EDGE_TRIGGERED;
const ERR = { FD_RANGE: ERR_FD_RANGE, EXISTS: ERR_EXISTS, NOT_REGISTERED: ERR_NOT_REGISTERED, BAD_ROLE: ERR_BAD_ROLE };
const IN = EPOLLIN;
const OUT = EPOLLOUT;
const ERRB = EPOLLERR;
const HUP = EPOLLHUP;
const RDHUP = EPOLLRDHUP;
const MAX_DELAY = MAX_TIMER_DELAY_MS;
const TIMERS_FULL = ERR_TIMERS_FULL;

// ---- the reference model ----------------------------------------------------------------

interface Slot {
  role: number;
  flags: number;
  mask: number;
}

interface ModelRecord {
  kind: number;
  fd: number;
  gen: number;
  bits: number;
}

class RegistryModel {
  readonly generations = new Array<number>(MAX_FDS).fill(0);
  readonly slots = new Map<number, Slot>();
  records: ModelRecord[] = [];
  cursor = 0;

  static maskFor(role: number, flags: number): number {
    if (role === ROLE.SERVER || role === ROLE.NODE) return IN;
    let mask = 0;
    if (flags & WANT_READ) mask |= IN;
    if (role === ROLE.CLIENT ? flags & WANT_READ : flags & WANT_HANGUP) mask |= RDHUP;
    if (flags & WANT_WRITE) mask |= OUT;
    if (mask === 0) return 0;
    if (flags & EDGE) mask |= EPOLLET;
    if (flags & ONESHOT) mask |= EPOLLONESHOT;
    return mask >>> 0;
  }

  register(fd: number, role: number, flags: number): number {
    if (fd < 0 || fd >= MAX_FDS) return ERR.FD_RANGE;
    if (role < ROLE.SERVER || role > ROLE.WATCH) return ERR.BAD_ROLE;
    if (this.slots.has(fd)) return ERR.EXISTS;
    const gen = ++this.generations[fd]!;
    this.slots.set(fd, { role, flags, mask: RegistryModel.maskFor(role, flags) });
    return gen;
  }

  unregister(fd: number): number {
    if (fd < 0 || fd >= MAX_FDS) return ERR.FD_RANGE;
    if (!this.slots.delete(fd)) return ERR.NOT_REGISTERED;
    this.#cancel(fd, ~0);
    return 0;
  }

  setFlags(fd: number, flags: number): number {
    if (fd < 0 || fd >= MAX_FDS) return ERR.FD_RANGE;
    const slot = this.slots.get(fd);
    if (slot === undefined) return ERR.NOT_REGISTERED;
    if (slot.role !== ROLE.CLIENT && slot.role !== ROLE.WATCH) return ERR.BAD_ROLE;
    slot.flags = flags;
    let unwanted = 0;
    if (!(flags & WANT_READ)) unwanted |= 1 << KIND.READ;
    if (!(flags & WANT_WRITE)) unwanted |= 1 << KIND.WRITE;
    if (slot.role === ROLE.WATCH && !(flags & WANT_HANGUP)) unwanted |= 1 << KIND.HANGUP;
    this.#cancel(fd, unwanted);
    const mask = RegistryModel.maskFor(slot.role, flags);
    if (mask === slot.mask) return 0;
    slot.mask = mask;
    return 1;
  }

  /** Records of fd's current registration, from the cursor on, of the kinds in `kinds`, turn dead. */
  #cancel(fd: number, kinds: number): void {
    const gen = this.generations[fd]!;
    for (let i = this.cursor; i < this.records.length; i++) {
      const r = this.records[i]!;
      if (r.fd === fd && r.gen === gen && ((1 << r.kind) & kinds) !== 0) r.kind = KIND.DEAD;
    }
  }

  static kindsFor(role: number, bits: number, mask: number, flags: number): number[] {
    if (role === ROLE.SERVER) return bits & (IN | ERRB | HUP) ? [KIND.ACCEPT] : [];
    if (role === ROLE.NODE) return [KIND.NODE];
    const kinds: number[] = [];
    const dead = bits & (ERRB | HUP);
    if (!dead && bits & mask & OUT) kinds.push(KIND.WRITE);
    if (bits & mask & IN) kinds.push(KIND.READ);
    if (bits & ERRB) kinds.push(KIND.ERROR);
    else if (bits & HUP || bits & mask & RDHUP) {
      if (role === ROLE.CLIENT || bits & HUP || flags & WANT_HANGUP) kinds.push(KIND.HANGUP);
    }
    return kinds;
  }

  dispatch(events: { fd: number; gen: number; bits: number }[]): void {
    const byPriority: ModelRecord[][] = [[], [], [], []];
    for (const { fd, gen, bits } of events) {
      const slot = fd >= 0 && fd < MAX_FDS ? this.slots.get(fd) : undefined;
      if (slot === undefined || this.generations[fd] !== gen) continue;
      const kinds = RegistryModel.kindsFor(slot.role, bits, slot.mask, slot.flags);
      if (kinds.length === 0) continue;
      const priority = (slot.flags >> PRIORITY_SHIFT) & 3;
      for (const kind of kinds) byPriority[priority]!.push({ kind, fd, gen, bits });
      if (slot.flags & ONESHOT) slot.mask = 0;
    }
    this.records = byPriority.flat();
    this.cursor = 0;
  }
}

// ---- operations ---------------------------------------------------------------------------

type Op =
  | { op: 'register'; fd: number; role: number; flags: number }
  | { op: 'unregister'; fd: number }
  | { op: 'setFlags'; fd: number; flags: number }
  | { op: 'dispatch'; events: { fd: number; stale: number; bits: number }[] }
  | { op: 'serve'; records: number }
  | { op: 'timerInsert'; delay: number }
  | { op: 'timerCancel'; which: number }
  | { op: 'timerExpire'; advance: number }
  | { op: 'timerTake' };

const fdArb = fc.integer({ min: -1, max: MAX_FDS + 1 });
const flagsArb = fc.integer({ min: 0, max: 127 });
const bitsArb = fc.array(fc.constantFrom(IN, OUT, ERRB, HUP, RDHUP), { maxLength: 4 }).map((bits) => bits.reduce((a, b) => a | b, 0) >>> 0);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('register' as const), fd: fdArb, role: fc.integer({ min: 0, max: 5 }), flags: flagsArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unregister' as const), fd: fdArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('setFlags' as const), fd: fdArb, flags: flagsArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('dispatch' as const),
      // stale: 0 the current generation, 1 the one before, 2 a random one.
      // One event per fd, as every backend reports (dispatch counts and writes in two passes that rely on it).
      events: fc.uniqueArray(fc.record({ fd: fdArb, stale: fc.integer({ min: 0, max: 2 }), bits: bitsArb }), { maxLength: MAX_EVENTS, selector: (e) => e.fd }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('serve' as const), records: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('timerInsert' as const), delay: fc.oneof(fc.integer({ min: -5, max: 200 }), fc.double({ min: 0, max: 5000, noNaN: true })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('timerCancel' as const), which: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('timerExpire' as const), advance: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.double({ min: 0, max: 3, noNaN: true })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('timerTake' as const) }) },
);

function writeEvents(core: Core, events: { fd: number; gen: number; bits: number }[]): void {
  const view = new DataView(core.memory.buffer);
  events.forEach(({ bits, fd, gen }, i) => {
    const at = core.eventsOffset + i * STRIDE;
    view.setUint32(at, bits >>> 0, true);
    view.setUint32(at + DATA_OFFSET, fd >>> 0, true);
    view.setUint32(at + DATA_OFFSET + 4, gen >>> 0, true);
  });
}

/** The batch, read where the core says its records are: RECORD_BYTES apart from recordsBase. */
function coreRecords(core: Core): ModelRecord[] {
  const w = core.exports;
  const view = new DataView(core.memory.buffer);
  const out: ModelRecord[] = [];
  for (let i = 0; i < w.recordsInBatch(); i++) {
    const at = v(w.recordsBase) + i * RECORD_BYTES;
    const word = (n: number): number => view.getInt32(at + 4 * n, true);
    out.push({ kind: word(0), fd: word(1), gen: word(2), bits: word(3) >>> 0 });
  }
  return out;
}

/** Runs `ops` on a fresh core and the models; fails at the first disagreement, naming the step. */
function check(ops: Op[]): void {
  const core = createCore(MAX_FDS, MAX_EVENTS, STRIDE, DATA_OFFSET, MAX_TIMERS);
  const w = core.exports;
  const model = new RegistryModel();
  const timers = new TimerModel(MAX_TIMERS, MAX_DELAY);
  /** Timer handles alive in both: the model's id and the core's index and generation. */
  const handles: { id: number; index: number; generation: number }[] = [];
  const taken = new Map<number, number>(); // core index → model id, for the due timers taken
  let now = 0;
  ops.forEach((step, n) => {
    const where = `step ${n} ${JSON.stringify(step)}`;
    switch (step.op) {
      case 'register':
        assert.is(w.register(step.fd, step.role, step.flags), model.register(step.fd, step.role, step.flags), where);
        break;
      case 'unregister':
        assert.is(w.unregister(step.fd), model.unregister(step.fd), where);
        break;
      case 'setFlags':
        assert.is(w.setFlags(step.fd, step.flags), model.setFlags(step.fd, step.flags), where);
        break;
      case 'dispatch': {
        const events = step.events.map(({ fd, stale, bits }) => {
          const current = fd >= 0 && fd < MAX_FDS ? model.generations[fd]! : 0;
          const gen = stale === 0 ? current : stale === 1 ? Math.max(0, current - 1) : (fd * 7919 + bits) % 5;
          return { fd, gen, bits };
        });
        writeEvents(core, events);
        model.dispatch(events);
        assert.is(w.dispatch(events.length), model.records.length, where);
        break;
      }
      case 'serve':
        model.cursor = Math.min(model.records.length, model.cursor + step.records);
        w.setBatchCursor(w.batchCursor() + step.records);
        break;
      case 'timerInsert': {
        const deadline = now + step.delay;
        const id = timers.insert(deadline);
        const index = w.timerInsert(deadline);
        if (id === undefined) assert.is(index, TIMERS_FULL, where);
        else {
          assert.ok(index >= 0, `${where}: timerInsert returned ${index}`);
          handles.push({ id, index, generation: w.timerGeneration(index) });
        }
        break;
      }
      case 'timerCancel': {
        if (handles.length === 0) break;
        const handle = handles[step.which % handles.length]!;
        assert.is(w.timerCancel(handle.index, handle.generation), timers.cancel(handle.id), where);
        break;
      }
      case 'timerExpire':
        now += step.advance;
        assert.is(w.timerExpire(now), timers.expire(now), where);
        break;
      case 'timerTake': {
        const id = timers.takeDue();
        const index = w.timerTakeDue();
        if (id === undefined) assert.is(index, -1, where);
        else {
          const handle = handles.find((h) => h.id === id);
          assert.ok(handle !== undefined && handle.index === index, `${where}: took index ${index}, the model took id ${id}`);
          assert.is(w.timerTakenDeadline(), timers.takenDeadline, `${where}: the deadline of the timer taken`);
          taken.set(index, id);
        }
        break;
      }
    }
    // After every step: the whole registry, the pending records, the timer counts.
    assert.is(w.registeredCount(), model.slots.size, `${where}: registeredCount`);
    for (let fd = 0; fd < MAX_FDS; fd++) {
      const slot = model.slots.get(fd);
      assert.is(w.roleOf(fd), slot?.role ?? 0, `${where}: role of fd ${fd}`);
      if (slot === undefined) continue;
      assert.is(w.generationOf(fd), model.generations[fd], `${where}: generation of fd ${fd}`);
      assert.is(w.flagsOf(fd), slot.flags, `${where}: flags of fd ${fd}`);
      assert.is(w.maskOf(fd) >>> 0, slot.mask, `${where}: mask of fd ${fd}`);
    }
    assert.is(w.batchCursor(), model.cursor, `${where}: cursor`);
    assert.equal(coreRecords(core).slice(model.cursor), model.records.slice(model.cursor), `${where}: pending records`);
    assert.is(w.timerCount(), timers.count(), `${where}: timerCount`);
    // Above level 0 the wheel answers the start of the earliest busy slot: never later than the deadline.
    const earliest = timers.earliest();
    const next = w.timerNextDeadline();
    if (earliest < 0) assert.is(next, -1, `${where}: timerNextDeadline with nothing pending`);
    else assert.ok(next >= timers.clock && next <= earliest, `${where}: timerNextDeadline ${next}, earliest deadline ${earliest}, clock ${timers.clock}`);
  });
}

test('random registry, dispatch and timer operations agree with the reference model', () => {
  fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), check), { numRuns: RUNS });
});

test('the model and core agree on a one-shot watcher narrowed while its records are pending', () => {
  const ops: Op[] = [
    { op: 'register', fd: 3, role: ROLE.WATCH, flags: WANT_READ | WANT_HANGUP | ONESHOT },
    { op: 'dispatch', events: [{ fd: 3, stale: 0, bits: IN | RDHUP }] },
    { op: 'serve', records: 1 },
    // Interest dropped after the read: the pending hang-up is no longer wanted.
    { op: 'setFlags', fd: 3, flags: ONESHOT },
  ];
  check(ops);
});

test.run();
