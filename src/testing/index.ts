// wasmloop/testing: what tests and benchmarks of the loop use, and the
// product does not ship in its main entry. A fake kernel to script readiness,
// the reference core (the wasm core's rules in TypeScript, the oracle of the
// wasm one), and the testing build of the wasm core, which also exports the
// functions only tests call.
export { MockKernel, EPOLL, type MockRegistration } from './mock-kernel.js';
export { ReferenceCore, referenceMaskFor, type ReferenceCoreOptions } from './reference-core.js';
export { createTestingCore } from './testing-core.js';
export type { Core } from '../core/loader.js';
export type { CoreExports, TestingCoreExports } from '../core/abi.js';
