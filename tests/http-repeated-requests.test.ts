// Requests on one keep-alive connection that repeat the previous one's URL
// and header lines, or nearly (the parser reuses the previous request's
// strings where the bytes are the same): each request sees exactly its own
// URL, names and values — one byte changed, a name in another case, a value
// grown, a line split across reads, a header dropped or added.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, withHttp } from './helpers/http.js';

/** Each request's pieces as the client writes them (one write each, the response awaited between). */
const REQUESTS: string[][] = [
  ['GET /a1 HTTP/1.1\r\nHost: example\r\nX-V: 11\r\nAccept: */*\r\n\r\n'],
  ['GET /a1 HTTP/1.1\r\nHost: example\r\nX-V: 11\r\nAccept: */*\r\n\r\n'],
  ['GET /a2 HTTP/1.1\r\nHost: examplf\r\nx-v: 12\r\nAccept: */*\r\n\r\n'],
  ['GET /a2 HTTP/1.1\r\nHost: examplf\r\nx-v: 123\r\n\r\n'],
  ['GET /a', '2 HTTP/1.1\r\nHost: exam', 'plf\r\nx-', 'v: 1', '23\r\n\r\n'],
  ['GET /a2 HTTP/1.1\r\nHost: examplf\r\nx-v: 12  \r\nAccept: */*\r\nX-New: n\r\n\r\n'],
];

test('repeated URLs and header lines on one connection: each request gets its own', async () => {
  const seen: [string, string[]][] = [];
  await withHttp(
    {
      handler: (req, res) => {
        seen.push([req.url, [...req.rawHeaders]]);
        res.end('ok');
      },
    },
    'repeated requests',
    async (port) => {
      const client = await rawSession(port);
      for (let i = 0; i < REQUESTS.length; i++) {
        for (const piece of REQUESTS[i]!) {
          client.socket.write(piece);
          // Apart, so that the pieces come in reads of their own.
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        await client.until((t) => t.split('ok').length > i + 1, `response ${i + 1}`);
      }
      client.close();
    },
  );
  assert.equal(seen, [
    ['/a1', ['Host', 'example', 'X-V', '11', 'Accept', '*/*']],
    ['/a1', ['Host', 'example', 'X-V', '11', 'Accept', '*/*']],
    ['/a2', ['Host', 'examplf', 'x-v', '12', 'Accept', '*/*']],
    ['/a2', ['Host', 'examplf', 'x-v', '123']],
    ['/a2', ['Host', 'examplf', 'x-v', '123']],
    ['/a2', ['Host', 'examplf', 'x-v', '12', 'Accept', '*/*', 'X-New', 'n']],
  ]);
});

test.run();
