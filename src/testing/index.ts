// wasmloop/testing: what tests and benchmarks of the loop use, and the
// product does not ship in its main entry. A fake kernel to script readiness,
// the reference core (the wasm core's rules in TypeScript, the oracle of the
// wasm one), the testing build of the wasm core, which also exports the
// functions only tests call, and a hook that stops a remote handle's send
// between two of its steps.
export { MockKernel, EPOLL, type MockRegistration } from './mock-kernel.js';
export { ReferenceCore, referenceMaskFor, type ReferenceCoreOptions } from './reference-core.js';
export { createTestingCore } from './testing-core.js';
export { setRemoteSendHook, REMOTE_SEND_STEPS, type RemoteSendStep } from '../loop/remote.js';
export type { Core } from '../core/loader.js';
export type { CoreExports, TestingCoreExports } from '../core/abi.js';
