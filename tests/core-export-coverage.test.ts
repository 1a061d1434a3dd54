// Which tests cover each export of the wasm core (assembly/index.ts). The
// model, oracle and fuzz tests are the core's guard: random sequences checked
// step by step against a model or against the core's TypeScript twin. This
// file holds the table of export → covering tests and fails when
//
// - an export is missing from the table (a new one no one has placed) or the
//   table names one the core no longer has;
// - an export is covered by no model, oracle or fuzz test;
// - a claim does not hold: the named test must name the export itself
//   (`.name`) or import it by name from the generated ABI (for core-oracle,
//   the reference core it compares against may import it); a claim
//   "test via src/x.ts" means the test reaches the export through that host
//   module, which must use it and which the test must import.
//
// docs/testing.md summarises the table by test.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createTestingCore } from '../src/testing/index.js';

/** Tests that check the core against a model or an oracle (random sequences, step by step). */
const MODEL_TESTS = new Set(['core-oracle', 'fuzz-core', 'timer-wheel', 'metrics-model']);
/** Example-based tests of the core on its own: they count as claims, not as the guard. */
const EXAMPLE_TESTS = new Set(['core-dispatch']);

const COVERED_BY: Record<string, readonly string[]> = {
  // layout (assembly/layout.ts)
  RECORD_WORDS: ['core-oracle'],
  RECORD_BYTES: ['fuzz-core'],
  RECORDS_PER_EVENT: ['core-oracle'],
  configure: ['core-oracle via src/core/loader.ts', 'fuzz-core via src/core/loader.ts', 'core-dispatch via src/core/loader.ts'],
  layoutBytes: ['timer-wheel', 'core-dispatch'],
  eventsBase: ['core-oracle via src/core/loader.ts', 'fuzz-core via src/core/loader.ts', 'core-dispatch via src/core/loader.ts'],
  recordsBase: ['fuzz-core', 'core-dispatch'],
  TIMER_ENTRY_BYTES: ['timer-wheel'],
  // records and the batch cursor (assembly/records.ts)
  KIND_DEAD: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  KIND_ACCEPT: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  KIND_READ: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  KIND_WRITE: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  KIND_HANGUP: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  KIND_ERROR: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  KIND_NODE: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  batchCursor: ['core-oracle', 'fuzz-core'],
  setBatchCursor: ['core-oracle', 'fuzz-core'],
  pendingRecords: ['core-oracle'],
  recordsInBatch: ['core-oracle', 'fuzz-core'],
  // registry (assembly/registry.ts, and the per-fd readers in assembly/index.ts)
  ROLE_SERVER: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  ROLE_CLIENT: ['core-oracle', 'fuzz-core', 'timer-wheel', 'core-dispatch'],
  ROLE_NODE: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  ROLE_WATCH: ['core-oracle', 'fuzz-core'],
  WANT_READ: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  WANT_WRITE: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  EDGE_TRIGGERED: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  WANT_HANGUP: ['core-oracle', 'fuzz-core'],
  ONESHOT: ['core-oracle', 'fuzz-core'],
  PRIORITY_SHIFT: ['core-oracle', 'fuzz-core'],
  PRIORITIES: ['core-oracle'],
  ERR_FD_RANGE: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  ERR_EXISTS: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  ERR_NOT_REGISTERED: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  ERR_BAD_ROLE: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  ROLE_NONE: ['core-oracle'],
  GENERATION_LIMIT: ['core-oracle'],
  register: ['core-oracle', 'fuzz-core', 'timer-wheel', 'core-dispatch'],
  unregister: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  setFlags: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  registeredCount: ['core-oracle', 'fuzz-core', 'timer-wheel', 'core-dispatch'],
  maskOf: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  generationOf: ['core-oracle', 'fuzz-core', 'timer-wheel', 'core-dispatch'],
  roleOf: ['core-oracle', 'fuzz-core', 'timer-wheel', 'core-dispatch'],
  flagsOf: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  // dispatch (assembly/dispatch.ts, assembly/events.ts)
  dispatch: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  EPOLLIN: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  EPOLLOUT: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  EPOLLERR: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  EPOLLHUP: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  EPOLLRDHUP: ['core-oracle', 'fuzz-core', 'core-dispatch'],
  EPOLLET: ['core-oracle', 'fuzz-core'],
  EPOLLONESHOT: ['core-oracle', 'fuzz-core'],
  // metrics (assembly/metrics.ts)
  metricsBase: ['core-oracle', 'metrics-model', 'core-dispatch'],
  COUNTERS: ['core-oracle', 'metrics-model', 'core-dispatch'],
  HISTOGRAMS: ['metrics-model'],
  BUCKETS: ['metrics-model'],
  COUNTER_ITERATIONS: ['metrics-model'],
  COUNTER_WAITS: ['metrics-model'],
  COUNTER_EVENTS: ['core-oracle', 'metrics-model', 'core-dispatch'],
  COUNTER_STALE: ['core-oracle', 'metrics-model', 'core-dispatch'],
  COUNTER_CALLBACKS: ['metrics-model'],
  COUNTER_WAIT_NS: ['metrics-model'],
  COUNTER_BUSY_NS: ['metrics-model'],
  COUNTER_TIMERS_FIRED: ['metrics-model'],
  COUNTER_DEFERRED_RUN: ['metrics-model'],
  COUNTER_ERRORS: ['metrics-model'],
  COUNTER_SLOW: ['metrics-model'],
  COUNTER_BUDGET_CUTOFFS: ['metrics-model'],
  COUNTER_REPOLLS: ['metrics-model'],
  HISTOGRAM_BATCH: ['metrics-model'],
  HISTOGRAM_CALLBACK_US: ['metrics-model'],
  HISTOGRAM_TIMER_LATENESS_US: ['metrics-model'],
  HISTOGRAM_WAIT_US: ['metrics-model'],
  bucketOf: ['metrics-model'],
  percentile: ['metrics-model'],
  noteWait: ['metrics-model'],
  noteCallback: ['metrics-model'],
  noteCallbacks: ['metrics-model'],
  noteTimer: ['metrics-model'],
  noteCount: ['metrics-model'],
  resetMetrics: ['metrics-model'],
  // timer wheel (assembly/timers.ts, timer-entries.ts, timer-batch.ts)
  MAX_TIMER_DELAY_MS: ['fuzz-core', 'timer-wheel'],
  ERR_TIMERS_FULL: ['fuzz-core', 'timer-wheel'],
  TIMER_BATCH: ['timer-wheel'],
  levelFor: ['timer-wheel'],
  slotFor: ['timer-wheel'],
  timerIndexBits: ['timer-wheel'],
  timerInsert: ['fuzz-core', 'timer-wheel'],
  timerSchedule: ['timer-wheel'],
  timerRemove: ['timer-wheel'],
  timerMove: ['timer-wheel'],
  timerSetRef: ['timer-wheel'],
  timerNext: ['timer-wheel'],
  timerBatchBase: ['timer-wheel'],
  timerTakeBatch: ['timer-wheel'],
  timerEndBatch: ['timer-wheel'],
  timerNextBatch: ['timer-wheel'],
  timerReleaseRan: ['timer-wheel'],
  timerUnrefCount: ['timer-wheel'],
  timerGeneration: ['fuzz-core', 'timer-wheel'],
  timerCancel: ['fuzz-core', 'timer-wheel'],
  timerReschedule: ['timer-wheel'],
  timerExpire: ['fuzz-core', 'timer-wheel'],
  timerTakeDue: ['fuzz-core', 'timer-wheel'],
  timerTakenDeadline: ['fuzz-core'],
  timerNextDeadline: ['fuzz-core', 'timer-wheel'],
  timerCount: ['fuzz-core', 'timer-wheel'],
  timerCapacity: ['timer-wheel'],
};

const root = new URL('../../', import.meta.url);
const source = (path: string): string => readFileSync(new URL(path, root), 'latin1');
const mentions = (text: string, name: string): boolean => new RegExp(`\\.${name}\\b`).test(text);
/** Whether the test imports `name` from the generated ABI (src/core/abi.ts). */
const importsFromAbi = (text: string, name: string): boolean =>
  [...text.matchAll(/import\s*\{([^}]*)\}\s*from '[./]*(?:src\/)?core\/abi\.js'/g)].some((m) => m[1]!.split(',').some((part) => part.trim() === name));

test('the table names every export of the wasm core (its testing build: the product exports and the test-only ones), and nothing else', () => {
  const exported = Object.keys(createTestingCore(4, 4, 12, 4, 4).exports);
  const missing = exported.filter((name) => !(name in COVERED_BY));
  const stale = Object.keys(COVERED_BY).filter((name) => !exported.includes(name));
  assert.equal(missing, [], 'exports the table does not place: add each with the model, oracle or fuzz test that covers it');
  assert.equal(stale, [], 'table rows for exports the core no longer has');
});

test('every export is covered by at least one model, oracle or fuzz test', () => {
  const uncovered = Object.entries(COVERED_BY)
    .filter(([, claims]) => !claims.some((claim) => MODEL_TESTS.has(claim.split(' ')[0]!)))
    .map(([name]) => name);
  assert.equal(uncovered, []);
});

test('each claim holds: the test names the export, or reaches it through a host module it imports', () => {
  const failures: string[] = [];
  for (const [name, claims] of Object.entries(COVERED_BY)) {
    for (const claim of claims) {
      const [file, via] = claim.split(' via ') as [string, string | undefined];
      if (!MODEL_TESTS.has(file) && !EXAMPLE_TESTS.has(file)) {
        failures.push(`${name}: ${file} is neither a model nor an example test of the core`);
        continue;
      }
      const text = source(`tests/${file}.test.ts`);
      if (via === undefined) {
        // The oracle compares the core with the reference core, which takes the
        // core's constants from the generated ABI: a constant it uses is compared.
        const holds = mentions(text, name) || importsFromAbi(text, name) ||
          (file === 'core-oracle' && importsFromAbi(source('src/testing/reference-core.ts'), name));
        if (!holds) failures.push(`${name}: tests/${file}.test.ts does not name it`);
      } else {
        if (!mentions(source(via), name)) failures.push(`${name}: ${via} does not use it`);
        const imported = `from '../${via.replace(/\.ts$/, '.js')}'`;
        if (!text.includes(imported)) failures.push(`${name}: tests/${file}.test.ts does not import ${via}`);
      }
    }
  }
  assert.equal(failures, []);
});

test.run();
