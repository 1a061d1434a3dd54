// `wasmloop serve`'s fixed young generation: a worker made with its resource
// limits keeps V8's new space at 1 MiB semi-spaces through a burst of
// long-lived objects (what a burst of accepts is), where V8's own sizing
// grows it. The worker reports its new space's size; nothing else is shared.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { workerResourceLimits, type YoungGeneration } from '../src/serve/young-generation.js';

/** Long enough to survive several scavenges: V8 grows the new space when most of it survives. */
const SURVIVORS = 40_000;
const WORKER_TIMEOUT_MS = 10_000;
/** Two 1 MiB semi-spaces. */
const FIXED_NEW_SPACE = 2 * 2 ** 20;

const BURST = `
  const { getHeapSpaceStatistics } = require('node:v8');
  const { parentPort, workerData } = require('node:worker_threads');
  const kept = [];
  for (let i = 0; i < workerData; i++) kept.push({ fd: i, queue: [], flags: i & 7, extra: undefined });
  const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  parentPort.postMessage({ size: newSpace.space_size, kept: kept.length });
`;

async function newSpaceAfterBurst(mode: YoungGeneration): Promise<number> {
  const worker = new Worker(BURST, { eval: true, workerData: SURVIVORS, resourceLimits: workerResourceLimits(mode) });
  try {
    const reply = await new Promise<{ size: number; kept: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the ${mode} worker did not answer in ${WORKER_TIMEOUT_MS} ms`)), WORKER_TIMEOUT_MS);
      worker.once('message', (message: { size: number; kept: number }) => {
        clearTimeout(timer);
        resolve(message);
      });
      worker.once('error', reject);
    });
    assert.is(reply.kept, SURVIVORS);
    return reply.size;
  } finally {
    await worker.terminate();
  }
}

test('fixed: the new space stays at two 1 MiB semi-spaces through a burst of survivors; grow: V8 grows it', async () => {
  const fixed = await newSpaceAfterBurst('fixed');
  const grown = await newSpaceAfterBurst('grow');
  assert.ok(fixed <= FIXED_NEW_SPACE, `fixed: new space ${fixed} bytes`);
  assert.ok(grown > FIXED_NEW_SPACE, `grow: new space ${grown} bytes`);
});

const MODULE = fileURLToPath(new URL('../src/serve/young-generation.js', import.meta.url));

/** What mainThreadYoungGenerationSized() says in a fresh node started with `flags` and `nodeOptions`. */
function sizedIn(flags: string[], nodeOptions: string): boolean {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => process.stdout.write(String(m.mainThreadYoungGenerationSized())))`;
  const env = { ...process.env, NODE_OPTIONS: nodeOptions };
  return execFileSync(process.execPath, [...flags, '-e', script], { env, encoding: 'utf8', timeout: WORKER_TIMEOUT_MS }) === 'true';
}

test('the main thread serves a fixed young generation itself only when node was started with a semi-space size', () => {
  assert.is(sizedIn([], ''), false);
  assert.is(sizedIn(['--max-semi-space-size=1'], ''), true);
  assert.is(sizedIn([], '--max-semi-space-size=1'), true);
  assert.is(sizedIn(['--max-old-space-size=512'], '--no-warnings'), false);
});

test.run();
