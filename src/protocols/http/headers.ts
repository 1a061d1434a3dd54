// Request headers as node:http gives them (message.headers): names in lower
// case; a repeated header joined as node:http joins it, from its raw list.
//
//   - set-cookie: always an array;
//   - cookie: values joined with '; ';
//   - the fields below (DISCARD_DUPLICATES): the first one kept;
//   - any other: values joined with ', '.
//
// Built on first use of req.headers, so a handler that never looks at the
// headers never pays for the object.

/** node:http's list (doc/api/http.md, message.headers): a second one of these is dropped. */
const DISCARD_DUPLICATES = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

export type IncomingHeaders = Record<string, string | string[] | undefined>;

/** message.headers from message.rawHeaders ([name, value, name, value, ...]). */
export function joinHeaders(raw: readonly string[]): IncomingHeaders {
  const headers: IncomingHeaders = Object.create(null) as IncomingHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const existing = headers[name];
    if (existing === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (name === 'set-cookie') (existing as string[]).push(value);
    else if (DISCARD_DUPLICATES.has(name)) continue;
    else headers[name] = `${existing as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return headers;
}
