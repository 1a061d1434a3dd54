// connection.setTimeout(ms, callback?), as node:net's: 'timeout' once `ms`
// pass without a read or a write, the connection left open; again only after
// the next activity; reads and writes both postpone it; 0 turns it off; a
// close cancels it. Timing bounds are generous: this machine is noisy.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Connection, EventLoopOptions, Protocol } from '../src/index.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, tick, until } from './helpers/waiting.js';

const TIMEOUT_MS = 150;
/** How late a 'timeout' may come on a loaded machine; it is never early by more than the loop's iteration. */
const LATE_MS = 2000;

interface Served {
  connection: Connection;
  /** performance.now() at each 'timeout'. */
  timeouts: number[];
  /** performance.now() at each read. */
  reads: number[];
}

/** Serves with a protocol that turns setTimeout(timeoutMs) on at its first read and records reads and timeouts. */
async function withTimed(timeoutMs: number, what: string, body: (client: Socket, served: () => Served) => Promise<void>, loopOptions: EventLoopOptions = {}): Promise<void> {
  let served: Served | undefined;
  const factory = (connection: Connection): Protocol => {
    const record: Served = { connection, timeouts: [], reads: [] };
    served = record;
    connection.on('timeout', () => record.timeouts.push(performance.now()));
    return {
      data: (c: Connection) => {
        record.reads.push(performance.now());
        if (record.reads.length === 1) assert.is(c.setTimeout(timeoutMs), c);
      },
    };
  };
  await withServer(factory, {}, what, async (_server, port) => {
    const client = await connected(HOST, port);
    try {
      client.write('a');
      await until(() => served !== undefined && served.reads.length === 1, 'the first read');
      await body(client, () => served!);
    } finally {
      client.destroy();
    }
  }, loopOptions);
}

test("'timeout' after the time passes without activity, once, the connection left open", async () => {
  await withTimed(TIMEOUT_MS, 'one timeout', async (client, served) => {
    await until(() => served().timeouts.length === 1, "'timeout'");
    const { timeouts, reads, connection } = served();
    const after = timeouts[0]! - reads[0]!;
    assert.ok(after >= TIMEOUT_MS - 10 && after < TIMEOUT_MS + LATE_MS, `'timeout' ${after.toFixed(1)} ms after the read`);
    assert.is(connection.isClosed, false);
    assert.is(connection.timeout, TIMEOUT_MS);
    await tick(TIMEOUT_MS * 3);
    assert.is(served().timeouts.length, 1, 'again without activity');
    // Activity arms it again.
    client.write('b');
    await until(() => served().timeouts.length === 2, "the second 'timeout', after the next read");
    assert.ok(served().timeouts[1]! - served().reads[1]! >= TIMEOUT_MS - 10);
  });
});

test('reads postpone it: a client writing every 50 ms for 600 ms gets no timeout until it stops', async () => {
  await withTimed(TIMEOUT_MS, 'reads postpone', async (client, served) => {
    for (let i = 0; i < 12; i++) {
      await tick(50);
      client.write('x');
    }
    const timeoutsWhileActive = served().timeouts.length;
    const lastWrite = performance.now();
    await until(() => served().timeouts.length === 1, "'timeout' once the client stops");
    assert.is(timeoutsWhileActive, 0, "'timeout' while the client wrote every 50 ms");
    assert.ok(served().timeouts[0]! - lastWrite >= TIMEOUT_MS - 60, 'measured from the last read');
  });
});

test('writes postpone it too: the server writing every 50 ms gets no timeout', async () => {
  await withTimed(TIMEOUT_MS, 'writes postpone', async (_client, served) => {
    const { connection } = served();
    for (let i = 0; i < 12; i++) {
      await tick(50);
      connection.write('tick');
    }
    assert.is(served().timeouts.length, 0);
    await until(() => served().timeouts.length === 1, "'timeout' once the writes stop");
  });
});

test('setTimeout(0) turns it off, and close() cancels it: no timeout, the check timer released', async () => {
  await withTimed(TIMEOUT_MS, 'off and close', async (_client, served) => {
    const { connection } = served();
    const timers = connection.loop.timerCount;
    connection.setTimeout(0);
    assert.is(connection.timeout, undefined);
    assert.is(connection.loop.timerCount, timers - 1, 'the check timer is still set');
    await tick(TIMEOUT_MS * 3);
    assert.is(served().timeouts.length, 0);
    connection.setTimeout(TIMEOUT_MS);
    assert.is(connection.loop.timerCount, timers);
    connection.close();
    assert.is(connection.loop.timerCount, timers - 1, 'the check timer outlived the close');
    await tick(TIMEOUT_MS * 3);
    assert.is(served().timeouts.length, 0);
  });
});

test('setTimeout(ms, callback): the callback is a once listener; a bad timeout or callback is refused', async () => {
  await withTimed(60_000, 'callback', async (_client, served) => {
    const { connection } = served();
    let calls = 0;
    connection.setTimeout(50, () => calls++);
    await until(() => served().timeouts.length === 1, "'timeout'");
    connection.write('again');
    await until(() => served().timeouts.length === 2, "the second 'timeout'");
    assert.is(calls, 1);
    for (const bad of [-1, 1.5, 2 ** 31]) assert.throws(() => connection.setTimeout(bad), (error: NodeJS.ErrnoException) => error.code === 'ERR_OUT_OF_RANGE');
    assert.throws(() => connection.setTimeout(10, 'no' as unknown as () => void), (error: NodeJS.ErrnoException) => error.code === 'ERR_INVALID_ARG_TYPE');
  });
});

test("a full timer table: the read that would arm the check again goes on; the next activity once there is room arms it", async () => {
  await withTimed(50, 'full table', async (client, served) => {
    const { connection } = served();
    const loop = connection.loop;
    await until(() => served().timeouts.length === 1, "the first 'timeout'");
    const fillers: number[] = [];
    for (;;) {
      try {
        fillers.push(loop.timeout(() => {}, 60_000));
      } catch (error) {
        assert.match((error as Error).message, /timer table full/);
        break;
      }
    }
    client.write('b');
    await until(() => served().reads.length === 2, 'the read while the table is full');
    assert.is(connection.isClosed, false);
    loop.clearTimeout(fillers.pop()!);
    client.write('c');
    await until(() => served().timeouts.length === 2, "'timeout' after the table had room again");
    for (const filler of fillers) loop.clearTimeout(filler);
  }, { maxTimers: 64 });
});

test.run();
