// A served Connection's events as a node:net user knows them, against
// node:net clients: 'close' with its reason (the peer's end, close(), a
// reset, the idle timeout) and 'error' before it; 'end'; 'drain' after
// write() returned false past the high watermark; writes after end() or
// close() refused with node:net's codes on 'error'; string writes with an
// encoding; end(data).
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { CloseReason, Connection, Protocol, ServerOptions } from '../src/index.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';

const KiB = 1024;

/** Every event of every served connection, in order, as text: 'end', 'close reset ECONNRESET', 'error ECONNRESET'... */
function served(protocol: (connection: Connection) => Protocol = () => ({ data() {} })): {
  factory: (connection: Connection) => Protocol;
  events: string[];
  connections: Connection[];
} {
  const events: string[] = [];
  const connections: Connection[] = [];
  const factory = (connection: Connection): Protocol => {
    connections.push(connection);
    connection.on('end', () => events.push('end'));
    connection.on('drain', () => events.push('drain'));
    connection.on('error', (error) => events.push(`error ${error.code}`));
    connection.on('close', (reason: CloseReason, error) => events.push(`close ${reason}${error ? ` ${error.code}` : ''}`));
    return protocol(connection);
  };
  return { factory, events, connections };
}

const closedSocket = (socket: Socket): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()));

async function serve(factory: (connection: Connection) => Protocol, options: ServerOptions, what: string, body: (port: number) => Promise<void>): Promise<void> {
  await withServer(factory, options, what, (_server, port) => body(port));
}

test("the peer's end: 'end', then (the default end hook ends it) 'close' with reason end", async () => {
  const seen = served();
  await serve(seen.factory, {}, 'peer end', async (port) => {
    const client = await connected(HOST, port);
    client.end();
    await until(() => seen.events.length === 2, () => `two events (${seen.events})`);
    assert.equal(seen.events, ['end', 'close end']);
  });
});

test("close(): 'close' with reason close and no 'error'", async () => {
  const seen = served();
  await serve(seen.factory, {}, 'close()', async (port) => {
    const client = await connected(HOST, port);
    const gone = closedSocket(client);
    await until(() => seen.connections.length === 1, 'the accept');
    seen.connections[0]!.close();
    await gone;
    assert.equal(seen.events, ['close close']);
  });
});

test("a reset: 'error' ECONNRESET, then 'close' with reason reset and the error", async () => {
  const seen = served();
  await serve(seen.factory, {}, 'reset', async (port) => {
    const client = await connected(HOST, port);
    await until(() => seen.connections.length === 1, 'the accept');
    client.on('error', () => {});
    client.resetAndDestroy();
    await until(() => seen.events.length === 2, () => `two events (${seen.events})`);
    assert.equal(seen.events, ['error ECONNRESET', 'close reset ECONNRESET']);
  });
});

test("the idle timeout: 'close' with reason idle", async () => {
  const seen = served();
  await serve(seen.factory, { idleTimeoutMs: 100 }, 'idle', async (port) => {
    const client = await connected(HOST, port);
    await closedSocket(client);
    assert.equal(seen.events, ['close idle']);
  });
});

test("'drain': write() returns false past the high watermark while the client does not read, 'drain' once it reads", async () => {
  const HIGH = 64 * KiB;
  // More than loopback's socket buffers hold, so the queue stays full while
  // the client does not read: the receive buffer autotunes up to tcp_rmem's
  // maximum, 32 MiB on these machines (24 MiB once all fitted in the kernel).
  const TOTAL = 128 * 1024 * KiB;
  const CHUNK = 16 * KiB;
  const chunk = Buffer.alloc(CHUNK, 0x61);
  let written = 0;
  let falses = 0;
  const queuedAtDrain: number[] = [];
  const seen = served((connection) => {
    // Writes until write() says stop, and again on each 'drain'.
    const pump = (): void => {
      while (written < TOTAL) {
        written += CHUNK;
        if (!connection.write(chunk)) {
          falses++;
          return;
        }
      }
      connection.end();
    };
    connection.on('drain', () => {
      queuedAtDrain.push(connection.queuedBytes);
      pump();
    });
    return { data: pump };
  });
  await serve(seen.factory, { highWaterMark: HIGH, lowWaterMark: HIGH / 4 }, 'drain', async (port) => {
    const client = await connected(HOST, port);
    client.pause();
    client.write('go');
    // Held: write() said false, and with the client reading nothing the queue
    // stays past the low watermark, where no 'drain' can come: unchanged
    // between two looks 20 ms apart (the kernel's buffers are full). Where in
    // [low, high + a chunk] it settles depends on how much the kernel took
    // last, so only the low bound is asked for.
    let lastQueued = -1;
    await until(
      () => {
        const connection = seen.connections[0];
        if (connection === undefined) return false;
        const queued = connection.queuedBytes;
        const settled = connection.needsDrain && queued > HIGH / 4 && queued === lastQueued;
        lastQueued = queued;
        return settled;
      },
      'write() to say stop with the queue held past the low watermark',
      () => tick(20),
    );
    const drainsWhilePaused = queuedAtDrain.length;
    assert.ok(falses > drainsWhilePaused, 'the last false has had no drain yet');
    let received = 0;
    client.on('data', (chunk: Buffer) => (received += chunk.length));
    client.resume();
    await until(() => received === TOTAL, () => `every byte (${received} of ${TOTAL})`);
    // The last 'drain' may come after the client has every byte: a resume that drains at
    // once goes round RESUMES_PER_EVENT times, then carries on in a deferred callback.
    await until(() => queuedAtDrain.length >= falses, () => `a 'drain' for each false (${queuedAtDrain.length} of ${falses})`);
    await tick(20);
    assert.ok(queuedAtDrain.length > drainsWhilePaused, "'drain' came once the client read");
    assert.is(queuedAtDrain.length, falses, "one 'drain' for each write() that returned false");
    for (const queued of queuedAtDrain) assert.ok(queued <= HIGH / 4, `'drain' came with ${queued} bytes queued`);
    client.destroy();
  });
});

test('writes after end() and after close() return false and are refused on \'error\' with node:net\'s codes, after the call', async () => {
  const seen = served((connection) => ({
    data() {
      connection.end('bye');
      const afterEnd = connection.write('after end');
      seen.events.push(`write after end ${afterEnd}`);
    },
  }));
  await serve(seen.factory, {}, 'write after end', async (port) => {
    const client = await connected(HOST, port);
    let text = '';
    client.on('data', (chunk: Buffer) => (text += chunk.toString()));
    client.write('x');
    await until(() => seen.events.includes('error ERR_STREAM_WRITE_AFTER_END'), () => `the error (${seen.events})`);
    // Reported after write() returned, never from inside it.
    assert.equal(seen.events.slice(0, 2), ['write after end false', 'error ERR_STREAM_WRITE_AFTER_END']);
    client.end();
    await until(() => seen.events.some((event) => event.startsWith('close')), 'the close');
    const connection = seen.connections[0]!;
    assert.is(connection.write(Buffer.from('after close')), false);
    await until(() => seen.events.includes('error ERR_STREAM_DESTROYED'), 'the destroyed error');
    assert.is(text, 'bye', 'only what end() was given arrived');
    // Nobody listening: refused quietly, nothing thrown.
    connection.removeAllListeners('error');
    assert.is(connection.write('unheard'), false);
  });
});

test('strings are written in their encoding (utf8 by default); end(data, encoding) writes, then ends', async () => {
  const seen = served((connection) => ({
    data() {
      connection.write('héllo ');
      connection.write('776f726c64', 'hex');
      connection.write(' ');
      connection.write('IQ==', 'base64');
      connection.end('2e', 'hex');
    },
  }));
  await serve(seen.factory, {}, 'string writes', async (port) => {
    const client = await connected(HOST, port);
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    client.write('x');
    await ended;
    assert.ok(Buffer.concat(chunks).equals(Buffer.from('héllo world !.', 'utf8')), Buffer.concat(chunks).toString());
    client.end();
  });
});

test("a protocol close hook that throws: reported on the loop's 'error', and 'close' still comes", async () => {
  const loopErrors: string[] = [];
  const seen = served(() => ({
    data() {},
    close() {
      throw new Error('close hook failed');
    },
  }));
  await withServer(seen.factory, {}, 'close hook throws', async (server, port) => {
    server.loop.on('error', (error) => void loopErrors.push((error as Error).message));
    const client = await connected(HOST, port);
    client.end();
    await until(() => seen.events.includes('close end'), () => `the close (${seen.events})`);
    assert.equal(loopErrors, ['close hook failed']);
  }, { fatalErrors: false });
});

test.run();
