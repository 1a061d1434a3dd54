#!/usr/bin/env node
// `npm run test:native`: the native layer as a plain C program
// (tests/native/native-layer.c), under valgrind when it is installed:
// valgrind must report no invalid access and no definite leak.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(new URL('..', import.meta.url).pathname);
const out = path.join(root, 'build', 'native-tests', 'native-layer');
const cc = process.env.CC || 'gcc';
const sources = ['backend.c', 'backend_epoll.c', 'backend_poll.c', 'backend_select.c', 'sockets.c', 'fds.c'].map((f) => path.join(root, 'native', f));
mkdirSync(path.dirname(out), { recursive: true });
execFileSync(cc, ['-g', '-O1', '-D_GNU_SOURCE', '-Wall', '-Wextra', '-Werror', path.join(root, 'tests', 'native', 'native-layer.c'), ...sources, '-o', out], { stdio: 'inherit' });

const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;
const command = hasValgrind
  ? ['valgrind', ['--quiet', '--error-exitcode=99', '--leak-check=full', '--errors-for-leak-kinds=definite', out]]
  : [out, []];
if (!hasValgrind) console.log('test:native: valgrind is not installed; running without it');
const result = spawnSync(command[0], command[1], { stdio: 'inherit' });
if (result.status === 99) console.error('test:native: valgrind found errors');
process.exit(result.status ?? 1);
