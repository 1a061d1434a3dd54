#!/usr/bin/env node
// `npm test`: the whole suite under coverage (`c8 uvu build/tests \.test\.js$`),
// its output passed through unchanged, and one more way to fail: a loop that
// printed an uncaught callback error. Test loops are fatal (tests/test-loop.ts),
// so that text on stderr means a callback failed and no test noticed: a loop
// that opted out (fatalErrors: false) with nobody listening for 'error', or a
// child process (CLI, fixture) whose inherited stderr got it. Tests of that
// printing capture process.stderr.write, so it never reaches here.
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const bin = path.join(root, 'node_modules', '.bin');
/** What a loop prints for an error nobody listens for: UNCAUGHT_LOOP_ERROR in tests/test-loop.ts. */
const UNCAUGHT = /wasmloop(?:\[[^\]]*\])?: (?:error: )?uncaught error in a /;
/** Enough of the previous chunk to find the text split across two. */
const OVERLAP = 128;

const child = spawn(path.join(bin, 'c8'), ['uvu', 'build/tests', '\\.test\\.js$'], {
  cwd: root,
  stdio: ['inherit', 'inherit', 'pipe'],
  env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}` },
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));

let tail = '';
let uncaught = false;
child.stderr.setEncoding('utf8');
child.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  const text = tail + chunk;
  if (UNCAUGHT.test(text)) uncaught = true;
  tail = text.slice(-OVERLAP);
});
child.on('close', (code, signal) => {
  if (uncaught) {
    console.error('npm test: FAILED: a loop printed an uncaught callback error ("wasmloop: uncaught error in a ..." above): ' +
      'a callback threw and no test failed for it');
    process.exit(1);
  }
  if (signal !== null) console.error(`npm test: the test run was killed by ${signal}`);
  process.exit(code ?? 1);
});
