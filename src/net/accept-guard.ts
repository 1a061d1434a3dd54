// What a server does when accept() fails for lack of fds or memory (EMFILE,
// ENFILE, ENOBUFS, ENOMEM): the pending connection stays in the kernel's
// queue and the listener stays readable, so accepting again at once would
// spin. 'pause' stops watching the listener until a connection closes or a
// back-off passes (doubling while accepting keeps failing); 'shed' is
// libuv's reserve-fd trick: one spare fd is held, given back so that the
// pending connections can be accepted and closed at once (their clients see
// a clean close instead of waiting), then taken again.
import { closeSync, openSync } from 'node:fs';

import type { SystemError } from '../errors.js';
import type { EventLoop } from '../loop/event-loop.js';
import { DEFAULT_ACCEPTS_PER_EVENT } from '../loop/options.js';
import { ACCEPT_PAUSE_MAX_MS, ACCEPT_PAUSE_MS, type ServerStats } from './server-options.js';
import { sockets } from './sockets.js';

/** Connections shed per accept failure: the loop's accepts-per-event bound. */
const SHED_PER_EVENT = DEFAULT_ACCEPTS_PER_EVENT;
/** A timeout handle that names no timeout (handles are >= 0). */
const NO_TIMER = -1;

export class AcceptGuard {
  readonly #loop: EventLoop;
  readonly #mode: 'pause' | 'shed';
  readonly #stats: ServerStats;
  readonly #onError: ((error: SystemError) => void) | undefined;
  readonly #accept: (fd: number) => void;
  #listenFd = -1;
  /** The spare fd of the reserve-fd trick, -1 when there is none. */
  #spareFd = -1;
  #paused = false;
  #pauseMs = ACCEPT_PAUSE_MS;
  #resumeTimer = NO_TIMER;

  constructor(loop: EventLoop, mode: 'pause' | 'shed', stats: ServerStats, onError: ((error: SystemError) => void) | undefined, accept: (fd: number) => void) {
    this.#loop = loop;
    this.#mode = mode;
    this.#stats = stats;
    this.#onError = onError;
    this.#accept = accept;
  }

  /** Whether the listener is unregistered for a pause (so its owner closes it itself). */
  get paused(): boolean {
    return this.#paused;
  }

  /** The listener is registered with `failed` as its accept error handler. */
  listening(listenFd: number): void {
    this.#listenFd = listenFd;
    if (this.#mode === 'shed') this.#spareFd = openSpare();
  }

  /** A connection was accepted: the next pause starts short again. */
  accepted(): void {
    this.#pauseMs = ACCEPT_PAUSE_MS;
  }

  /** A connection closed, so an fd is free: a paused listener is watched again. */
  connectionClosed(): void {
    if (this.#paused) this.#resumeAccepting();
  }

  /** The server stops listening: no more back-off, and the spare fd goes back. */
  stop(): void {
    this.#clearTimer();
    this.#listenFd = -1;
    if (this.#spareFd >= 0) {
      closeSync(this.#spareFd);
      this.#spareFd = -1;
    }
  }

  /** The listener's accept error handler. */
  readonly failed = (error: SystemError): void => {
    this.#stats.acceptErrors++;
    this.#loop.logger?.error?.({ err: error, code: error.code }, 'wasmloop: accept failed');
    this.#onError?.(error);
    const outOfFds = error.code === 'EMFILE' || error.code === 'ENFILE';
    if (outOfFds && this.#spareFd >= 0 && this.#shed()) return;
    if (outOfFds || error.code === 'ENOBUFS' || error.code === 'ENOMEM') this.#pauseAccepting();
  };

  /**
   * Gives back the spare so one accept can succeed, closes each connection
   * accepted that way at once, and takes the spare again. Returns false when
   * the spare could not be taken back (another thread took the fd), so the
   * caller pauses instead.
   */
  #shed(): boolean {
    closeSync(this.#spareFd);
    this.#spareFd = -1;
    // Bounded like the loop's own accepts: a connect storm cannot hold the thread.
    for (let i = 0; i < SHED_PER_EVENT; i++) {
      let fd: number | null;
      try {
        fd = sockets.accept(this.#listenFd, { noDelay: false });
      } catch {
        break;
      }
      if (fd === null) break;
      sockets.close(fd);
      this.#stats.acceptShed++;
    }
    this.#loop.logger?.warn?.({ shed: this.#stats.acceptShed }, 'wasmloop: out of fds: shedding new connections');
    this.#spareFd = openSpare();
    return this.#spareFd >= 0;
  }

  /** Stops watching the listener until a connection closes or the pause passes; the pause doubles. */
  #pauseAccepting(): void {
    if (this.#paused || this.#listenFd < 0) return;
    this.#paused = true;
    this.#stats.acceptPauses++;
    this.#loop.logger?.warn?.({ pauseMs: this.#pauseMs }, 'wasmloop: accepting paused (out of fds or memory); backing off');
    this.#loop.removeSocket(this.#listenFd, { close: false });
    // Ref'd: a paused listener is not registered, so this timer holds the process in its place.
    this.#resumeTimer = this.#loop.timeout(this.#resumeAfterPause, this.#pauseMs);
    this.#pauseMs = Math.min(this.#pauseMs * 2, ACCEPT_PAUSE_MAX_MS);
  }

  readonly #resumeAfterPause = (): void => {
    this.#resumeTimer = NO_TIMER;
    this.#resumeAccepting();
  };

  #resumeAccepting(): void {
    this.#clearTimer();
    if (!this.#paused || this.#listenFd < 0 || this.#loop.isClosed) return;
    this.#paused = false;
    this.#loop.logger?.info?.({}, 'wasmloop: accepting again');
    this.#loop.addServerSocket(this.#listenFd, this.#accept, { onError: this.failed });
  }

  #clearTimer(): void {
    if (this.#resumeTimer !== NO_TIMER) this.#loop.clearTimeout(this.#resumeTimer);
    this.#resumeTimer = NO_TIMER;
  }
}

/** The reserve fd: /dev/null, the cheapest fd to hold. -1 when none is left. */
function openSpare(): number {
  try {
    return openSync('/dev/null', 'r');
  } catch {
    return -1;
  }
}
