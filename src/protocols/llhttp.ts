// llhttp, the HTTP parser node:http uses, compiled by Emscripten into
// build/llhttp.wasm with wasmloop's glue (llhttp/spans.c, which draws the
// memory layout and the records). One instance holds many request parsers,
// one per connection, a span table and an input region, in one fixed memory;
// the host writes bytes into the input region, makes one execute() call per
// read and one pass over the table.
//
// This is the low-level door: no allocation on the hot path (execute returns
// llhttp's status, the table and the input are views made once), and the
// handles are trusted as far as the module checks them itself (a bad handle or
// range is a RangeError, never a corrupted parser). Strings are made only on
// the error path (reason()).
//
// The module is compiled once per process (like the core); its constants —
// llhttp's error codes, flags and method names, and the glue's record kinds
// and bits — are read from it once, never retyped here.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';

import { assertInteger, rangeError, WasmloopError } from '../errors.js';

interface LlhttpExports {
  readonly memory: WebAssembly.Memory;
  _initialize(): void;
  wl_layout_bytes(maxParsers: number, records: number, inputBytes: number): number;
  wl_available_bytes(): number;
  wl_init(maxParsers: number, records: number, inputBytes: number): number;
  wl_table_offset(): number;
  wl_input_offset(): number;
  wl_input_capacity(): number;
  wl_alloc(): number;
  wl_free(parser: number): number;
  wl_execute(parser: number, offset: number, length: number): number;
  wl_resume(parser: number): number;
  wl_resume_after_upgrade(parser: number): number;
  wl_finish(parser: number): number;
  wl_reason(parser: number): number;
  wl_constants(): number;
}

/** The names of the constants the host uses; the values come from the module. */
const NAMES = [
  'KIND_MESSAGE_BEGIN',
  'KIND_URL',
  'KIND_HEADER_FIELD',
  'KIND_HEADER_VALUE',
  'KIND_HEADERS_COMPLETE',
  'KIND_BODY',
  'KIND_CHUNK_HEADER',
  'KIND_CHUNK_COMPLETE',
  'KIND_MESSAGE_COMPLETE',
  'RECORD_WORDS',
  'HEADER_WORDS',
  'HEADER_COUNT',
  'HEADER_STOP',
  'LAST',
  'MIN_RECORDS',
  'INFO_METHOD_MASK',
  'INFO_KEEP_ALIVE',
  'INFO_UPGRADE',
  'INFO_MAJOR_SHIFT',
  'INFO_MINOR_SHIFT',
  'INFO_VERSION_MASK',
  'INFO_FLAGS_SHIFT',
  'ERR_BAD_PARSER',
  'ERR_BAD_RANGE',
  'PARSER_BYTES',
  'HPE_OK',
  'HPE_PAUSED',
  'HPE_PAUSED_UPGRADE',
  'F_CONNECTION_KEEP_ALIVE',
  'F_CONNECTION_CLOSE',
  'F_CONNECTION_UPGRADE',
  'F_CHUNKED',
  'F_UPGRADE',
  'F_CONTENT_LENGTH',
  'F_TRANSFER_ENCODING',
] as const;

export type LlhttpConstantName = (typeof NAMES)[number];

export interface LlhttpConstants extends Readonly<Record<LlhttpConstantName, number>> {
  /** Every constant of the module by name (llhttp's `HPE_*`, `F_*`, and the glue's), for tests and messages. */
  readonly all: ReadonlyMap<string, number>;
  /** llhttp's error names by code (`'HPE_INVALID_METHOD'` at 6). */
  readonly errorNames: readonly string[];
  /** Method names by llhttp's method code (`'GET'` at 1), as they appear on the wire. */
  readonly methods: readonly string[];
  /** llhttp's version, `'8.1.0'`. */
  readonly version: string;
}

/** Parsers an instance holds unless told otherwise: one per connection of a loop with the default maxFds. */
export const DEFAULT_MAX_PARSERS = 65536;
/**
 * Records per execute before the parser pauses for the host to drain the table:
 * 4,096 (64 KiB) is about 400 small requests, more than one 64 KiB read holds.
 */
export const DEFAULT_RECORDS = 4096;
/** The input region: 1 MiB, room for a batch of reads. */
export const DEFAULT_INPUT_BYTES = 1024 * 1024;

let compiled: WebAssembly.Module | undefined;

function module(): WebAssembly.Module {
  if (compiled === undefined) {
    const path = new URL('../../llhttp.wasm', import.meta.url);
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (cause) {
      throw new Error('wasmloop: the llhttp module is not built; run `npm install` (or `npm run build:llhttp`)', {
        cause,
      });
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

// The module's one import. It is reached only from abort() (llhttp's "cannot
// happen" paths): no code path of the glue gets there on any input.
function procExit(code: number): never {
  throw new WasmloopError('ERR_LLHTTP_ABORTED', `llhttp aborted (proc_exit ${code})`);
}

function instantiate(): LlhttpExports {
  const instance = new WebAssembly.Instance(module(), { wasi_snapshot_preview1: { proc_exit: procExit } });
  const exports = instance.exports as unknown as LlhttpExports;
  exports._initialize();
  return exports;
}

function cString(memory: WebAssembly.Memory, address: number): string {
  const bytes = new Uint8Array(memory.buffer);
  let end = address;
  while (bytes[end] !== 0) end++;
  return Buffer.from(memory.buffer, address, end - address).toString('latin1');
}

let constants: LlhttpConstants | undefined;

/** The module's constants, read once per process. */
export function llhttpConstants(): LlhttpConstants {
  if (constants !== undefined) return constants;
  const exports = instantiate();
  const words = new Int32Array(exports.memory.buffer);
  const all = new Map<string, number>();
  for (let at = exports.wl_constants() >> 2; words[at] !== 0; at += 2) all.set(cString(exports.memory, words[at]!), words[at + 1]!);
  const errorNames: string[] = [];
  const methods: string[] = [];
  for (const [name, value] of all) {
    if (name.startsWith('HPE_')) errorNames[value] = name;
    else if (name.startsWith('METHOD_')) methods[value] = name.slice('METHOD_'.length);
  }
  const named: Partial<Record<LlhttpConstantName, number>> = {};
  for (const name of NAMES) {
    const value = all.get(name);
    if (value === undefined) throw new Error(`wasmloop: build/llhttp.wasm has no constant ${name}; rebuild it (npm run build:llhttp)`);
    named[name] = value;
  }
  const version = ['LLHTTP_VERSION_MAJOR', 'LLHTTP_VERSION_MINOR', 'LLHTTP_VERSION_PATCH'].map((n) => all.get(n)).join('.');
  constants = Object.freeze({ ...(named as Record<LlhttpConstantName, number>), all, errorNames, methods, version });
  return constants;
}

/** llhttp's name for a status `execute()` or `finish()` returned (`'HPE_INVALID_VERSION'`). */
export function llhttpErrorName(code: number): string {
  return llhttpConstants().errorNames[code] ?? `HPE_UNKNOWN_${code}`;
}

export interface LlhttpOptions {
  /** Parsers live at once (one per connection). Default DEFAULT_MAX_PARSERS. */
  maxParsers?: number;
  /** Records one execute may write before the parser pauses (at least 2). Default DEFAULT_RECORDS. */
  records?: number;
  /** Bytes of the input region. Default DEFAULT_INPUT_BYTES. */
  inputBytes?: number;
}

/**
 * One instance of the llhttp module: up to `maxParsers` request parsers, the
 * span table their executes write, and the input region they read.
 *
 * ```
 * parsers.input.set(bytes, 0);                         // or read(2) straight into inputOffset
 * let status = parsers.execute(p, 0, bytes.length);
 * // parsers.table: [count, stop, -, -, records...]; spans are offsets from 0 here
 * while (status === C.HPE_PAUSED) {                    // the table was full
 *   const stop = parsers.table[C.HEADER_STOP];         // read the table first
 *   parsers.resume(p);
 *   status = parsers.execute(p, stop, bytes.length - stop);
 * }
 * ```
 */
export class LlhttpParsers {
  readonly maxParsers: number;
  readonly records: number;
  /** The module's memory: fixed, so views over it stay valid for the instance's life. */
  readonly memory: WebAssembly.Memory;
  /** The input region's byte offset in `memory`, where a read may write directly. */
  readonly inputOffset: number;
  readonly inputCapacity: number;
  /** The input region. */
  readonly input: Uint8Array;
  /** The span table: HEADER_WORDS header words (COUNT, STOP), then records of RECORD_WORDS. */
  readonly table: Int32Array;
  #live = 0;
  readonly #w: LlhttpExports;

  constructor(options: LlhttpOptions = {}) {
    const C = llhttpConstants();
    const maxParsers = options.maxParsers ?? DEFAULT_MAX_PARSERS;
    const records = options.records ?? DEFAULT_RECORDS;
    const inputBytes = options.inputBytes ?? DEFAULT_INPUT_BYTES;
    assertInteger('options.maxParsers', maxParsers, 1, 2 ** 31 - 1);
    assertInteger('options.records', records, C.MIN_RECORDS, 2 ** 31 - 1);
    assertInteger('options.inputBytes', inputBytes, 1, 2 ** 31 - 1);
    const w = instantiate();
    const needed = w.wl_layout_bytes(maxParsers, records, inputBytes);
    const available = w.wl_available_bytes();
    if (needed < 0 || needed > available) {
      throw rangeError(
        `llhttp: ${maxParsers} parsers, ${records} records and ${inputBytes} input bytes need ` +
          `${needed < 0 ? 'over 2 GiB' : `${needed} bytes`}; the module's fixed memory has ${available}`,
      );
    }
    const status = w.wl_init(maxParsers, records, inputBytes);
    if (status !== 0) throw new Error(`wasmloop: llhttp wl_init failed (${status})`);
    this.#w = w;
    this.maxParsers = maxParsers;
    this.records = records;
    this.memory = w.memory;
    this.inputOffset = w.wl_input_offset();
    this.inputCapacity = w.wl_input_capacity();
    this.input = new Uint8Array(w.memory.buffer, this.inputOffset, this.inputCapacity);
    this.table = new Int32Array(w.memory.buffer, w.wl_table_offset(), C.HEADER_WORDS + records * C.RECORD_WORDS);
  }

  /** Parsers allocated and not yet freed. */
  get live(): number {
    return this.#live;
  }

  /** A new request parser's handle (a small integer). */
  alloc(): number {
    const parser = this.#w.wl_alloc();
    if (parser < 0) throw rangeError(`llhttp parser table full (capacity ${this.maxParsers}); raise maxParsers`);
    this.#live++;
    return parser;
  }

  free(parser: number): void {
    this.#check(this.#w.wl_free(parser), parser);
    this.#live--;
  }

  /**
   * Parses `length` bytes of the input region from `offset`. Returns llhttp's
   * status: HPE_OK (all consumed), HPE_PAUSED (the table is full: read it,
   * resume, go on from STOP), HPE_PAUSED_UPGRADE (the request asked for another
   * protocol, which begins at STOP), or an error (at STOP). The table holds
   * this call's records until the next execute or finish, of any parser.
   */
  execute(parser: number, offset: number, length: number): number {
    const status = this.#w.wl_execute(parser, offset, length);
    if (status < 0) this.#check(status, parser, offset, length);
    return status;
  }

  /** Continues after HPE_PAUSED (with the next execute). */
  resume(parser: number): void {
    this.#check(this.#w.wl_resume(parser), parser);
  }

  /** Continues after HPE_PAUSED_UPGRADE, parsing what follows as HTTP again. */
  resumeAfterUpgrade(parser: number): void {
    this.#check(this.#w.wl_resume_after_upgrade(parser), parser);
  }

  /**
   * The peer will send no more: HPE_OK if it stopped between requests,
   * HPE_INVALID_EOF_STATE inside one. The table holds its records.
   */
  finish(parser: number): number {
    const status = this.#w.wl_finish(parser);
    if (status < 0) this.#check(status, parser);
    return status;
  }

  /** llhttp's words for the parser's last error or pause (`'Invalid method encountered'`). */
  reason(parser: number): string {
    const address = this.#w.wl_reason(parser);
    return address === 0 ? '' : cString(this.memory, address);
  }

  #check(status: number, parser: number, offset?: number, length?: number): void {
    if (status >= 0) return;
    const C = llhttpConstants();
    if (status === C.ERR_BAD_PARSER) throw rangeError(`llhttp: ${parser} is not a live parser of this instance`);
    if (status === C.ERR_BAD_RANGE) {
      throw rangeError(`llhttp: bytes ${offset} to ${offset! + length!} are outside the input region (0 to ${this.inputCapacity})`);
    }
    throw new Error(`wasmloop: llhttp returned ${status}`);
  }
}
