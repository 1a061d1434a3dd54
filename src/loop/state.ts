// Where the loop is in its life, in one place.
//
//                run()                     the end of a turn that met a stop(),
//         ┌─────────────────▶ running ───── a close() or a failure ──────┐
//         │                                                              │
//   ──▶ idle ◀───────────────────────────────────────────────────────────┤
//         │                                                              │
//         └─────────────────▶ started ───── stop(), close(): at once ────┘
//         │      start()                    between turns, else at the
//         │                                 end of the turn; a failure
//         │ close() (between turns,
//         ▼  or from a runOnce callback)
//       closed ◀──── a mode that ends with a close request goes on to closed
//
// `runOnce()` turns the loop without changing its mode: from idle, and
// beside start() as well.
//
// Beside the mode:
// - `request`: what was asked while the loop could not act on it at once
//   (from a callback, or from Node's code while run() has handed it the
//   thread): 'stop', or 'close' (which stops too). The driver carries it
//   out when the turn ends. Only a running or started loop has one.
// - `inTurn`: callbacks are running. A callback cannot turn the loop again
//   (ERR_LOOP_REENTERED), and a started loop defers stop() and close() to
//   the end of the turn.
// - `fatal`: with fatalErrors, the first error a callback threw; the turn
//   stops after that callback and the driver ends what drove it.
// - `halted`: a request, a fatal error or the closed mode, as one field that
//   the three setters keep in step: what a pass reads after each callback.
import { WasmloopError } from '../errors.js';

export type Mode = 'idle' | 'running' | 'started' | 'closed';
export type Request = 'none' | 'stop' | 'close';

/** An error in a box: `undefined` means none, even when the error thrown was `undefined`. */
export interface Failure {
  readonly error: unknown;
}

export class LoopState {
  /**
   * A pass over callbacks stops now: a stop or close is due, a callback
   * failed fatally, or the loop is closed. Kept as one field, in step with
   * the three it sums, so a pass of many small callbacks reads one field
   * after each, not three.
   */
  halted = false;
  inTurn = false;
  #mode: Mode = 'idle';
  #request: Request = 'none';
  #fatal: Failure | undefined;

  get mode(): Mode {
    return this.#mode;
  }
  set mode(mode: Mode) {
    this.#mode = mode;
    this.#update();
  }

  get request(): Request {
    return this.#request;
  }
  set request(request: Request) {
    this.#request = request;
    this.#update();
  }

  get fatal(): Failure | undefined {
    return this.#fatal;
  }
  set fatal(fatal: Failure | undefined) {
    this.#fatal = fatal;
    this.#update();
  }

  get closed(): boolean {
    return this.#mode === 'closed';
  }

  /** Whether a pass over callbacks should stop now: a stop or close is due, or a callback failed fatally. */
  get cut(): boolean {
    return this.#request !== 'none' || this.#fatal !== undefined;
  }

  #update(): void {
    this.halted = this.#request !== 'none' || this.#fatal !== undefined || this.#mode === 'closed';
  }

  /** Asks for a stop, or a close; a close asked for already is kept. */
  ask(request: 'stop' | 'close'): void {
    if (this.request !== 'close') this.request = request;
  }

  takeFatal(): Failure | undefined {
    const fatal = this.fatal;
    this.fatal = undefined;
    return fatal;
  }

  /** Throws when the loop cannot take `operation` now: closed, or a turn from inside a callback. */
  assertUsable(operation: string): void {
    if (this.mode === 'closed') throw closedError(operation);
    if (this.inTurn && (operation === 'runOnce' || operation === 'run')) {
      throw new WasmloopError('ERR_LOOP_REENTERED', `${operation}() cannot be called from a loop callback`);
    }
  }
}

export function closedError(operation: string): WasmloopError {
  return new WasmloopError('ERR_LOOP_CLOSED', `${operation}: the loop is closed`);
}
