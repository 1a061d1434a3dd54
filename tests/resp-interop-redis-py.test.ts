// redis-py with its default options (RESP2, no HELLO) against the RESP
// server on a real socket, driven by a python3 script; CI installs
// python3-redis (tests/required-tools.ts).
import { execFile } from 'node:child_process';
import * as assert from 'uvu/assert';
import { test } from 'uvu';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { recording } from './helpers/resp-clients.js';
import { withServer } from './helpers/servers.js';
import { PYTHON, testWithPythonModules } from './required-tools.js';

/** Prints "ok" once every check holds; an assertion error otherwise (and a non-zero exit). */
const SCRIPT = String.raw`
import sys, time, redis
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]))
assert r.ping() is True
assert r.set('greeting', 'hello') is True
assert r.get('greeting') == b'hello'
assert r.get('missing') is None
assert r.incrby('n', 5) == 5 and r.decr('n') == 4 and r.decrby('n', 10) == -6
assert r.append('greeting', ' world') == 11 and r.strlen('greeting') == 11
assert r.type('greeting') == b'string'
assert r.mset({'a': '1', 'b': '2'}) is True
assert r.mget('a', 'nope', 'b') == [b'1', None, b'2']
assert r.dbsize() == 4
assert r.client_setname('tester') is True and r.client_getname() == 'tester'
assert r.info()['loading'] == 0
everything = bytes(range(256))
r.set(b'bin', everything)
assert r.get(b'bin') == everything, 'all 256 byte values round-trip'
p = r.pipeline(transaction=False)
for i in range(100):
    p.incr('counter')
assert p.execute() == list(range(1, 101))
assert r.set('short', 'v', px=100) is True
assert 0 < r.pttl('short') <= 100
assert r.ttl('greeting') == -1 and r.ttl('nope') == -2
time.sleep(0.15)
assert r.get('short') is None, 'expired after 100 ms'
assert r.expire('greeting', 100) is True and r.persist('greeting') is True
assert r.flushall() is True and r.dbsize() == 0
r.close()
print('ok')
`;

testWithPythonModules(['redis'], 'redis-py, default options: connects, runs commands, binary values, a 100-command pipeline, expiry, quit', async () => {
  const { factory, sent } = recording(respProtocol());
  await withServer(factory, {}, 'redis-py', async (_server, port) => {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(PYTHON, ['-c', SCRIPT, HOST, String(port)], { timeout: 15_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
      });
    });
    assert.is(result.stderr, '', 'python3 stderr');
    assert.is(result.stdout, 'ok\n');
    assert.is(result.code, 0);
  });
  assert.match(sent(), /\$6\r\nCLIENT\r\n\$7\r\nSETNAME\r\n/i);
});

test.run();
