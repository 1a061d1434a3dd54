// end() with the peer still sending: the connection sends EOF after its last
// byte and lingers, discarding input, until the peer's EOF (or LINGER_MS),
// so the peer never gets a reset that could drop the reply.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { httpProtocol } from '../src/protocols/http.js';
import { LINGER_MS } from '../src/net/server.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';

test('a 400 reaches a client that keeps sending: EOF after the reply, no reset, closed at the client EOF', async () => {
  await withServer(httpProtocol(), {}, 'lingering 400', async (server, port) => {
    const client = await connected(HOST, port);
    let reply = '';
    let sawEnd = false;
    let error: Error | undefined;
    client.setEncoding('latin1');
    client.on('data', (text: string) => (reply += text));
    client.on('error', (e) => (error = e));
    // allowHalfOpen is off: at the server's EOF the client ends too, once its writes are out.
    client.on('end', () => (sawEnd = true));
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.write('NOT A REQUEST\r\n\r\n');
    // Megabytes more after the bad request: unread input at close() would make the kernel reset.
    client.write(randomBytes(4 * 1024 * 1024));
    // The linger itself may come and go between two looks (the client's EOF
    // can follow at once): what proves it is that megabytes of unread input
    // at the close did not turn into a reset.
    await closed;
    assert.is(error, undefined, error?.message);
    assert.ok(sawEnd);
    assert.match(reply, /^HTTP\/1.1 400 Bad Request\r\n[^]*bad request\n$/);
    await until(() => server.stats.active === 0, 'the server to close at the client EOF');
    assert.is(server.stats.resets, 0);
  });
});

test(`a lingering peer that never sends EOF is closed after LINGER_MS (${LINGER_MS} ms)`, async () => {
  const protocol = () => ({ data: (connection: { end(): void }) => connection.end() });
  await withServer(protocol, { idleTimeoutMs: 0 }, 'linger bound', async (server, port) => {
    const client = await connected(HOST, port);
    client.on('error', () => {});
    // allowHalfOpen so the client does not answer the server's EOF with its own.
    client.allowHalfOpen = true;
    // Taken before the write that makes the server end and linger: the
    // linger cannot have begun any earlier. (Taken once the linger is seen,
    // it would start as late as that look, which a loaded machine delays.)
    const started = performance.now();
    client.write('x');
    await until(() => server.connections[0]?.isLingering === true, 'the connection to linger');
    await tick(LINGER_MS / 2);
    const halfway = { active: server.stats.active, at: performance.now() - started };
    assert.ok(halfway.active === 1 || halfway.at >= LINGER_MS, `closed after ${halfway.at.toFixed(0)} ms, before the bound`);
    await until(() => server.stats.active === 0, 'the linger bound');
    const closedAfter = performance.now() - started;
    assert.ok(closedAfter >= LINGER_MS, `closed after ${closedAfter.toFixed(0)} ms, before the bound`);
    client.destroy();
  });
});

test.run();
