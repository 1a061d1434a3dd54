// The native addon's surface, typed. Every function returns a result >= 0 or
// -errno; turning that into an error is the caller's job (see errors.ts).
import { createRequire } from 'node:module';

export interface NativeAddon {
  backendCreate(name: string, memory: ArrayBuffer, eventsOffset: number, maxEvents: number): number;
  backendAdd(id: number, fd: number, events: number, generation: number): number;
  backendModify(id: number, fd: number, events: number, generation: number): number;
  backendRemove(id: number, fd: number): number;
  backendWait(id: number, timeoutMs: number): number;
  backendFree(id: number): number;
  nodeBackendFd(): number;
  nodeBackendTimeout(): number;
  nodeHookStart(turn: (first: boolean) => boolean): number;
  nodeHookStop(): number;
  listen(host: string, port: number, backlog: number, flags: number): number;
  connect(host: string, port: number): number;
  accept(fd: number, flags: number): number;
  read(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  write(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  writev(fd: number, buffers: readonly Uint8Array[]): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  socketError(fd: number): number;
  localPort(fd: number): number;
  eventfd(initial: number): number;
  eventfdWrite(fd: number, n: number): number;
  eventfdRead(fd: number): number;
  readonly EVENT_SIZE: number;
  readonly EVENT_DATA_OFFSET: number;
  readonly LISTEN_REUSEPORT: number;
  readonly ACCEPT_NODELAY: number;
  readonly WRITEV_MAX: number;
}

const require = createRequire(import.meta.url);

function load(): NativeAddon {
  try {
    return require('../Release/wasmloop.node') as NativeAddon;
  } catch (cause) {
    throw new Error('wasmloop: the native addon is not built; run `npm install` (or `npm run build`)', { cause });
  }
}

export const native: NativeAddon = load();
