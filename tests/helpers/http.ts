// HTTP handler tests' means: a server for a handler on a loop in this process,
// node:http as the client, and a raw socket for bytes a client library would
// not send (pipelining, Expect without waiting, smuggling).
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

import { httpProtocol, type HttpOptions } from '../../src/protocols/http.js';
import type { EventLoopOptions } from '../../src/index.js';
import type { Server, ServerOptions } from '../../src/net/server.js';
import { HOST } from './fds.js';
import { withServer } from './servers.js';
import { connected, until, withTimeout } from './waiting.js';

export { HOST };

/** Runs a server for `options` (a handler, limits) while `body` drives clients. */
export function withHttp(
  options: HttpOptions,
  what: string,
  body: (port: number, server: Server) => Promise<void>,
  serverOptions: ServerOptions = {},
  loopOptions: EventLoopOptions = {},
): Promise<void> {
  return withServer(httpProtocol(options), serverOptions, what, (server, port) => body(port, server), loopOptions);
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request through node:http (no agent: a connection of its own). */
export function fetchReply(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string | string[]>; body?: Buffer | string | (Buffer | string)[] } = {},
): Promise<Reply> {
  const { method = 'GET', path = '/', headers = {}, body } = options;
  return withTimeout(
    new Promise<Reply>((resolve, reject) => {
      const req = httpRequest({ host: HOST, port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (Array.isArray(body)) for (const piece of body) req.write(piece);
      else if (body !== undefined) req.write(body);
      req.end();
    }),
    `${method} ${path}`,
  );
}

/** A raw client: what it received, as text, and whether the server ended or closed it. */
export interface RawSession {
  socket: Socket;
  text(): string;
  ended(): boolean;
  /** Waits until `predicate` holds for the text received (or the connection ends, if `orEnd`). */
  until(predicate: (text: string) => boolean, what: string): Promise<void>;
  close(): void;
}

export async function rawSession(port: number): Promise<RawSession> {
  const socket = await connected(HOST, port);
  let received = '';
  let ended = false;
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('end', () => (ended = true));
  socket.on('close', () => (ended = true));
  socket.on('error', () => (ended = true));
  return {
    socket,
    text: () => received,
    ended: () => ended,
    until: (predicate, what) => withTimeout(until(() => predicate(received) || ended, () => `${what}; got ${JSON.stringify(received.slice(0, 400))}`), what),
    close: () => socket.destroy(),
  };
}

/** Status codes in the order they appear in a raw response stream. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** Reads a request's whole body with for await. */
export async function readBody(req: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}
