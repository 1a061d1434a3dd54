// connection.destroy(error?) and connection.destroyed, as node:net's: closes
// now (the queue discarded), 'close' with reason close, or with an error
// 'error' then 'close' carrying it; the client sees its socket closed;
// returns the connection; once closed a no-op; a non-Error is refused.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { CloseReason, Connection, Protocol } from '../src/index.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, until } from './helpers/waiting.js';

/** A served connection and its events, as text. */
async function withServed(what: string, body: (connection: Connection, events: string[], client: Socket) => Promise<void>): Promise<void> {
  const connections: Connection[] = [];
  const events: string[] = [];
  const factory = (connection: Connection): Protocol => {
    connections.push(connection);
    connection.on('error', (error) => events.push(`error ${error.message}`));
    connection.on('close', (reason: CloseReason, error) => events.push(`close ${reason}${error ? ` ${error.message}` : ''}`));
    return { data() {} };
  };
  await withServer(factory, {}, what, async (_server, port) => {
    const client = await connected(HOST, port);
    client.on('error', () => {});
    // Reading, so that the socket's end (or reset) reaches 'close'.
    client.resume();
    try {
      await until(() => connections.length === 1, 'the accept');
      await body(connections[0]!, events, client);
    } finally {
      client.destroy();
    }
  });
}

const closedSocket = (socket: Socket): Promise<void> => new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));

test("destroy(): 'close' with reason close, destroyed, the client's socket closed; a second destroy does nothing", async () => {
  await withServed('destroy()', async (connection, events, client) => {
    assert.is(connection.destroyed, false);
    connection.write(Buffer.alloc(1 << 20));
    assert.is(connection.destroy(), connection);
    assert.is(connection.destroyed, true);
    assert.is(connection.isClosed, true);
    assert.is(connection.queuedBytes, 0, 'the queue is discarded');
    await closedSocket(client);
    connection.destroy(new Error('late'));
    assert.equal(events, ['close close']);
  });
});

test("destroy(error): 'error' with it, then 'close' with reason error and the same error", async () => {
  await withServed('destroy(error)', async (connection, events, client) => {
    const failure = new Error('gave up');
    let closedWith: unknown;
    connection.once('close', (_reason, error) => (closedWith = error));
    connection.destroy(failure);
    await closedSocket(client);
    assert.equal(events, ['error gave up', 'close error gave up']);
    assert.is(closedWith, failure);
  });
});

test('destroy() with something that is no Error: ERR_INVALID_ARG_TYPE, the connection left open', async () => {
  await withServed('destroy(bad)', async (connection) => {
    assert.throws(() => connection.destroy('boom' as unknown as Error), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_TYPE');
    assert.is(connection.destroyed, false);
  });
});

test.run();
