// The library's own ways into a loop, past the argument checks of the public
// calls (as libuv's uv__ functions sit behind its uv_ ones). For code in
// this package only: src/index.ts does not export this module, and each way
// in is a symbol-keyed method, out of sight of the public surface.
//
// The caller vouches for what a check would have proven: the loop is open,
// the fd is a client socket registered with it, and its handlers have what
// the interest needs (read for readable, write for writable).

/** `loop[setInterestUnchecked](fd, readable, writable)`: a client socket's interest; one system call only when the kernel's mask changes. */
export const setInterestUnchecked: unique symbol = Symbol('wasmloop.setInterestUnchecked');

/**
 * `loop[reportErrorUnchecked](error, kind, fd)`: reports an error of an fd's
 * callback that surfaced after the callback returned (a promise it returned
 * rejected), as the loop reports one thrown: to 'error' with the kind, the fd
 * and its registration's label; or with fatalErrors as the turn's failure.
 */
export const reportErrorUnchecked: unique symbol = Symbol('wasmloop.reportErrorUnchecked');

/**
 * `loop[upcomingReadsUnchecked](handlers, into)`: from inside a read callback
 * of `handlers`, the fds of the batch's read records for them, this one first
 * (Turn.upcomingReads): a driver reads them in one crossing.
 */
export const upcomingReadsUnchecked: unique symbol = Symbol('wasmloop.upcomingReadsUnchecked');

/**
 * `loop[afterPassUnchecked](step, late?)`: from inside an I/O callback of a
 * pass, has `step` run once when the pass's callbacks are done, before the
 * turn polls again or fires timers (Turn.afterPass): a driver writes the
 * replies its callbacks gathered in one crossing. A `late` step runs after
 * the others (an HTTP response's 'finish', after those writes). False
 * outside a pass (the caller does the work now).
 */
export const afterPassUnchecked: unique symbol = Symbol('wasmloop.afterPassUnchecked');
