// A protocol's replies gathered per read (src/protocols/buffers.ts,
// ReplyBuffer): one write per flush; a batch that is one constant reply is
// written from the constant itself; the view a flush lends is reused, never
// a buffer still lent to a corked connection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { ReplyBuffer } from '../src/protocols/buffers.js';

/** A connection that records what each write was handed, and a copy of its bytes then. */
function recorder() {
  const handed: Uint8Array[] = [];
  const copies: string[] = [];
  return {
    handed,
    copies,
    connection: {
      write(bytes: Uint8Array): boolean {
        handed.push(bytes);
        copies.push(Buffer.from(bytes).toString('latin1'));
        return true;
      },
    },
  };
}

const HELLO = Buffer.from('hello\r\n');

test('a batch that is one constant is written as the constant itself, not a copy', () => {
  const out = new ReplyBuffer();
  const { handed, connection } = recorder();
  out.begin();
  out.appendConstant(HELLO);
  assert.is(out.length, HELLO.length);
  out.flushTo(connection);
  assert.is(handed.length, 1);
  assert.is(handed[0], HELLO);
  assert.is(out.length, 0);
});

test('a constant followed by anything, or after anything, is copied in, in order', () => {
  const out = new ReplyBuffer();
  const { copies, connection } = recorder();
  out.begin();
  out.appendConstant(HELLO);
  out.latin1('+OK\r\n');
  out.appendConstant(HELLO);
  out.append(Buffer.from('tail'));
  assert.is(out.length, HELLO.length * 2 + 5 + 4);
  out.flushTo(connection);
  assert.equal(copies, ['hello\r\n+OK\r\nhello\r\ntail']);

  out.begin();
  out.appendConstant(HELLO);
  // A writer that reserves and then writes into `bytes` itself (RESP's bulk replies do).
  out.reserve(2);
  out.bytes[out.length++] = 0x21;
  out.bytes[out.length++] = 0x21;
  out.flushTo(connection);
  assert.is(copies[1], 'hello\r\n!!');
  assert.is(HELLO.toString('latin1'), 'hello\r\n', 'the constant was written into');
});

test('short and long pieces come out alike: bytes and latin1 text copied by hand or by the runtime, decimals as digits', () => {
  const out = new ReplyBuffer();
  const { copies, connection } = recorder();
  const long = 'x'.repeat(100);
  const source = Buffer.from(`ab${long}cd`, 'latin1');
  out.begin();
  out.append(source, 1, 3); // a short part of a buffer
  out.append(source, 0, source.length); // a long whole
  out.append(source, 2, source.length - 2); // a long part
  out.append(source, 0, 0);
  // latin1 keeps each code unit's low byte, short or long: U+0100 is 0x00, U+20AC 0xAC.
  out.latin1('\u00e9\u0100\u20ac');
  out.latin1(`\u00e9${long}\u20ac`);
  for (const value of [0, 7, 10, 99, 1234567, 2 ** 53 - 1]) {
    out.decimal(value);
    out.latin1(',');
  }
  out.flushTo(connection);
  const expected = Buffer.concat([
    source.subarray(1, 3),
    source,
    source.subarray(2, source.length - 2),
    Buffer.from([0xe9, 0x00, 0xac]),
    Buffer.from([0xe9]),
    Buffer.from(long, 'latin1'),
    Buffer.from([0xac]),
    Buffer.from(`0,7,10,99,1234567,${2 ** 53 - 1},`, 'latin1'),
  ]).toString('latin1');
  assert.is(copies[0], expected);
});

test('flushes of one length reuse their view; a buffer lent in a batch is not written again in it', () => {
  const out = new ReplyBuffer();
  const { handed, copies, connection } = recorder();
  for (let batch = 0; batch < 4; batch++) {
    out.begin();
    out.latin1(`reply${batch}`);
    out.flushTo(connection);
  }
  // Two buffers alternate: batches 0 and 2 lend one, 1 and 3 the other, each view made once.
  assert.is(handed[2], handed[0]);
  assert.is(handed[3], handed[1]);
  assert.is.not(handed[1], handed[0]);
  out.begin();
  out.latin1('first');
  out.flushTo(connection);
  out.latin1('second');
  out.flushTo(connection);
  out.latin1('third!');
  out.flushTo(connection);
  assert.equal(copies.slice(4), ['first', 'second', 'third!']);
  // Three flushes in one batch: what the first two lent still reads as it did (a corked connection may hold them yet).
  assert.is(Buffer.from(handed[4]!).toString(), 'first');
  assert.is(Buffer.from(handed[5]!).toString(), 'second');
});

test.run();
