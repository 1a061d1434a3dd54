// Upgrade: the `upgrade` option gets the request, the connection and the bytes
// after the request's head; the protocol it returns gets the connection's
// later bytes and its close. Without the option, an upgrade request is an
// ordinary request for the handler, and the connection stays HTTP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { Connection } from '../src/net/connection.js';
import { rawSession, withHttp } from './helpers/http.js';
import { until } from './helpers/waiting.js';

const UPGRADE = 'GET /shout HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n';

test('the connection is handed over with the bytes after the head; later bytes and the close go to the new protocol', async () => {
  const seen: { url?: string; upgrade?: string; head?: string; closed?: string } = {};
  let handled = 0;
  await withHttp(
    {
      handler: (_req, res) => {
        handled++;
        res.end('http');
      },
      upgrade: (req, connection, head) => {
        seen.url = req.url;
        seen.upgrade = req.headers['upgrade'] as string;
        seen.head = head.toString();
        connection.write(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n'));
        connection.write(Buffer.from(head.toString().toUpperCase()));
        return {
          data: (c: Connection, bytes: Uint8Array) => void c.write(Buffer.from(Buffer.from(bytes).toString().toUpperCase())),
          close: (_c: Connection, reason: string) => void (seen.closed = reason),
        };
      },
    },
    'upgrade',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(UPGRADE + 'first words');
      await client.until((t) => t.endsWith('FIRST WORDS'), 'the 101 and the head echoed');
      client.socket.write('GET / HTTP/1.1\r\n\r\n');
      await client.until((t) => t.endsWith('GET / HTTP/1.1\r\n\r\n'.toUpperCase()), 'bytes past the upgrade, not parsed as HTTP');
      assert.match(client.text(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      client.close();
      await until(() => seen.closed !== undefined, 'the close hook');
    },
  );
  assert.equal(seen, { url: '/shout', upgrade: 'shout', head: 'first words', closed: 'end' });
  assert.is(handled, 0, 'the handler never saw it');
});

test('without the upgrade option an upgrade request is an ordinary one, and the next request is HTTP again', async () => {
  const urls: string[] = [];
  await withHttp(
    {
      handler: (req, res) => {
        urls.push(req.url);
        res.end(req.url);
      },
    },
    'no upgrade',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(UPGRADE + 'GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((t) => t.endsWith('/after'), 'both answers');
      client.close();
    },
  );
  assert.equal(urls, ['/shout', '/after']);
});

test.run();
