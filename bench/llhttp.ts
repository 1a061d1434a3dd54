// `node build/bench/llhttp.js`: the llhttp module's parse throughput and its
// memory per parser, against node:http's own parser (llhttp built into Node,
// reached through process.binding('http_parser'), the object node:http drives).
//
// The request: a 100-byte GET with three headers, as a load generator sends
// it, 16 of them pipelined in each execute. Four ways:
//   wasm-execute   one execute per 16 requests, the table's COUNT read: the floor.
//   wasm-records   the same and one pass over the records, as a host must make:
//                  method and version from HEADERS_COMPLETE, the URL and each
//                  header as offsets, no strings.
//   wasm-strings   the same, making the URL and the header names and values
//                  strings (latin1), what node:http's parser hands its users:
//                  7 strings a request.
//   node-parser    node:http's HTTPParser.execute on the same 16 requests, with
//                  its callbacks (it makes those strings itself).
// Each trial is a fresh process: 1 s of warm-up, then about 1 s measured;
// trials of the four interleaved. Requests per second of wall time and of the
// process's CPU time (on a shared machine the wall clock also counts the time
// the process waits for a core), median and min–max.
//
// Memory per parser: anonymous RSS and V8's external memory before and after 250,000
// parsers (about all the module's memory holds) are allocated and each fed a
// partial request (so every one is touched), divided by the parsers; the same
// for 65,536 node HTTPParser objects, after a warm-up of both; medians of the trials. The instance's fixed memory is reported apart (V8 counts all of it
// as external; the kernel backs only the pages touched).
//
// BENCH_TRIALS (5) and BENCH_SECONDS (1) override the defaults.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';

import { LlhttpParsers, llhttpConstants } from '../src/protocols/llhttp.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const PIPELINE = 16;
/** Long enough for V8 to tier the module's code up (its compile threads' CPU time would count otherwise). */
const WARM_UP_MS = 1000;
/** Parsers in the memory trial: as many as the module's fixed memory holds, so that noise in RSS is small beside them. */
const WASM_PARSERS = 250_000;
const NODE_PARSERS = 65536;
const WAYS = ['wasm-execute', 'wasm-records', 'wasm-strings', 'node-parser'] as const;
type Way = (typeof WAYS)[number];

/** A GET of exactly 100 bytes with Host, User-Agent and Accept. */
function request(): string {
  const tail = ' HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n';
  const path = '/api/items?id=';
  return `GET ${path}${'4'.repeat(100 - 4 - path.length - tail.length)}${tail}`;
}

const REQUEST = request();
const BATCH = Buffer.from(REQUEST.repeat(PIPELINE), 'latin1');

interface Trial {
  requestsPerSecond: number;
  /** Requests per second of the process's CPU time: on a shared machine, the wall clock also counts time spent descheduled. */
  requestsPerCpuSecond: number;
  checksum: number;
}

/** Runs `body` (one batch per call) for the warm-up, then for SECONDS: requests per second. */
function time(body: () => number): Trial {
  let checksum = 0;
  const warm = performance.now() + WARM_UP_MS;
  while (performance.now() < warm) checksum += body();
  let batches = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const until = start + SECONDS * 1000;
  let now = start;
  while (now < until) {
    for (let i = 0; i < 64; i++) checksum += body();
    batches += 64;
    now = performance.now();
  }
  const used = process.cpuUsage(cpu);
  return {
    requestsPerSecond: (batches * PIPELINE) / ((now - start) / 1000),
    requestsPerCpuSecond: (batches * PIPELINE) / ((used.user + used.system) / 1e6),
    checksum,
  };
}

function wasmTrial(way: Way): Trial {
  const C = llhttpConstants();
  const parsers = new LlhttpParsers({ maxParsers: 1 });
  const p = parsers.alloc();
  parsers.input.set(BATCH, 0);
  const { table, memory } = parsers;
  const base = parsers.inputOffset;
  // latin1Slice: Buffer's own latin1 decoder without toString's argument handling
  // (undocumented, used by Node's http and undici); 75-90 ns a string here against 120-180.
  const bytes = Buffer.from(memory.buffer) as Buffer & { latin1Slice(start: number, end: number): string };
  const { KIND_URL, KIND_HEADER_FIELD, KIND_HEADER_VALUE, KIND_HEADERS_COMPLETE, KIND_MESSAGE_COMPLETE, HEADER_COUNT, HEADER_WORDS, RECORD_WORDS, INFO_METHOD_MASK } = C;
  const methods = C.methods;
  const strings = way === 'wasm-strings';
  const urls: string[] = [];
  const raw: string[] = [];
  const execute = (): number => {
    const status = parsers.execute(p, 0, BATCH.length);
    if (status !== 0) throw new Error(`status ${status}`);
    return table[HEADER_COUNT]!;
  };
  if (way === 'wasm-execute') return time(execute);
  // A token cut by a read would need its pieces joined; this batch has none (one execute
  // holds all 16 requests whole), but the pass still checks LAST as a host must.
  return time(() => {
    const count = execute();
    let sum = 0;
    raw.length = 0;
    urls.length = 0;
    for (let i = 0, at = HEADER_WORDS; i < count; i++, at += RECORD_WORDS) {
      const kind = table[at]!;
      if (kind === KIND_URL || kind === KIND_HEADER_FIELD || kind === KIND_HEADER_VALUE) {
        if (table[at + 3] === 0) throw new Error('a cut token');
        if (strings) {
          const from = base + table[at + 1]!;
          const text = bytes.latin1Slice(from, from + table[at + 2]!);
          if (kind === KIND_URL) urls.push(text);
          else raw.push(text);
        } else {
          sum += table[at + 1]! + table[at + 2]!;
        }
      } else if (kind === KIND_HEADERS_COMPLETE) {
        sum += methods[table[at + 1]! & INFO_METHOD_MASK]!.length;
      } else if (kind === KIND_MESSAGE_COMPLETE) {
        sum++;
      }
    }
    return sum + urls.length + raw.length;
  });
}

interface NodeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buffer: Buffer): number | Error;
  [key: number]: unknown;
}
interface NodeParserClass {
  new (): NodeParser;
  REQUEST: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

function nodeParserClass(): NodeParserClass {
  process.noDeprecation = true;
  return (process as unknown as { binding(name: string): { HTTPParser: NodeParserClass } }).binding('http_parser').HTTPParser;
}

function nodeParser(HTTPParser: NodeParserClass, onHeaders: (...args: unknown[]) => number): NodeParser {
  const parser = new HTTPParser();
  parser[HTTPParser.kOnMessageBegin] = () => 0;
  parser[HTTPParser.kOnHeaders] = () => 0;
  parser[HTTPParser.kOnHeadersComplete] = onHeaders;
  parser[HTTPParser.kOnBody] = () => 0;
  parser[HTTPParser.kOnMessageComplete] = () => 0;
  parser[HTTPParser.kOnExecute] = () => 0;
  parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
  return parser;
}

function nodeTrial(): Trial {
  const HTTPParser = nodeParserClass();
  let sum = 0;
  // node:http's parserOnHeadersComplete receives (versionMajor, versionMinor, headers, method, url, ...).
  const parser = nodeParser(HTTPParser, (_major, _minor, headers, _method, url) => {
    sum += (headers as string[]).length + (url as string).length;
    return 0;
  });
  return time(() => {
    const consumed = parser.execute(BATCH);
    if (consumed !== BATCH.length) throw new Error(`node's parser consumed ${String(consumed)}`);
    return sum;
  });
}

interface Memory {
  /** RSS and external memory added per parser, bytes. */
  wasmRssPerParser: number;
  wasmExternalPerParser: number;
  /** The instance before any parser: RSS added, and its fixed memory (all of it external to V8). */
  wasmInstanceRss: number;
  wasmInstanceBytes: number;
  nodeRssPerParser: number;
  nodeHeapAndExternalPerParser: number;
  parserBytes: number;
}

async function memoryTrial(): Promise<Memory> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  // Anonymous RSS: the wasm memory and the heaps, without the file-backed pages of code.
  const sample = (): { rss: number; heap: number; external: number } => {
    gc();
    const { heapUsed, external } = process.memoryUsage();
    const rss = Number(/RssAnon:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
    return { rss, heap: heapUsed, external };
  };
  const partial = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\nX-Partial: ', 'latin1');
  const HTTPParser = nodeParserClass();
  // Warm-up: V8 compiles and tiers up the module's code and node's parser on
  // first use, which costs memory once, not per parser.
  const warm = new LlhttpParsers({ maxParsers: 1, inputBytes: 4096 });
  const w = warm.alloc();
  warm.input.set(BATCH.subarray(0, 4096));
  const node = nodeParser(HTTPParser, () => 0);
  for (const until = performance.now() + 500; performance.now() < until; ) {
    warm.execute(w, 0, 4096);
    node.execute(BATCH);
  }
  // Background tier-up finishes and frees its memory.
  await new Promise((resolve) => setTimeout(resolve, 500));

  const start = sample();
  const parsers = new LlhttpParsers({ maxParsers: WASM_PARSERS, records: 2, inputBytes: 4096 });
  const empty = sample();
  parsers.input.set(partial, 0);
  for (let i = 0; i < WASM_PARSERS; i++) parsers.execute(parsers.alloc(), 0, partial.length);
  const full = sample();

  const kept: NodeParser[] = [];
  const before = sample();
  for (let i = 0; i < NODE_PARSERS; i++) {
    const parser = nodeParser(HTTPParser, () => 0);
    parser.execute(partial);
    kept.push(parser);
  }
  const after = sample();
  return {
    wasmRssPerParser: (full.rss - empty.rss) / WASM_PARSERS,
    wasmExternalPerParser: (full.external - empty.external) / WASM_PARSERS,
    wasmInstanceRss: empty.rss - start.rss,
    wasmInstanceBytes: parsers.memory.buffer.byteLength,
    nodeRssPerParser: (after.rss - before.rss) / kept.length,
    nodeHeapAndExternalPerParser: (after.heap + after.external - before.heap - before.external) / kept.length,
    parserBytes: llhttpConstants().PARSER_BYTES,
  };
}

function runChild(args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, '--trial', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`trial ${args.join(' ')} exited with ${code}`))));
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const load = loadavg().map((x) => x.toFixed(2));
  console.log(`llhttp benchmark: a ${REQUEST.length}-byte GET with 3 headers, ${PIPELINE} per execute; ${TRIALS} trials of ${SECONDS} s, each in a fresh process`);
  console.log(`machine: ${cpus()[0]?.model}, ${cpus().length} cores, Linux ${release()}, Node ${process.version} (its llhttp ${process.versions.llhttp}), llhttp module ${llhttpConstants().version}`);
  console.log(`load average at start: ${load.join(' ')}\n`);
  const results: Record<string, Trial[]> = {};
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const way of WAYS) (results[way] ??= []).push((await runChild([way])) as Trial);
  }
  const memories: Memory[] = [];
  for (let trial = 0; trial < TRIALS; trial++) memories.push((await runChild(['memory'])) as Memory);
  // Medians: a trial now and then sees V8 give back memory mid-measure.
  const memory = Object.fromEntries(Object.keys(memories[0]!).map((key) => [key, median(memories.map((m) => m[key as keyof Memory]))])) as unknown as Memory;
  const end = loadavg().map((x) => x.toFixed(2));

  const peer = median(results['node-parser']!.map((t) => t.requestsPerCpuSecond));
  console.log('| way | requests/s, wall (median, min–max) | requests per CPU second (median, min–max) | CPU ns per request | vs node:http\'s parser (CPU) |');
  console.log('|---|---|---|---|---|');
  const range = (xs: number[]): string => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
  for (const way of WAYS) {
    const cpu = results[way]!.map((t) => t.requestsPerCpuSecond);
    const m = median(cpu);
    console.log(`| ${way} | ${range(results[way]!.map((t) => t.requestsPerSecond))} | ${range(cpu)} | ${(1e9 / m).toFixed(0)} | ${(m / peer).toFixed(2)}× |`);
  }
  console.log('\n| memory (medians) | bytes |');
  console.log('|---|---|');
  console.log(`| llhttp_t in the module (sizeof) | ${memory.parserBytes} |`);
  console.log(`| RSS per wasm parser, ${fmt(WASM_PARSERS)} touched | ${memory.wasmRssPerParser.toFixed(1)} |`);
  console.log(`| V8 external memory per wasm parser | ${memory.wasmExternalPerParser.toFixed(1)} |`);
  console.log(`| an instance: RSS before any parser / its fixed memory | ${fmt(memory.wasmInstanceRss)} / ${fmt(memory.wasmInstanceBytes)} |`);
  console.log(`| RSS per node:http HTTPParser, ${fmt(NODE_PARSERS)} | ${memory.nodeRssPerParser.toFixed(1)} |`);
  console.log(`| JS heap + external per node:http HTTPParser | ${memory.nodeHeapAndExternalPerParser.toFixed(1)} |`);
  console.log(`\nload average at end: ${end.join(' ')}`);
  const dir = new URL('../results', import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}/llhttp.json`;
  writeFileSync(file, JSON.stringify({ request: REQUEST, pipeline: PIPELINE, trials: TRIALS, seconds: SECONDS, load: { start: load, end }, results, memories }, null, 2));
  console.log(`raw figures: ${file}`);
}

if (process.argv[2] === '--trial') {
  const way = process.argv[3] as Way | 'memory';
  const result = way === 'memory' ? await memoryTrial() : way === 'node-parser' ? nodeTrial() : wasmTrial(way);
  process.stdout.write(JSON.stringify(result));
} else {
  await main();
}
