// HELLO on a real socket: the RESP2 and RESP3 replies byte for byte, the
// switch it makes to the replies that differ (null, maps, verbatim INFO),
// and its errors in Redis's words.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { rawClient, wholeBulk } from './helpers/resp-clients.js';
import { withServer } from './helpers/servers.js';
import { connected } from './helpers/waiting.js';

const bulk = (text: string): string => `$${text.length}\r\n${text}\r\n`;
const fields = (id: number, proto: number): string =>
  bulk('server') + bulk('redis') + bulk('version') + bulk('7.2.0') + bulk('proto') + `:${proto}\r\n` + bulk('id') + `:${id}\r\n` +
  bulk('mode') + bulk('standalone') + bulk('role') + bulk('master') + bulk('modules') + '*0\r\n';

test('HELLO 2 and HELLO 3: the server map as an array and as a map; RESP3 changes null, CONFIG GET and INFO', async () => {
  await withServer(respProtocol(), {}, 'hello', async (_server, port) => {
    const first = await connected(HOST, port);
    const second = await connected(HOST, port);
    try {
      const one = rawClient(first);
      const two = rawClient(second);
      const check = async (client: typeof one, input: string, expected: string, what: string): Promise<void> => {
        assert.is(await client.exchange(input, expected), expected, what);
      };
      await check(one, 'HELLO\r\n', '*14\r\n' + fields(1, 2), 'HELLO alone answers in the current protocol, RESP2');
      await check(one, 'GET none\r\nCONFIG GET save\r\n', '$-1\r\n*2\r\n$4\r\nsave\r\n$0\r\n\r\n', 'RESP2 null and CONFIG');
      await check(two, 'HELLO 3 AUTH default secret SETNAME app\r\n', '%7\r\n' + fields(2, 3), 'HELLO 3 with AUTH and SETNAME');
      await check(two, 'GET none\r\nMGET none\r\nCLIENT GETNAME\r\nCONFIG GET save\r\n', '_\r\n*1\r\n_\r\n$3\r\napp\r\n%1\r\n$4\r\nsave\r\n$0\r\n\r\n', 'RESP3 null and map');
      const reply = await two.exchange('INFO persistence\r\n', wholeBulk);
      assert.match(reply, /^=\d+\r\ntxt:# Persistence\r\nloading:0\r\n/, 'INFO is a verbatim string in RESP3');
      await check(two, 'HELLO 2\r\nGET none\r\n', '*14\r\n' + fields(2, 2) + '$-1\r\n', 'back to RESP2');
      await check(one, 'GET none\r\n', '$-1\r\n', "another connection's HELLO changes nothing here");
      await check(one, 'HELLO 4\r\nHELLO 1\r\nHELLO x\r\nHELLO 3 BOGUS\r\nHELLO 3 AUTH u\r\nHELLO 3 SETNAME "a b"\r\nGET none\r\n',
        '-NOPROTO unsupported protocol version\r\n'.repeat(2) + '-ERR Protocol version is not an integer or out of range\r\n' +
        "-ERR Syntax error in HELLO option 'BOGUS'\r\n-ERR Syntax error in HELLO option 'AUTH'\r\n" +
        '-ERR Client names cannot contain spaces, newlines or special characters.\r\n$-1\r\n', 'errors leave the protocol as it was');
    } finally {
      first.destroy();
      second.destroy();
    }
  });
});

test.run();
