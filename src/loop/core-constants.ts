// The constants the loop shares with the wasm core (record kinds, roles,
// want flags, epoll bits, counter indices), read once from the core's own
// exports, so the host never types them a second time.
import type { CoreExports } from '../core/loader.js';

export interface CoreConstants {
  readonly dead: number;
  readonly accept: number;
  readonly read: number;
  readonly write: number;
  readonly hangup: number;
  readonly error: number;
  readonly node: number;
  readonly server: number;
  readonly client: number;
  readonly nodeRole: number;
  readonly watch: number;
  readonly wantRead: number;
  readonly wantWrite: number;
  readonly wantHangup: number;
  readonly edge: number;
  readonly oneshot: number;
  readonly priorityShift: number;
  readonly errExists: number;
  readonly epollHup: number;
  readonly counterIterations: number;
  readonly counterBusyNs: number;
  readonly counterErrors: number;
  readonly counterSlow: number;
  readonly counterCutoffs: number;
  readonly counterRepolls: number;
  readonly counterDeferredRun: number;
}

export function readCoreConstants(w: CoreExports): CoreConstants {
  const v = (g: WebAssembly.Global): number => g.value as number;
  return {
    dead: v(w.KIND_DEAD), accept: v(w.KIND_ACCEPT), read: v(w.KIND_READ), write: v(w.KIND_WRITE),
    hangup: v(w.KIND_HANGUP), error: v(w.KIND_ERROR), node: v(w.KIND_NODE),
    server: v(w.ROLE_SERVER), client: v(w.ROLE_CLIENT), nodeRole: v(w.ROLE_NODE), watch: v(w.ROLE_WATCH),
    wantRead: v(w.WANT_READ), wantWrite: v(w.WANT_WRITE), wantHangup: v(w.WANT_HANGUP), edge: v(w.EDGE_TRIGGERED),
    oneshot: v(w.ONESHOT), priorityShift: v(w.PRIORITY_SHIFT),
    errExists: v(w.ERR_EXISTS),
    epollHup: v(w.EPOLLHUP),
    counterIterations: v(w.COUNTER_ITERATIONS), counterBusyNs: v(w.COUNTER_BUSY_NS), counterErrors: v(w.COUNTER_ERRORS),
    counterSlow: v(w.COUNTER_SLOW), counterCutoffs: v(w.COUNTER_BUDGET_CUTOFFS), counterRepolls: v(w.COUNTER_REPOLLS),
    counterDeferredRun: v(w.COUNTER_DEFERRED_RUN),
  };
}
