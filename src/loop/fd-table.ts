// The fds the loop holds: one FdEntry per fd in the host (what to call, its
// label, whether the loop owns it), the generation, role and interest in the
// core's registry, the registration in the kernel. This module keeps the
// three in step, and trusts its callers: the loop's public calls check their
// arguments before they get here.
//
// Letting go of an fd, the one policy: the loop forgets it first (the core's
// slot, so records still pending in the batch die, and the host's entry),
// then tells the kernel, so no failure can leave it half registered. The
// kernel may answer EBADF or ENOENT: the fd was closed behind the loop's
// back, its registration went with the file, and its number may already
// name another file. The loop then never closes it, and tells whoever owns
// the fd:
// - a socket (the loop closes sockets, so it owns them): removeSocket()
//   throws the error to its caller, who asked for this fd and may still hold
//   the number; a hang-up the loop settles throws it as that callback's
//   error; close() logs a warning and releases the rest, since one stale fd
//   must not keep the others open.
// - a watched fd (the caller's: the loop never closes it): nothing to say.
//   Closing the fd before its watcher is the caller's right, and leaves
//   nothing behind in the kernel.
// Any other error is thrown (by close(): the first one, once all is released).
import { constants as osConstants } from 'node:os';

import { ERR_EXISTS, WANT_READ, WANT_WRITE } from '../core/abi.js';
import type { KernelBackend } from '../kernel/backend.js';
import type { CoreExports } from '../core/loader.js';
import { check, systemError, WasmloopError } from '../errors.js';
import { native } from '../kernel/native.js';
import type { Watcher } from './watcher.js';
import type { Logger } from './options.js';
import type { AcceptHandler, ClientHandlers, ServerSocketOptions } from './registration.js';

const { EBADF, EEXIST, ENOENT } = osConstants.errno;

/** The kernel's answer when the fd was closed behind the loop's back. */
const gone = (result: number): boolean => result === -EBADF || result === -ENOENT;

export interface ServerEntry {
  readonly onAccept: AcceptHandler;
  readonly onError: ServerSocketOptions['onError'];
  readonly acceptsPerEvent: number;
  readonly acceptFlags: number;
}

/** What the host keeps for one registered fd. Exactly one of client, server and watcher is set. */
export class FdEntry {
  constructor(
    readonly label: string | undefined,
    readonly client: ClientHandlers | undefined,
    readonly server: ServerEntry | undefined,
    readonly watcher: Watcher | undefined,
    /** The loop closes this fd when it lets go of it: sockets, and its own eventfd. */
    readonly owned: boolean,
  ) {}
}

export class FdTable {
  /** By fd. Read directly by the turn's hot path; written only here. */
  readonly entries: (FdEntry | undefined)[] = [];
  readonly #wasm: CoreExports;
  readonly #kernel: KernelBackend;
  readonly #logger: Logger | undefined;

  constructor(wasm: CoreExports, kernel: KernelBackend, logger: Logger | undefined) {
    this.#wasm = wasm;
    this.#kernel = kernel;
    this.#logger = logger;
  }

  /** Registers fd with the core, then the kernel (the core lets go again if the kernel refuses); returns its generation. */
  register(fd: number, role: number, flags: number): number {
    const generation = this.#wasm.register(fd, role, flags);
    if (generation === ERR_EXISTS) {
      throw systemError(-EEXIST, this.#kernel.syscalls.control, { fd, info: `fd ${fd} is already registered with this loop` });
    }
    if (generation < 0) throw new WasmloopError('ERR_INTERNAL', `core refused fd ${fd} (code ${generation})`);
    const added = this.#kernel.add(fd, this.#wasm.maskOf(fd) >>> 0, generation);
    if (added < 0) {
      this.#wasm.unregister(fd);
      throw systemError(added, this.#kernel.syscalls.control, { fd });
    }
    return generation;
  }

  /** Keeps `entry` for a registered fd. */
  hold(fd: number, entry: FdEntry): void {
    this.entries[fd] = entry;
  }

  /**
   * New interest flags for a registered client or watcher: the core first,
   * then the kernel only when the mask changed (or `rearm`: a one-shot fd the
   * kernel disarmed); back to `old` if the kernel refuses.
   */
  changeFlags(fd: number, flags: number, old: number, rearm = false): void {
    if (this.#wasm.setFlags(fd, flags) !== 1 && !rearm) return;
    const modified = this.#kernel.modify(fd, this.#wasm.maskOf(fd) >>> 0, this.#wasm.generationOf(fd));
    if (modified < 0) {
      this.#wasm.setFlags(fd, old);
      throw systemError(modified, this.#kernel.syscalls.control, { fd });
    }
  }

  /** A client socket's read and write interest; one system call only when the kernel's mask changes. */
  setInterest(fd: number, readable: boolean, writable: boolean): void {
    const old = this.#wasm.flagsOf(fd);
    this.changeFlags(fd, (old & ~(WANT_READ | WANT_WRITE)) | (readable ? WANT_READ : 0) | (writable ? WANT_WRITE : 0), old);
  }

  /** Lets go of a socket, and closes it when asked; a socket closed behind the loop's back is the caller's error. */
  remove(fd: number, close: boolean): void {
    const removed = this.forget(fd);
    if (removed < 0) throw systemError(removed, this.#kernel.syscalls.control, { fd });
    if (close) check(native.close(fd), 'close', { fd });
  }

  /** Lets go of a watched fd (never closed: it is the caller's); one closed behind the loop's back is no error. */
  unwatch(fd: number): void {
    const removed = this.forget(fd);
    if (removed < 0 && !gone(removed)) throw systemError(removed, this.#kernel.syscalls.control, { fd });
  }

  /** close(): lets go of every fd and closes those the loop owns. Returns the first error, if any. */
  releaseAll(): unknown {
    let first: unknown;
    this.entries.forEach((entry, fd) => {
      if (entry === undefined) return;
      const removed = this.forget(fd);
      if (removed === 0) {
        if (entry.owned) native.close(fd);
      } else if (gone(removed)) {
        if (entry.owned) this.#logger?.warn?.({ fd }, 'wasmloop: an fd was closed behind the loop\'s back; left alone at close');
      } else {
        first ??= systemError(removed, this.#kernel.syscalls.control, { fd });
      }
    });
    return first;
  }

  /** Forgets fd (core and host), then tells the kernel; returns the kernel's answer. */
  forget(fd: number): number {
    this.#wasm.unregister(fd);
    const entry = this.entries[fd];
    if (entry !== undefined) {
      this.entries[fd] = undefined;
      entry.watcher?.detach();
    }
    return this.#kernel.remove(fd);
  }
}
