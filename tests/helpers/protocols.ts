// A protocol driven without sockets: a stand-in Connection that records what
// the protocol wrote, and feeding one input whole and split at every byte.
import * as assert from 'uvu/assert';

import type { Connection } from '../../src/net/connection.js';
import type { ProtocolFactory } from '../../src/net/protocol.js';
import { respProtocol, type RespOptions } from '../../src/protocols/resp.js';
import { pagesOf } from '../../src/protocols/resp-values.js';
import { respCommand } from './limits.js';

/** What a protocol did to a FakeConnection. */
export interface FakeConnection {
  /** Pass this to the protocol's data(); it records instead of writing. */
  connection: Connection;
  /** Each write, copied (the protocol may reuse its buffer), those after end() or close() included. */
  writes: Buffer[];
  /**
   * The writes made after end() or close(), also in `writes`. A real
   * connection would drop them, so a protocol that forgot it had ended would
   * go unseen if the fake dropped them too.
   */
  lateWrites: Buffer[];
  /** Whether end() or close() was called. */
  ended: boolean;
  /** Everything written, as latin1 text. */
  output(): string;
}

/** A stand-in Connection that records write() and end(), for unit tests of protocols. */
export function fakeConnection(): FakeConnection {
  const fake: FakeConnection = {
    connection: undefined as unknown as Connection,
    writes: [],
    lateWrites: [],
    ended: false,
    output: () => Buffer.concat(fake.writes).toString('latin1'),
  };
  fake.connection = {
    write(bytes: Uint8Array) {
      if (bytes.length === 0) return;
      const copy = Buffer.from(bytes);
      fake.writes.push(copy);
      if (fake.ended) fake.lateWrites.push(copy);
    },
    end() {
      fake.ended = true;
    },
    close() {
      fake.ended = true;
    },
  } as unknown as Connection;
  return fake;
}

/**
 * Feeds `input` to a fresh protocol from `makeFactory()` in one read, then in
 * two reads split at every byte boundary. Returns the output of the one read
 * (with `<end>` appended if the connection was ended) and the split points
 * whose output differs from it. Fails the test when a read makes more than
 * one write, or when anything is written after the connection ended.
 */
export function splitMismatches(makeFactory: () => ProtocolFactory, input: Buffer): { whole: string; mismatches: number[] } {
  const feed = (pieces: Buffer[]): string => {
    const fake = fakeConnection();
    const protocol = makeFactory()(fake.connection);
    for (const piece of pieces) {
      const before = fake.writes.length;
      protocol.data(fake.connection, piece);
      assert.ok(fake.writes.length - before <= 1, `one read made ${fake.writes.length - before} writes`);
      // The server reuses its read buffer: a protocol that kept a view of it instead of a copy reads garbage.
      piece.fill(0xee);
    }
    assert.is(fake.lateWrites.length, 0, `written after the end: ${Buffer.concat(fake.lateWrites).toString('latin1')}`);
    return fake.output() + (fake.ended ? '<end>' : '');
  };
  const whole = feed([Buffer.from(input)]);
  const mismatches: number[] = [];
  for (let split = 1; split < input.length; split++) {
    if (feed([Buffer.from(input.subarray(0, split)), Buffer.from(input.subarray(split))]) !== whole) mismatches.push(split);
  }
  return { whole, mismatches };
}

/**
 * A RESP session on a FakeConnection (its store a new Map unless given) and
 * send(), which feeds it one request and returns the reply it wrote.
 */
export function respSession(options: RespOptions = {}) {
  const store = options.store ?? new Map<string, Uint8Array>();
  const factory = respProtocol({ ...options, store });
  const fake = fakeConnection();
  const protocol = factory(fake.connection);
  let seen = 0;
  const send = (...args: (string | Buffer)[]): string => {
    protocol.data(fake.connection, respCommand(...args));
    const all = fake.output();
    const reply = all.slice(seen);
    seen = all.length;
    return reply;
  };
  return { factory, store, send, pages: pagesOf(store) };
}
