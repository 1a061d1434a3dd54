// wasmloop/testing: what tests and benchmarks of the loop use, and the
// product does not ship in its main entry: the testing build of the wasm
// core, which also exports the functions only tests call.
export { createTestingCore } from './testing-core.js';
export type { Core } from '../core.js';
export type { CoreExports, TestingCoreExports } from '../generated/core-abi.js';
