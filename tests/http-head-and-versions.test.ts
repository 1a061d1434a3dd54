// HEAD, HTTP/1.0 and keep-alive, as node:http frames them: HEAD gets the
// head GET would (its Content-Length too) and no body; HTTP/1.0 closes unless
// it asked to keep alive, and a 1.0 body without a length is ended by the
// close (1.0 has no chunks); `Connection: close` ends the connection after
// its response, from either side.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, statuses, withHttp } from './helpers/http.js';

const handler = (req: { url: string }, res: { end(body: string): void; write(body: string): boolean }): void => {
  if (req.url === '/stream') {
    res.write('piece one, ');
    res.end('piece two');
  } else res.end('hello');
};

test('HEAD: the Content-Length of the body end() was given, and no body; the connection kept', async () => {
  await withHttp({ handler }, 'HEAD', async (port) => {
    const client = await rawSession(port);
    client.socket.write('HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await client.until((t) => t.endsWith('hello'), 'the GET after the HEADs');
    const [head, streamed, get] = client.text().split(/(?=HTTP\/1\.1 )/);
    assert.match(head!, /^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 5\r\n/);
    assert.ok(head!.endsWith('\r\n\r\n'), 'no body after the head');
    assert.match(streamed!, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/, 'a streamed HEAD response: the head only');
    assert.not.match(streamed!, /piece/);
    assert.match(get!, /\r\n\r\nhello$/);
    assert.not.ok(client.ended());
    client.close();
  });
});

test('HTTP/1.0: closed after the response by default; kept, and said so, with Connection: keep-alive', async () => {
  await withHttp({ handler }, 'HTTP/1.0', async (port) => {
    const closing = await rawSession(port);
    closing.socket.write('GET / HTTP/1.0\r\n\r\n');
    await closing.until(() => false, 'the close');
    assert.match(closing.text(), /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n/);
    assert.ok(closing.text().endsWith('\r\n\r\nhello'));

    const kept = await rawSession(port);
    kept.socket.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await kept.until((t) => t.endsWith('hello'), 'the response');
    assert.match(kept.text(), /Connection: keep-alive\r\n/);
    assert.match(kept.text(), /Content-Length: 5\r\n/);
    assert.not.ok(kept.ended());
    // A body in pieces has no length and no chunks in 1.0: the close ends it.
    kept.socket.write('GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await kept.until(() => false, 'the close');
    const second = kept.text().slice(kept.text().lastIndexOf('HTTP/1.1 '));
    assert.match(second, /Connection: close\r\n/);
    assert.not.match(second, /Transfer-Encoding|Content-Length/);
    assert.match(second, /\r\n\r\npiece one, piece two$/);
    kept.close();
  });
});

test('Connection: close from the client or the handler: the connection ends after that response', async () => {
  await withHttp(
    {
      handler: (req, res) => {
        if (req.url === '/bye') res.setHeader('Connection', 'close');
        res.end(req.url);
      },
    },
    'Connection: close',
    async (port) => {
      const client = await rawSession(port);
      client.socket.write('GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.until(() => false, 'the close');
      assert.equal(statuses(client.text()), [200]);
      assert.match(client.text(), /Connection: close\r\n/);
      assert.ok(client.text().endsWith('/a'));
      const server = await rawSession(port);
      server.socket.write('GET /bye HTTP/1.1\r\nHost: x\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n');
      await server.until(() => false, 'the close');
      assert.equal(statuses(server.text()), [200]);
      assert.match(server.text(), /\/bye$/);
      client.close();
      server.close();
    },
  );
});

test.run();
