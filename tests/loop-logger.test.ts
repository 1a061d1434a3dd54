// The logger option: the loop logs what helps debug it through pino's
// interface, and nothing at all without one (but uncaught callback errors).
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { type Logger } from '../src/index.js';
import { EPOLL } from '../src/testing/index.js';
import { throws } from './helpers/errors.js';
import { mockLoop } from './helpers/mock-loops.js';
import { busyWait } from './helpers/timing.js';
import { TestLoop } from './test-loop.js';

type Entry = [level: string, object: Record<string, unknown>, message: string];

function recorder(): { logger: Required<Logger>; entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (object: object, message: string): void => {
    entries.push([level, object as Record<string, unknown>, message]);
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}

test('an uncaught callback error goes to logger.error with what ran, not to stderr', () => {
  const { logger, entries } = recorder();
  const { loop, mock } = mockLoop({ logger, fatalErrors: false });
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const boom = new Error('boom');
    loop.watch(7, { readable: true, label: 'seven' }, () => { throw boom; });
    mock.ready(7, EPOLL.IN);
    loop.runOnce(0);
    const errors = entries.filter(([level]) => level === 'error');
    assert.is(errors.length, 1);
    assert.is(errors[0]![1]['err'], boom);
    assert.equal([errors[0]![1]['kind'], errors[0]![1]['fd'], errors[0]![1]['label']], ['watch', 7, 'seven']);
    assert.equal(written, [], 'printed to stderr although a logger was given');
  } finally {
    process.stderr.write = write;
    loop.close();
  }
});

test('a slow callback is logged as a warning with its duration', () => {
  const { logger, entries } = recorder();
  const { loop, mock } = mockLoop({ logger, slowCallbackMs: 5 });
  try {
    loop.watch(3, { readable: true, trigger: 'edge' }, () => busyWait(10));
    mock.ready(3, EPOLL.IN);
    loop.runOnce(0);
    const warnings = entries.filter(([level]) => level === 'warn');
    assert.is(warnings.length, 1);
    assert.ok((warnings[0]![1]['durationMs'] as number) >= 10);
    assert.is(warnings[0]![1]['fd'], 3);
  } finally {
    loop.close();
  }
});

test('a budget cut-off and the close are logged at debug level', () => {
  const { logger, entries } = recorder();
  const { loop, mock } = mockLoop({ logger, callbacksPerIteration: 1 });
  for (const fd of [4, 5]) loop.watch(fd, { readable: true, trigger: 'edge' }, () => {});
  mock.ready(4, EPOLL.IN).ready(5, EPOLL.IN);
  loop.runOnce(0);
  loop.close();
  const messages = entries.filter(([level]) => level === 'debug').map(([, , message]) => message);
  assert.ok(messages.some((m) => m.includes('budget')), messages.join('; '));
  assert.ok(messages.some((m) => m.includes('closing')), messages.join('; '));
});

test('a partial logger is fine: missing levels are skipped', () => {
  const errors: unknown[] = [];
  const { loop, mock } = mockLoop({ logger: { error: (object) => errors.push(object) }, slowCallbackMs: 1, callbacksPerIteration: 1, fatalErrors: false });
  try {
    loop.watch(4, { readable: true, trigger: 'edge' }, () => busyWait(2));
    loop.watch(5, { readable: true, trigger: 'edge' }, () => { throw new Error('x'); });
    mock.ready(4, EPOLL.IN).ready(5, EPOLL.IN);
    loop.runOnce(0);
    loop.runOnce(0);
    assert.is(errors.length, 1);
  } finally {
    loop.close();
  }
});

test('without a logger the loop writes nothing for slow callbacks or budget cut-offs', () => {
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
  const { loop, mock } = mockLoop({ slowCallbackMs: 1, callbacksPerIteration: 1 });
  try {
    for (const fd of [4, 5]) loop.watch(fd, { readable: true, trigger: 'edge' }, () => busyWait(2));
    mock.ready(4, EPOLL.IN).ready(5, EPOLL.IN);
    loop.runOnce(0);
    loop.runOnce(0);
    loop.close();
  } finally {
    process.stderr.write = write;
  }
  assert.equal(written, []);
});

test('a logger that is not an object, or whose levels are not functions, is a TypeError', () => {
  throws(() => new TestLoop({ logger: 'console' as never }), { type: TypeError });
  throws(() => new TestLoop({ logger: { warn: 'loud' } as never }), { type: TypeError });
});

test.run();
