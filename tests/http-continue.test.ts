// Expect: 100-continue: the 100 goes out when the handler starts to read the
// body, not before; a handler that answers without reading gets no 100, and
// the client may then skip the body.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, readBody, withHttp } from './helpers/http.js';
import { until } from './helpers/waiting.js';

const HEAD = 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n';

test('100 Continue when the handler reads the body, then the response to the body', async () => {
  let startReading!: () => void;
  const go = new Promise<void>((resolve) => (startReading = resolve));
  let handled = false;
  await withHttp(
    {
      handler: async (req, res) => {
        handled = true;
        await go;
        const body = await readBody(req);
        res.end(`got ${body.toString()}`);
      },
    },
    '100-continue',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(HEAD);
      await until(() => handled, 'the handler');
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.is(client.text(), '', 'no 100 before the handler reads');
      startReading();
      await client.until((t) => t.includes('100 Continue'), 'the 100');
      assert.is(client.text(), 'HTTP/1.1 100 Continue\r\n\r\n');
      client.socket.write('hello');
      await client.until((t) => t.endsWith('got hello'), 'the response');
      assert.match(client.text(), /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
      client.close();
    },
  );
});

test('a handler that answers without reading gets no 100; the unread body is dropped and the next request served', async () => {
  await withHttp(
    { handler: (req, res) => res.end(req.method === 'POST' ? 'no thanks' : 'next') },
    'no continue',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write(HEAD);
      await client.until((t) => t.endsWith('no thanks'), 'the answer');
      assert.not.match(client.text(), /100 Continue/);
      client.socket.write('hello' + 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until((t) => t.endsWith('next'), 'the next answer');
      client.close();
    },
  );
});

test.run();
