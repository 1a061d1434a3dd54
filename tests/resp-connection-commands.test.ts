// What clients send at connect, on a real socket: INFO, CLIENT
// ID|SETNAME|GETNAME|SETINFO, SELECT, QUIT, exact bytes and Redis's errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { rawClient, wholeBulk } from './helpers/resp-clients.js';
import { withServer } from './helpers/servers.js';
import { connected } from './helpers/waiting.js';

const arity = (name: string): string => `-ERR wrong number of arguments for '${name}' command\r\n`;

test('CLIENT, SELECT: exact replies and errors', async () => {
  await withServer(respProtocol(), {}, 'client commands', async (_server, port) => {
    const socket = await connected(HOST, port);
    try {
      const client = rawClient(socket);
      const check = async (input: string, expected: string, what: string): Promise<void> => {
        assert.is(await client.exchange(input, expected), expected, what);
      };
      await check('CLIENT ID\r\nCLIENT GETNAME\r\nCLIENT SETNAME app-1\r\nCLIENT GETNAME\r\n', ':1\r\n$-1\r\n+OK\r\n$5\r\napp-1\r\n', 'CLIENT ID, SETNAME, GETNAME');
      await check('CLIENT SETNAME "a b"\r\nCLIENT GETNAME\r\nCLIENT SETNAME ""\r\nCLIENT GETNAME\r\n', '-ERR Client names cannot contain spaces, newlines or special characters.\r\n$5\r\napp-1\r\n+OK\r\n$-1\r\n', 'a bad name is refused; an empty one clears');
      await check('CLIENT SETINFO LIB-NAME ioredis\r\nCLIENT SETINFO lib-ver 5.0\r\nCLIENT SETINFO color red\r\nCLIENT SETINFO LIB-NAME "x y"\r\n', "+OK\r\n+OK\r\n-ERR Unrecognized option 'color'\r\n-ERR lib-name cannot contain spaces, newlines or special characters.\r\n", 'CLIENT SETINFO');
      await check('CLIENT NOPE\r\nCLIENT\r\nCLIENT ID x\r\nCLIENT SETNAME\r\nCLIENT SETINFO LIB-NAME\r\n', "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n" + arity('client') + arity('client|id') + arity('client|setname') + arity('client|setinfo'), 'CLIENT errors');
      await check('SELECT 0\r\nSELECT 1\r\nSELECT -1\r\nSELECT x\r\nSELECT\r\n', '+OK\r\n-ERR DB index is out of range\r\n-ERR DB index is out of range\r\n-ERR value is not an integer or out of range\r\n' + arity('select'), 'SELECT');
    } finally {
      socket.destroy();
    }
  });
});

test('INFO: Redis-shaped sections, loading:0, the keyspace line; sections by name', async () => {
  await withServer(respProtocol(), {}, 'info', async (_server, port) => {
    const socket = await connected(HOST, port);
    try {
      const client = rawClient(socket);
      await client.exchange('SET a 1\r\nSET b 2 EX 100\r\n', '+OK\r\n+OK\r\n');
      const whole = await client.exchange('INFO\r\n', wholeBulk);
      const [head, ...rest] = whole.split('\r\n');
      const text = rest.join('\r\n');
      assert.is(Number(head!.slice(1)), Buffer.byteLength(text, 'latin1') - 2, 'the bulk length');
      assert.match(text, /^# Server\r\nredis_version:7\.2\.0\r\nredis_mode:standalone\r\n/);
      assert.match(text, /\r\n\r\n# Persistence\r\nloading:0\r\n/);
      assert.match(text, /\r\n\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n\r\n$/);
      const section = '# Replication\r\nrole:master\r\nconnected_slaves:0\r\n';
      assert.is(await client.exchange('INFO REPLICATION\r\n', `$${section.length}\r\n${section}\r\n`), `$${section.length}\r\n${section}\r\n`);
    } finally {
      socket.destroy();
    }
  });
});

test('QUIT: +OK, then the connection closes and nothing after it runs', async () => {
  const factory = respProtocol();
  await withServer(factory, {}, 'quit', async (_server, port) => {
    const socket = await connected(HOST, port);
    try {
      const client = rawClient(socket);
      assert.is(await client.exchange('PING\r\nQUIT\r\nSET after 1\r\n', '+PONG\r\n+OK\r\n'), '+PONG\r\n+OK\r\n');
      await client.closed;
      assert.not.ok(factory.store.has('after'), 'a command after QUIT ran');
    } finally {
      socket.destroy();
    }
  });
});

test.run();
