// The CPU time of a server, from /proc: what "server CPU per request" in the
// quick suite and the laboratory is made of. No side effects, so tests can
// hold it to a process that knows its own CPU time.
//
// Each thread's on-CPU time is the first field of /proc/<pid>/task/<tid>/schedstat,
// in nanoseconds; the sum over every thread of the server and of its live
// descendants (nginx serves from a worker its master forked) is the figure.
// /proc/<pid>/stat's utime + stime hold the same time in clock ticks of
// 10 ms: a test of a third of a second would carry up to 6% error from the
// rounding at its two ends alone. The kernel brings a thread's figure up
// to date whenever it stops running and, while it runs, at each scheduler
// tick: a server read while idle (before and after a load run) is exact, one
// read in the middle of a run (the end of a warm-up) lags by at most a tick,
// 1–4 ms. A thread or process that exited in between is not counted; the
// servers measured here keep theirs.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses); null once the process is gone. */
function statFields(pid: number | string): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return null;
  }
}

/** `pid` and every live descendant: one pass over /proc's parent links. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = Number(statFields(entry)?.[1]);
    if (!Number.isInteger(parent)) continue;
    const siblings = children.get(parent);
    if (siblings) siblings.push(Number(entry));
    else children.set(parent, [Number(entry)]);
  }
  const tree: number[] = [];
  for (const queue = [pid]; queue.length > 0; ) {
    const id = queue.pop()!;
    tree.push(id);
    queue.push(...(children.get(id) ?? []));
  }
  return tree;
}

/** CPU seconds of one process, all its threads; 0 once it is gone. */
export function processCpuSeconds(pid: number): number {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let ns = 0;
  for (const tid of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch (error) {
      // A kernel without schedstat (no CONFIG_SCHED_INFO): the whole process's ticks instead.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && tid === tasks[0]) return ticksSeconds(pid);
      // Otherwise the thread exited between the listing and the read.
    }
  }
  return ns / 1e9;
}

/** utime + stime of the whole process (every thread, live or exited), in seconds of CLK_TCK resolution. */
export function ticksSeconds(pid: number): number {
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS : 0;
}

/** CPU seconds (user + system) of `pid` and every live descendant. */
export function cpuSeconds(pid: number): number {
  let total = 0;
  for (const id of processTree(pid)) total += processCpuSeconds(id);
  return total;
}
