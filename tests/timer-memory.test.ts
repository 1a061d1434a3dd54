// What a timer costs in memory, as docs/api.md states it: a handle-free
// timeout allocates nothing (no object, no closure, no boxed number), and a
// Timer is one small object whose fields V8 keeps unboxed. Checked with
// V8's own instruments: 'gc' performance entries (an allocation per timer
// would make the young generation fill and be collected) and a heap
// snapshot (each Timer's size, and what its fields point at).
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapSnapshot } from 'node:v8';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Timer } from '../src/index.js';
import { virtualClockLoop } from './helpers/mock-loops.js';

/** Runs `work` and returns the garbage collections V8 made while it ran. */
async function collectionsDuring(work: () => void): Promise<number> {
  const seen: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  const from = performance.now();
  work();
  const to = performance.now();
  // Entries are delivered after the fact.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return seen.filter((entry) => entry.startTime >= from && entry.startTime <= to).length;
}

test('a million timeouts set and cleared make no garbage (no collection at all), where as many Timers do', async () => {
  const count = 1_000_000;
  const { loop } = virtualClockLoop({ maxTimers: count });
  try {
    const handles = new Float64Array(count);
    const callback = (): void => {};
    const round = (): void => {
      for (let i = 0; i < count; i++) handles[i] = loop.timeout(callback, 1 + (i % 60_000));
      for (let i = 0; i < count; i++) loop.clearTimeout(handles[i]!);
    };
    // The first round grows the loop's table of slots and gets the code optimized.
    round();
    assert.is(await collectionsDuring(round), 0, 'loop.timeout() or clearTimeout() allocated');
    // The probe sees allocation: Timer objects fill the young generation.
    const timers: Timer[] = new Array<Timer>(count);
    const collections = await collectionsDuring(() => {
      for (let i = 0; i < count; i++) timers[i] = loop.setTimeout(callback, 1 + (i % 60_000));
    });
    assert.ok(collections > 0, 'a million Timers were made without a collection: the probe sees nothing');
    for (const timer of timers) timer.cancel();
  } finally {
    loop.close();
  }
});

interface HeapObject {
  name: string;
  selfSize: number;
  /** Property name → the type of node it points at ('number' for a boxed double). */
  properties: Map<string, string>;
}

/** The objects of the heap whose constructor is named `name`, from a snapshot. */
async function heapObjects(name: string): Promise<HeapObject[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString()) as {
    snapshot: { meta: { node_fields: string[]; edge_fields: string[]; node_types: [string[]]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const { meta } = snapshot.snapshot;
  const nodeFields = meta.node_fields.length;
  const edgeFields = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snapshot;
  const found: HeapObject[] = [];
  let edge = 0;
  for (let i = 0; i < nodes.length; i += nodeFields) {
    const edgeCount = nodes[i + 4]!;
    const isMatch = nodeTypes[nodes[i]!] === 'object' && strings[nodes[i + 1]!] === name;
    const properties = new Map<string, string>();
    for (let e = 0; e < edgeCount; e++, edge += edgeFields) {
      if (!isMatch || edgeTypes[edges[edge]!] !== 'property') continue;
      properties.set(strings[edges[edge + 1]!]!, nodeTypes[nodes[edges[edge + 2]!]!]!);
    }
    if (isMatch) found.push({ name, selfSize: nodes[i + 3]!, properties });
  }
  return found;
}

test('a Timer is 48 bytes, and no field of it is a boxed number, whatever fractions the clock and deadlines have', async () => {
  const { loop, clock } = virtualClockLoop();
  try {
    const timers: Timer[] = [];
    for (let i = 0; i < 200; i++) {
      clock.ms += 0.37;
      timers.push(loop.setTimeout(() => {}, 10 + i));
    }
    timers[0]!.refresh();
    timers[1]!.unref();
    // Instances, not the prototype: the ones that hold a callback.
    const instances = (await heapObjects('Timer')).filter((object) => object.properties.has('callback'));
    assert.ok(instances.length >= 200, `${instances.length} Timers in the snapshot`);
    for (const timer of instances) {
      assert.ok(timer.selfSize <= 48, `a Timer of ${timer.selfSize} bytes`);
      const boxed = [...timer.properties].filter(([, type]) => type === 'number').map(([field]) => field);
      assert.equal(boxed, [], 'fields V8 boxed');
    }
    assert.is(timers.length, 200);
  } finally {
    loop.close();
  }
});

test.run();
