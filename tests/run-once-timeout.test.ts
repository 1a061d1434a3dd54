import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { TestLoop } from './test-loop.js';

test('runOnce(50) with nothing ready returns 0 after about 50 ms', () => {
  const loop = new TestLoop();
  try {
    const started = performance.now();
    const events = loop.runOnce(50);
    const elapsed = performance.now() - started;
    assert.is(events, 0);
    assert.ok(elapsed >= 49, `returned early: ${elapsed.toFixed(1)} ms`);
    assert.ok(elapsed < 1000, `returned late: ${elapsed.toFixed(1)} ms`);
  } finally {
    loop.close();
  }
});

test('runOnce(0) polls and returns at once', () => {
  const loop = new TestLoop();
  try {
    const started = performance.now();
    assert.is(loop.runOnce(0), 0);
    assert.ok(performance.now() - started < 500);
  } finally {
    loop.close();
  }
});

test.run();
