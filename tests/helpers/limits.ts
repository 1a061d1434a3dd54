// Clients for the input-bound tests: a socket whose every byte, EOF and close
// are recorded (asserted after, never inside, its callbacks), a RESP request
// encoder, and a recorder of how long a string any Buffer was made into.
import type { Socket } from 'node:net';

/** What a client saw of its connection. */
export interface Seen {
  /** Everything received so far. */
  bytes(): Buffer;
  text(): string;
  /** The peer's FIN arrived (a gentle close rather than a reset). */
  readonly ended: boolean;
  readonly error: Error | undefined;
  /** Resolves at 'close'. */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
}

export function record(socket: Socket): Seen {
  const chunks: Buffer[] = [];
  const seen = {
    bytes: () => Buffer.concat(chunks),
    text: () => Buffer.concat(chunks).toString('latin1'),
    ended: false,
    error: undefined as Error | undefined,
    isClosed: false,
    closed: undefined as unknown as Promise<void>,
  };
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (seen.ended = true));
  socket.on('error', (error) => (seen.error = error));
  seen.closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      seen.isClosed = true;
      resolve();
    }),
  );
  return seen;
}

/** One RESP multibulk request, binary-safe. */
export function respCommand(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'latin1') : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/**
 * Runs `body` with Buffer.prototype.toString recording the longest string it
 * made (in characters, one per byte for latin1): how a test sees that a
 * value never became a string. Restored afterwards.
 */
export async function longestString<T>(body: () => Promise<T>): Promise<{ result: T; longest: number }> {
  const original = Buffer.prototype.toString;
  let longest = 0;
  Buffer.prototype.toString = function (this: Buffer, ...args: unknown[]): string {
    const text = (original as (...a: unknown[]) => string).apply(this, args);
    if (text.length > longest) longest = text.length;
    return text;
  } as typeof original;
  try {
    const result = await body();
    return { result, longest };
  } finally {
    Buffer.prototype.toString = original;
  }
}
