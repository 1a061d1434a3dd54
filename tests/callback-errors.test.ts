// Errors thrown by callbacks: the loop goes on, reporting each to its
// 'error' listeners or, without any, printing each distinct error once to
// stderr; with fatalErrors the loop stops instead.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets, type CallbackContext } from '../src/index.js';
import { EPOLL } from '../src/testing/index.js';
import { closeAll, pair } from './helpers/fds.js';
import { mockLoop } from './helpers/mock-loops.js';
import { withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

/** Runs `fn` with process.stderr.write captured; returns what was written. */
function captureStderr(fn: () => void): string[] {
  const written: string[] = [];
  const original = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = original;
  }
  return written;
}

test("an 'error' listener gets each thrown error with its context, and the loop goes on", () => {
  const { loop, mock } = mockLoop({ fatalErrors: false });
  try {
    const reported: [unknown, CallbackContext][] = [];
    loop.on('error', (error, context) => reported.push([error, context]));
    const ioError = new Error('io failed');
    const deferredError = new Error('deferred failed');
    let after = 0;
    loop.watch(10, { readable: true, trigger: 'edge', label: 'thrower', priority: 0 }, () => {
      throw ioError;
    });
    loop.watch(11, { readable: true, trigger: 'edge' }, () => after++);
    loop.defer(() => {
      throw deferredError;
    }, { label: 'later' });
    loop.defer(() => after++);
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN);
    const written = captureStderr(() => loop.runOnce(0));
    assert.equal(written, [], 'a reported error was printed too');
    assert.is(after, 2, 'the callbacks after the throwing ones did not run');
    assert.is(reported.length, 2);
    assert.is(reported[0]![0], ioError);
    assert.equal(reported[0]![1], { kind: 'watch', fd: 10, label: 'thrower' });
    assert.is(reported[1]![0], deferredError);
    assert.equal(reported[1]![1], { kind: 'deferred', label: 'later' });
    assert.is(loop.metrics().errors, 2);
  } finally {
    loop.close();
  }
});

test('without a listener each distinct error is printed to stderr once, and the loop goes on', () => {
  const { loop, mock } = mockLoop({ fatalErrors: false });
  try {
    const same = new Error('always the same');
    let calls = 0;
    loop.watch(10, { readable: true, label: 'noisy' }, () => {
      calls++;
      throw same;
    });
    mock.ready(10, EPOLL.IN);
    const written = captureStderr(() => {
      for (let i = 0; i < 3; i++) loop.runOnce(0);
      loop.defer(() => {
        throw new Error('a different one');
      });
      loop.runOnce(0);
    });
    assert.is(calls, 4);
    assert.is(written.length, 2, `printed:\n${written.join('')}`);
    assert.match(written[0]!, /watch fd 10 \(noisy\)/);
    assert.match(written[0]!, /always the same/);
    assert.match(written[1]!, /deferred/);
    assert.match(written[1]!, /a different one/);
    // Printed or not, every error is counted.
    assert.is(loop.metrics().errors, 5);
  } finally {
    loop.close();
  }
});

test("an 'error' listener that throws: its own error is printed", () => {
  const { loop } = mockLoop({ fatalErrors: false });
  try {
    loop.on('error', () => {
      throw new Error('the listener failed');
    });
    loop.defer(() => {
      throw new Error('the callback failed');
    });
    const written = captureStderr(() => loop.runOnce(0));
    assert.is(written.length, 1);
    assert.match(written[0]!, /the listener failed/);
    assert.is(loop.metrics().errors, 1);
  } finally {
    loop.close();
  }
});

test('fatalErrors: runOnce throws the error; the rest of the batch is served next time', () => {
  const { loop, mock } = mockLoop({ fatalErrors: true });
  try {
    const boom = new Error('fatal');
    const served: number[] = [];
    let reported = 0;
    loop.on('error', () => reported++);
    loop.watch(10, { readable: true, trigger: 'edge', priority: 0 }, () => {
      served.push(10);
      throw boom;
    });
    for (const fd of [11, 12]) {
      loop.watch(fd, { readable: true, trigger: 'edge' }, () => served.push(fd));
    }
    mock.ready(10, EPOLL.IN).ready(11, EPOLL.IN).ready(12, EPOLL.IN);
    let caught: unknown;
    try {
      loop.runOnce(0);
    } catch (error) {
      caught = error;
    }
    assert.is(caught, boom);
    assert.equal(served, [10]);
    assert.is(reported, 0, "a fatal error also went to the 'error' listener");
    assert.is(loop.metrics().errors, 1);
    assert.is(loop.metrics().pendingRecords, 2);
    assert.is(loop.runOnce(0), 0);
    assert.equal(served, [10, 11, 12]);
    assert.is(mock.waits.length, 1);
  } finally {
    loop.close();
  }
});

test('fatalErrors: run() rejects with the error a deferred callback threw', async () => {
  const loop = new TestLoop({ fatalErrors: true });
  const { peer, local } = pair();
  try {
    const boom = new Error('deferred and fatal');
    // Something real to watch, so run() has a kernel to block on.
    loop.addClientSocket(local, { read: (fd) => void sockets.read(fd, Buffer.alloc(16)) });
    loop.defer(() => {
      throw boom;
    });
    let rejection: unknown;
    await withTimeout(loop.run().catch((error: unknown) => { rejection = error; }), 'run() to reject');
    assert.is(rejection, boom);
    assert.is(loop.isRunning, false);
    assert.is(loop.metrics().errors, 1);
  } finally {
    loop.stop();
    loop.close();
    closeAll(peer);
  }
});

test('fatalErrors: no deferred callback runs after a fatal I/O error in the same runOnce', () => {
  const { loop, mock } = mockLoop({ fatalErrors: true });
  try {
    let deferredRan = 0;
    loop.watch(10, { readable: true, trigger: 'edge' }, () => { throw new Error('fatal'); });
    loop.defer(() => deferredRan++);
    mock.ready(10, EPOLL.IN);
    assert.throws(() => loop.runOnce(0));
    assert.is(deferredRan, 0, 'a deferred callback ran after the loop was stopped by a fatal error');
    loop.runOnce(0);
    assert.is(deferredRan, 1, 'the deferred callback was lost');
  } finally {
    loop.close();
  }
});

test('fatalErrors: the deferred phase stops at the first fatal error; the rest run next time', () => {
  const { loop } = mockLoop({ fatalErrors: true });
  try {
    const order: string[] = [];
    loop.defer(() => { order.push('a'); throw new Error('fatal'); });
    loop.defer(() => order.push('b'));
    assert.throws(() => loop.runOnce(0));
    assert.equal(order, ['a'], 'b ran after the fatal error');
    loop.runOnce(0);
    assert.equal(order, ['a', 'b']);
  } finally {
    loop.close();
  }
});

test.run();
