// Loading the wasm core. The module is compiled once per process; each loop
// gets its own instance over its own memory.
//
// The core owns the memory layout, but the memory must exist before the
// instance does (it is imported). So a loop is made in two steps: a sizing
// instance over one page answers `layoutBytes` (a pure function), then the
// real memory is created with exactly that many pages, initial == maximum,
// and the loop's instance is made over it.
import { readFileSync } from 'node:fs';

import { assertInteger } from '../errors.js';
import { RECORD_WORDS, RECORDS_PER_EVENT, type CoreExports } from './abi.js';

// The exports' types are generated from assembly/ with the module
// (scripts/build-wasm.mjs), never typed here.
export type { CoreExports } from './abi.js';

/** One loop's core: its instance, its memory, and the constants read once. */
export interface Core<E extends CoreExports = CoreExports> {
  readonly exports: E;
  readonly memory: WebAssembly.Memory;
  /** The records region as i32 words, for the host's one pass per batch. */
  readonly records: Int32Array;
  readonly eventsOffset: number;
  readonly recordWords: number;
}

const WASM_PAGE = 65536;
/** Timers a loop holds unless told otherwise: 1.5 MiB of entries. */
export const DEFAULT_MAX_TIMERS = 65536;
/** 2^24 timers are 384 MiB of entries; more would not fit a 32-bit memory beside the rest. */
export const MAX_TIMERS_LIMIT = 1 << 24;

/** One build of the core (a .wasm file), compiled on first use and once per process. */
export class CoreModule<E extends CoreExports = CoreExports> {
  readonly #file: URL;
  #compiled: WebAssembly.Module | undefined;
  #sizing: E | undefined;

  constructor(file: URL) {
    this.#file = file;
  }

  #instantiate(memory: WebAssembly.Memory): E {
    if (this.#compiled === undefined) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(this.#file);
      } catch (cause) {
        throw new Error('wasmloop: the wasm core is not built; run `npm install` (or `npm run build`)', { cause });
      }
      this.#compiled = new WebAssembly.Module(bytes);
    }
    return new WebAssembly.Instance(this.#compiled, { env: { memory } }).exports as unknown as E;
  }

  /** Creates a core for a loop with these capacities. */
  create(maxFds: number, maxEvents: number, eventStride: number, eventDataOffset: number, maxTimers: number = DEFAULT_MAX_TIMERS): Core<E> {
    assertInteger('maxTimers', maxTimers, 0, MAX_TIMERS_LIMIT);
    this.#sizing ??= this.#instantiate(new WebAssembly.Memory({ initial: 1, maximum: 1 }));
    const bytes = this.#sizing.layoutBytes(maxFds, maxEvents, eventStride, maxTimers);
    const pages = Math.ceil(bytes / WASM_PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const exports = this.#instantiate(memory);
    exports.configure(maxFds, maxEvents, eventStride, eventDataOffset, maxTimers);
    return {
      exports,
      memory,
      records: new Int32Array(memory.buffer, exports.recordsBase.value as number, maxEvents * RECORDS_PER_EVENT * RECORD_WORDS),
      eventsOffset: exports.eventsBase.value as number,
      recordWords: RECORD_WORDS,
    };
  }
}

/** The product build, build/core.wasm. */
const product = new CoreModule(new URL('../../core.wasm', import.meta.url));

/** Creates a core for a loop with these capacities. */
export function createCore(
  maxFds: number,
  maxEvents: number,
  eventStride: number,
  eventDataOffset: number,
  maxTimers: number = DEFAULT_MAX_TIMERS,
): Core {
  return product.create(maxFds, maxEvents, eventStride, eventDataOffset, maxTimers);
}
