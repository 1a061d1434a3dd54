// What a caller may register and ask for (the public shapes), the checks
// that turn those options into the core's flag bits, and the control a
// watcher changes its interest through. These are the checked
// doors: every value is validated here, before the fd table (which trusts
// its callers) is touched.
import { constants as osConstants } from 'node:os';

import { EDGE_TRIGGERED, ONESHOT, PRIORITY_SHIFT, WANT_HANGUP, WANT_READ, WANT_WRITE } from '../core/abi.js';
import type { KernelBackend } from '../kernel/backend.js';
import {
  assertBoolean,
  assertFunction,
  assertInteger,
  assertObject,
  assertOneOf,
  assertOptionalFunction,
  assertString,
  systemError,
  WasmloopError,
  type SystemError,
} from '../errors.js';
import { native } from '../kernel/native.js';
import type { CoreExports } from '../core/loader.js';
import type { WatcherControl, WatchHandler, WatchInterest } from './watcher.js';
import { FdEntry, type FdTable } from './fd-table.js';
import type { LoopState } from './state.js';
import { DEFAULT_ACCEPTS_PER_EVENT, DEFAULT_PRIORITY, PRIORITY_LOWEST } from './options.js';

const { ENOENT } = osConstants.errno;

export type Trigger = 'level' | 'edge';

/** Handlers for a client socket. Each receives the fd that is ready. */
export interface ClientHandlers {
  /** The socket is readable: data, or EOF (a read returning 0). */
  read?(fd: number): void;
  /** The socket is writable. Called only while write interest is on. */
  write?(fd: number): void;
  /**
   * The peer hung up. Called after `read` for the same event, so data the
   * peer sent before closing is read first. With `final` false the peer only
   * closed its sending side: the socket stays open for writing and the loop
   * stops watching it for reads. With `final` true the connection is gone
   * both ways: the loop closes the socket after this call, unless the
   * handler removed it already.
   */
  hangup?(fd: number, final: boolean): void;
  /**
   * The socket failed (`EPOLLERR`); `error.code` is its `SO_ERROR`, such as
   * `'ECONNREFUSED'` or `'ECONNRESET'`. The loop then closes the socket,
   * unless this handler removed it already.
   */
  error?(fd: number, error: SystemError): void;
}

/** Options every registration takes. */
export interface RegistrationOptions {
  /** 0 (served first) to 3 (last). Default 1. */
  priority?: number;
  /** A name for this fd in errors, slow-callback reports and traces. */
  label?: string;
}

export interface ClientOptions extends RegistrationOptions {
  /** Watch for readability. Default: true when a `read` handler is given. */
  readable?: boolean;
  /** Watch for writability. Default false: turn it on while output is queued. */
  writable?: boolean;
  /** Level- or edge-triggered notification. Default `'level'`. */
  trigger?: Trigger;
}

export interface Interest {
  readable?: boolean;
  writable?: boolean;
}

/** Called with each accepted connection (non-blocking, close-on-exec). */
export type AcceptHandler = (clientFd: number, serverFd: number) => void;

export interface ServerSocketOptions extends RegistrationOptions {
  /**
   * Called when accept fails for a reason other than a connection that
   * vanished before it was accepted (which is skipped): EMFILE, ENFILE,
   * ENOBUFS... Without it, the error goes to the loop's `'error'` event.
   */
  onError?: (error: SystemError, serverFd: number) => void;
  /** Accepts per readiness event. Default 128. */
  acceptsPerEvent?: number;
  /** Set TCP_NODELAY on accepted connections. Default true. */
  noDelay?: boolean;
}

export interface WatchOptions extends WatchInterest {
  /** Level- or edge-triggered notification. Default `'level'`. Edge needs the epoll backend. */
  trigger?: Trigger;
  /** Disarm after one event, until `watcher.modify()` re-arms it. Default false. */
  oneshot?: boolean;
  label?: string;
}

export interface DeferOptions {
  /** 0 (run first) to 3. Default 1. */
  priority?: number;
  label?: string;
}

export interface RemoveOptions {
  /** Close the fd after unregistering it. Default true. */
  close?: boolean;
}

/** A registration, checked: the core's flags and the host's entry. */
export interface Registration {
  readonly flags: number;
  readonly entry: FdEntry;
}

/** addServerSocket()'s arguments. */
export function serverRegistration(onAccept: AcceptHandler, options: ServerSocketOptions): Registration {
  assertFunction('onAccept', onAccept);
  assertObject('options', options);
  assertOptionalFunction('options.onError', options.onError);
  const acceptsPerEvent = options.acceptsPerEvent ?? DEFAULT_ACCEPTS_PER_EVENT;
  assertInteger('options.acceptsPerEvent', acceptsPerEvent, 1, 1 << 20);
  const noDelay = options.noDelay ?? true;
  assertBoolean('options.noDelay', noDelay);
  const flags = priorityFlags(options);
  const server = { onAccept, onError: options.onError, acceptsPerEvent, acceptFlags: noDelay ? native.ACCEPT_NODELAY : 0 };
  return { flags, entry: new FdEntry(options.label, undefined, server, undefined, true) };
}

/** addClientSocket()'s arguments. */
export function clientRegistration(kernel: KernelBackend, handlers: ClientHandlers, options: ClientOptions): Registration {
  assertObject('handlers', handlers);
  for (const name of ['read', 'write', 'hangup', 'error'] as const) assertOptionalFunction(`handlers.${name}`, handlers[name]);
  assertObject('options', options);
  const trigger = triggerFlags(kernel, options.trigger);
  const flags = interestFlags(handlers, {
    readable: options.readable ?? handlers.read !== undefined,
    writable: options.writable ?? false,
  }, trigger | priorityFlags(options));
  if (options.label !== undefined) return { flags, entry: new FdEntry(options.label, handlers, undefined, undefined, true) };
  let entry = unlabelled.get(handlers);
  if (entry === undefined) unlabelled.set(handlers, (entry = new FdEntry(undefined, handlers, undefined, undefined, true)));
  return { flags, entry };
}

/**
 * The entry of every fd added with these handlers and no label. An entry is
 * never written after it is made and says nothing of its fd, and a server
 * adds all its connections with one handlers object, so they share one entry
 * instead of 64 bytes of heap each (an idle connection's third largest cost).
 */
const unlabelled = new WeakMap<ClientHandlers, FdEntry>();

/** watch()'s arguments: the core's flags (the Watcher needs the generation, so the entry comes after). */
export function watchRegistration(kernel: KernelBackend, options: WatchOptions, handler: WatchHandler): number {
  assertObject('options', options);
  assertFunction('handler', handler);
  const trigger = triggerFlags(kernel, options.trigger);
  const oneshot = options.oneshot ?? false;
  assertBoolean('options.oneshot', oneshot);
  if (options.label !== undefined) assertString('options.label', options.label);
  return watchFlags(options, 0) | trigger | (oneshot ? ONESHOT : 0) | priorityFlags(options);
}

/** defer()'s arguments, checked: the priority to queue at. */
export function deferPriority(callback: unknown, options: DeferOptions): number {
  assertFunction('callback', callback);
  assertObject('options', options);
  const priority = options.priority ?? DEFAULT_PRIORITY;
  assertInteger('options.priority', priority, 0, PRIORITY_LOWEST);
  if (options.label !== undefined) assertString('options.label', options.label);
  return priority;
}

/** watcher.modify()'s interest: the new flags; what `interest` leaves out stays as in `old`. */
export function watchChange(interest: WatchInterest, old: number): number {
  const keep = old & (EDGE_TRIGGERED | ONESHOT);
  const priority = interest.priority === undefined ? old & (PRIORITY_LOWEST << PRIORITY_SHIFT) : priorityFlags(interest);
  return watchFlags(interest, old) | keep | priority;
}

/**
 * What a loop's watchers ask of it: modify() checks the interest and changes
 * the fd's flags; close() lets go of the fd (the caller's to close), and
 * `changed` tells the driver its work changed.
 */
export function watcherControl(fds: FdTable, state: LoopState, wasm: CoreExports, changed: () => void): WatcherControl {
  return {
    modify(watcher, interest) {
      assertObject('interest', interest);
      state.assertUsable('modify');
      const fd = watcher.fd;
      const old = wasm.flagsOf(fd);
      // A one-shot fd is re-armed even when its interest is unchanged: the
      // kernel disarmed it when it fired.
      fds.changeFlags(fd, watchChange(interest, old), old, (old & ONESHOT) !== 0);
    },
    close(watcher) {
      if (fds.entries[watcher.fd]?.watcher === watcher) fds.unwatch(watcher.fd);
      changed();
    },
  };
}

/** setInterest()'s interest, checked against the handlers: what it leaves out stays as in `old`. */
export function interestChange(handlers: ClientHandlers, interest: Interest, old: number): Required<Interest> {
  const wanted = {
    readable: interest.readable ?? (old & WANT_READ) !== 0,
    writable: interest.writable ?? (old & WANT_WRITE) !== 0,
  };
  interestFlags(handlers, wanted, 0);
  return wanted;
}

/** The handlers of a registered client socket, or the error that says why `fd` is not one. */
export function clientOf(entry: FdEntry | undefined, kernel: KernelBackend, fd: number, operation: string): ClientHandlers {
  if (entry?.client !== undefined) return entry.client;
  if (entry !== undefined) throw new WasmloopError('ERR_NOT_CLIENT_SOCKET', `${operation}: fd ${fd} is not a client socket`);
  throw systemError(-ENOENT, kernel.syscalls.control, { fd, info: `fd ${fd} is not registered with this loop` });
}

/** Read/write/hang-up interest flags for a watcher; what `interest` leaves out comes from `old`. */
export function watchFlags(interest: WatchInterest, old: number): number {
  const readable = interest.readable ?? (old & WANT_READ) !== 0;
  const writable = interest.writable ?? (old & WANT_WRITE) !== 0;
  const hangup = interest.hangup ?? (old & WANT_HANGUP) !== 0;
  assertBoolean('readable', readable);
  assertBoolean('writable', writable);
  assertBoolean('hangup', hangup);
  return (readable ? WANT_READ : 0) | (writable ? WANT_WRITE : 0) | (hangup ? WANT_HANGUP : 0);
}

/** A client's interest flags (plus `rest`); each interest needs its handler. */
export function interestFlags(handlers: ClientHandlers, interest: Required<Interest>, rest: number): number {
  assertBoolean('readable', interest.readable);
  assertBoolean('writable', interest.writable);
  if (interest.readable && handlers.read === undefined) {
    throw new TypeError('read interest needs a read handler');
  }
  if (interest.writable && handlers.write === undefined) {
    throw new TypeError('write interest needs a write handler');
  }
  return (interest.readable ? WANT_READ : 0) | (interest.writable ? WANT_WRITE : 0) | rest;
}

export function triggerFlags(kernel: KernelBackend, trigger: Trigger | undefined): number {
  const chosen = trigger ?? 'level';
  assertOneOf('options.trigger', chosen, ['level', 'edge'] as const);
  if (chosen === 'level') return 0;
  if (kernel.levelOnly) {
    throw new WasmloopError('ERR_EDGE_UNSUPPORTED', `edge-triggered notification needs the epoll backend; this loop uses ${kernel.name}`);
  }
  return EDGE_TRIGGERED;
}

/** The priority bits; checks the label too (every registration has both). */
export function priorityFlags(options: { priority?: number; label?: string }): number {
  const priority = options.priority ?? DEFAULT_PRIORITY;
  assertInteger('options.priority', priority, 0, PRIORITY_LOWEST);
  if (options.label !== undefined) assertString('options.label', options.label);
  return priority << PRIORITY_SHIFT;
}
