#!/usr/bin/env node
// Builds the wasm core and the host's view of its ABI (`npm run build:wasm`;
// npm install and `npm run build` run it before tsc, which compiles the
// generated module with the rest of src/):
//
//   build/core.wasm            the product: what the host calls (assembly/index.ts)
//   build/core.testing.wasm    the tests': the product's exports, every constant
//                              of the ABI, and the test-only functions
//                              (assembly/testing.ts), asserts on (a failed one
//                              traps: `use abort=`, so the module imports
//                              nothing but its memory)
//   src/core/abi.ts            every constant with its value, and the exports'
//                              types (CoreExports, TestingCoreExports)
//
// Both builds come from asc's own description of what it compiled: the
// typings `--bindings raw` emits give each export's name, AssemblyScript type
// and signature. The values come from the testing module itself, instantiated
// over a one-page memory, rather than from parsing assembly/: asc has already
// evaluated every initializer (`RECORD_WORDS * 4`, `<f64>MAX_DELAY`), and the
// value read is by construction the one the core's sources define. The product
// is compiled from the same sources and exports no constant: the host imports
// them from the generated module, so the product carries only what the host
// calls at run time. asc's JavaScript glue is not kept: it instantiates
// asynchronously and adapts every call, while the host calls the raw exports.
//
// A constant is an immutable global spelled UPPER_SNAKE_CASE, as assembly/
// spells every constant. camelCase globals (eventsBase, recordsBase,
// metricsBase) say where this instance put a region: they depend on the build
// and on `configure`, so the host reads them from the instance at run time.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import asc from 'assemblyscript/asc';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const GENERATED = 'src/core/abi.ts';
const BUILDS = [
  { target: 'release', entry: 'assembly/index.ts', interface: 'CoreExports' },
  { target: 'testing', entry: 'assembly/testing.ts', interface: 'TestingCoreExports' },
];
const CONSTANT = /^[A-Z][A-Z0-9_]*$/;

/** Compiles one target; returns the wasm file's path and asc's typings of it. */
async function compile({ target, entry }) {
  let wasmFile;
  let typings;
  const { error } = await asc.main([entry, '--target', target, '--bindings', 'raw', '--baseDir', root], {
    stdout: process.stdout,
    stderr: process.stderr,
    writeFile(name, contents, baseDir) {
      if (name.endsWith('.d.ts')) typings = String(contents);
      if (name.endsWith('.js') || name.endsWith('.d.ts')) return;
      const file = path.resolve(baseDir, name);
      if (file.endsWith('.wasm')) wasmFile = file;
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, contents);
    },
  });
  if (error) throw new Error(`asc failed on ${entry} (--target ${target}): ${error.message}`);
  if (wasmFile === undefined || typings === undefined) throw new Error(`asc wrote no module or no typings for ${entry}`);
  return { wasmFile, typings };
}

const FUNCTION = /\/\*\*\n\s+\* (assembly\/\S+)\n((?:\s+\* @\w+ .*\n)*)\s+\*\/\n\s+export function (\w+)\(([^)]*)\): ([^;]+);/g;
const GLOBAL = /\/\*\* (assembly\/\S+) \*\/\n\s+export const (\w+): \{\n\s+\/\*\* @type `(\w+)` \*\/\n\s+get value\(\): (\w+);?\n(\s+set value\(value: \w+\);\n)?\s+\};/g;

/**
 * The exports asc's typings describe, in their order. Any export the
 * patterns miss is an error, never a silent gap: the names must be exactly
 * the module's own exports.
 */
function describe(typings, module) {
  const exports = [];
  for (const [, source, tags, name, params, returns] of typings.matchAll(FUNCTION)) {
    const types = new Map([...tags.matchAll(/@(param (\w+)|returns) `(\w+)`/g)].map(([, , param, type]) => [param ?? '', type]));
    const signature = params === '' ? [] : params.split(', ').map((p) => {
      const [pname, tsType] = p.split(': ');
      return { name: pname, tsType, asType: types.get(pname) };
    });
    exports.push({ kind: 'function', source, name, params: signature, tsReturn: returns, asReturn: types.get('') ?? 'void' });
  }
  for (const [, source, name, asType, tsType, setter] of typings.matchAll(GLOBAL)) {
    exports.push({ kind: 'global', source, name, asType, tsType, mutable: setter !== undefined });
  }
  const described = new Map(exports.map((e) => [e.name, e.kind]));
  const actual = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  const declared = (typings.match(/^\s+export (?:function|const) \w+/gm) ?? []).length;
  if (declared !== exports.length) throw new Error(`asc's typings declare ${declared} exports, ${exports.length} were understood`);
  for (const [name, kind] of actual) {
    if (described.get(name) !== kind) throw new Error(`the module exports ${kind} ${name}, asc's typings do not describe it`);
  }
  if (described.size !== actual.size) throw new Error('asc\'s typings describe exports the module does not have');
  const order = [...actual.keys()];
  return exports.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}

/** A global's value as its AssemblyScript type reads it: raw i32 globals carry u32s signed. */
function valueOf(global, asType) {
  const raw = global.value;
  switch (asType) {
    case 'i8': case 'i16': case 'i32': case 'isize':
      return raw;
    case 'u8': case 'u16': case 'u32': case 'usize':
      return raw >>> 0;
    case 'bool':
      return raw !== 0;
    case 'i64':
      return BigInt.asIntN(64, raw);
    case 'u64':
      return BigInt.asUintN(64, raw);
    case 'f32': case 'f64':
      if (!Number.isFinite(raw)) throw new Error(`a constant of ${asType} ${raw} has no literal`);
      return raw;
    default:
      throw new Error(`no TypeScript value for a constant of AssemblyScript type ${asType}`);
  }
}

function literal(value, asType) {
  if (typeof value === 'bigint') return `${value}n`;
  // Unsigned constants are bit sets (EPOLL*): hex reads as the header does.
  if (asType === 'u32' || asType === 'usize') return `0x${value.toString(16)}`;
  return String(value);
}

/** The constants of one module, by name: { source, asType, value }. */
function constantsOf(wasmFile, exports) {
  const module = new WebAssembly.Module(readFileSync(wasmFile));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const constants = new Map();
  for (const e of exports) {
    if (e.kind !== 'global' || !CONSTANT.test(e.name)) continue;
    if (e.mutable) throw new Error(`${e.source} is spelled as a constant but is mutable`);
    constants.set(e.name, { source: e.source, asType: e.asType, value: valueOf(instance.exports[e.name], e.asType) });
  }
  return constants;
}

const sourceFile = (source) => `${source.slice(0, source.lastIndexOf('/'))}.ts`;

function member(e) {
  if (e.kind === 'global') {
    const note = CONSTANT.test(e.name) ? ' (a constant)' : e.mutable ? ', set by the core at run time' : ", where this build's static data put it";
    return [`  /** ${e.source}: \`${e.asType}\`${note} */`, `  readonly ${e.name}: WebAssembly.Global;`];
  }
  const asParams = e.params.map((p) => `${p.name}: ${p.asType}`).join(', ');
  const tsParams = e.params.map((p) => `${p.name}: ${p.tsType}`).join(', ');
  return [`  /** ${e.source}(${asParams}): ${e.asReturn} */`, `  ${e.name}(${tsParams}): ${e.tsReturn};`];
}

function generate(release, testing) {
  const lines = [
    '// Generated from assembly/ by scripts/build-wasm.mjs; do not edit.',
    '// Regenerated by `npm run build:wasm` (npm install and `npm run build` run it).',
    '//',
    "// The wasm core's ABI as the host sees it. The constants are the core's",
    '// immutable UPPER_CASE globals, with the values build/core.testing.wasm',
    '// exports (build/core.wasm, from the same sources, exports none: the host',
    "// imports them from here); the interfaces type the raw exports of",
    "// build/core.wasm and build/core.testing.wasm, as asc's `--bindings raw`",
    '// typings describe them. Raw means: a u32 result arrives as a signed i32',
    '// number (`>>> 0` reads it unsigned), an i64 or u64 crosses as a bigint.',
  ];
  let file;
  for (const [name, c] of testing.constants) {
    if (sourceFile(c.source) !== file) {
      file = sourceFile(c.source);
      lines.push('', `// ---- ${file}`);
    }
    lines.push(`/** \`${c.asType}\` */`, `export const ${name} = ${literal(c.value, c.asType)};`);
  }
  lines.push('', '/** The exports of build/core.wasm, the product module. */', 'export interface CoreExports {');
  for (const e of release.exports) lines.push(...member(e));
  lines.push('}', '', '/** build/core.testing.wasm adds the ABI\'s constants and the functions only tests call. */', 'export interface TestingCoreExports extends CoreExports {');
  const inRelease = new Set(release.exports.map((e) => e.name));
  for (const e of testing.exports) if (!inRelease.has(e.name)) lines.push(...member(e));
  lines.push('}', '');
  return lines.join('\n');
}

/**
 * The testing build must be the product plus exports, with the same
 * signatures; the product exports no constant (the host imports them from
 * the generated module, so one exported there would be read by nobody).
 */
function checkBuilds(release, testing) {
  const byName = new Map(testing.exports.map((e) => [e.name, e]));
  for (const e of release.exports) {
    const t = byName.get(e.name);
    if (JSON.stringify(member(e)) !== JSON.stringify(t === undefined ? undefined : member(t))) {
      throw new Error(`the testing build's ${e.name} is not the product's`);
    }
  }
  const [stray] = release.constants.keys();
  if (stray !== undefined) throw new Error(`the product exports the constant ${stray}: export constants from assembly/testing.ts only`);
}

const built = [];
for (const build of BUILDS) {
  const { wasmFile, typings } = await compile(build);
  const exports = describe(typings, new WebAssembly.Module(readFileSync(wasmFile)));
  built.push({ exports, constants: constantsOf(wasmFile, exports) });
}
const [release, testing] = built;
checkBuilds(release, testing);
mkdirSync(path.join(root, path.dirname(GENERATED)), { recursive: true });
writeFileSync(path.join(root, GENERATED), generate(release, testing));
console.log(`wasmloop: built the core (${release.exports.length} exports, ${testing.exports.length} in the testing build) and ${GENERATED} (${testing.constants.size} constants)`);
