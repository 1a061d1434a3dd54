// HTTP's bounds and defaults, and the replies the server writes itself (the
// errors, 100 Continue, the refusal past maxConnections), each encoded once.
// docs/protocols.md lists the bounds with their reasons.
import { Buffer } from 'node:buffer';

/** 8 KiB, the limit of nginx's default large_client_header_buffers line and of many proxies. */
export const DEFAULT_MAX_HEADER_BYTES = 8 * 1024;
/** 1 MiB of request body unless told otherwise: nginx's client_max_body_size default. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** node:http's server.headersTimeout: a minute for a header section is ample for any live client. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
/** node:http's server.requestTimeout: five minutes for a whole request. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
/**
 * Empty lines skipped before a request line: RFC 9112 2.2 asks a server to
 * skip at least one (a client's stray CRLF after a body); more than a few
 * is no client's mistake, and each would be a read that resets nothing.
 */
export const MAX_EMPTY_LINES = 8;
/**
 * The deadline sweep's period: at most this, so a request is timed out at
 * most a second after its deadline (never before), and an eighth of the
 * shortest timeout below 8 s, so short test timeouts stay precise.
 */
export const DEADLINE_SWEEP_MAX_MS = 1000;
/**
 * Body bytes a connection holds for a handler that has not read them yet;
 * past it the connection stops reading until the handler catches up. 64 KiB
 * is one default read: one more read may arrive before reading stops.
 */
export const BODY_BUFFER_BYTES = 64 * 1024;
/**
 * Requests of one connection waiting for their responses at once (a
 * pipelining client); past it the connection stops reading until the oldest
 * are answered. node:http has no such bound; 32 is more than any browser or
 * proxy pipelines.
 */
export const MAX_PIPELINED = 32;
/**
 * Output bytes a pipelined response may hold while an earlier one is still
 * being written; past it its write() returns false, and 'drain' comes once
 * it is the one on the wire.
 */
export const PIPELINED_OUTPUT_BYTES = 64 * 1024;

/**
 * Parsers a server keeps for its sessions between requests, at most: as many
 * as read a request across reads at the same time, on a busy server a
 * handful; past a burst of slow requests the rest are left to the collector,
 * so the pool never holds more than this after one.
 */
export const PARSER_POOL_MAX = 64;

/**
 * The longest request a parser keeps to recognise when it comes again, byte
 * for byte, without parsing it (parser.ts, #remember): wrk's is 40 bytes,
 * curl's about 80, a browser's without cookies 400–700. Bounded so that a
 * parser costs at most this more; a longer request is parsed every time.
 */
export const REPEAT_MAX_BYTES = 1024;

/** How a reply ends the exchange: 1.1 keep-alive says nothing, 1.0 keep-alive says so, close says so. */
export const enum Persistence {
  Default = 0,
  KeepAlive = 1,
  Close = 2,
}

export const CONNECTION_HEADER = ['', 'Connection: keep-alive\r\n', 'Connection: close\r\n'];

export function encodeHead(status: string, contentType: string, length: number, persistence: Persistence, extra = ''): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n${extra}${CONNECTION_HEADER[persistence]}\r\n`;
}

/** A reply that ends the connection: always with its body, since the request may be too broken to tell whether it was a HEAD. */
function closing(status: string, body: string): Buffer {
  return Buffer.from(encodeHead(status, 'text/plain', body.length, Persistence.Close) + body, 'latin1');
}

/** The replies the server writes on its own, by status code. */
export const ERROR_REPLIES: ReadonlyMap<number, Buffer> = new Map([
  [400, closing('400 Bad Request', 'bad request\n')],
  [408, closing('408 Request Timeout', 'request timeout\n')],
  [413, closing('413 Payload Too Large', 'payload too large\n')],
  [414, closing('414 URI Too Long', 'uri too long\n')],
  [431, closing('431 Request Header Fields Too Large', 'request header fields too large\n')],
  [500, closing('500 Internal Server Error', 'internal server error\n')],
  [505, closing('505 HTTP Version Not Supported', 'http version not supported\n')],
]);

export const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** To a client past the server's maxConnections: try again later (RFC 9110 15.6.4). */
export const SERVICE_UNAVAILABLE = Buffer.from(
  encodeHead('503 Service Unavailable', 'text/plain', 20, Persistence.Close) + 'too many connections',
  'latin1',
);
