// A request whole in one read is parsed in one pass (RespSession's #whole);
// everything else by the general, resumable parser. Both must answer alike:
// each case here is fed once whole and once a byte at a time (which only
// the general parser can read), and the replies, and whether the connection
// ended, must agree — and, where it says, be the reply Redis gives.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol, type RespOptions } from '../src/protocols/resp.js';
import { fakeConnection } from './helpers/protocols.js';

/** The replies to `request` fed as one read, or one byte per read. */
function replies(request: string, options: RespOptions, whole: boolean): { text: string; ended: boolean } {
  const fake = fakeConnection();
  const protocol = respProtocol({ ...options, store: new Map() })(fake.connection);
  const bytes = Buffer.from(request, 'latin1');
  if (whole) protocol.data(fake.connection, bytes);
  else for (let i = 0; i < bytes.length; i++) protocol.data(fake.connection, bytes.subarray(i, i + 1));
  return { text: fake.output(), ended: fake.ended };
}

const LIMITS: RespOptions = { maxArguments: 3, maxBulkLength: 8, maxRequestBytes: 64 };

const cases: [name: string, request: string, expected?: string, options?: RespOptions][] = [
  ['SET then GET', '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n', '+OK\r\n$3\r\nabc\r\n'],
  ['an empty argument', '*2\r\n$4\r\nECHO\r\n$0\r\n\r\n', '$0\r\n\r\n'],
  ['a bulk length with a leading zero', '*2\r\n$04\r\nECHO\r\n$1\r\nx\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
  ['a count with a leading zero', '*02\r\n$4\r\nECHO\r\n$1\r\nx\r\n'],
  ['a negative bulk length', '*2\r\n$4\r\nECHO\r\n$-1\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
  ['a bulk length over maxBulkLength', '*2\r\n$4\r\nECHO\r\n$9\r\n123456789\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
  ['a bulk length at maxBulkLength', '*2\r\n$4\r\nECHO\r\n$8\r\n12345678\r\n', '$8\r\n12345678\r\n'],
  ['more arguments than maxArguments', '*4\r\n$4\r\nECHO\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n', '-ERR Protocol error: invalid multibulk length\r\n'],
  ['a request over maxRequestBytes', `*3\r\n$3\r\nSET\r\n$8\r\n${'k'.repeat(8)}\r\n$8\r\n${'v'.repeat(8)}\r\n`, '-ERR Protocol error: client reached max query buffer length\r\n', { ...LIMITS, maxRequestBytes: 40 }],
  ['a request at maxRequestBytes', `*3\r\n$3\r\nSET\r\n$8\r\n${'k'.repeat(8)}\r\n$8\r\n${'v'.repeat(8)}\r\n`, '+OK\r\n', { ...LIMITS, maxRequestBytes: 46 }],
  ['a byte other than CR after a bulk length, the rest in step', '*1\r\n$4x\r\nPING\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
  ['a byte other than CR after the count, the rest in step', '*1x\r$4\r\nPING\r\n', '-ERR Protocol error: invalid multibulk length\r\n'],
  ['a byte other than $ where a bulk begins, the rest in step', '*1\r\n:4\r\nPING\r\n', "-ERR Protocol error: expected '$', got ':'\r\n"],
  ['a byte other than CR after a bulk length', '*2\r\n$4x\r\nECHO\r\n$1\r\nx\r\n'],
  ['a byte other than CR after the count', '*2x\r\n$4\r\nECHO\r\n$1\r\nx\r\n'],
  ['a byte other than $ where a bulk begins', '*2\r\n$4\r\nECHO\r\n:1\r\n', "-ERR Protocol error: expected '$', got ':'\r\n"],
  ['a bulk length of ten digits', '*2\r\n$4\r\nECHO\r\n$1000000000\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
  ['*0 and *-1 (skipped) then PING', '*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n', '+PONG\r\n'],
  ['a request whose last CRLF has not come yet', '*1\r\n$4\r\nPING', ''],
  ['seventeen arguments', `*17\r\n$4\r\nMSET${'\r\n$1\r\nk\r\n$1\r\nv'.repeat(8)}\r\n`, '+OK\r\n', {}],
];

for (const [name, request, expected, options = LIMITS] of cases) {
  test(`whole or a byte at a time, the same answer: ${name}`, () => {
    const whole = replies(request, options, true);
    const bytewise = replies(request, options, false);
    assert.is(whole.text, bytewise.text);
    assert.is(whole.ended, bytewise.ended);
    if (expected !== undefined) assert.is(whole.text, expected);
  });
}

test.run();
