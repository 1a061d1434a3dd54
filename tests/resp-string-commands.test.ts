// The string commands against a server on a real socket, exact reply bytes:
// MGET, MSET, INCRBY, DECR, DECRBY, APPEND, STRLEN, TYPE, DBSIZE, FLUSHALL,
// FLUSHDB, SET's NX, XX and GET, and the errors as Redis words them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol } from '../src/protocols/resp.js';
import { HOST } from './helpers/fds.js';
import { ALL_BYTES, rawClient, request } from './helpers/resp-clients.js';
import { withServer } from './helpers/servers.js';
import { connected } from './helpers/waiting.js';

const NOT_AN_INTEGER = '-ERR value is not an integer or out of range\r\n';
const OVERFLOW = '-ERR increment or decrement would overflow\r\n';
const arity = (name: string): string => `-ERR wrong number of arguments for '${name}' command\r\n`;

test('string commands: exact replies, binary values, Redis errors', async () => {
  await withServer(respProtocol(), {}, 'string commands', async (_server, port) => {
    const socket = await connected(HOST, port);
    try {
      const client = rawClient(socket);
      const check = async (input: string | Buffer, expected: string, what: string): Promise<void> => {
        assert.is(await client.exchange(input, expected), expected, what);
      };
      await check('MSET a 1 b 2\r\n', '+OK\r\n', 'MSET');
      await check('MGET a missing b\r\n', '*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n', 'MGET');
      await check('MSET a 1 b\r\n', arity('mset'), 'MSET of an odd count');
      await check('INCRBY a 41\r\nDECR a\r\nDECRBY a -10\r\nDECRBY a 100\r\n', ':42\r\n:41\r\n:51\r\n:-49\r\n', 'INCRBY DECR DECRBY');
      await check('INCRBY a x\r\nINCRBY a 1.5\r\n', NOT_AN_INTEGER + NOT_AN_INTEGER, 'a non-integer increment');
      await check('SET m 9223372036854775800\r\nINCRBY m 7\r\nINCRBY m 8\r\n', `+OK\r\n:9223372036854775807\r\n${OVERFLOW}`, 'INCRBY to the int64 maximum and past it');
      await check('SET m -9223372036854775800\r\nDECRBY m 9\r\nDECRBY m -9223372036854775808\r\n', `+OK\r\n${OVERFLOW}-ERR decrement would overflow\r\n`, 'DECRBY past the minimum, and of the minimum');
      await check('SET s hello\r\nINCR s\r\nDECR s\r\n', '+OK\r\n' + NOT_AN_INTEGER + NOT_AN_INTEGER, 'INCR of text');
      await check('APPEND s " world"\r\nAPPEND new xy\r\nGET s\r\nSTRLEN s\r\nSTRLEN missing\r\n', ':11\r\n:2\r\n$11\r\nhello world\r\n:11\r\n:0\r\n', 'APPEND STRLEN');
      await check(Buffer.concat([request('SET', 'bin', ALL_BYTES.subarray(0, 128)), request('APPEND', 'bin', ALL_BYTES.subarray(128)), request('GET', 'bin')]), `+OK\r\n:256\r\n$256\r\n${ALL_BYTES.toString('latin1')}\r\n`, 'APPEND of binary');
      await check('TYPE s\r\nTYPE missing\r\n', '+string\r\n+none\r\n', 'TYPE');
      await check('DBSIZE\r\n', ':6\r\n', 'DBSIZE');
      await check('SET s v NX\r\nSET fresh v NX\r\nSET nothing v XX\r\nSET s v2 XX\r\nGET s\r\n', '$-1\r\n+OK\r\n$-1\r\n+OK\r\n$2\r\nv2\r\n', 'SET NX XX');
      await check('SET s v3 GET\r\nSET none v GET\r\nSET s v4 NX GET\r\n', '$2\r\nv2\r\n$-1\r\n$2\r\nv3\r\n', 'SET GET');
      await check('SET s v NX XX\r\nSET s v EX 1 PX 1\r\nSET s v EX\r\nSET s v KEEPTTL EX 1\r\n', '-ERR syntax error\r\n'.repeat(4), 'conflicting SET options');
      await check("SET s v EX 0\r\nSET s v PX -1\r\nSET s v EX x\r\n", "-ERR invalid expire time in 'set' command\r\n".repeat(2) + NOT_AN_INTEGER, 'bad SET expiry');
      await check('FLUSHDB\r\nDBSIZE\r\nSET a 1\r\nFLUSHALL ASYNC\r\nDBSIZE\r\nFLUSHALL x\r\n', '+OK\r\n:0\r\n+OK\r\n+OK\r\n:0\r\n-ERR syntax error\r\n', 'FLUSHDB FLUSHALL');
      await check('MGET\r\nINCRBY a\r\nDECR\r\nAPPEND a\r\nSTRLEN\r\nTYPE\r\nDBSIZE x\r\n', ['mget', 'incrby', 'decr', 'append', 'strlen', 'type', 'dbsize'].map(arity).join(''), 'arity');
    } finally {
      socket.destroy();
    }
  });
});

test('APPEND stops at maxBulkLength in Redis words', async () => {
  await withServer(respProtocol({ maxBulkLength: 8 }), {}, 'append limit', async (_server, port) => {
    const socket = await connected(HOST, port);
    try {
      const client = rawClient(socket);
      const expected = ':5\r\n-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n$5\r\nabcde\r\n';
      assert.is(await client.exchange('APPEND k abcde\r\nAPPEND k fghi\r\nGET k\r\n', expected), expected);
    } finally {
      socket.destroy();
    }
  });
});

test.run();
