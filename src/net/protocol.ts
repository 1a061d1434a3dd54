// What a server asks of a protocol: a factory that makes one per connection,
// and the calls the server makes on it as bytes arrive. The protocols in
// src/protocols/ (echo, RESP, HTTP) implement it; so may a user.
import type { SystemError } from '../errors.js';
import type { CloseReason, Connection } from './connection.js';

/** What a protocol does with a connection's bytes. */
export interface Protocol {
  /**
   * Bytes arrived. `bytes` is a view of a buffer the server reuses for the
   * next read: it is valid only during this call, so copy what you keep.
   *
   * Output is bounded by the connection's high watermark: once
   * `connection.needsDrain` is true (or `write()` returned false), stop
   * answering, keep the input not yet handled, and go on in `resume()`.
   *
   * A throw, or a returned promise that rejects, ends this connection (what
   * it wrote before is still delivered, then it closes) and is reported on
   * the loop's `'error'` as the read callback's error; the server goes on.
   * (Typed `void` so that any function fits, an async one included.)
   */
  data(connection: Connection, bytes: Uint8Array): void;
  /**
   * The queue drained below the low watermark after `needsDrain` turned
   * true. Called before the connection reads again: answer the input kept
   * back, stopping again if the watermark is reached. Optional for a
   * protocol that keeps nothing back (echo writes each read and relies on
   * reading pausing).
   */
  resume?(connection: Connection): void;
  /** The peer finished sending. Default: `connection.end()`. */
  end?(connection: Connection): void;
  /**
   * The connection closed, for `reason` (with the socket error that ended
   * it, if one did). Called once; the protocol gets nothing more. A throw is
   * reported on the loop's `'error'`.
   */
  close?(connection: Connection, reason: CloseReason, error?: SystemError): void;
}

/** Makes the protocol for a new connection (a shared object is fine when it keeps no state). */
export interface ProtocolFactory {
  (connection: Connection): Protocol;
  /**
   * What a client turned away by the server's `maxConnections` is told, in
   * the protocol's own words (RESP's `-ERR max number of clients reached`,
   * HTTP's 503). Written once, without waiting for the socket; then the
   * connection closes. Without it the client is closed with no word.
   */
  refuse?(): Uint8Array;
}
