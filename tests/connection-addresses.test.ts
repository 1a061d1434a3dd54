// A served connection's addresses match what the node:net client sees, over
// IPv4 and IPv6 (::1); they are read once and kept, so they outlive the
// close once read (and are undefined after it if never read, as node:net's).
// setNoDelay()/setKeepAlive() return the connection and set the socket's
// options (read back with getsockopt), and the peer still gets its bytes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets, type Connection } from '../src/index.js';
import { withServer } from './helpers/servers.js';
import { connected, until } from './helpers/waiting.js';

/** Serves with a protocol that keeps each connection. */
async function serving(host: string, what: string, body: (port: number, connections: Connection[]) => Promise<void>): Promise<void> {
  const connections: Connection[] = [];
  const factory = (connection: Connection) => {
    connections.push(connection);
    return { data: (c: Connection, bytes: Uint8Array) => void c.write(bytes) };
  };
  await withServer(factory, { host }, what, (_server, port) => body(port, connections));
}

for (const [host, family] of [['127.0.0.1', 'IPv4'], ['::1', 'IPv6']] as const) {
  test(`${family}: remote and local address, port and family are what the node:net client sees from its side`, async () => {
    await serving(host, `${family} addresses`, async (port, connections) => {
      const client = await connected(host, port);
      await until(() => connections.length === 1, 'the accept');
      const connection = connections[0]!;
      const clientPort = client.localPort;
      assert.equal(
        [connection.remoteAddress, connection.remotePort, connection.remoteFamily],
        [client.localAddress, clientPort, client.localFamily],
      );
      assert.equal([connection.localAddress, connection.localPort], [client.remoteAddress, port]);
      assert.equal(connection.address(), { address: host, port, family });
      const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
      client.destroy();
      await closed;
      // Read before the close: kept.
      assert.is(connection.remotePort, clientPort);
      assert.is(connection.localPort, port);
    });
  });
}

test('after close, an address never read is undefined', async () => {
  await serving('127.0.0.1', 'addresses after close', async (port, connections) => {
    const client = await connected('127.0.0.1', port);
    await until(() => connections.length === 1, 'the accept');
    const connection = connections[0]!;
    connection.close();
    client.destroy();
    assert.equal([connection.remoteAddress, connection.remotePort, connection.localAddress, connection.localPort], [undefined, undefined, undefined, undefined]);
  });
});

test('setNoDelay() and setKeepAlive() return the connection, set TCP_NODELAY, SO_KEEPALIVE and TCP_KEEPIDLE, and the peer still gets its bytes', async () => {
  await serving('127.0.0.1', 'socket options', async (port, connections) => {
    const client = await connected('127.0.0.1', port);
    await until(() => connections.length === 1, 'the accept');
    const connection = connections[0]!;
    assert.equal(sockets.tcpOptions(connection.fd).noDelay, true, 'served connections start with TCP_NODELAY');
    assert.is(connection.setNoDelay(false), connection);
    assert.is(sockets.tcpOptions(connection.fd).noDelay, false);
    assert.is(connection.setNoDelay(), connection);
    assert.is(sockets.tcpOptions(connection.fd).noDelay, true);
    assert.is(connection.setKeepAlive(true, 42_500), connection);
    assert.equal(sockets.tcpOptions(connection.fd), { noDelay: true, keepAlive: true, keepAliveIdleSeconds: 42 });
    assert.is(connection.setKeepAlive(), connection);
    assert.is(sockets.tcpOptions(connection.fd).keepAlive, false);
    let echoed = '';
    client.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    client.write('still flowing');
    await until(() => echoed === 'still flowing', 'the echo');
    connection.close();
    assert.is(connection.setNoDelay(true).setKeepAlive(true), connection, 'a no-op once closed');
    client.destroy();
  });
});

test.run();
