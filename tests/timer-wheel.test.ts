// The wasm core's timer wheel, driven through its exports on a virtual clock:
// the test passes `now` to timerExpire, so nothing here sleeps. The property
// tests compare the wheel with tests/timer-model.ts, a sorted-scan model of
// the same contract.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_MAX_TIMERS, MAX_TIMERS_LIMIT } from '../src/core/loader.js';
import { createTestingCore, type TestingCoreExports } from '../src/testing/index.js';
import { rangeErr, throws, typeErr } from './helpers/errors.js';
import { ExactTimerModel, TimerModel } from './timer-model.js';

// x86-64's struct epoll_event; the timers do not care, the layout does.
// The exact way (timerSchedule, timerNext: what the host uses) has its own
// section at the end, against ExactTimerModel.
const STRIDE = 12;
const DATA_OFFSET = 4;

function wheel(maxTimers = 64, maxFds = 8): TestingCoreExports {
  return createTestingCore(maxFds, 8, STRIDE, DATA_OFFSET, maxTimers).exports;
}

const probe = wheel(1);
const MAX_DELAY = probe.MAX_TIMER_DELAY_MS.value as number;
const FULL = probe.ERR_TIMERS_FULL.value as number;
const ENTRY_BYTES = probe.TIMER_ENTRY_BYTES.value as number;
const TOP_TURN = 2 ** 36; // one turn of the top level, in ticks

interface Handle {
  index: number;
  generation: number;
}

function insert(w: TestingCoreExports, deadlineMs: number): Handle {
  const index = w.timerInsert(deadlineMs);
  assert.ok(index >= 0, `timerInsert(${deadlineMs}) returned ${index}`);
  return { index, generation: w.timerGeneration(index) };
}

/** Takes every due timer (at most the capacity: a longer list would be a bug). */
function drain(w: TestingCoreExports): number[] {
  const taken: number[] = [];
  for (let i = 0; i <= w.timerCapacity(); i++) {
    const index = w.timerTakeDue();
    if (index < 0) return taken;
    taken.push(index);
  }
  assert.unreachable('the due list holds more timers than the table');
  return taken;
}

const indices = (...handles: Handle[]): number[] => handles.map((h) => h.index);

// ---- placement: pure functions -----------------------------------------------------

test('levelFor: a level ends where the deadline first differs from elapsed above its 6 bits', () => {
  const cases: [bigint, bigint, number][] = [
    [0n, 0n, 0],
    [0n, 63n, 0],
    [0n, 64n, 1],
    [0n, 4095n, 1],
    [0n, 4096n, 2],
    [0n, 2n ** 18n - 1n, 2],
    [0n, 2n ** 18n, 3],
    [0n, 2n ** 24n, 4],
    [0n, 2n ** 30n, 5],
    [0n, 2n ** 36n - 1n, 5],
    // Beyond the wheel's range: clamped to the top level, never a seventh.
    [0n, 2n ** 36n, 5],
    [0n, 2n ** 63n, 5],
    // Mid-level elapsed: what counts is the bits, not the distance.
    [100n, 127n, 0],
    [100n, 128n, 1],
    [4000n, 4100n, 2],
    [4096n, 4100n, 0],
    [2n ** 36n - 10n, 2n ** 36n + 10n, 5],
  ];
  for (const [elapsed, when, level] of cases) {
    assert.is(probe.levelFor(elapsed, when), level, `levelFor(${elapsed}, ${when})`);
  }
});

test('slotFor: six bits per level, wrapping at 64', () => {
  const cases: [bigint, number, number][] = [
    [0n, 0, 0],
    [63n, 0, 63],
    [64n, 0, 0],
    [64n, 1, 1],
    [128n, 1, 2],
    [4095n, 1, 63],
    [4096n, 1, 0],
    [4096n, 2, 1],
    [4100n, 2, 1],
    [2n ** 36n - 1n, 5, 63],
    // Next turn of the top level: the slot index wraps to the start.
    [2n ** 36n + 10n, 5, 0],
    [2n ** 36n + 5n * 2n ** 30n, 5, 5],
  ];
  for (const [when, level, slot] of cases) {
    assert.is(probe.slotFor(when, level), slot, `slotFor(${when}, ${level})`);
  }
});

// ---- edges ---------------------------------------------------------------------------

test('timerInsert: a 0 ms timer is due on the next timerExpire, at the same now', () => {
  const w = wheel();
  const timer = insert(w, 0);
  assert.is(w.timerNextDeadline(), 0);
  assert.is(w.timerExpire(0), 1);
  assert.equal(drain(w), [timer.index]);
  assert.is(w.timerCount(), 0);
  assert.is(w.timerNextDeadline(), -1);
});

test('timerInsert: a fractional deadline rounds up, so 10.2 ms fires at 11, never at 10', () => {
  const w = wheel();
  const fractional = insert(w, 10.2);
  const exact = insert(w, 5);
  assert.is(w.timerExpire(4.999), 0);
  assert.is(w.timerExpire(5), 1);
  assert.equal(drain(w), [exact.index]);
  assert.is(w.timerExpire(10.99), 0, 'floor(now) = 10 < 11');
  assert.is(w.timerNextDeadline(), 11);
  assert.is(w.timerExpire(11), 1);
  assert.equal(drain(w), [fractional.index]);
});

test('timerInsert: the maximum delay fires exactly at it; beyond is clamped to it, in insertion order', () => {
  assert.is(MAX_DELAY, 2 ** 36 - 1);
  const w = wheel();
  const atMax = insert(w, MAX_DELAY);
  const beyond = insert(w, MAX_DELAY * 4);
  const infinite = insert(w, Infinity);
  // A host loop: wake at each answer of timerNextDeadline until something fires.
  let wakeups = 0;
  let fired = 0;
  while (fired === 0 && wakeups < 20) {
    const next = w.timerNextDeadline();
    assert.ok(next > 0 && next <= MAX_DELAY, `next deadline ${next}`);
    fired = w.timerExpire(next);
    if (fired > 0) assert.is(next, MAX_DELAY, 'fired before the deadline');
    wakeups++;
  }
  assert.ok(wakeups <= 7, `one wake-up per level at most, took ${wakeups}`);
  assert.equal(drain(w), indices(atMax, beyond, infinite));

  // From a clock that is not 0, the clamp counts from the wheel's tick.
  const later = wheel();
  later.timerExpire(1000.5);
  const far = insert(later, 1000.5 + MAX_DELAY + 5);
  assert.is(later.timerExpire(1000 + MAX_DELAY - 1), 0);
  assert.is(later.timerExpire(1000 + MAX_DELAY), 1);
  assert.equal(drain(later), [far.index]);
});

test('timerExpire: a deadline in the next turn of the top level waits there and fires on time', () => {
  const w = wheel();
  w.timerExpire(TOP_TURN - 10);
  const across = insert(w, TOP_TURN + 10);
  const next = w.timerNextDeadline();
  assert.ok(next > TOP_TURN - 10 && next <= TOP_TURN + 10, `next deadline ${next}`);
  assert.is(w.timerExpire(TOP_TURN + 9), 0);
  assert.is(w.timerExpire(TOP_TURN + 10), 1);
  assert.equal(drain(w), [across.index]);
});

test('timerExpire: a max-delay timer wrapping onto the current top-level slot does not hide a nearer one', () => {
  const w = wheel();
  const start = 5 * 2 ** 30 + 123; // mid top-level slot 5
  w.timerExpire(start);
  const wrapped = insert(w, start + MAX_DELAY); // top level, slot 5 of the next turn
  const nearer = insert(w, start + 2 ** 30); // top level, slot 6 of this turn
  assert.ok(w.timerNextDeadline() <= start + 2 ** 30, `next deadline ${w.timerNextDeadline()}`);
  assert.is(w.timerExpire(start + 2 ** 30 - 1), 0);
  assert.is(w.timerExpire(start + 2 ** 30), 1);
  assert.equal(drain(w), [nearer.index]);
  assert.is(w.timerExpire(start + MAX_DELAY - 1), 0);
  assert.is(w.timerExpire(start + MAX_DELAY), 1);
  assert.equal(drain(w), [wrapped.index]);
});

test('timerExpire: a clock jump fires every due timer once, in deadline then insertion order', () => {
  const w = wheel(256);
  const deadlines: number[] = [];
  let seed = 7;
  for (let i = 0; i < 200; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    // A few distinct values per level, so ties happen at every level.
    const level = seed % 6;
    deadlines.push((seed % 4) * 64 ** level + (seed % 3));
    assert.is(insert(w, deadlines[i]!).index, i);
  }
  const expected = deadlines.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
  assert.is(w.timerExpire(2 ** 40), 200);
  assert.equal(drain(w), expected);
  assert.is(w.timerExpire(2 ** 41), 0, 'nothing fires twice');
  assert.is(w.timerCount(), 0);
});

test('timerExpire: now going backwards fires nothing, not even an overdue timer', () => {
  const w = wheel();
  insert(w, 50);
  assert.is(w.timerExpire(100), 1);
  drain(w);
  const later = insert(w, 150);
  const overdue = insert(w, 20); // before the wheel's clock: due at 100
  assert.is(w.timerExpire(40), 0);
  assert.is(w.timerExpire(99.9), 0);
  assert.is(w.timerExpire(NaN), 0);
  assert.equal(drain(w), []);
  assert.is(w.timerCount(), 2);
  assert.is(w.timerExpire(100), 1);
  assert.equal(drain(w), [overdue.index]);
  assert.is(w.timerExpire(149), 0);
  assert.is(w.timerExpire(150), 1);
  assert.equal(drain(w), [later.index]);
});

test('timerExpire: equal deadlines fire in insertion order though the first ones cascaded from higher levels', () => {
  const w = wheel();
  const deadline = 5000;
  const order: Handle[] = [];
  // Inserted at clocks on either side of the level boundaries 4096 and 4992.
  for (const clock of [0, 100, 4095, 4096, 4500, 4991, 4992, 4999]) {
    w.timerExpire(clock);
    order.push(insert(w, deadline));
    insert(w, deadline + 1); // a later neighbour in the same slots, fires after
  }
  w.timerExpire(4999.2);
  order.push(insert(w, 4999.2)); // ceil: also 5000, inserted last
  assert.is(w.timerExpire(5000), order.length);
  assert.equal(drain(w), indices(...order));
});

test('timerTakeDue: a timer inserted while the due list drains waits for the next timerExpire', () => {
  const w = wheel();
  const first = [insert(w, 10), insert(w, 10), insert(w, 10)];
  assert.is(w.timerExpire(10), 3);
  assert.is(w.timerTakeDue(), first[0]!.index);
  const overdue = insert(w, 0);
  const now = insert(w, 10);
  assert.equal(drain(w), indices(first[1]!, first[2]!), 'not the ones inserted during the drain');
  assert.is(w.timerNextDeadline(), 10, 'they are due at the current tick');
  assert.is(w.timerExpire(10), 2);
  assert.equal(drain(w), indices(overdue, now));
});

test('timerCancel: removes a due timer from the due list; a stale handle does nothing', () => {
  const w = wheel();
  const [a, b, c] = [insert(w, 5), insert(w, 5), insert(w, 5)];
  assert.is(w.timerExpire(5), 3);
  assert.is(w.timerCancel(b.index, b.generation), 1);
  assert.is(w.timerCancel(b.index, b.generation), 0, 'twice');
  assert.is(w.timerCount(), 2);
  assert.equal(drain(w), indices(a, c));
  assert.is(w.timerCancel(a.index, a.generation), 0, 'after firing');
  assert.is(w.timerCount(), 0);

  const live = insert(w, 100);
  assert.is(w.timerCancel(live.index, live.generation + 1), 0, 'wrong generation');
  assert.is(w.timerCancel(-1, 0), 0);
  assert.is(w.timerCancel(w.timerCapacity(), 0), 0);
  assert.is(w.timerCancel(40, 0), 0, 'an index never handed out');
  assert.is(w.timerCount(), 1);
  assert.is(w.timerCancel(live.index, live.generation), 1);
  assert.is(w.timerExpire(1000), 0);
  assert.is(w.timerNextDeadline(), -1);
});

test('timerReschedule: keeps the handle, pulls a due timer back, and counts as a new insertion', () => {
  const w = wheel();
  const [a, b] = [insert(w, 5), insert(w, 5)];
  assert.is(w.timerExpire(5), 2);
  assert.is(w.timerReschedule(a.index, a.generation, 20), 1, 'due but not taken');
  assert.is(w.timerGeneration(a.index), a.generation);
  assert.equal(drain(w), [b.index]);
  const c = insert(w, 20);
  assert.is(w.timerReschedule(c.index, c.generation, 20), 1, 'same deadline: now behind a');
  const d = insert(w, 20);
  assert.is(w.timerExpire(19), 0);
  assert.is(w.timerExpire(20), 3);
  assert.equal(drain(w), indices(a, c, d));
  assert.is(w.timerReschedule(a.index, a.generation, 50), 0, 'after firing');
  assert.is(w.timerReschedule(99, 0, 50), 0, 'out of range');
  assert.is(w.timerCount(), 0);
});

test('timerNextDeadline: -1 when empty, exact at level 0, a slot start above, the clock when due', () => {
  const w = wheel();
  assert.is(w.timerNextDeadline(), -1);
  const near = insert(w, 40);
  const far = insert(w, 10_000);
  assert.is(w.timerNextDeadline(), 40);
  assert.is(w.timerCancel(near.index, near.generation), 1);
  // 10000 is level 2 from 0: slot (10000 >> 12) & 63 = 2 starts at 8192.
  assert.is(w.timerNextDeadline(), 8192);
  assert.is(w.timerExpire(8192), 0);
  // Cascaded to level 1, slot 28: 8192 + 28 * 64.
  assert.is(w.timerNextDeadline(), 9984);
  assert.is(w.timerExpire(9984), 0);
  assert.is(w.timerNextDeadline(), 10_000);
  assert.is(w.timerExpire(10_000), 1);
  assert.is(w.timerNextDeadline(), 10_000, 'due, not yet taken');
  assert.equal(drain(w), [far.index]);
  assert.is(w.timerNextDeadline(), -1);
});

test('timerInsert: a full table answers ERR_TIMERS_FULL and recovers after a cancel or a take', () => {
  assert.is(FULL, -5);
  const w = wheel(4);
  const timers = [insert(w, 1), insert(w, 2), insert(w, 3), insert(w, 4)];
  assert.is(w.timerInsert(5), FULL);
  assert.is(w.timerCount(), 4);
  assert.is(w.timerCapacity(), 4);
  assert.is(w.timerCancel(timers[2]!.index, timers[2]!.generation), 1);
  const reused = insert(w, 5);
  assert.is(reused.index, timers[2]!.index, 'the freed entry');
  assert.is.not(reused.generation, timers[2]!.generation);
  assert.is(w.timerCancel(timers[2]!.index, timers[2]!.generation), 0, 'the old handle stays stale');
  assert.is(w.timerInsert(6), FULL);
  assert.is(w.timerExpire(1), 1);
  assert.is(w.timerInsert(6), FULL, 'a due timer still holds its entry');
  assert.equal(drain(w), [timers[0]!.index]);
  insert(w, 6);
  assert.is(w.timerCount(), 4);
});

test('timers: one million live timers are inserted and expire in order, at 24 bytes each', () => {
  const count = 1 << 20;
  const core = createTestingCore(8, 8, STRIDE, DATA_OFFSET, count);
  const w = core.exports;
  const deadlines = new Float64Array(count);
  let seed = 12345;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    // Half crowd the first 4 s (many ties), half spread over 2^31 ms.
    deadlines[i] = i % 2 ? seed % 4096 : seed;
    if (w.timerInsert(deadlines[i]!) !== i) assert.unreachable(`insert ${i}`);
  }
  assert.is(w.timerInsert(0), FULL);
  assert.is(w.timerCount(), count);

  let taken = 0;
  let previous = -1;
  for (const now of [0, 100, 4096, 2 ** 20, 2 ** 31]) {
    w.timerExpire(now);
    for (let index = w.timerTakeDue(); index >= 0; index = w.timerTakeDue()) {
      const deadline = deadlines[index]!;
      if (deadline > now) assert.unreachable(`timer ${index} due at ${deadline} fired at ${now}`);
      const last = previous < 0 ? -1 : deadlines[previous]!;
      if (deadline < last || (deadline === last && index < previous)) {
        assert.unreachable(`timer ${index} (${deadline}) fired after ${previous} (${last})`);
      }
      previous = index;
      taken++;
    }
  }
  assert.is(taken, count);
  assert.is(w.timerCount(), 0);

  assert.ok(ENTRY_BYTES <= 32, `${ENTRY_BYTES} bytes per entry`);
  const timersBytes = w.layoutBytes(8, 8, STRIDE, count) - w.layoutBytes(8, 8, STRIDE, 0);
  assert.is(timersBytes, count * ENTRY_BYTES);
  const pages = Math.ceil(w.layoutBytes(8, 8, STRIDE, count) / 65536);
  assert.is(core.memory.buffer.byteLength, pages * 65536, 'the memory is exactly the layout, in pages');
});

test('createCore: maxTimers defaults to 65536 and is checked before any memory is made', () => {
  assert.is(DEFAULT_MAX_TIMERS, 65536);
  assert.is(createTestingCore(8, 8, STRIDE, DATA_OFFSET).exports.timerCapacity(), 65536);
  assert.is(wheel(0).timerInsert(0), FULL, 'a loop may have no timers at all');
  throws(() => createTestingCore(8, 8, STRIDE, DATA_OFFSET, -1), rangeErr);
  throws(() => createTestingCore(8, 8, STRIDE, DATA_OFFSET, 1.5), rangeErr);
  throws(() => createTestingCore(8, 8, STRIDE, DATA_OFFSET, MAX_TIMERS_LIMIT + 1), rangeErr);
  throws(() => createTestingCore(8, 8, STRIDE, DATA_OFFSET, '10' as unknown as number), typeErr);
});

test('timers: the timers region does not overlap the fd registry', () => {
  const maxFds = 64;
  const w = wheel(64, maxFds);
  const role = w.ROLE_CLIENT.value as number;
  const gens = Array.from({ length: maxFds }, (_, fd) => w.register(fd, role, 1));
  const timers = Array.from({ length: 64 }, (_, i) => insert(w, i));
  assert.is(w.timerExpire(100), 64);
  assert.equal(drain(w), indices(...timers));
  for (let fd = 0; fd < maxFds; fd++) {
    assert.is(w.generationOf(fd), gens[fd], `fd ${fd}`);
    assert.is(w.roleOf(fd), role, `fd ${fd}`);
  }
  assert.is(w.registeredCount(), maxFds);
});

// ---- the model -----------------------------------------------------------------------

type Command =
  | { kind: 'insert'; delay: number }
  | { kind: 'cancel'; pick: number }
  | { kind: 'reschedule'; pick: number; delay: number }
  | { kind: 'advance'; step: number }
  | { kind: 'take'; count: number };

const fraction = fc.constantFrom(0, 0, 0, 0.25, 0.999);
const withFraction = (ms: fc.Arbitrary<number>): fc.Arbitrary<number> => fc.tuple(ms, fraction).map(([n, f]) => n + f);
const delay = withFraction(
  fc.oneof(
    fc.integer({ min: 0, max: 70 }),
    fc.integer({ min: 0, max: 5000 }),
    fc.integer({ min: 0, max: 2 ** 32 }),
    fc.constantFrom(-5, 0, 63, 64, 4095, 4096, 2 ** 30, MAX_DELAY, MAX_DELAY + 1, 2 * MAX_DELAY),
  ),
);
const step = withFraction(
  fc.oneof(
    fc.integer({ min: 0, max: 70 }),
    fc.integer({ min: 0, max: 5000 }),
    fc.integer({ min: 0, max: 2 ** 33 }),
    fc.integer({ min: -100, max: -1 }),
  ),
);
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: delay.map((d) => ({ kind: 'insert' as const, delay: d })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'cancel' as const, pick })) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), delay).map(([pick, d]) => ({ kind: 'reschedule' as const, pick, delay: d })) },
  { weight: 2, arbitrary: step.map((s) => ({ kind: 'advance' as const, step: s })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 8 }).map((count) => ({ kind: 'take' as const, count })) },
);
// Starting clocks: zero, just below the top level's turn, mid top-level slot, far out.
const start = fc.constantFrom(0, 0, TOP_TURN - 100, 5 * 2 ** 30 + 123, 2 ** 40 - 7);

/** Runs `commands` on a fresh wheel and the model side by side; throws at the first difference. */
function compare(capacity: number, startMs: number, commands: Command[]): void {
  const w = wheel(capacity);
  const model = new TimerModel(capacity, MAX_DELAY);
  const handles: Handle[] = []; // by model id
  const earliestFire: number[] = []; // by model id: the first tick it may fire at
  const fired = new Set<number>();
  let hostNow = startMs;
  assert.is(w.timerExpire(startMs), model.expire(startMs));

  const request = (id: number, deadlineMs: number): void => {
    earliestFire[id] = Math.min(Math.ceil(deadlineMs), model.clock + MAX_DELAY);
  };
  for (const [n, c] of commands.entries()) {
    const at = `command ${n} ${JSON.stringify(c)}`;
    if (c.kind === 'insert') {
      const deadline = hostNow + c.delay;
      const index = w.timerInsert(deadline);
      const id = model.insert(deadline);
      if (id === undefined) {
        assert.is(index, FULL, at);
      } else {
        assert.ok(index >= 0, `${at}: got ${index}`);
        handles[id] = { index, generation: w.timerGeneration(index) };
        request(id, deadline);
      }
    } else if (c.kind === 'cancel' || c.kind === 'reschedule') {
      if (handles.length === 0) continue;
      const id = c.pick % handles.length;
      const { index, generation } = handles[id]!;
      if (c.kind === 'cancel') {
        assert.is(w.timerCancel(index, generation), model.cancel(id), at);
      } else {
        const deadline = hostNow + c.delay;
        const result = model.reschedule(id, deadline);
        assert.is(w.timerReschedule(index, generation, deadline), result, at);
        if (result) request(id, deadline);
      }
    } else if (c.kind === 'advance') {
      hostNow += c.step;
      assert.is(w.timerExpire(hostNow), model.expire(hostNow), at);
    } else {
      for (let i = 0; i < c.count; i++) {
        const index = w.timerTakeDue();
        const id = model.takeDue();
        if (id === undefined) {
          assert.is(index, -1, at);
          break;
        }
        assert.is(index, handles[id]!.index, `${at}: took entry ${index}, the model timer ${id}`);
        assert.not.ok(fired.has(id), `${at}: timer ${id} fired twice`);
        assert.ok(model.clock >= earliestFire[id]!, `${at}: timer ${id} fired at ${model.clock}, before ${earliestFire[id]}`);
        fired.add(id);
      }
    }
    assert.is(w.timerCount(), model.count(), `${at}: count`);
    const earliest = model.earliest();
    const next = w.timerNextDeadline();
    if (earliest === -1 || earliest === model.clock) {
      assert.is(next, earliest, `${at}: next deadline`);
    } else {
      assert.ok(next > model.clock && next <= earliest, `${at}: next deadline ${next}, clock ${model.clock}, earliest ${earliest}`);
    }
  }
}

test('timers: random inserts, cancels, reschedules and clock moves agree with the model (small table, often full)', () => {
  fc.assert(
    fc.property(start, fc.array(command, { maxLength: 150 }), (startMs, commands) => compare(12, startMs, commands)),
    { numRuns: 300 },
  );
});

test('timers: random inserts, cancels, reschedules and clock moves agree with the model (room to spare)', () => {
  fc.assert(
    fc.property(start, fc.array(command, { minLength: 50, maxLength: 400 }), (startMs, commands) => compare(512, startMs, commands)),
    { numRuns: 150 },
  );
});

// ---- the exact way: timerSchedule, timerNext -------------------------------------------

interface Exact {
  handle: number;
  index: number;
}

/** Schedules at exactly `deadlineMs`; the handle and the index it names. */
function schedule(w: TestingCoreExports, deadlineMs: number, unref = false): Exact {
  const handle = w.timerSchedule(deadlineMs, unref ? 1 : 0);
  assert.ok(handle >= 0, `timerSchedule(${deadlineMs}) returned ${handle}`);
  return { handle, index: handle % 2 ** (w.timerIndexBits.value as number) };
}

/** Every timer timerNext hands out in this pass. */
function pass(w: TestingCoreExports): number[] {
  const taken: number[] = [];
  for (let i = 0; i <= w.timerCapacity(); i++) {
    const index = w.timerNext();
    if (index < 0) return taken;
    taken.push(index);
  }
  assert.unreachable('a pass handed out more timers than the table holds');
  return taken;
}

test('timerIndexBits: the bits maxTimers - 1 needs, at least 1; a handle is generation << bits | index', () => {
  const cases: [number, number][] = [[0, 1], [1, 1], [2, 1], [3, 2], [64, 6], [65, 7], [65536, 16], [65537, 17], [2 ** 24, 24]];
  for (const [maxTimers, bits] of cases) {
    assert.is(createTestingCore(8, 8, STRIDE, DATA_OFFSET, maxTimers).exports.timerIndexBits.value, bits, `maxTimers ${maxTimers}`);
  }
  const w = wheel(64);
  const first = schedule(w, 10);
  assert.is(first.handle, first.index, 'generation 0: the handle is the index');
  assert.is(w.timerRemove(first.index), 1);
  const again = schedule(w, 10);
  assert.is(again.index, first.index, 'the freed entry');
  assert.is(again.handle, w.timerGeneration(again.index) * 64 + again.index);
  assert.is.not(again.handle, first.handle);
  assert.is(w.timerCancel(first.index, (first.handle - first.index) / 64), 0, 'the old handle is stale');
  assert.is(w.timerCancel(again.index, (again.handle - again.index) / 64), 1);
});

test('timerSchedule: the exact deadline is kept; due by the millisecond, timerNext holds it until the deadline itself', () => {
  const w = wheel();
  const half = schedule(w, 10.5);
  const whole = schedule(w, 10);
  assert.is(w.timerNextDeadline(), 10, 'filed under its millisecond');
  assert.is(w.timerExpire(10.25), 2, 'both due by the millisecond');
  assert.equal(pass(w), [whole.index], '10.5 is held');
  assert.is(w.timerCount(), 1, 'a held timer is still pending');
  assert.is(w.timerNextDeadline(), 10.5, 'the wait ends at the held deadline');
  assert.is(w.timerExpire(10.4), 0);
  assert.equal(pass(w), [], 'held again at 10.4');
  assert.is(w.timerExpire(10.5), 0, 'nothing new from the wheel');
  assert.equal(pass(w), [half.index]);
  assert.is(w.timerCount(), 0);
  assert.is(w.timerNextDeadline(), -1);
});

test('timerNext: the held timers of earlier passes come first, then the due list; each counts as fired', () => {
  const core = createTestingCore(8, 8, STRIDE, DATA_OFFSET, 64);
  const w = core.exports;
  const counters = new Float64Array(core.memory.buffer, w.metricsBase.value as number, w.COUNTERS.value as number);
  const held = schedule(w, 10.75);
  w.timerExpire(10.5);
  assert.equal(pass(w), []);
  const later = schedule(w, 10.6); // set after the pass: overdue by the millisecond, waits for the next expire
  const next = schedule(w, 11);
  assert.is(w.timerCount(), 3);
  assert.is(w.timerExpire(11), 2);
  assert.equal(pass(w), [held.index, later.index, next.index]);
  assert.is(counters[w.COUNTER_TIMERS_FIRED.value as number], 3);
});

test('timerNext: a pass cut short leaves the rest for the next expire, held ones first, and the wait is theirs', () => {
  const w = wheel();
  const a = schedule(w, 5.2);
  const b = schedule(w, 5.4);
  const c = schedule(w, 6);
  w.timerExpire(5.1);
  assert.equal(pass(w), [], 'both held');
  w.timerExpire(5.3);
  assert.is(w.timerNext(), a.index);
  // Cut short here: b is still in the pass list.
  assert.is(w.timerNextDeadline(), 5.4, "the rest of the pass: b's deadline");
  w.timerExpire(6);
  assert.equal(pass(w), [b.index, c.index]);
});

test("timerSchedule: a deadline beyond the wheel's range from its tick fires at that deadline, never early", () => {
  const w = wheel();
  w.timerExpire(1000.5); // the wheel at tick 1000
  // The host's clock may be ahead of the wheel: its clamp counts from there.
  const deadline = 1000 + MAX_DELAY + 5000.25;
  const far = schedule(w, deadline);
  let fired: number[] = [];
  let wakeups = 0;
  while (fired.length === 0 && wakeups < 40) {
    const next = w.timerNextDeadline();
    assert.ok(next > 0 && next <= deadline, `next deadline ${next}`);
    w.timerExpire(next);
    fired = pass(w);
    if (fired.length > 0) assert.is(next, deadline, 'fired before its deadline');
    wakeups++;
  }
  assert.equal(fired, [far.index]);
});

test("timerSchedule: NaN or a negative deadline is the wheel's tick; a past one keeps its lateness", () => {
  const w = wheel();
  w.timerExpire(100);
  const nan = schedule(w, NaN);
  const negative = schedule(w, -5);
  const past = schedule(w, 40);
  assert.is(w.timerNextDeadline(), 100, 'overdue');
  assert.is(w.timerExpire(100), 3);
  assert.equal(pass(w), [nan.index, negative.index, past.index], 'overdue timers in insertion order');
  // Lateness 0, 0 and 60 ms: log2 buckets of µs.
  assert.is(w.percentile(w.HISTOGRAM_TIMER_LATENESS_US.value as number, 1), 65536);
});

test('timerRemove, timerMove, timerSetRef: 1 for a pending entry (due and held ones too), 0 otherwise', () => {
  const w = wheel(8);
  const a = schedule(w, 5);
  const b = schedule(w, 5.5, true);
  const c = schedule(w, 5);
  assert.is(w.timerUnrefCount(), 1);
  w.timerExpire(5.2);
  assert.is(w.timerNext(), a.index);
  assert.is(w.timerNext(), c.index);
  assert.is(w.timerNext(), -1, 'b held');
  assert.is(w.timerSetRef(b.index, 1), 1, 'held');
  assert.is(w.timerUnrefCount(), 0);
  assert.is(w.timerSetRef(b.index, 0), 1);
  assert.is(w.timerSetRef(b.index, 0), 1, 'twice: counted once');
  assert.is(w.timerUnrefCount(), 1);
  assert.is(w.timerMove(b.index, 20), 1, 'held, moved');
  assert.is(w.timerNextDeadline(), 20);
  for (const index of [a.index, c.index, 7, 100, -1]) {
    assert.is(w.timerRemove(index), 0, `remove ${index}`);
    assert.is(w.timerMove(index, 1), 0, `move ${index}`);
    assert.is(w.timerSetRef(index, 1), 0, `setRef ${index}`);
  }
  assert.is(w.timerRemove(b.index), 1);
  assert.is(w.timerUnrefCount(), 0, 'an unref timer removed is uncounted');
  assert.is(w.timerCount(), 0);
  const d = schedule(w, 6, true);
  w.timerExpire(6);
  assert.equal(pass(w), [d.index]);
  assert.is(w.timerUnrefCount(), 0, 'an unref timer fired is uncounted');
});

test('timerSchedule: a full table answers ERR_TIMERS_FULL; a held timer keeps its entry', () => {
  const w = wheel(2);
  schedule(w, 3.5);
  schedule(w, 3);
  assert.is(w.timerSchedule(4, 0), FULL);
  w.timerExpire(3.25);
  pass(w);
  assert.is(w.timerCount(), 1, 'the held one');
  schedule(w, 4);
  assert.is(w.timerSchedule(4, 0), FULL);
});

type ExactCommand =
  | { kind: 'schedule'; delay: number; unref: boolean }
  | { kind: 'remove'; pick: number }
  | { kind: 'move'; pick: number; delay: number }
  | { kind: 'ref'; pick: number; ref: boolean }
  | { kind: 'advance'; step: number }
  | { kind: 'next'; count: number };

const exactFraction = fc.constantFrom(0, 0, 0.25, 0.5, 0.999);
const exactDelay = fc.tuple(
  fc.oneof(
    fc.integer({ min: -10, max: 70 }),
    fc.integer({ min: 0, max: 5000 }),
    fc.integer({ min: 0, max: 2 ** 32 }),
    fc.constantFrom(0, 63, 64, 4095, 4096, 2 ** 30, MAX_DELAY - 1),
  ),
  exactFraction,
).map(([n, f]) => n + f);
const exactStep = fc.tuple(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 2 ** 33 })), exactFraction).map(([n, f]) => n + f);
const exactCommand: fc.Arbitrary<ExactCommand> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(exactDelay, fc.boolean()).map(([d, unref]) => ({ kind: 'schedule' as const, delay: d, unref })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'remove' as const, pick })) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), exactDelay).map(([pick, d]) => ({ kind: 'move' as const, pick, delay: d })) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.boolean()).map(([pick, ref]) => ({ kind: 'ref' as const, pick, ref })) },
  { weight: 2, arbitrary: exactStep.map((s) => ({ kind: 'advance' as const, step: s })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 8 }).map((count) => ({ kind: 'next' as const, count })) },
);

/** Runs `commands` through the exact way and ExactTimerModel side by side; throws at the first difference. */
function compareExact(capacity: number, startMs: number, commands: ExactCommand[]): void {
  const w = wheel(capacity);
  const model = new ExactTimerModel(capacity);
  const bits = w.timerIndexBits.value as number;
  const ids: number[] = []; // by model id: the entry index
  const live = new Set<number>();
  let hostNow = startMs;
  assert.is(w.timerExpire(startMs), model.expire(startMs));
  // As the host does: deadlines within the wheel's range of the clock.
  const deadlineFor = (delay: number): number => hostNow + Math.min(delay, MAX_DELAY);
  for (const [n, c] of commands.entries()) {
    const at = `command ${n} ${JSON.stringify(c)}`;
    if (c.kind === 'schedule') {
      const deadline = deadlineFor(c.delay);
      const handle = w.timerSchedule(deadline, c.unref ? 1 : 0);
      const id = model.schedule(deadline, c.unref);
      if (id === undefined) {
        assert.is(handle, FULL, at);
      } else {
        assert.ok(handle >= 0 && Number.isSafeInteger(handle), `${at}: got ${handle}`);
        const index = handle % 2 ** bits;
        assert.is((handle - index) / 2 ** bits, w.timerGeneration(index), `${at}: the handle's generation`);
        ids[id] = index;
        live.add(id);
      }
    } else if (c.kind === 'remove' || c.kind === 'move' || c.kind === 'ref') {
      if (ids.length === 0) continue;
      const id = c.pick % ids.length;
      // A stale id names an entry that may be reused: ask the core only for live ones.
      const expected = c.kind === 'remove' ? model.remove(id) : c.kind === 'move' ? model.move(id, deadlineFor(c.delay)) : model.setRef(id, c.ref);
      if (!live.has(id)) {
        assert.is(expected, 0, `${at}: the model still has ${id}`);
        continue;
      }
      const index = ids[id]!;
      const got = c.kind === 'remove' ? w.timerRemove(index) : c.kind === 'move' ? w.timerMove(index, deadlineFor(c.delay)) : w.timerSetRef(index, c.ref ? 1 : 0);
      assert.is(got, expected, at);
      if (c.kind === 'remove') live.delete(id);
    } else if (c.kind === 'advance') {
      hostNow += c.step;
      assert.is(w.timerExpire(hostNow), model.expire(hostNow), at);
    } else {
      for (let i = 0; i < c.count; i++) {
        const index = w.timerNext();
        const taken = model.next();
        if (taken === undefined) {
          assert.is(index, -1, at);
          break;
        }
        assert.is(index, ids[taken.id], `${at}: took entry ${index}, the model timer ${taken.id}`);
        assert.ok(taken.lateMs >= 0, `${at}: timer ${taken.id} fired ${-taken.lateMs} ms early`);
        live.delete(taken.id);
      }
    }
    assert.is(w.timerCount(), model.count(), `${at}: count`);
    assert.is(w.timerUnrefCount(), model.unrefCount(), `${at}: unref count`);
    const earliest = model.earliest();
    const next = w.timerNextDeadline();
    if (earliest === -1 || earliest === model.clock) {
      assert.is(next, earliest, `${at}: next deadline`);
    } else {
      assert.ok(next >= model.clock && next <= earliest, `${at}: next deadline ${next}, clock ${model.clock}, earliest ${earliest}`);
    }
  }
}

test('timers, the exact way: random schedules, removes, moves, refs, clock moves and passes agree with the model (small table)', () => {
  fc.assert(
    fc.property(start, fc.array(exactCommand, { maxLength: 150 }), (startMs, commands) => compareExact(12, startMs, commands)),
    { numRuns: 300 },
  );
});

test('timers, the exact way: random schedules, removes, moves, refs, clock moves and passes agree with the model (room to spare)', () => {
  fc.assert(
    fc.property(start, fc.array(exactCommand, { minLength: 50, maxLength: 400 }), (startMs, commands) => compareExact(512, startMs, commands)),
    { numRuns: 150 },
  );
});

// ---- the batched way: timerTakeBatch, timerNextBatch, timerEndBatch, timerReleaseRan ------------

/** The batch region's cells, as the host reads them. */
function batchCells(core: ReturnType<typeof createTestingCore>): Int32Array {
  return new Int32Array(core.memory.buffer, core.exports.timerBatchBase.value as number, core.exports.TIMER_BATCH.value as number);
}

test('timerTakeBatch: the pass in order, TIMER_BATCH cells at most, held ones held; the entries stay pending and are not reused until the batch ends', () => {
  const core = createTestingCore(8, 8, STRIDE, DATA_OFFSET, 4096);
  const w = core.exports;
  const cells = batchCells(core);
  const size = w.TIMER_BATCH.value as number;
  const due = Array.from({ length: size + 10 }, () => schedule(w, 10).index);
  const held = schedule(w, 10.75);
  w.timerExpire(10.5);
  assert.is(w.timerTakeBatch(), size);
  assert.equal(Array.from(cells.subarray(0, size)), due.slice(0, size));
  assert.is(w.timerCount(), size + 11, 'a batch is still pending');
  const fresh = schedule(w, 20);
  assert.not.ok(due.includes(fresh.index), 'a new timer took an entry of the open batch');
  assert.is(w.timerNextBatch(size), 10, 'the rest; the held one held back');
  assert.equal(Array.from(cells.subarray(0, 10)), due.slice(size));
  assert.is(w.timerCount(), 12, 'the first batch fired: its entries released');
  assert.is(w.timerNextBatch(10), 0);
  assert.is(w.timerCount(), 2, 'the held one and the new one');
  assert.is(w.timerNextDeadline(), 10.75);
  const again = schedule(w, 30);
  assert.ok(due.includes(again.index), 'a released entry is reused');
  void held;
});

test('timerEndBatch: cells not reached go back first in the next pass, in order; a cancel or move of a cell not yet run marks it NIL', () => {
  const core = createTestingCore(8, 8, STRIDE, DATA_OFFSET, 64);
  const w = core.exports;
  const cells = batchCells(core);
  const t = Array.from({ length: 6 }, () => schedule(w, 10));
  w.timerExpire(10);
  assert.is(w.timerTakeBatch(), 6);
  assert.is(w.timerCancel(t[3]!.index, (t[3]!.handle - t[3]!.index) / 64), 1);
  assert.is(w.timerMove(t[4]!.index, 50), 1);
  assert.equal(Array.from(cells.subarray(0, 6)), [t[0]!.index, t[1]!.index, t[2]!.index, -1, -1, t[5]!.index]);
  w.timerEndBatch(2); // ran 0 and 1
  assert.is(w.timerCount(), 3, '2, 5 and the moved 4');
  const late = schedule(w, 10);
  w.timerExpire(11);
  assert.equal(pass(w), [t[2]!.index, t[5]!.index, late.index]);
  assert.is(w.timerNextDeadline(), 50);
});

test('timerReleaseRan: the entries of the cells run so far are released at once and their cells marked NIL; the batch stays open', () => {
  const core = createTestingCore(8, 8, STRIDE, DATA_OFFSET, 4);
  const w = core.exports;
  const cells = batchCells(core);
  const counters = new Float64Array(core.memory.buffer, w.metricsBase.value as number, w.COUNTERS.value as number);
  const t = Array.from({ length: 4 }, () => schedule(w, 10));
  w.timerExpire(10);
  assert.is(w.timerTakeBatch(), 4);
  assert.is(w.timerSchedule(20, 0), w.ERR_TIMERS_FULL.value, 'full: the batch holds every entry');
  w.timerReleaseRan(2);
  assert.equal(Array.from(cells.subarray(0, 4)), [-1, -1, t[2]!.index, t[3]!.index]);
  assert.is(w.timerCount(), 2);
  assert.is(counters[w.COUNTER_TIMERS_FIRED.value as number], 2);
  const fresh = schedule(w, 20);
  assert.ok([t[0]!.index, t[1]!.index].includes(fresh.index));
  w.timerEndBatch(4);
  assert.is(w.timerCount(), 1, 'only the new one');
  assert.is(counters[w.COUNTER_TIMERS_FIRED.value as number], 4, 'each fired once');
});

test.run();
