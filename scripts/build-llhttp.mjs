#!/usr/bin/env node
// Builds build/llhttp.wasm: llhttp's C sources (from the system, never copied
// into the repository) and llhttp/spans.c, compiled by Emscripten.
//
// Prerequisites, checked first so that `npm install` fails at once without them:
//   emcc                  Debian/Ubuntu package `emscripten` (or EMCC=/path/to/emcc)
//   llhttp.c, api.c,      Debian/Ubuntu package `node-llhttp`, which installs them in
//   http.c, llhttp.h      /usr/share/llhttp and /usr/share/include/llhttp
//                         (or LLHTTP_SRC_DIR and LLHTTP_INCLUDE_DIR)
//
// The cache: Debian's emcc ships its system libraries prebuilt in a frozen,
// read-only cache (/usr/share/emscripten/cache, FROZEN_CACHE = True in its
// config) and never writes to it, so it works as root or not and offline.
// Pointing EM_CACHE elsewhere (build/, say) would break it: a frozen cache is
// never filled. So this script leaves EM_CACHE alone; an emsdk emcc keeps its
// own writable cache the same way.
//
// llhttp's files are compiled without our warning flags (they have unused
// parameters by design); ours with -Wall -Wextra -Werror.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const emcc = process.env.EMCC || 'emcc';
const srcDir = process.env.LLHTTP_SRC_DIR || '/usr/share/llhttp';
const includeDir = process.env.LLHTTP_INCLUDE_DIR || '/usr/share/include/llhttp';
const objDir = path.join(root, 'build', 'llhttp');
const output = path.join(root, 'build', 'llhttp.wasm');

const INSTALL_HINT =
  'install the Debian/Ubuntu packages `emscripten` and `node-llhttp`:\n' +
  '  sudo apt-get install --no-install-recommends emscripten node-llhttp';

function fail(what) {
  console.error(`wasmloop: ${what}; ${INSTALL_HINT}`);
  process.exit(1);
}

// Debian's emcc runs binaryen's tools by bare name, through PATH; under npm the
// PATH starts with node_modules/.bin, where AssemblyScript's own (newer)
// binaryen lives. emcc gets the PATH without those folders, so the module is
// built by the binaryen emcc was packaged with, under npm or not.
const env = {
  ...process.env,
  PATH: (process.env.PATH ?? '').split(path.delimiter).filter((dir) => !dir.endsWith(path.join('node_modules', '.bin'))).join(path.delimiter),
};

const version = spawnSync(emcc, ['--version'], { encoding: 'utf8', env });
if (version.error || version.status !== 0) {
  fail(`cannot run the Emscripten compiler '${emcc}' (${version.error?.code ?? `exit ${version.status}`})`);
}
const sources = ['llhttp.c', 'api.c', 'http.c'].map((name) => path.join(srcDir, name));
const header = path.join(includeDir, 'llhttp.h');
const missing = [...sources, header].filter((file) => !existsSync(file));
if (missing.length > 0) fail(`llhttp's C sources are missing (${missing.join(', ')})`);

// The memory is fixed (no ALLOW_MEMORY_GROWTH): the host keeps typed-array
// views over it. 16 MiB holds the default layout (65,536 parsers of 64 bytes,
// a 1 MiB input region, 4,096 records) three times over; each instance's pages
// are touched only as parsers are used, but V8 counts the whole memory as
// external memory of the heap, so it is not made larger than needed.
const MEMORY_BYTES = 16 * 1024 * 1024;
// llhttp's execute keeps its state in the parser, not on the stack: 64 KiB is
// ample (emcc's default is 5 MiB, which would only push the regions up).
const STACK_BYTES = 64 * 1024;

// Strict mode: llhttp 8.1's loose mode takes whitespace inside or before a
// header name ("Host : x" becomes a field "Host "), which RFC 9112 (5.1) says a
// server must refuse with 400 and node:http (llhttp 9) refuses; strict mode
// refuses it, and a target with raw non-ASCII bytes or a tab, as node:http
// does. It also turns bytes after a `Connection: close` request into
// HPE_CLOSED_CONNECTION, where loose mode drops them without a word.
//
// -flto: llhttp's api.c wrappers and the glue's callbacks are optimized
// together with the state machine; measured here 1.3-1.6x the requests per CPU
// second of the same -O3 build without it (and -O2 no better), for 3 KB more.
const COMPILE = ['-O3', '-flto', '-DLLHTTP_STRICT_MODE=1', `-I${includeDir}`];
const LINK = [
  '-O3',
  '-flto',
  // A reactor module with WASI as its only import (proc_exit, reached only from abort()).
  '-sSTANDALONE_WASM',
  '--no-entry',
  `-sINITIAL_MEMORY=${MEMORY_BYTES}`,
  `-sTOTAL_STACK=${STACK_BYTES}`,
  // The regions are carved by wl_init: nothing may allocate, and a link error says so if it tries.
  '-sMALLOC=none',
];

function run(args, cwd) {
  const result = spawnSync(emcc, args, { cwd, env, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`wasmloop: emcc failed: ${emcc} ${args.join(' ')}`);
    process.exit(1);
  }
}

rmSync(objDir, { recursive: true, force: true });
mkdirSync(objDir, { recursive: true });
run([...COMPILE, '-c', ...sources], objDir);
run([...COMPILE, '-Wall', '-Wextra', '-Werror', '-c', path.join(root, 'llhttp', 'spans.c'), '-o', 'spans.o'], objDir);
run([...LINK, 'llhttp.o', 'api.o', 'http.o', 'spans.o', '-o', output], objDir);
rmSync(objDir, { recursive: true, force: true });
console.log(`wasmloop: ${path.relative(root, output)} (${statSync(output).size} bytes, ${version.stdout.split('\n')[0]})`);
