// HTTP/1.1 for Node apps: `httpProtocol({ handler })` serves requests to a
// handler shaped like node:http's (req, res); without one, the hello-world
// responder of `wasmloop serve --protocol http`. Parsed by llhttp (the
// parser node:http uses) compiled to WebAssembly. The parts, one idea each,
// are in ./http/: a connection before its first byte (first-byte.ts), its
// state machine once bytes come (session.ts), the parser's
// glue (parser.ts), the request and the response, the headers, the
// deadlines, the default handler, the bounds and replies (constants.ts).
import { assertFunction, assertInteger, assertObject } from '../errors.js';
import type { ProtocolFactory } from '../net/protocol.js';
import { ReplyBuffer } from './buffers.js';
import {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  SERVICE_UNAVAILABLE,
} from './http/constants.js';
import { HttpConnection } from './http/first-byte.js';
import type { HttpHandler, Shared, UpgradeHandler } from './http/session.js';

export {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_EMPTY_LINES,
  DEADLINE_SWEEP_MAX_MS,
} from './http/constants.js';
export type { HttpHandler, UpgradeHandler } from './http/session.js';
export type { HttpRequest } from './http/request.js';
export type { HttpResponse, OutgoingHeaders, OutgoingValue } from './http/response.js';
export type { IncomingHeaders } from './http/headers.js';

export interface HttpOptions {
  /**
   * Called with each request and its response, as node:http's 'request'
   * listener is; may be async. Without one: `GET /` → hello, `GET /metrics`.
   */
  handler?: HttpHandler;
  /** Takes over a connection whose request asks for another protocol (Upgrade, CONNECT). Without it such a request goes to the handler. */
  upgrade?: UpgradeHandler;
  /** The body of `GET /metrics` (default handler only). Default: the request count, in Prometheus text format. */
  metrics?: () => string;
  /** Longest header section (request line and headers), in bytes: then 431 (414 for the request line alone). Default 8 KiB. */
  maxHeaderBytes?: number;
  /** Longest request body, in bytes: then 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /**
   * How long the header section may take to arrive, from the request's first
   * byte (ms); then 408 and close. 0 turns it off. Default 60,000 (node:http's
   * server.headersTimeout). At most requestTimeoutMs when both are on.
   */
  headersTimeoutMs?: number;
  /**
   * How long the whole request, body included, may take to arrive, from its
   * first byte (ms); then 408 and close. 0 turns it off. Default 300,000
   * (node:http's server.requestTimeout).
   */
  requestTimeoutMs?: number;
}

export interface HttpProtocolFactory extends ProtocolFactory {
  /** Requests answered or refused since the factory was made. */
  readonly requests: number;
}

/**
 * An HTTP protocol for one server. With `handler`, each request is handed
 * to it; without, the built-in hello responder answers, and `metrics` is
 * called for each `GET /metrics` (if it throws, that request gets 500 and
 * its connection closes).
 */
export function httpProtocol(options: HttpOptions = {}): HttpProtocolFactory {
  assertObject('options', options);
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  assertInteger('options.maxHeaderBytes', maxHeaderBytes, 64, 1 << 20);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  assertInteger('options.maxBodyBytes', maxBodyBytes, 0, Number.MAX_SAFE_INTEGER);
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  assertInteger('options.requestTimeoutMs', requestTimeoutMs, 0, 0x7fffffff);
  // As node:http: by default the smaller of a minute and the request timeout.
  const headersTimeoutMs = options.headersTimeoutMs ?? (requestTimeoutMs === 0 ? DEFAULT_HEADERS_TIMEOUT_MS : Math.min(DEFAULT_HEADERS_TIMEOUT_MS, requestTimeoutMs));
  assertInteger('options.headersTimeoutMs', headersTimeoutMs, 0, requestTimeoutMs === 0 ? 0x7fffffff : requestTimeoutMs);
  if (options.metrics !== undefined) assertFunction('options.metrics', options.metrics);
  if (options.handler !== undefined) assertFunction('options.handler', options.handler);
  if (options.upgrade !== undefined) assertFunction('options.upgrade', options.upgrade);
  const shared: Shared = {
    out: new ReplyBuffer(),
    requests: 0,
    handler: options.handler,
    upgrade: options.upgrade,
    maxHeaderBytes,
    maxBodyBytes,
    headersTimeoutMs,
    requestTimeoutMs,
    deadlines: new WeakMap(),
    parsers: [],
    metrics: options.metrics ?? (() => `# TYPE wasmloop_http_requests_total counter\nwasmloop_http_requests_total ${shared.requests}\n`),
  };
  const factory = (() => new HttpConnection(shared)) as ProtocolFactory;
  factory.refuse = () => SERVICE_UNAVAILABLE;
  Object.defineProperty(factory, 'requests', { get: () => shared.requests, enumerable: true });
  return factory as HttpProtocolFactory;
}
