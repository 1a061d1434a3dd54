// A stand-in connection for the in-process benches (http-handler-path.ts,
// resp-path.ts): a protocol writes to it as to a socket that takes
// everything at once, and it counts the bytes.
import type { Connection } from '../src/net/connection.js';

export interface StandIn {
  connection: Connection;
  /** Bytes written since the last reset. */
  written(): number;
  reset(): void;
}

export function standInConnection(): StandIn {
  let written = 0;
  const connection = {
    write: (bytes: Uint8Array): boolean => ((written += bytes.length), true),
    queuedBytes: 0,
    highWaterMark: 1 << 20,
    pauseReading: (): void => undefined,
    resumeReading: (): void => undefined,
    end: (): void => undefined,
    close: (): void => undefined,
    fd: 3,
  } as unknown as Connection;
  return { connection, written: () => written, reset: () => void (written = 0) };
}
