// A job on the microtask queue, as queueMicrotask() queues one, for about
// half its cost. Node's queueMicrotask makes an AsyncResource and a bound
// function and crosses into C++ per call (340–500 ns a call here, against
// 180–200 for a resolved promise's then(), running included:
// docs/performance.md); an HTTP session queues one per response ('finish'),
// so on sockets, where the microtasks run after every read callback, that
// is one per request. The job joins the same queue (V8's), so jobs run in
// the order they were queued, whichever way they were; and what it throws
// goes to Node's uncaught-exception handling, as from queueMicrotask, not
// to 'unhandledRejection'.
import { native } from '../kernel/native.js';

const RESOLVED = Promise.resolve();

/** Queues `job` as queueMicrotask(job) would. */
export function queueJob(job: () => void): void {
  void RESOLVED.then(() => {
    try {
      job();
    } catch (error) {
      native.uncaught(error);
    }
  });
}
