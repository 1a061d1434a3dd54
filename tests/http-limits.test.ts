// The request bounds with a handler: a body over maxBodyBytes is 413 (by its
// Content-Length, before any of it is read; or once a chunked body passes
// it), a request line past maxHeaderBytes 414, a header section past it 431
// — each instead of the handler's response, then a close.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, statuses, withHttp } from './helpers/http.js';
import { until } from './helpers/waiting.js';

const LIMITS = { maxBodyBytes: 1000, maxHeaderBytes: 1024 };

async function refusal(port: number, request: string): Promise<number[]> {
  const client = await rawSession(port);
  client.socket.write(request);
  await client.until(() => false, 'the close');
  client.close();
  return statuses(client.text());
}

test('413 for a Content-Length over maxBodyBytes, before the handler; 413 for a chunked body once it passes', async () => {
  const urls: string[] = [];
  const aborted: string[] = [];
  await withHttp(
    {
      ...LIMITS,
      handler: (req, res) => {
        urls.push(req.url);
        req.on('aborted', () => aborted.push(req.url));
        req.resume();
        req.on('end', () => res.end('read'));
      },
    },
    '413',
    async (port) => {
      assert.equal(await refusal(port, 'POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n'), [413]);
      const exactly = await rawSession(port);
      exactly.socket.write('POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n' + 'b'.repeat(1000));
      await exactly.until((t) => t.endsWith('read'), 'a body at the limit');
      exactly.close();

      const chunked = await rawSession(port);
      chunked.socket.write('POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n' + 'c'.repeat(512) + '\r\n');
      await until(() => urls.includes('/chunked'), 'the handler');
      chunked.socket.write('200\r\n' + 'c'.repeat(512) + '\r\n');
      await chunked.until(() => false, 'the close');
      assert.equal(statuses(chunked.text()), [413]);
      chunked.close();
    },
  );
  assert.equal(urls, ['/ok', '/chunked']);
  assert.equal(aborted, ['/chunked']);
});

test('414 for a request line past maxHeaderBytes, 431 for a header section past it; the handler never called', async () => {
  let called = 0;
  await withHttp(
    {
      ...LIMITS,
      handler: (_req, res) => {
        called++;
        res.end();
      },
    },
    '414 and 431',
    async (port) => {
      assert.equal(await refusal(port, `GET /${'u'.repeat(1100)} HTTP/1.1\r\nHost: x\r\n\r\n`), [414]);
      assert.equal(await refusal(port, `GET /${'u'.repeat(2000)}`), [414], 'a request line still arriving');
      assert.equal(await refusal(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(1100)}\r\n\r\n`), [431]);
      assert.equal(await refusal(port, `GET / HTTP/1.1\r\nHost: x\r\n${'X-Many: y\r\n'.repeat(120)}`), [431], 'a header section still arriving');
    },
  );
  assert.is(called, 0);
});

test.run();
