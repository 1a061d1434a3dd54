// How big V8's young generation may grow in a `wasmloop serve` thread.
//
// V8 starts a heap's young generation small and grows it (up to 16 MiB
// semi-spaces on 64-bit) whenever a scavenge finds most of it survived. A
// burst of accepts is exactly that: every Connection made survives. The grown
// semi-spaces then stay committed and resident while the server idles, about
// 0.2–0.3 KiB per connection after 10,000 accepts, as much as the connections
// themselves (docs/performance.md). A server's hot path makes little garbage
// (a view per read), so small semi-spaces cost it only more frequent, short
// scavenges: 'fixed' (the default) holds them at 1 MiB; 'grow' leaves V8 to
// its own sizing.
//
// The size is the heap's, set when the heap is made: the main thread's is
// made before any code runs (`node --max-semi-space-size=1` is its only
// knob), so a fixed young generation means serving from a worker thread,
// whose heap is made with the `resourceLimits` given here. A worker costs
// about 11 MiB of RSS before the first connection (its own heap, Node
// environment and modules); when Node was started with a semi-space size,
// the main thread's heap is fixed already and serves itself.
import type { ResourceLimits } from 'node:worker_threads';

export const YOUNG_GENERATION_MODES = ['fixed', 'grow'] as const;
export type YoungGeneration = (typeof YOUNG_GENERATION_MODES)[number];

/**
 * A fixed young generation, in MiB: V8 sizes it as two semi-spaces and a new
 * large-object space of one semi-space each, so 3 MiB are 1 MiB semi-spaces
 * (the smallest it keeps; 2 MiB of new space, measured).
 */
const FIXED_YOUNG_GENERATION_MB = 3;

/** Whether this process's heap was given its semi-space size on the command line (or NODE_OPTIONS). */
export function mainThreadYoungGenerationSized(): boolean {
  const flags = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  return flags.some((flag) => flag.startsWith('--max-semi-space-size'));
}

/** What `new Worker()` is given for `mode`. */
export function workerResourceLimits(mode: YoungGeneration): ResourceLimits {
  return mode === 'fixed' ? { maxYoungGenerationSizeMb: FIXED_YOUNG_GENERATION_MB } : {};
}
