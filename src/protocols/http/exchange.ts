// One request and its response, as the session that parsed it keeps them:
// from the request's head until its response is on the connection. The
// response writes through it (ResponseOutput), and it hands each write to
// its session (ExchangeOwner), which puts the responses of pipelined
// requests on the connection in request order (session.ts).
import type { Connection } from '../../net/connection.js';
import type { RequestHead } from './parser.js';
import { HttpRequest, type BodyReader } from './request.js';
import { HttpResponse, type ResponseOutput } from './response.js';

/** What an exchange needs of its session: the request's body, and a place for the response's bytes. */
export interface ExchangeOwner extends BodyReader {
  /** Bytes of the exchange's response; false once the caller should wait for 'drain'. */
  send(exchange: Exchange, bytes: Uint8Array): boolean;
  /** A whole response at once: its head and its body. */
  sendWhole(exchange: Exchange, head: string | Uint8Array, body: Uint8Array): boolean;
  /** The handler ended the exchange's response. */
  responseEnded(exchange: Exchange): void;
}

/** One request and its response, from its head until its response is on the connection. */
export class Exchange implements ResponseOutput {
  readonly req: HttpRequest;
  readonly res: HttpResponse;
  readonly expectContinue: boolean;
  /** Output held while an earlier response is on the wire (made when first needed: most responses are never held). */
  held: Uint8Array[] | undefined = undefined;
  heldBytes = 0;
  /** The handler ended its response. */
  done = false;
  /** A reply the server writes in place of the handler's (a refusal or a 500): the handler's output is dropped. */
  replacement: Buffer | undefined;
  continued = false;
  /** The handler has finished its response before reading the whole body: the rest is dropped as it comes. */
  dumped = false;
  readonly #session: ExchangeOwner;

  /** `kept`: the head is the parser's kept one (RequestSink.head). */
  constructor(session: ExchangeOwner, head: RequestHead, connection: Connection, kept: boolean) {
    this.#session = session;
    this.req = new HttpRequest(head, connection, session, kept);
    this.res = new HttpResponse(this.req, this, !head.keepAlive);
    this.expectContinue = head.expectContinue;
  }

  send(_response: HttpResponse, bytes: Uint8Array): boolean {
    return this.#session.send(this, bytes);
  }

  sendWhole(_response: HttpResponse, head: string | Uint8Array, body: Uint8Array): boolean {
    return this.#session.sendWhole(this, head, body);
  }

  ended(_response: HttpResponse): void {
    this.done = true;
    this.#session.responseEnded(this);
  }
}
