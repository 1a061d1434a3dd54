// A response head's header lines: each name and value checked (as node:http
// checks them), encoded as text, and what the framing needs to know of them
// (Content-Length, Date, Connection, Transfer-Encoding given or not).
//
// A header object that a handler hands to writeHead() again and again (built
// once, as the node:http guides say to write a fast server) is checked and
// encoded once: later responses find its lines by the object, after a check
// that its keys and values are still the same ones (===, in order), and reuse
// the whole encoded head while the status and the lines the response adds
// (Date, framing) are unchanged too. Only objects whose values are strings or
// numbers are kept: an array value could change inside without a sign.
import { Buffer } from 'node:buffer';

export type OutgoingValue = string | number | readonly string[];
export type OutgoingHeaders = Record<string, OutgoingValue | undefined>;

/** RFC 9110 token: a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value may not hold CR, LF or NUL (they would end it, or the head, early). */
const INVALID_VALUE = /[\r\n\0]/;
const CLOSE = /(^|,)\s*close\s*(,|$)/i;
/** Headers in an object past which it is not kept encoded (a header object built once is small). */
const MOST_CACHED_HEADERS = 32;

export function checkHeader(name: string, value: unknown): void {
  if (typeof name !== 'string' || !TOKEN.test(name)) {
    throw Object.assign(new TypeError(`Header name must be a valid HTTP token ["${String(name)}"]`), { code: 'ERR_INVALID_HTTP_TOKEN' });
  }
  if (value === undefined) {
    throw Object.assign(new TypeError(`Invalid value "undefined" for header "${name}"`), { code: 'ERR_HTTP_INVALID_HEADER_VALUE' });
  }
  const values = Array.isArray(value) ? value : [value];
  for (const v of values) {
    if (INVALID_VALUE.test(String(v))) {
      throw Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), { code: 'ERR_INVALID_CHAR' });
    }
  }
}

/** Header lines as text, and the fields the framing looks at. */
export class HeadLines {
  text = '';
  hasLength = false;
  hasDate = false;
  hasConnection = false;
  /** A Connection header that says close. */
  close = false;
  transferEncoding: string | undefined = undefined;

  /** One header: `key` is `name` in lower case. */
  add(key: string, name: string, value: OutgoingValue): void {
    if (Array.isArray(value)) for (const v of value as string[]) this.text += `${name}: ${v}\r\n`;
    else this.text += `${name}: ${String(value)}\r\n`;
    if (key === 'content-length') this.hasLength = true;
    else if (key === 'date') this.hasDate = true;
    else if (key === 'transfer-encoding') this.transferEncoding = String(value);
    else if (key === 'connection') {
      this.hasConnection = true;
      if (CLOSE.test(String(value))) this.close = true;
    }
  }
}

/** A header object's lines, encoded once, and the last whole head made with them. */
export class CachedHeaders extends HeadLines {
  readonly keys: string[] = [];
  readonly values: (string | number)[] = [];
  #status = -1;
  #message = '';
  #tail = '';
  #head: Buffer | undefined;

  /** Whether `headers` still holds the same keys, in the same order, with the same values. */
  matches(headers: OutgoingHeaders): boolean {
    const keys = this.keys;
    const values = this.values;
    let i = 0;
    for (const key in headers) {
      if (i >= keys.length || key !== keys[i] || headers[key] !== values[i]) return false;
      i++;
    }
    return i === keys.length;
  }

  /** The whole head: the status line, these lines, `tail` (the lines the response adds) and the empty line. */
  head(status: number, message: string, tail: string): Buffer {
    if (this.#head === undefined || status !== this.#status || message !== this.#message || tail !== this.#tail) {
      this.#status = status;
      this.#message = message;
      this.#tail = tail;
      this.#head = Buffer.from(`HTTP/1.1 ${status} ${message}\r\n${this.text}${tail}\r\n`, 'latin1');
    }
    return this.#head;
  }
}

const cache = new WeakMap<object, CachedHeaders>();

/**
 * `headers`' lines, checked, from the cache when it still matches; undefined
 * for an object that is not kept (array values, undefined values, a name
 * given twice in different cases, a prototype other than Object's): the
 * caller sets its headers one by one. Throws as setHeader() does.
 */
export function cachedHeaders(headers: OutgoingHeaders): CachedHeaders | undefined {
  const hit = cache.get(headers);
  if (hit !== undefined && hit.matches(headers)) return hit;
  if (hit !== undefined) cache.delete(headers);
  const proto: unknown = Object.getPrototypeOf(headers);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const made = new CachedHeaders();
  const seen = new Set<string>();
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if ((typeof value !== 'string' && typeof value !== 'number') || made.keys.length === MOST_CACHED_HEADERS) return undefined;
    checkHeader(name, value);
    const key = name.toLowerCase();
    if (seen.has(key)) return undefined;
    seen.add(key);
    made.keys.push(name);
    made.values.push(value);
    made.add(key, name, value);
  }
  cache.set(headers, made);
  return made;
}
