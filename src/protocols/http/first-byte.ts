// What an HTTP connection is before its first byte: the server and the
// connection, and nothing of HTTP. Its session (session.ts: the parser's
// requests, the responses in order, the bounds) is made when the first bytes
// arrive. A client that connects and sends nothing, as a browser's
// speculative connection or an idle pool's does, costs the connection and
// this (40 bytes) rather than a session (136), measured in
// docs/performance.md (idle connections).
import type { CloseReason, Connection } from '../../net/connection.js';
import type { Protocol } from '../../net/protocol.js';
import { HttpSession, type Shared } from './session.js';

export class HttpConnection implements Protocol {
  readonly #shared: Shared;
  #session: HttpSession | undefined;

  constructor(shared: Shared) {
    this.#shared = shared;
  }

  data(connection: Connection, bytes: Uint8Array): void {
    // The server hands every call its connection: the session is made for it.
    (this.#session ??= new HttpSession(this.#shared, connection)).data(connection, bytes);
  }

  resume(connection: Connection): void {
    // Nothing was asked before the first byte: nothing waits to go on.
    this.#session?.resume(connection);
  }

  end(connection: Connection): void {
    // The peer ended before a request: end too, as a session with none pending does.
    if (this.#session === undefined) connection.end();
    else this.#session.end(connection);
  }

  close(connection: Connection, reason: CloseReason, error?: Parameters<NonNullable<Protocol['close']>>[2]): void {
    this.#session?.close(connection, reason, error);
  }
}
