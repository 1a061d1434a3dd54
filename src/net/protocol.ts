// What a server asks of a protocol: a factory that makes one per connection,
// and the calls the server makes on it as bytes arrive. The protocols in
// src/protocols/ (echo, RESP, HTTP) implement it; so may a user.
import type { Connection } from './connection.js';

/** What a protocol does with a connection's bytes. */
export interface Protocol {
  /**
   * Bytes arrived. `bytes` is a view of a buffer the server reuses for the
   * next read: it is valid only during this call, so copy what you keep.
   */
  data(connection: Connection, bytes: Uint8Array): void;
  /** The peer finished sending. Default: `connection.end()`. */
  end?(connection: Connection): void;
}

/** Makes the protocol for a new connection (a shared object is fine when it keeps no state). */
export type ProtocolFactory = (connection: Connection) => Protocol;
