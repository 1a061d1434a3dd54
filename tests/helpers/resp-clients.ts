// What the RESP interop tests share: a protocol that records what its
// clients send, so a test can check the handshake each client makes.
import type { Protocol, ProtocolFactory } from '../../src/net/protocol.js';

/** Wraps `inner`, recording every byte its connections receive. */
export function recording(inner: ProtocolFactory): { factory: ProtocolFactory; sent(): string } {
  const chunks: Buffer[] = [];
  const factory: ProtocolFactory = (connection) => {
    const protocol: Protocol = inner(connection);
    return {
      data(c, bytes) {
        chunks.push(Buffer.from(bytes));
        protocol.data(c, bytes);
      },
      resume: protocol.resume?.bind(protocol),
      end: protocol.end?.bind(protocol),
    } as Protocol;
  };
  return { factory, sent: () => Buffer.concat(chunks).toString('latin1') };
}

/** Every one of the 256 byte values. */
export const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** One multibulk request, binary-safe. */
export { respCommand as request } from './limits.js';

/**
 * A raw client: `exchange(input, expected)` writes `input` and waits until
 * as many bytes as `expected` has have come back (or, given a predicate,
 * until it holds of what came, or until the socket closes), returning what came.
 */
export function rawClient(socket: import('node:net').Socket): { exchange(input: string | Buffer, expected: string | ((text: string) => boolean)): Promise<string>; closed: Promise<void> } {
  let received = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    waiter?.();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => {
    waiter?.();
    resolve();
  }));
  return {
    closed,
    async exchange(input, expected) {
      received = Buffer.alloc(0);
      socket.write(input);
      const done = typeof expected === 'string' ? (): boolean => received.length >= Buffer.byteLength(expected, 'latin1') : (): boolean => expected(received.toString('latin1'));
      while (!done() && !socket.destroyed) await new Promise<void>((resolve) => (waiter = resolve));
      waiter = undefined;
      return received.toString('latin1');
    },
  };
}

/** Whether `text` holds one whole bulk (`$N`) or verbatim (`=N`) reply. */
export function wholeBulk(text: string): boolean {
  const header = /^[$=](\d+)\r\n/.exec(text);
  return header !== null && text.length >= header[0].length + Number(header[1]) + 2;
}
