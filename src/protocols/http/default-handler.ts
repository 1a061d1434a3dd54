// What `httpProtocol()` answers without a handler (`wasmloop serve
// --protocol http`): a hello-world origin server for load generators.
//
//   GET /         200 "hello" (text/plain)
//   GET /metrics  200 with the text of the `metrics` option
//   HEAD          as GET, without the body
//   other methods on those paths 405; other paths 404
//
// It answers from the request's head, before any body, with replies encoded
// once (no Date header: every reply but /metrics is a constant), and makes
// no request or response object: this is the fast path the benchmarks'
// hello route measures.
import { Buffer } from 'node:buffer';

import { encodeHead, ERROR_REPLIES, Persistence } from './constants.js';
import type { ReplyBuffer } from '../buffers.js';

/** One reply in each persistence mode, with and without its body (HEAD). */
function encodeAll(status: string, body: string, extra = ''): Buffer[] {
  const replies: Buffer[] = [];
  for (const persistence of [Persistence.Default, Persistence.KeepAlive, Persistence.Close]) {
    const head = encodeHead(status, 'text/plain', body.length, persistence, extra);
    replies.push(Buffer.from(head + body, 'latin1'), Buffer.from(head, 'latin1'));
  }
  return replies;
}

const HELLO = encodeAll('200 OK', 'hello');
const NOT_FOUND = encodeAll('404 Not Found', 'not found\n');
const METHOD_NOT_ALLOWED = encodeAll('405 Method Not Allowed', 'method not allowed\n', 'Allow: GET, HEAD\r\n');

function pick(replies: Buffer[], persistence: Persistence, head: boolean): Buffer {
  return replies[persistence * 2 + (head ? 1 : 0)]!;
}

/** The path of a request target: up to its query. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/**
 * Appends the answer to one request to `out`; false when the metrics
 * function failed (then a 500 that closes the connection is appended).
 */
export function answerByDefault(
  out: ReplyBuffer,
  method: string,
  url: string,
  persistence: Persistence,
  metrics: () => string,
): boolean {
  const isHead = method === 'HEAD';
  const isRead = isHead || method === 'GET';
  const path = url.length === 1 ? url : pathOf(url);
  if (path === '/') out.appendConstant(pick(isRead ? HELLO : METHOD_NOT_ALLOWED, persistence, isHead));
  else if (path !== '/metrics') out.appendConstant(pick(NOT_FOUND, persistence, isHead));
  else if (!isRead) out.appendConstant(pick(METHOD_NOT_ALLOWED, persistence, false));
  else {
    let text: string;
    try {
      text = metrics();
      if (typeof text !== 'string') throw new TypeError('metrics() returned no string');
    } catch {
      out.append(ERROR_REPLIES.get(500)!);
      return false;
    }
    const length = Buffer.byteLength(text);
    out.latin1(encodeHead('200 OK', 'text/plain; version=0.0.4', length, persistence));
    if (!isHead) {
      out.reserve(length);
      out.length += out.bytes.write(text, out.length, 'utf8');
    }
  }
  return true;
}
