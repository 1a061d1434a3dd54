// A timer pass, as the loop runs it: the host's side of the core's batches
// (assembly/timer-batch.ts). The timer table (timer-table.ts) says what each
// wheel entry is for; this runs the entries a pass finds due.
//
// A pass is pulled by the loop: advance(now) moves the wheel to `now` and
// takes the first batch of due entries from the core (up to TIMER_BATCH
// indices in its batch region, one call into wasm per batch, none per
// timer); peek() says what runs next. A run of handle-free timeouts goes
// through fireTimeouts(), called back to back in one scope; a run of plain
// one-shot Timers (no options, no interval) through fireTimers(), back to
// back with Node's tick step after each where the loop's caller needs it;
// any other Timer's entry through takeTimer() (an interval is scheduled
// again before its callback runs) and its callback through the loop's
// callback runner, one at a time. The core keeps a batch's entries pending until the
// host has passed their cells (endPass(), or the next batch): so a callback
// that cancels or moves a later timer of the batch has its cell marked and
// skipped, and no entry of the batch is reused under the host. A pass the
// loop leaves early (a stop, a fatal error) is ended where it stopped: the
// timers still due fire first in the next advance().
import { TIMER_BATCH } from '../core/abi.js';
import type { Core, CoreExports } from '../core/loader.js';
import { DetailedTimer, IDLE, REPEAT, releaseSignal, type Timer } from './timer.js';
import { CB, type CallbackRunner } from './callbacks.js';
import type { LoopState } from './state.js';

/** What a handle-free timeout calls, with the argument it was given. */
export type TimeoutCallback = (arg: never) => void;

/** By wheel entry: its Timer, or a handle-free timeout's callback. */
export type TimerSlots = (Timer | TimeoutCallback | undefined)[];

/**
 * Handle-free timeouts of one pass run back to back, in groups, and the
 * clock is read after each group rather than after each timeout: a read
 * (performance.now()) costs about 50 ns here, as much as a small timeout.
 * A pass's first group is TIMEOUTS_PER_CLOCK_READ timeouts; each next one
 * is sized to take about TIMEOUT_GROUP_MS at the pace of the one before
 * (timeoutGroup): at most twice as many, 1 to TIMER_BATCH. So a run of
 * fast timeouts reads the clock about once per batch (a pass of 100,000
 * reads it about a hundred times instead of 3,125, and the clock's and the
 * runner's code is not hot enough to be compiled in the middle of it:
 * bench/timers.ts, scenario fire-same-ms), and a slow one is timed in a
 * group of a few, or alone.
 */
export const TIMEOUTS_PER_CLOCK_READ = 32;

/**
 * What a group of timeouts is sized to take, ms: 50 µs, a thousand clock
 * reads' worth, so reading costs about 0.1%, and a slow timeout's reported
 * duration ('slow') is its own plus about this much.
 */
export const TIMEOUT_GROUP_MS = 0.05;

/** What a pass runs next (TimerPass.advance, peek, fireTimeouts, fireTimers). */
export const PASS_OVER = -1;
/** A handle-free timeout: fireTimeouts(). */
export const NEXT_TIMEOUT = 0;
/** A plain one-shot Timer (no options, no interval): fireTimers(). */
export const NEXT_TIMER = 1;
/** An interval or a Timer with options: takeTimer(), one at a time. */
export const NEXT_TIMER_ALONE = 2;

/** What runs the cells of one group: the next cell, or ~cell at one of another kind (runTimeoutCells, runTimerCells). */
type CellRunner<Extra> = (cells: Int32Array, slots: TimerSlots, extra: Extra, state: LoopState, run: CallbackRunner, at: number, stop: number) => number;

export class TimerPass {
  readonly #wasm: CoreExports;
  readonly #state: LoopState;
  readonly #run: CallbackRunner;
  /** The table's slots, by wheel entry (the same array: the table fills it). */
  readonly #slots: TimerSlots;
  /** The table's handle-free timeouts' arguments, undefined until any was given one. */
  readonly #args: () => unknown[] | undefined;
  /** Schedules an interval again, at `base` (plus its jitter). */
  readonly #rearm: (timer: Timer, base: number) => void;
  /** The time of the pass under way. */
  #passNow = 0;
  /** The core's batch region: the due entries of the pass, a batch at a time (NIL: cancelled or moved before its turn). */
  readonly #cells: Int32Array;
  /** Cells in the batch; the next one to run (while fireTimeouts runs, where it began: see runPosition). */
  #batchEnd = 0;
  #batchAt = 0;

  constructor(core: Core, state: LoopState, run: CallbackRunner, slots: TimerSlots, args: () => unknown[] | undefined, rearm: (timer: Timer, base: number) => void) {
    const wasm = core.exports;
    this.#wasm = wasm;
    this.#cells = new Int32Array(core.memory.buffer, wasm.timerBatchBase.value as number, TIMER_BATCH);
    this.#state = state;
    this.#run = run;
    this.#slots = slots;
    this.#args = args;
    this.#rearm = rearm;
  }

  /** Cells of the open batch that ran, whose entries the core still holds until the batch ends. */
  ranCells(): number {
    const cells = this.#cells;
    const at = this.runPosition();
    let ran = 0;
    for (let cell = 0; cell < at; cell++) if (cells[cell]! >= 0) ran++;
    return ran;
  }

  /**
   * Advances the wheel to `now` (timers due by `floor(now)` go to its due
   * list), begins a pass at `now` and takes its first batch. Returns what
   * comes first: NEXT_TIMEOUT, NEXT_TIMER or PASS_OVER. The pass is ended
   * by endPass(), however it ends.
   */
  advance(now: number): number {
    const w = this.#wasm;
    this.#passNow = now;
    w.timerExpire(now);
    this.#batchAt = 0;
    this.#batchEnd = w.timerTakeBatch();
    return this.peek();
  }

  /**
   * What the pass runs next: held timers of earlier passes first, then the
   * wheel's due list, in deadline order, equal deadlines in insertion order;
   * a timer whose exact deadline is still ahead (its millisecond has only
   * begun) is held back for a later pass by the core. The due list is never
   * refilled during a pass: a timer set by a callback, even overdue, waits
   * for the next advance(). A cell whose timer was cancelled or moved
   * before its turn is skipped.
   */
  peek(): number {
    const cells = this.#cells;
    for (;;) {
      const at = this.#batchAt;
      if (at === this.#batchEnd) {
        if (at === 0 || this.#refill() === 0) return PASS_OVER;
        continue;
      }
      const index = cells[at]!;
      if (index >= 0) {
        const slot = this.#slots[index];
        return typeof slot === 'function' ? NEXT_TIMEOUT : isPlainTimeout(slot!) ? NEXT_TIMER : NEXT_TIMER_ALONE;
      }
      this.#batchAt = at + 1;
    }
  }

  /**
   * Takes the Timer peek() found next, its interval already scheduled again
   * (so the callback can cancel or refresh it), a timeout done.
   */
  takeTimer(): Timer {
    const at = this.#batchAt;
    const index = this.#cells[at]!;
    const timer = this.#slots[index] as Timer;
    this.#slots[index] = undefined;
    this.#batchAt = at + 1;
    if ((timer.bits & REPEAT) !== 0) {
      this.#rearm(timer, nextTick(timer as DetailedTimer, this.#passNow));
    } else {
      timer.index = IDLE;
      releaseSignal(timer);
    }
    return timer;
  }

  /**
   * Runs the handle-free timeouts from the one peek() found next, back to
   * back, across batches, until the pass is over (PASS_OVER), the next is a
   * Timer's (NEXT_TIMER, NEXT_TIMER_ALONE), or a callback stops the turn or
   * closes the loop (PASS_OVER). What a callback throws goes to the loop's
   * error path; the clock is read once per group of callbacks (timeoutGroup).
   */
  fireTimeouts(): number {
    // No timeout due in this pass was given an argument unless the table
    // existed when the pass began: a timeout set during it is not due in it.
    return this.#fireRun(runTimeoutCells, this.#args());
  }

  /**
   * Runs the plain one-shot Timers from the one peek() found next as
   * fireTimeouts() runs timeouts, each followed by `after` (Node's tick
   * step, under run() and start(); nothing under runOnce()), until the next
   * is of another kind, the pass is over, or a callback stops the turn.
   */
  fireTimers(after: (() => void) | undefined): number {
    return this.#fireRun(runTimerCells, after);
  }

  /** The group loop of fireTimeouts and fireTimers: `runner` runs a group, the clock is read after it. */
  #fireRun<Extra>(runner: CellRunner<Extra>, extra: Extra): number {
    const cells = this.#cells;
    const slots = this.#slots;
    const state = this.#state;
    const run = this.#run;
    const traced = run.trace !== undefined;
    let group = traced ? 1 : TIMEOUTS_PER_CLOCK_READ;
    let at = this.#batchAt;
    let end = this.#batchEnd;
    let next = PASS_OVER;
    let returned = false;
    try {
      for (;;) {
        if (at === end) {
          this.#batchAt = at;
          end = this.#refill();
          at = 0;
          if (end === 0) break;
        }
        const from = at;
        at = runner(cells, slots, extra, state, run, at, end - at > group ? at + group : end);
        let other = false;
        if (at < 0) {
          at = ~at;
          other = true;
        }
        const ran = at - from - cellsSkipped;
        if (ran > 0) {
          const ms = run.ranMany(CB.timer, ran);
          if (!traced) group = timeoutGroup(group, ran, ms);
        }
        if (state.halted) break;
        if (other) {
          this.#batchAt = at;
          next = this.peek();
          break;
        }
      }
      returned = true;
    } finally {
      // Something thrown past the error path leaves `at` at its group's
      // start: the cells run are found from their slots.
      this.#batchAt = at;
      if (!returned) this.#batchAt = this.runPosition();
    }
    return next;
  }

  /**
   * The pass is over, or left early (a stop, a fatal error, a close): the
   * cells run so far are done (the core counts them fired), and the timers
   * of the rest stay due, first in the next pass.
   */
  endPass(): void {
    this.#wasm.timerEndBatch(this.#batchAt);
    this.#batchAt = 0;
    this.#batchEnd = 0;
  }

  /**
   * The batch's next cell to run. fireTimeouts keeps its position in a
   * local until it returns: the cells it ran are those past #batchAt whose
   * timeout has left its slot (a cell not yet run holds a pending timer,
   * whose slot is set, or NIL).
   */
  runPosition(): number {
    const cells = this.#cells;
    const slots = this.#slots;
    const end = this.#batchEnd;
    let at = this.#batchAt;
    for (; at < end; at++) {
      const index = cells[at]!;
      if (index >= 0 && slots[index] !== undefined) break;
    }
    return at;
  }

  /**
   * The table is full while a batch is open: the entries of its cells that
   * ran are released now (the core would otherwise keep them until the
   * batch ends), so a callback can set a timer where a fired one was, as
   * it could with one entry at a time. False when there was none to free.
   */
  releaseRan(): boolean {
    if (this.#batchEnd === 0) return false;
    const before = this.#wasm.timerCount();
    this.#wasm.timerReleaseRan(this.runPosition());
    return this.#wasm.timerCount() < before;
  }

  /** Ends the batch (every cell run) and takes the next; its length, 0 when the pass is over. */
  #refill(): number {
    this.#batchAt = 0;
    return (this.#batchEnd = this.#wasm.timerNextBatch(this.#batchEnd));
  }
}

/** NIL cells the last cell runner passed. */
let cellsSkipped = 0;
/** The cell after the timeout called last: where runTimeoutCells goes on after that timeout threw. */
let cellAfterCall = 0;

/** A Timer fireTimers() runs: a plain one (no label, signal or jitter), which is never an interval (an interval is a DetailedTimer). */
function isPlainTimeout(timer: Timer): boolean {
  return !(timer instanceof DetailedTimer);
}

/**
 * The timeouts of cells `at` .. `stop` - 1, run back to back, with no call
 * into wasm and the fewest steps between callbacks. Returns the next cell,
 * ~cell when that cell is a Timer's, or the cell after the callback that
 * halted the loop; cellsSkipped counts the NIL cells passed. What a
 * callback throws goes to the loop's error path, and the run goes on
 * after its cell.
 */
function runTimeoutCells(cells: Int32Array, slots: TimerSlots, args: unknown[] | undefined, state: LoopState, run: CallbackRunner, at: number, stop: number): number {
  let skipped = 0;
  while (at !== stop) {
    try {
      at = args === undefined ? callTimeouts(cells, slots, state, at, stop) : callTimeoutsWithArgs(cells, slots, args, state, at, stop);
    } catch (error) {
      at = cellAfterCall;
      run.failed(error, CB.timer, -1, undefined);
      if (state.halted) break;
      continue;
    }
    if (state.halted || at === stop) break;
    if (cells[at]! >= 0) {
      cellsSkipped = skipped;
      return ~at;
    }
    at++;
    skipped++;
  }
  cellsSkipped = skipped;
  return at;
}

/**
 * The loop of runTimeoutCells, for timeouts given no argument: up to the
 * first cell that is not a timeout's (NIL, or a Timer's) or the callback
 * that halted the loop. Lets what a callback throws through. Small (70
 * bytes of bytecode), with no try and no call but the callback's: in a
 * fresh process V8 marks it for optimization at its first profiler tick,
 * where the loop with the error path and the NIL cells inside (164 bytes)
 * waited for its fourth, and the pass spends less of itself in baseline
 * code (bench/timers.ts, scenario fire-same-ms; docs/performance.md).
 */
function callTimeouts(cells: Int32Array, slots: TimerSlots, state: LoopState, at: number, stop: number): number {
  while (at !== stop) {
    const index = cells[at]!;
    if (index < 0) break;
    const callback = slots[index];
    if (typeof callback !== 'function') break;
    slots[index] = undefined;
    cellAfterCall = ++at;
    (callback as () => void)();
    if (state.halted) break;
  }
  return at;
}

/** callTimeouts for a pass where some timeout was given an argument: each is called with its own. */
function callTimeoutsWithArgs(cells: Int32Array, slots: TimerSlots, args: unknown[], state: LoopState, at: number, stop: number): number {
  while (at !== stop) {
    const index = cells[at]!;
    if (index < 0) break;
    const callback = slots[index];
    if (typeof callback !== 'function') break;
    slots[index] = undefined;
    cellAfterCall = ++at;
    callback(takeArg(args, index) as never);
    if (state.halted) break;
  }
  return at;
}

/**
 * The plain one-shot Timers of cells `at` .. `stop` - 1, as runTimeoutCells
 * runs timeouts: each is done (IDLE: refresh() schedules it again) before
 * its callback, which is followed by `after` when given (what the callback
 * queued runs before the next one). Returns as runTimeoutCells does, ~cell
 * at a cell of another kind.
 */
function runTimerCells(cells: Int32Array, slots: TimerSlots, after: (() => void) | undefined, state: LoopState, run: CallbackRunner, at: number, stop: number): number {
  let skipped = 0;
  while (at !== stop) {
    const index = cells[at]!;
    if (index < 0) {
      at++;
      skipped++;
      continue;
    }
    const timer = slots[index]!;
    if (typeof timer === 'function' || !isPlainTimeout(timer)) {
      cellsSkipped = skipped;
      return ~at;
    }
    slots[index] = undefined;
    timer.index = IDLE;
    at++;
    try {
      timer.callback.call(timer);
    } catch (error) {
      run.failed(error, CB.timer, -1, undefined);
    }
    if (after !== undefined) after();
    if (state.halted) break;
  }
  cellsSkipped = skipped;
  return at;
}

/**
 * The next group's size, after `ran` timeouts took `ms`: as many as take
 * TIMEOUT_GROUP_MS at that pace, at most twice `group`, 1 to TIMER_BATCH.
 */
export function timeoutGroup(group: number, ran: number, ms: number): number {
  const most = group < TIMER_BATCH / 2 ? group * 2 : TIMER_BATCH;
  if (!(ms > 0)) return most;
  const fit = Math.floor((ran * TIMEOUT_GROUP_MS) / ms);
  return fit < 1 ? 1 : fit < most ? fit : most;
}

/** A due timeout's argument, taken out of the table. */
function takeArg(args: unknown[], index: number): unknown {
  if (index >= args.length) return undefined;
  const arg = args[index];
  args[index] = undefined;
  return arg;
}

/** An interval's next firing (before jitter), by its missed-tick policy. */
function nextTick(timer: DetailedTimer, now: number): number {
  const period = timer.exactDelay;
  if (timer.missed === 'delay') return now + period;
  const next = timer.base + period;
  if (timer.missed === 'burst' || next > now) return next;
  // skip: the first tick of the original phase after now.
  return timer.base + period * (Math.floor((now - timer.base) / period) + 1);
}
