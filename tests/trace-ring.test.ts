// Trace mode: a ring of the last callbacks run, oldest first, dumped as JSON;
// off by default, on with `trace` or WASMLOOP_TRACE=1.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_TRACE_ENTRIES, EventLoop, type CallbackContext, type SlowCallback } from '../src/index.js';
import { EPOLL, MockKernel } from '../src/testing/index.js';
import { mockLoop } from './helpers/mock-loops.js';
import { busyWait } from './helpers/timing.js';
import { TestLoop } from './test-loop.js';

test('trace: 4 keeps the last 4 callbacks, oldest first, with kind, fd, label, start and duration', () => {
  const { loop, mock } = mockLoop({ trace: 4 });
  try {
    loop.watch(10, { readable: true, trigger: 'edge', label: 'ten' }, () => {});
    loop.watch(11, { writable: true, trigger: 'edge' }, () => busyWait(2));
    mock.ready(10, EPOLL.IN);
    loop.runOnce(0); // read 10: pushed out of the ring below
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.OUT);
    loop.defer(() => {}, { label: 'after' });
    loop.runOnce(0); // read 10, write 11, deferred
    loop.defer(() => {});
    loop.runOnce(0); // deferred

    const entries = loop.trace();
    assert.is(entries.length, 4);
    assert.equal(
      entries.map(({ kind, fd, label }) => ({ kind, fd, label })),
      [
        { kind: 'watch', fd: 10, label: 'ten' },
        { kind: 'watch', fd: 11, label: undefined },
        { kind: 'deferred', fd: undefined, label: 'after' },
        { kind: 'deferred', fd: undefined, label: undefined },
      ],
    );
    for (let i = 1; i < entries.length; i++) {
      const previous = entries[i - 1]!;
      assert.ok(entries[i]!.start >= previous.start + previous.durationMs - 1e-6, `entry ${i} starts before entry ${i - 1} ended`);
    }
    assert.ok(entries.every((entry) => entry.durationMs >= 0));
    assert.ok(entries[1]!.durationMs >= 2, `the 2 ms callback took ${entries[1]!.durationMs} ms`);
  } finally {
    loop.close();
  }
});

test('dumpTrace() is JSON with the backend and the entries', () => {
  const { loop, mock } = mockLoop({ trace: true });
  try {
    loop.watch(10, { readable: true, trigger: 'edge', label: 'ten' }, () => {});
    mock.ready(10, EPOLL.IN);
    loop.runOnce(0);
    const dump = JSON.parse(loop.dumpTrace()) as { backend: string; entries: Record<string, unknown>[] };
    assert.is(dump.backend, 'mock');
    assert.is(dump.entries.length, 1);
    assert.is(dump.entries[0]!['kind'], 'watch');
    assert.is(dump.entries[0]!['fd'], 10);
    assert.is(dump.entries[0]!['label'], 'ten');
    assert.type(dump.entries[0]!['start'], 'number');
    assert.type(dump.entries[0]!['durationMs'], 'number');
  } finally {
    loop.close();
  }
});

test('trace off: trace() is empty and dumpTrace() has no entries', () => {
  const previous = process.env['WASMLOOP_TRACE'];
  delete process.env['WASMLOOP_TRACE'];
  const { loop, mock } = mockLoop();
  try {
    loop.watch(10, { readable: true }, () => {});
    mock.ready(10, EPOLL.IN);
    loop.defer(() => {});
    loop.runOnce(0);
    assert.is(loop.metrics().callbacks, 2);
    assert.equal(loop.trace(), []);
    assert.equal(JSON.parse(loop.dumpTrace()), { backend: 'mock', entries: [] });
  } finally {
    loop.close();
    if (previous !== undefined) process.env['WASMLOOP_TRACE'] = previous;
  }
});

test('WASMLOOP_TRACE=1 turns tracing on; an explicit trace: false wins', () => {
  const previous = process.env['WASMLOOP_TRACE'];
  process.env['WASMLOOP_TRACE'] = '1';
  let traced: EventLoop | undefined;
  let untraced: EventLoop | undefined;
  try {
    traced = new TestLoop({ backend: new MockKernel() });
    untraced = new TestLoop({ backend: new MockKernel(), trace: false });
  } finally {
    if (previous === undefined) delete process.env['WASMLOOP_TRACE'];
    else process.env['WASMLOOP_TRACE'] = previous;
  }
  try {
    for (let i = 0; i < DEFAULT_TRACE_ENTRIES + 3; i++) {
      traced.defer(() => {});
      untraced.defer(() => {});
    }
    traced.runOnce(0);
    untraced.runOnce(0);
    // The default ring holds DEFAULT_TRACE_ENTRIES.
    assert.is(traced.trace().length, DEFAULT_TRACE_ENTRIES);
    assert.equal(untraced.trace(), []);
  } finally {
    traced.close();
    untraced.close();
  }
});

test("a watcher's callbacks are reported with one kind, 'watch', whatever the event", () => {
  const { loop, mock } = mockLoop({ trace: 4, fatalErrors: false });
  try {
    const kinds: string[] = [];
    const events: string[] = [];
    loop.on('error', (_, context: CallbackContext) => kinds.push(context.kind));
    loop.watch(10, { readable: true, hangup: true }, (event) => {
      events.push(event);
      throw new Error('x');
    });
    mock.ready(10, EPOLL.IN | EPOLL.RDHUP);
    loop.runOnce(0);
    assert.equal(events, ['readable', 'hangup']);
    assert.equal(kinds, ['watch', 'watch']);
    assert.equal(loop.trace().map((entry) => entry.kind), ['watch', 'watch']);
  } finally {
    loop.close();
  }
});

test("a watcher's final hang-up keeps its label in the trace and the 'slow' report", () => {
  const { loop, mock } = mockLoop({ trace: 8, slowCallbackMs: 1 });
  try {
    const slow: SlowCallback[] = [];
    loop.on('slow', (info) => slow.push(info));
    loop.watch(10, { readable: true, label: 'pipe' }, () => busyWait(2));
    mock.ready(10, EPOLL.HUP);
    loop.runOnce(0);
    assert.is(slow.length, 1);
    assert.is(slow[0]!.label, 'pipe');
    assert.is(loop.trace()[0]!.label, 'pipe');
  } finally {
    loop.close();
  }
});

test.run();
