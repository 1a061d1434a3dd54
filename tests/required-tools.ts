// Real clients and tools that some tests need (redis-cli, curl, wrk, ...).
// On a developer's machine a missing one skips the tests that need it, with a
// note on stdout. In CI (CI=true) every tool is required: a missing one fails
// those tests instead, so a CI image that lost a package cannot go green by
// quietly running less. scripts/test-native.mjs applies the same rule to
// valgrind through `toolsRequired`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'uvu';

/** True in CI, where a missing tool is a failure rather than a skip. */
export const toolsRequired = process.env['CI'] === 'true';

/** Whether `tool` is a command on PATH. */
export function installed(tool: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool]).status === 0;
}

/**
 * Defines the test `name` when every one of `tools` is on PATH. Otherwise it
 * fails in CI and is skipped, with a note, elsewhere.
 */
export function testWithTools(tools: readonly string[], name: string, body: () => void | Promise<void>): void {
  testWithout(tools.filter((tool) => !installed(tool)), name, body);
}

/**
 * The python3 the tests run: Debian's, where CI's apt-get puts python3-<module>
 * (a python3 first on PATH, pyenv's say, would not see it); PYTHON overrides.
 */
export const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

/** Whether PYTHON imports `module`. */
export function pythonModuleInstalled(module: string): boolean {
  return spawnSync(PYTHON, ['-c', 'import sys, importlib; importlib.import_module(sys.argv[1])', module]).status === 0;
}

/**
 * Defines the test `name` when python3 imports every one of `modules`
 * (CI installs them as Debian packages, python3-<module>), with the rule of
 * testWithTools otherwise.
 */
export function testWithPythonModules(modules: readonly string[], name: string, body: () => void | Promise<void>): void {
  testWithout(modules.filter((module) => !pythonModuleInstalled(module)).map((module) => `python3 module ${module}`), name, body);
}

function testWithout(missing: readonly string[], name: string, body: () => void | Promise<void>): void {
  if (missing.length === 0) {
    test(name, body);
  } else if (toolsRequired) {
    test(name, () => {
      throw new Error(`${missing.join(', ')} not on PATH: required when CI=true`);
    });
  } else {
    console.log(`skipping "${name}": ${missing.join(', ')} not installed (CI=true would fail it)`);
    test.skip(name, body);
  }
}
