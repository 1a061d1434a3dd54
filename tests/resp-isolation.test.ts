// Every RESP connection of a server shares one scratch buffer for replies. A
// command that throws after earlier replies were gathered must not leave them
// there for the next connection to send: each client gets its own bytes only.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, until } from './helpers/waiting.js';

/** A store whose SET of one key throws, standing in for a Map past its 2^24 keys. */
class FaultyStore extends Map<string, Uint8Array> {
  override set(key: string, value: Uint8Array): this {
    if (key === 'boom') throw new RangeError('injected: Map maximum size exceeded');
    return super.set(key, value);
  }
}

function collect(socket: Socket): { text(): string; closed: Promise<void> } {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { text: () => Buffer.concat(chunks).toString('latin1'), closed };
}

test('a command that throws mid-read: its client gets the replies before it and is closed; the next client gets only its own reply', async () => {
  const errors: { message: string; kind: string; fd?: number }[] = [];
  const protocol = respProtocol({ store: new FaultyStore() });
  await withServer(protocol, {}, 'resp isolation', async (server, port) => {
    server.loop.on('error', (error, context) => void errors.push({ message: (error as Error).message, ...context }));
    const a = await connected(HOST, port);
    const b = await connected(HOST, port);
    try {
      const fromA = collect(a);
      const fromB = collect(b);
      await until(() => server.connections.length === 2, 'both connections to be accepted');
      const fdA = server.connections[0]!.fd;
      // One write, so the echo is gathered before the SET throws in the same read.
      a.write('ECHO "+OK INJECTED"\r\nSET boom 1\r\nGET never\r\n');
      await fromA.closed;
      b.write('GET q\r\n');
      await until(() => fromB.text().length >= 5, 'B to get a reply');
      b.end();
      await fromB.closed;
      assert.is(fromB.text(), '$-1\r\n', "B's reply holds another client's bytes");
      assert.is(fromA.text(), '$12\r\n+OK INJECTED\r\n', 'A gets the reply produced before the throw, and nothing after it');
      assert.equal(errors, [{ message: 'injected: Map maximum size exceeded', kind: 'read', fd: fdA }]);
      assert.is(server.stats.protocolErrors, 1);
    } finally {
      a.destroy();
      b.destroy();
    }
  }, { fatalErrors: false });
});

test.run();
