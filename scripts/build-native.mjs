#!/usr/bin/env node
// Builds the Node-API addon against the headers of the Node that runs this
// script, so node-gyp never downloads headers (the machines here have no
// network beyond the package registries).
//
// `configure` + `build` rather than `rebuild`: rebuild starts with `clean`,
// which deletes the whole build/ folder, wasm and compiled TypeScript included.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const nodedir = path.resolve(process.execPath, '../..');

function findNodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // Installed as a dependency of another package: devDependencies are absent,
    // but npm points its install scripts at the node-gyp it bundles.
    const bundled = process.env.npm_config_node_gyp;
    if (bundled && existsSync(bundled)) return bundled;
    throw new Error('node-gyp not found: run `npm install` in the wasmloop folder first');
  }
}

if (!existsSync(path.join(nodedir, 'include', 'node', 'node_api.h'))) {
  console.error(`wasmloop: no Node headers under ${nodedir}/include/node; cannot build the addon`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  [findNodeGyp(), 'configure', 'build', `--nodedir=${nodedir}`, '--loglevel=warn'],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
