#!/usr/bin/env node
// The wasmloop command. `wasmloop serve` runs a server on the loop until
// SIGINT or SIGTERM, then closes every socket and exits 0.
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';

import { BACKENDS, DEFAULT_MAX_EVENTS, DEFAULT_MAX_FDS, EventLoop } from './event-loop.js';
import { protocols, type ProtocolName } from './protocols/index.js';
import { Server } from './server.js';

const USAGE = `Usage: wasmloop serve [options]

Runs a TCP server on a wasmloop event loop until SIGINT or SIGTERM.

Options:
  --protocol NAME     ${Object.keys(protocols).join(' | ')} (default echo)
  --host ADDRESS      address or name to listen on (default 127.0.0.1)
  --port N            port; 0 picks a free one (default 7000)
  --backend NAME      ${BACKENDS.join(' | ')} (default epoll)
  --trigger MODE      level | edge (default level)
  --max-events N      events per wait, epoll's maxevents (default ${DEFAULT_MAX_EVENTS})
  --max-fds N         highest fd + 1 the loop can watch (default ${DEFAULT_MAX_FDS})
  --backlog N         listen backlog (default 511)
  -h, --help          show this help
  -v, --version       show the version
`;

class UsageError extends Error {}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new UsageError(`--${name} must be a whole number, got '${text}'`);
  return value;
}

function choice(name: string, text: string | undefined, choices: readonly string[], fallback: string): string {
  const value = text ?? fallback;
  if (!choices.includes(value)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${value}'`);
  return value;
}

async function resolveHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  return (await lookup(host)).address;
}

function formatAddress(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      protocol: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      backend: { type: 'string' },
      trigger: { type: 'string' },
      'max-events': { type: 'string' },
      'max-fds': { type: 'string' },
      backlog: { type: 'string' },
    },
    strict: true,
  });
  const protocol = choice('protocol', values.protocol, Object.keys(protocols), 'echo') as ProtocolName;
  const backend = choice('backend', values.backend, BACKENDS, 'epoll') as (typeof BACKENDS)[number];
  const trigger = choice('trigger', values.trigger, ['level', 'edge'], 'level') as 'level' | 'edge';
  const port = integer('port', values.port, 7000);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const maxEvents = integer('max-events', values['max-events'], DEFAULT_MAX_EVENTS);
  const maxFds = integer('max-fds', values['max-fds'], DEFAULT_MAX_FDS);
  const backlog = integer('backlog', values.backlog, 511);
  const host = await resolveHost(values.host ?? '127.0.0.1');

  const loop = new EventLoop({ backend, maxEvents, maxFds });
  const server = new Server(loop, protocols[protocol](), {
    host,
    port,
    backlog,
    trigger,
    onError: (error) => console.error(`wasmloop: accept: ${error.message}`),
  });
  try {
    server.listen();
  } catch (error) {
    loop.close();
    throw error;
  }
  console.log(
    `wasmloop: ${protocol} server listening on ${formatAddress(host, server.port)} ` +
      `(backend ${backend}, ${trigger}-triggered, maxEvents ${maxEvents})`,
  );

  const shutdown = (signal: string): void => {
    console.log(`wasmloop: ${signal}: closing ${server.stats.active} connections`);
    loop.stop();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  try {
    await loop.run();
  } finally {
    server.close();
    loop.close();
  }
  const { accepted } = server.stats;
  console.log(`wasmloop: stopped after serving ${accepted} connections`);
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    console.log(version());
    return 0;
  }
  if (command === 'bench') {
    // The laboratory lives with the benchmarks, loaded only when asked for.
    const lab = (await import('../bench/lab/cli.js')) as { main(argv: string[]): Promise<number> };
    return lab.main(rest);
  }
  if (command !== 'serve') throw new UsageError(`unknown command '${command}'`);
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  return serve(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    console.error(`wasmloop: ${(error as Error).message}`);
    if (usage) console.error(`Run 'wasmloop --help' for usage.`);
    process.exitCode = usage ? 2 : 1;
  },
);
