import { connect } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { respProtocol, DEFAULT_MAX_ARGUMENTS, DEFAULT_MAX_BULK_LENGTH, DEFAULT_MAX_MEMORY, DEFAULT_MAX_REQUEST_BYTES, MAX_INLINE_LENGTH, MAX_KEY_LENGTH, MAX_REQUEST_BYTES, type RespOptions, type RespProtocolFactory } from '../src/protocols/resp.js';
import type { Protocol } from '../src/net/protocol.js';
import { rangeErr, throws, typeErr } from './helpers/errors.js';
import { respCommand as command } from './helpers/limits.js';
import { fakeConnection, splitMismatches, type FakeConnection } from './helpers/protocols.js';
import { withServer } from './helpers/servers.js';

/** A key no test sets (short enough for the smallest maxBulkLength here): a SET of it that runs shows in the store. */
const AFTER_THE_END = 'late';

/**
 * Once a session has ended its connection, more input is ignored: a SET
 * then gets no reply and does not run (another connection of the same
 * server does not see the key).
 */
function assertIgnoredAfterEnd(factory: RespProtocolFactory, fake: FakeConnection, protocol: Protocol): void {
  protocol.data(fake.connection, command('SET', AFTER_THE_END, 'ran'));
  protocol.data(fake.connection, Buffer.from('PING\r\n'));
  assert.equal(fake.lateWrites.map((write) => write.toString('latin1')), [], 'written after the end');
  const other = fakeConnection();
  factory(other.connection).data(other.connection, command('GET', AFTER_THE_END));
  assert.is(other.output(), '$-1\r\n', 'a SET sent after the end ran');
}

/**
 * Feeds `input` in one read to a fresh server's protocol; returns the replies
 * and whether it ended. An ended session is then fed more, which it must ignore.
 */
function send(input: string | Buffer, options?: RespOptions): { output: string; ended: boolean; requests: number } {
  const factory = respProtocol(options);
  const fake = fakeConnection();
  const protocol = factory(fake.connection);
  protocol.data(fake.connection, typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  const result = { output: fake.output(), ended: fake.ended, requests: factory.requests };
  if (fake.ended) assertIgnoredAfterEnd(factory, fake, protocol);
  return result;
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

test('a pipelined stream of every command gives the same replies however it is split into two reads', () => {
  const stream = Buffer.concat([
    command('SET', 'key', ALL_BYTES),
    command('get', 'key'),
    Buffer.from('PING\r\n'),
    command('PING', 'a\r\nb'),
    Buffer.from('incr counter\r\n'),
    command('INCR', 'counter'),
    command('EXISTS', 'key', 'counter', 'none', 'key'),
    command('DEL', 'key', 'key', 'none'),
    command('GET', 'key'),
    Buffer.from('ECHO "tab\\there" \'it\\\'s\'\n'),
    command('ECHO', 'it'),
    command('CONFIG', 'GET', 'save', 'appendonly', 'maxmemory'),
    command('COMMAND', 'DOCS'),
    command('nope', 'x'),
    Buffer.from('*0\r\n\r\n'),
    command('PING'),
  ]);
  const { whole, mismatches } = splitMismatches(() => respProtocol(), stream);
  const expected = Buffer.concat([
    Buffer.from('+OK\r\n$256\r\n'),
    ALL_BYTES,
    Buffer.from(
      '\r\n+PONG\r\n$4\r\na\r\nb\r\n:1\r\n:2\r\n:3\r\n:1\r\n$-1\r\n' +
        '-ERR wrong number of arguments for \'echo\' command\r\n$2\r\nit\r\n' +
        `*6\r\n$4\r\nsave\r\n$0\r\n\r\n$10\r\nappendonly\r\n$2\r\nno\r\n$9\r\nmaxmemory\r\n$10\r\n${DEFAULT_MAX_MEMORY}\r\n*0\r\n` +
        "-ERR unknown command 'nope', with args beginning with: 'x' \r\n+PONG\r\n",
    ),
  ]).toString('latin1');
  assert.is(whole, expected);
  assert.equal(mismatches, [], 'split points whose replies differ');
});

test('a pipelined stream fed one byte per read gives the same replies in the same order', () => {
  const stream = Buffer.concat([command('SET', 'k', 'v'), Buffer.from('GET k\r\n'), command('ECHO', ALL_BYTES)]);
  const fake = fakeConnection();
  const protocol = respProtocol()(fake.connection);
  for (const byte of stream) protocol.data(fake.connection, Buffer.from([byte]));
  assert.is(fake.output(), '+OK\r\n$1\r\nv\r\n$256\r\n' + ALL_BYTES.toString('latin1') + '\r\n');
});

test('the replies to one read go out in one write', () => {
  const fake = fakeConnection();
  const protocol = respProtocol()(fake.connection);
  protocol.data(fake.connection, Buffer.concat(Array.from({ length: 500 }, () => command('PING'))));
  assert.is(fake.writes.length, 1);
  assert.is(fake.output(), '+PONG\r\n'.repeat(500));
});

test('a read given as a plain Uint8Array, not a Buffer, is parsed the same', () => {
  const fake = fakeConnection();
  const bytes = new Uint8Array(command('ECHO', 'plain'));
  respProtocol()(fake.connection).data(fake.connection, bytes.subarray(0));
  assert.is(fake.output(), '$5\r\nplain\r\n');
});

test('keys and values are binary-safe: every byte value, CR LF and NUL included', () => {
  const key = Buffer.from([0, 13, 10, 255, 32, 0x80]);
  const { output } = send(Buffer.concat([command('SET', key, ALL_BYTES), command('GET', key), command('EXISTS', key), command('GET', Buffer.from([0]))]));
  assert.is(output, '+OK\r\n$256\r\n' + ALL_BYTES.toString('latin1') + '\r\n:1\r\n$-1\r\n');
});

test('command names match in any case', () => {
  assert.is(send('pInG\r\nEcHo hi\r\n').output, '+PONG\r\n$2\r\nhi\r\n');
});

test('an unknown command is refused in Redis words, its quoted arguments bounded to 128 characters', () => {
  assert.is(send('FROBNICATE\r\n').output, "-ERR unknown command 'FROBNICATE', with args beginning with: \r\n");
  const long = 'x'.repeat(200);
  const { output } = send(command('nope', long, 'more'));
  assert.is(output, `-ERR unknown command 'nope', with args beginning with: '${'x'.repeat(128)}' \r\n`);
  assert.is(send(command('no\r\npe')).output, "-ERR unknown command 'no  pe', with args beginning with: \r\n", 'CR LF become spaces');
});

test('wrong arity is refused in Redis words and the connection stays open', () => {
  const { output, ended } = send('GET\r\nGET a b\r\nPING a b\r\nSET k\r\nDEL\r\nEXISTS\r\nINCR\r\nECHO a b\r\nCONFIG\r\nCONFIG GET\r\nPING\r\n');
  const arity = (name: string): string => `-ERR wrong number of arguments for '${name}' command\r\n`;
  assert.is(output, ['get', 'get', 'ping', 'set', 'del', 'exists', 'incr', 'echo', 'config', 'config|get'].map(arity).join('') + '+PONG\r\n');
  assert.not.ok(ended);
});

test('INCR refuses values that are not int64 and stops at the int64 maximum', () => {
  const notInteger = '-ERR value is not an integer or out of range\r\n';
  for (const value of ['abc', '007', '-0', ' 1', '+1', '1.5', '', '9223372036854775808', '-9223372036854775809']) {
    assert.is(send(Buffer.concat([command('SET', 'n', value), command('INCR', 'n')])).output, `+OK\r\n${notInteger}`, `value '${value}'`);
  }
  const { output } = send(
    'SET n 9223372036854775806\r\nINCR n\r\nINCR n\r\nGET n\r\nSET m 9007199254740991\r\nINCR m\r\nSET l -9223372036854775808\r\nINCR l\r\nINCR new\r\n',
  );
  assert.is(
    output,
    '+OK\r\n:9223372036854775807\r\n-ERR increment or decrement would overflow\r\n$19\r\n9223372036854775807\r\n' +
      '+OK\r\n:9007199254740992\r\n+OK\r\n:-9223372036854775807\r\n:1\r\n',
  );
});

test('SET refuses an unknown option as a syntax error, and sets nothing', () => {
  const { output } = send('SET k v bogus\r\nGET k\r\n');
  assert.is(output, '-ERR syntax error\r\n$-1\r\n');
});

test('COMMAND and CONFIG answer what redis-cli and redis-benchmark ask, and refuse other subcommands', () => {
  const { output } = send('COMMAND\r\nCOMMAND COUNT\r\nCOMMAND COUNT x\r\nCOMMAND LIST\r\nCONFIG SET a b\r\nCONFIG GET nope\r\nCONFIG GET SAVE save\r\n');
  assert.is(
    output,
    "*0\r\n:30\r\n-ERR wrong number of arguments for 'command|count' command\r\n" +
      "-ERR unknown subcommand 'LIST'. Try COMMAND HELP.\r\n-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n" +
      '*0\r\n*2\r\n$4\r\nsave\r\n$0\r\n\r\n',
  );
});

test('inline requests: blank lines are skipped, quotes and escapes decode, a bare LF ends a line', () => {
  const { output } = send('\r\n   \r\nECHO "a\\x41\\n" \nECHO \'x y\'\r\nECHO a"b c"\r\n');
  assert.is(output, '$3\r\naA\n\r\n$3\r\nx y\r\n$4\r\nab c\r\n');
});

const protocolErrors: [string, string, RespOptions?][] = [
  ['*x\r\n', 'invalid multibulk length'],
  ['*1\r\n$x\r\n', 'invalid bulk length'],
  ['*1\r\n$-1\r\n', 'invalid bulk length'],
  // Count lines longer than any valid one (past the part scanned before indexOf takes over).
  [`*1\r\n$${'0'.repeat(30)}1\r\n`, 'invalid bulk length'],
  [`*${'0'.repeat(30)}1\r\n`, 'invalid multibulk length'],
  ['*1\r\n+PING\r\n', "expected '$', got '+'"],
  ['ECHO "open\r\n', 'unbalanced quotes in request'],
  ['ECHO "a"b\r\n', 'unbalanced quotes in request'],
  [`*${DEFAULT_MAX_ARGUMENTS + 1}\r\n`, 'invalid multibulk length'],
  [`*1\r\n$${DEFAULT_MAX_BULK_LENGTH + 1}\r\n`, 'invalid bulk length'],
  ['*3\r\n$3\r\nSET\r\n', 'invalid multibulk length', { maxArguments: 2 }],
  ['*2\r\n$4\r\nECHO\r\n$11\r\n', 'invalid bulk length', { maxBulkLength: 10 }],
];
for (const [input, message, options] of protocolErrors) {
  test(`malformed ${JSON.stringify(input)}${options ? ` with ${JSON.stringify(options)}` : ''}: '${message}', then the connection closes`, () => {
    // A valid request before the bad one is answered; one after it is not.
    const { output, ended } = send(`PING\r\n${input}PING\r\n`, options);
    assert.is(output, `+PONG\r\n-ERR Protocol error: ${message}\r\n`);
    assert.ok(ended, 'connection ended');
  });
}

test('limits at their bounds are accepted: a bulk of exactly maxBulkLength, maxArguments arguments', () => {
  const { output, ended } = send(Buffer.concat([command('ECHO', 'x'.repeat(10)), command('EXISTS', 'a', 'b')]), { maxBulkLength: 10, maxArguments: 3 });
  assert.is(output, `$10\r\n${'x'.repeat(10)}\r\n:0\r\n`);
  assert.not.ok(ended);
});

test('a line with no end is refused past 64 KiB, whether inline or a count line; input after the refusal is ignored', () => {
  for (const [before, start] of [['', 'PING '], ['', '*'], ['*1\r\n', '$']] as const) {
    const factory = respProtocol();
    const fake = fakeConnection();
    const protocol = factory(fake.connection);
    protocol.data(fake.connection, Buffer.from(before + start + '1'.repeat(MAX_INLINE_LENGTH - start.length)));
    assert.is(fake.writes.length, 0, `${start}: a line of ${MAX_INLINE_LENGTH} bytes without its end is still awaited`);
    protocol.data(fake.connection, Buffer.from('1'));
    assert.match(fake.output(), /^-ERR Protocol error: too big (inline request|mbulk count string|bulk count string)\r\n$/, start);
    assert.ok(fake.ended);
    assertIgnoredAfterEnd(factory, fake, protocol);
    assert.is(fake.writes.length, 1, 'only the refusal was written');
  }
});

test('the store is shared by the connections of one factory, not across factories', () => {
  const factory = respProtocol();
  const a = fakeConnection();
  const b = fakeConnection();
  factory(a.connection).data(a.connection, command('SET', 'shared', 'yes'));
  factory(b.connection).data(b.connection, command('GET', 'shared'));
  assert.is(b.output(), '$3\r\nyes\r\n');
  assert.is(factory.store.size, 1);
  assert.is(factory.requests, 2);
  const other = fakeConnection();
  respProtocol()(other.connection).data(other.connection, command('GET', 'shared'));
  assert.is(other.output(), '$-1\r\n');
});

test('requests counts each command executed, errors included, not empty requests', () => {
  assert.is(send('PING\r\n\r\n*0\r\nNOPE\r\nGET\r\n').requests, 3);
});

test('a stored value is a copy: later reads into the same buffer do not change it', () => {
  const factory = respProtocol();
  const fake = fakeConnection();
  const protocol = factory(fake.connection);
  const read = command('SET', 'k', 'value');
  protocol.data(fake.connection, read);
  read.fill(0x41);
  protocol.data(fake.connection, command('GET', 'k'));
  assert.is(fake.output(), '+OK\r\n$5\r\nvalue\r\n');
});

test('options are checked: an object, integer limits in range', () => {
  throws(() => respProtocol(null as unknown as RespOptions), typeErr);
  throws(() => respProtocol({ maxBulkLength: '1' as unknown as number }), typeErr);
  // A bulk string must fit in one request.
  throws(() => respProtocol({ maxBulkLength: DEFAULT_MAX_REQUEST_BYTES + 1 }), rangeErr);
  throws(() => respProtocol({ maxRequestBytes: 1024, maxBulkLength: 1025 }), rangeErr);
  respProtocol({ maxRequestBytes: 1024, maxBulkLength: 1024 });
  throws(() => respProtocol({ maxRequestBytes: 0 }), rangeErr);
  throws(() => respProtocol({ maxRequestBytes: MAX_REQUEST_BYTES + 1 }), rangeErr);
  throws(() => respProtocol({ maxKeyLength: MAX_KEY_LENGTH + 1 }), rangeErr);
  // The defaults: below V8's string limit, the bulk limit within the request limit.
  assert.ok(DEFAULT_MAX_BULK_LENGTH <= DEFAULT_MAX_REQUEST_BYTES && DEFAULT_MAX_REQUEST_BYTES < 2 ** 29 - 24);
  throws(() => respProtocol({ maxArguments: 0 }), rangeErr);
});

test('through a real server: a 4 MiB value in many reads, then 2,000 pipelined commands in one write', async () => {
  const factory = respProtocol();
  await withServer(factory, {}, 'RESP over a socket', async (_server, port) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    const value = Buffer.alloc(4 * 1024 * 1024, 'v');
    const pipeline = Buffer.concat(Array.from({ length: 2000 }, (_, i) => command('INCR', `n${i % 10}`)));
    const expectedReplies = Array.from({ length: 2000 }, (_, i) => `:${Math.floor(i / 10) + 1}\r\n`).join('');
    const expected = `+OK\r\n${expectedReplies}$${value.length}\r\n`;
    const expectedLength = expected.length + value.length + 2;
    socket.write(command('SET', 'big', value));
    socket.write(pipeline);
    socket.write(command('GET', 'big'));
    await new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      const check = (): void => {
        if (received >= expectedLength) resolve();
      };
      socket.on('data', check);
    });
    socket.destroy();
    const all = Buffer.concat(chunks);
    assert.is(all.length, expectedLength);
    assert.is(all.subarray(0, expected.length).toString('latin1'), expected);
    assert.ok(all.subarray(expected.length, expected.length + value.length).equals(value), 'GET returns the 4 MiB value');
    assert.is(factory.requests, 2002);
  });
});

test.run();
