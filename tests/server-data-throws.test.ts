// A protocol that throws in data(), or whose async data() rejects, ends that
// connection alone: what it wrote before is delivered, then it closes, its
// 'close' and the protocol's close hook carrying the error; the error goes to
// the loop's 'error' as the read callback's; the server (and the
// process: a rejection nobody handles would end it) goes on serving.
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { CallbackContext } from '../src/index.js';
import type { ProtocolFactory } from '../src/net/protocol.js';
import { HOST } from './helpers/fds.js';
import { withServer } from './helpers/servers.js';
import { connected, until } from './helpers/waiting.js';

function collect(socket: Socket): { text(): string; closed: Promise<void> } {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { text: () => Buffer.concat(chunks).toString('latin1'), closed };
}

/** The fd of the last connection whose data() failed. */
let failedFd = -1;
/** What the failed connection's 'close' and its protocol's close hook were told: "event reason message". */
const failedCloses: string[] = [];

/** Echoes each read prefixed by `ok:`; a read that holds `boom` fails, as `fail` says, after writing `partial`. */
function failing(fail: () => void | Promise<void>): ProtocolFactory {
  return (served) => ({
    close(connection, reason, error) {
      if (connection.fd === failedFd) failedCloses.push(`hook ${reason} ${error?.message}`);
    },
    data(connection, bytes) {
      const text = Buffer.from(bytes).toString('latin1');
      if (!text.includes('boom')) {
        connection.write(Buffer.from(`ok:${text}`));
        return;
      }
      failedFd = connection.fd;
      served.on('close', (reason, error) => failedCloses.push(`event ${reason} ${error?.message}`));
      connection.write(Buffer.from('partial'));
      return fail();
    },
  });
}

const cases: [string, ProtocolFactory][] = [
  ['throws', failing(() => {
    throw new Error('injected throw');
  })],
  ['rejects', failing(async () => {
    await Promise.resolve();
    throw new Error('injected rejection');
  })],
];

for (const [how, protocol] of cases) {
  test(`a data() that ${how}: its connection gets what was written, then closes; reported as { kind: 'read', fd }; others are served`, async () => {
    const errors: { message: string; context: CallbackContext }[] = [];
    failedCloses.length = 0;
    await withServer(protocol, {}, `data() ${how}`, async (server, port) => {
      server.loop.on('error', (error, context) => void errors.push({ message: (error as Error).message, context }));
      const a = await connected(HOST, port);
      const b = await connected(HOST, port);
      try {
        const fromA = collect(a);
        const fromB = collect(b);
        await until(() => server.connections.length === 2, 'both connections');
        a.write('boom');
        await fromA.closed;
        b.write('hello');
        await until(() => fromB.text() === 'ok:hello', 'B to be served after A failed');
        // A client that connects after the failure is served too: the server goes on.
        const c = await connected(HOST, port);
        const fromC = collect(c);
        c.write('again');
        await until(() => fromC.text() === 'ok:again', 'a new client to be served');
        c.destroy();
        assert.is(fromA.text(), 'partial');
        assert.is(errors.length, 1, `errors: ${JSON.stringify(errors)}`);
        assert.is(errors[0]!.message, `injected ${how === 'throws' ? 'throw' : 'rejection'}`);
        assert.is(errors[0]!.context.kind, 'read');
        assert.is(errors[0]!.context.fd, failedFd);
        assert.is(server.stats.protocolErrors, 1);
        assert.is(server.stats.active, 2);
        const message = errors[0]!.message;
        await until(() => failedCloses.length === 2, () => `the failed connection's close (${failedCloses})`);
        assert.equal(failedCloses, [`hook error ${message}`, `event error ${message}`]);
      } finally {
        a.destroy();
        b.destroy();
      }
    }, { fatalErrors: false });
  });
}

test.run();
