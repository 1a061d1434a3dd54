// Timing on a loaded machine: busy work, percentiles, how late Node's own
// timers fire, and how long a thread waited in the run queue (/proc
// schedstat), the part of a delay that is the machine's and not the code's.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

/** Spins (no sleep: a sleeping handler would not be busy) for `ms` milliseconds. */
export function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** The value below which a fraction `p` of the ascending `sorted` values lie. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** How late Node's timers fired, in ms, each list ascending. */
export interface TimerLateness {
  /** As the clock shows it. */
  late: number[];
  /**
   * Less the time this thread waited in the run queue meanwhile: the part
   * that is not the machine's load. On an idle machine the two agree; on a
   * loaded one this is what the thread's own work (the loop's among it) cost.
   */
  unqueued: number[];
}

/**
 * How late Node's own timers fire: 100 ticks of a 10 ms setInterval, each
 * measured from the tick before (Node schedules an interval's next tick from
 * when the last one ran), then a chain of 50 7 ms setTimeouts. About 1.4 s
 * in all.
 */
export async function nodeTimerLateness(): Promise<TimerLateness> {
  const late: number[] = [];
  const unqueued: number[] = [];
  const queue = runQueueClock();
  const sample = (lateMs: number, queuedBefore: number): number => {
    const queued = queue.read();
    late.push(lateMs);
    unqueued.push(lateMs - (queued - queuedBefore));
    return queued;
  };
  try {
    await new Promise<void>((resolve) => {
      let previous = performance.now();
      let queued = queue.read();
      const interval = setInterval(() => {
        const now = performance.now();
        queued = sample(now - previous - 10, queued);
        previous = now;
        if (late.length === 100) {
          clearInterval(interval);
          resolve();
        }
      }, 10);
    });
    await new Promise<void>((resolve) => {
      let left = 50;
      const next = (): void => {
        const armed = performance.now();
        const queued = queue.read();
        setTimeout(() => {
          sample(performance.now() - armed - 7, queued);
          if (--left > 0) next();
          else resolve();
        }, 7);
      };
      next();
    });
  } finally {
    queue.close();
  }
  const ascending = (values: number[]): number[] => values.sort((a, b) => a - b);
  return { late: ascending(late), unqueued: ascending(unqueued) };
}

/**
 * How long the main thread of process `pid` (this thread for 'self') has
 * wanted the CPU, in ms: time on it plus time waiting in the run queue for
 * it (/proc/.../schedstat). A thread that spins wants the CPU all along, so
 * this grows as fast as the wall clock however little of the CPU a loaded
 * machine gives it; a thread that sleeps adds only its wake-ups. CPU time
 * alone would let a spin starved of CPU pass for idle.
 */
export function runnableMs(pid: number | 'self'): number {
  const [onCpu, queued] = readFileSync(pid === 'self' ? '/proc/thread-self/schedstat' : `/proc/${pid}/schedstat`, 'latin1').split(' ').map(Number);
  return (onCpu! + queued!) / 1e6;
}

/**
 * Reads how long this thread (the one that opens it) has waited in the run
 * queue for a CPU, in ms: the part of a delay that is the machine's load,
 * not the thread's own work. One pread per reading (a few µs), so it can be
 * read inside the callbacks being timed; close() releases its fd.
 */
export function runQueueClock(): { read(): number; close(): void } {
  const fd = openSync('/proc/thread-self/schedstat', 'r');
  const buffer = Buffer.alloc(128);
  return {
    read: () => Number(buffer.toString('latin1', 0, readSync(fd, buffer, 0, buffer.length, 0)).split(' ')[1]) / 1e6,
    close: () => closeSync(fd),
  };
}
