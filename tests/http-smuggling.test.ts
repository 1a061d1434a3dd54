// Framing a handler never sees: Content-Length with Transfer-Encoding (either
// order), two Content-Lengths, an unknown transfer coding last, obs-fold —
// each 400 and a close, and nothing smuggled in the body reaches the handler.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { rawSession, statuses, withHttp } from './helpers/http.js';

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const PROBES: [string, string][] = [
  ['CL then TE', `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['TE then CL', `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['two Content-Lengths', `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['a Content-Length list', `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`],
  ['chunked then identity', `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['an obs-fold in Transfer-Encoding', `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['a space before the colon', `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ['a chunk size with a sign', `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`],
];

for (const [name, probe] of PROBES) {
  test(`${name}: 400, a close, nothing smuggled handled`, async () => {
    const urls: string[] = [];
    await withHttp(
      {
        handler: (req, res) => {
          urls.push(req.url);
          req.resume();
          req.on('end', () => res.end('ok'));
        },
      },
      name,
      async (port) => {
        const client = await rawSession(port);
        client.socket.write(probe);
        await client.until(() => false, 'the close');
        assert.is(statuses(client.text()).at(-1), 400, client.text());
        client.close();
      },
    );
    assert.not.ok(urls.includes('/smuggled'), `handled: ${urls.join(' ')}`);
  });
}

test.run();
