// The package's entry points, as a user's code resolves them: `wasmloop` is
// the product, `wasmloop/testing` the fake kernel, the reference core and the
// testing build of the wasm core.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import * as local from '../src/testing/index.js';

test("import('wasmloop/testing') gives MockKernel, EPOLL, the reference core and the testing core's loader", async () => {
  const testing = await import('wasmloop/testing');
  assert.is(testing.MockKernel, local.MockKernel, 'the package resolves to this build');
  assert.is(typeof testing.ReferenceCore, 'function');
  assert.is(typeof testing.createTestingCore, 'function');
  assert.is(testing.EPOLL.IN, 1);
  const mock = new testing.MockKernel();
  assert.is(mock.name, 'mock');
});

test('the main entry exports the loop and no test scaffolding', async () => {
  const main: Record<string, unknown> = await import('wasmloop');
  assert.is(typeof main['EventLoop'], 'function');
  for (const name of ['MockKernel', 'EPOLL', 'ReferenceCore', 'createTestingCore']) {
    assert.not.ok(name in main, `wasmloop exports ${name}`);
  }
});

test.run();
