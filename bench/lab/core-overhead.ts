// Core overhead: what the loop pays per event and per iteration outside the
// kernel and the user's handlers.
//
// 1. Dispatch per event, wasm core vs the reference core in TypeScript
//    (src/testing/reference-core.ts), for batch sizes 1..1024: N live read
//    events for N registered client fds, dispatched again and again (the
//    registry and events stay hot, as under load). The time per call over N is the cost per event; at N = 1
//    it is mostly the call itself.
// 2. Each crossing of one iteration, timed apart: a native wait with a zero
//    timeout on an epoll set with nothing ready (the syscall plus Node-API),
//    a wasm dispatch of an empty batch (the bare wasm call), and the JS pass
//    over N records that the loop makes (read kind and fd, call a handler).
//
// Every figure is the median of `trials` repetitions (min–max beside it),
// each of many iterations after a warm-up, in one process: these are
// nanosecond loops, where a fresh process per trial would measure the JIT.
import { createCore } from '../../src/core/loader.js';
import { EPOLLIN, KIND_DEAD, KIND_READ, RECORD_WORDS, ROLE_CLIENT, WANT_READ } from '../../src/core/abi.js';
import { native } from '../../src/kernel/native.js';
import { ReferenceCore } from '../../src/testing/index.js';
import { median } from './stats.js';

export const BATCH_SIZES = [1, 4, 16, 64, 256, 1024];

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface CoreOverhead {
  /** ns per event dispatched, by batch size. */
  dispatch: { batch: number; wasmNsPerEvent: Spread; tsNsPerEvent: Spread; tsOverWasm: number }[];
  /** ns per call. */
  crossings: {
    nativeWaitZeroNs: Spread;
    wasmDispatchEmptyNs: Spread;
    tsDispatchEmptyNs: Spread;
    jsPassNsPerRecord: { batch: number; ns: Spread }[];
  };
}

const spread = (xs: number[]): Spread => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

/** ns per call of `fn`, over enough calls to take about `targetMs`. */
function timeCalls(fn: () => void, calls: number): number {
  for (let i = 0; i < Math.min(calls, 10_000); i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) fn();
  return Number(process.hrtime.bigint() - start) / calls;
}

const EVENTS_PER_TRIAL = 4_000_000;

function dispatchCosts(trials: number): CoreOverhead['dispatch'] {
  const stride = native.EVENT_SIZE;
  const dataOffset = native.EVENT_DATA_OFFSET;
  const maxEvents = BATCH_SIZES[BATCH_SIZES.length - 1]!;
  const maxFds = maxEvents + 16;
  const wasm = createCore(maxFds, maxEvents, stride, dataOffset);
  const ts = new ReferenceCore({ maxFds, maxEvents, eventStride: stride, eventDataOffset: dataOffset });
  const wasmView = new DataView(wasm.memory.buffer, wasm.eventsOffset, maxEvents * stride);
  const tsView = new DataView(ts.eventBytes.buffer, ts.eventBytes.byteOffset, ts.eventBytes.byteLength);
  for (let i = 0; i < maxEvents; i++) {
    const fd = i + 8;
    const generation = wasm.exports.register(fd, ROLE_CLIENT, WANT_READ);
    if (ts.register(fd, ROLE_CLIENT, WANT_READ) !== generation) throw new Error('the cores disagree on a generation');
    for (const view of [wasmView, tsView]) {
      view.setUint32(i * stride, EPOLLIN, true);
      view.setUint32(i * stride + dataOffset, fd, true);
      view.setUint32(i * stride + dataOffset + 4, generation, true);
    }
  }
  const w = wasm.exports;
  return BATCH_SIZES.map((batch) => {
    const calls = Math.max(2000, Math.round(EVENTS_PER_TRIAL / batch));
    const wasmNs: number[] = [];
    const tsNs: number[] = [];
    // Interleaved, so drift on a shared machine hits both cores alike.
    for (let t = 0; t < trials; t++) {
      wasmNs.push(timeCalls(() => w.dispatch(batch), calls) / batch);
      tsNs.push(timeCalls(() => ts.dispatch(batch), calls) / batch);
    }
    return { batch, wasmNsPerEvent: spread(wasmNs), tsNsPerEvent: spread(tsNs), tsOverWasm: median(tsNs) / median(wasmNs) };
  });
}

function crossingCosts(trials: number): CoreOverhead['crossings'] {
  const maxEvents = 1024;
  const wasm = createCore(maxEvents + 16, maxEvents, native.EVENT_SIZE, native.EVENT_DATA_OFFSET);
  const ts = new ReferenceCore({ maxFds: maxEvents + 16, maxEvents, eventStride: native.EVENT_SIZE, eventDataOffset: native.EVENT_DATA_OFFSET });
  const id = native.backendCreate('epoll', wasm.memory.buffer, wasm.eventsOffset, maxEvents);
  if (id < 0) throw new Error(`backendCreate failed: ${id}`);
  // One idle fd registered, so the wait walks a real (empty) ready list.
  const idle = native.eventfd(0);
  native.backendAdd(id, idle, EPOLLIN, 1);
  try {
    const w = wasm.exports;
    const waitNs: number[] = [];
    const wasmEmpty: number[] = [];
    const tsEmpty: number[] = [];
    for (let t = 0; t < trials; t++) {
      waitNs.push(timeCalls(() => native.backendWait(id, 0), 200_000));
      wasmEmpty.push(timeCalls(() => w.dispatch(0), 2_000_000));
      tsEmpty.push(timeCalls(() => ts.dispatch(0), 2_000_000));
    }
    // The loop's pass: read kind and fd of each record, skip dead ones, call
    // the fd's handler through an array lookup, as EventLoop#serveBatch does
    // (without its timing and tracing, which are measured as part of it).
    const records = new Int32Array(maxEvents * RECORD_WORDS);
    const handlers: ((fd: number) => void)[] = [];
    let sink = 0;
    for (let i = 0; i < maxEvents; i++) {
      records[i * 4] = KIND_READ;
      records[i * 4 + 1] = i;
      handlers[i] = (fd) => {
        sink += fd;
      };
    }
    const pass = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const kind = records[i * 4]!;
        if (kind === KIND_DEAD) continue;
        const fd = records[i * 4 + 1]!;
        handlers[fd]!(fd);
      }
    };
    const jsPass = BATCH_SIZES.map((batch) => {
      const ns: number[] = [];
      for (let t = 0; t < trials; t++) ns.push(timeCalls(() => pass(batch), Math.max(2000, Math.round(EVENTS_PER_TRIAL / batch))) / batch);
      return { batch, ns: spread(ns) };
    });
    if (sink === -1) console.log(sink);
    return { nativeWaitZeroNs: spread(waitNs), wasmDispatchEmptyNs: spread(wasmEmpty), tsDispatchEmptyNs: spread(tsEmpty), jsPassNsPerRecord: jsPass };
  } finally {
    native.close(idle);
    native.backendFree(id);
  }
}

export function measureCoreOverhead(trials: number): CoreOverhead {
  return { dispatch: dispatchCosts(trials), crossings: crossingCosts(trials) };
}

const ns = (s: Spread): string => `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;

export function coreOverheadMarkdown(result: CoreOverhead): string {
  const lines = [
    '| batch | wasm core ns/event | TS core ns/event | TS ÷ wasm | JS pass ns/record |',
    '|---:|---:|---:|---:|---:|',
  ];
  result.dispatch.forEach((row, i) => {
    lines.push(`| ${row.batch} | ${ns(row.wasmNsPerEvent)} | ${ns(row.tsNsPerEvent)} | ${row.tsOverWasm.toFixed(2)}× | ${ns(result.crossings.jsPassNsPerRecord[i]!.ns)} |`);
  });
  const c = result.crossings;
  lines.push(
    '',
    '| crossing, per iteration | ns per call (median, min–max) |',
    '|---|---:|',
    `| native wait, 0 timeout, nothing ready (epoll_wait + Node-API) | ${ns(c.nativeWaitZeroNs)} |`,
    `| wasm dispatch of an empty batch (the bare call) | ${ns(c.wasmDispatchEmptyNs)} |`,
    `| TS core dispatch of an empty batch | ${ns(c.tsDispatchEmptyNs)} |`,
  );
  return lines.join('\n');
}
