// The ABI between the wasm core and the host: the generated constants
// (src/core/abi.ts) are the core's own, as the testing build exports them;
// the product module exports neither a constant (the host imports them from
// src/core/abi.ts) nor a test-only function; and the core's EPOLL* bits,
// which every backend reports in, are the kernel's.
import { readFileSync } from 'node:fs';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import * as ABI from '../src/core/abi.js';
import { native } from '../src/kernel/native.js';
import { EPOLL } from '../src/testing/index.js';

/** Exports that only tests call: the testing build has them, the product must not. */
const TEST_ONLY = ['levelFor', 'slotFor', 'bucketOf', 'resetMetrics', 'timerReschedule', 'timerCapacity'];
const CONSTANT = /^[A-Z][A-Z0-9_]*$/;

const moduleOf = (file: string): WebAssembly.Module => new WebAssembly.Module(readFileSync(new URL(`../${file}`, import.meta.url)));
const exportsOf = (file: string): Map<string, string> =>
  new Map(WebAssembly.Module.exports(moduleOf(file)).map(({ name, kind }) => [name, kind]));

function globalsOf(file: string): Record<string, WebAssembly.Global> {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  return new WebAssembly.Instance(moduleOf(file), { env: { memory } }).exports as Record<string, WebAssembly.Global>;
}

test('every generated constant is the global of that name in the testing build, to the bit', () => {
  const constants = Object.entries(ABI);
  assert.ok(constants.length > 50, `${constants.length} constants`);
  const globals = globalsOf('core.testing.wasm');
  for (const [name, value] of constants) {
    const global = globals[name];
    assert.ok(global instanceof WebAssembly.Global, `core.testing.wasm exports ${name}`);
    // An unsigned constant (EPOLLET) reads back as a negative i32.
    const raw = global.value as number;
    assert.is(typeof value === 'number' && value > 0x7fffffff && raw < 0 ? raw >>> 0 : raw, value, name);
  }
});

test('every constant the testing build exports is generated', () => {
  for (const [name, kind] of exportsOf('core.testing.wasm')) {
    if (kind === 'global' && CONSTANT.test(name)) assert.ok(name in ABI, `${name} of core.testing.wasm is in src/core/abi.ts`);
  }
});

test('the product module exports no constant and no test-only function; the testing build is the product plus them', () => {
  const product = exportsOf('core.wasm');
  const testing = exportsOf('core.testing.wasm');
  const constants = Object.keys(ABI);
  for (const name of TEST_ONLY) {
    assert.not.ok(product.has(name), `core.wasm exports ${name}`);
    assert.is(testing.get(name), 'function', `core.testing.wasm exports ${name}`);
  }
  for (const [name, kind] of product) assert.not.ok(kind === 'global' && CONSTANT.test(name), `core.wasm exports the constant ${name}`);
  for (const name of constants) assert.is(testing.get(name), 'global', `core.testing.wasm exports ${name}`);
  for (const [name, kind] of product) assert.is(testing.get(name), kind, `core.testing.wasm exports ${kind} ${name}`);
  assert.is(testing.size, product.size + TEST_ONLY.length + constants.length);
});

test("the core's EPOLL* bits are the kernel's (<sys/epoll.h>, through the addon), and the MockKernel's", () => {
  const bits = ['EPOLLIN', 'EPOLLOUT', 'EPOLLERR', 'EPOLLHUP', 'EPOLLRDHUP', 'EPOLLONESHOT', 'EPOLLET'] as const;
  for (const name of bits) {
    assert.is(ABI[name], native[name], name);
    assert.is(EPOLL[name.slice('EPOLL'.length) as keyof typeof EPOLL], native[name], `EPOLL.${name.slice(5)}`);
  }
});

test.run();
