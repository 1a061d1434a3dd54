// The loop every test makes, in the test process and in the fixtures it
// spawns. The product's loop only reports a callback's error (to 'error'
// listeners, a logger, or stderr) and goes on, so an assert that fails inside
// a handler would leave its test green. A test loop is fatal instead:
//
// - runOnce() throws the callback's error;
// - run() rejects with it (an awaited run() fails the test; one nobody awaits
//   is an unhandled rejection, which ends the process with the error);
// - a started loop throws it from libuv's callback: Node's uncaught exception,
//   which ends the test process with the error printed and uvu's "Exiting
//   early", so the run fails instead of waiting on a loop that stopped.
//
// A test of error reporting itself opts out with `fatalErrors: false` and
// listens for 'error' (recording, asserting after the loop returns), or
// captures stderr. tests/test-loops.test.ts fails when a test or fixture
// constructs the product's EventLoop directly.
import { EventLoop, type EventLoopOptions } from '../src/index.js';

/**
 * What a loop prints for a callback error nobody listens for (src/loop/callbacks.ts,
 * CallbackRunner): "wasmloop: uncaught error in a watch fd 7 callback; ...", or through
 * the CLI's logger "wasmloop: error: uncaught error in a callback; ..."
 * ("wasmloop[2]: ..." in a serve worker). scripts/test.mjs fails the suite
 * when its stderr shows this; tests/test-loops.test.ts checks the two agree.
 */
export const UNCAUGHT_LOOP_ERROR = /wasmloop(?:\[[^\]]*\])?: (?:error: )?uncaught error in a /;

export class TestLoop extends EventLoop {
  constructor(options: EventLoopOptions = {}) {
    // Anything but an object goes through as given: the constructor's own
    // argument checks are under test too.
    const fatal = typeof options === 'object' && options !== null && !('fatalErrors' in options);
    super(fatal ? { ...options, fatalErrors: true } : options);
  }
}
