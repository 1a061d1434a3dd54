#!/usr/bin/env -S node --max-semi-space-size=1
// The wasmloop command. `wasmloop serve` runs a server on the loop (see
// serve.ts) until SIGINT or SIGTERM, stops gracefully and exits 0.
// `wasmloop bench` runs the benchmark laboratory when it is there.
//
// The bin (and `npm start`) starts Node with 1 MiB semi-spaces, so one loop
// serves on the main thread with its young generation already fixed, and no
// worker's 11 MiB is paid for it (young-generation.ts says why it matters);
// `node cli.js` without the flag serves from a worker to the same effect.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { BACKEND_NAMES as BACKENDS } from '../kernel/backend.js';
import { DEFAULT_MAX_EVENTS, DEFAULT_MAX_FDS } from '../loop/options.js';
import { protocols, type ProtocolName } from '../protocols/index.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_MAX_HEADER_BYTES, DEFAULT_REQUEST_TIMEOUT_MS } from '../protocols/http.js';
import { DEFAULT_MAX_BULK_LENGTH, DEFAULT_MAX_KEY_LENGTH, DEFAULT_MAX_MEMORY, DEFAULT_MAX_REQUEST_BYTES, MAX_KEY_LENGTH, MAX_REQUEST_BYTES } from '../protocols/resp.js';
import { serve as runServe, type ServeConfig } from './serve.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_MS, RESERVED_FDS, defaultMaxConnections } from '../net/server.js';
import { resolveHost } from '../net/listener.js';
import { assertUnixPath, UNIX_PATH_MAX } from '../net/sockets.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { YOUNG_GENERATION_MODES, type YoungGeneration } from './young-generation.js';

const USAGE = `Usage: wasmloop serve [options]

Runs a TCP or Unix socket server on wasmloop event loops until SIGINT or SIGTERM. The first
signal stops accepting and lets queued output drain for --shutdown-ms; a
second closes everything at once. On a terminal a status line is redrawn
every 2 s: connections, requests/s, events per wait p50/p99, loop utilization.

Options:
  --protocol NAME        ${Object.keys(protocols).join(' | ')} (default echo)
  --host ADDRESS         address or name to listen on (default 127.0.0.1)
  --port N               port; 0 picks a free one (default 7000)
  --path PATH            listen on a Unix domain socket instead of --host and
                         --port (at most ${UNIX_PATH_MAX} bytes); the path must not exist,
                         and the socket file is removed on stop; one thread only
  --workers N            worker threads, each with its own loop, sharing the
                         port with SO_REUSEPORT; 1 serves on the main thread
                         (default 1)
  --backend NAME         ${BACKENDS.join(' | ')} (default epoll)
  --trigger MODE         level | edge (default level)
  --max-events N         events per wait, epoll's maxevents (default ${DEFAULT_MAX_EVENTS})
  --max-fds N            highest fd + 1 the loop can watch (default ${DEFAULT_MAX_FDS})
  --backlog N            listen backlog (default 511)
  --idle-timeout-ms N    close connections silent this long; 0 never (default ${DEFAULT_IDLE_TIMEOUT_MS})
  --max-connections N    connections served at once, per worker; the next
                         client is told (RESP -ERR, HTTP 503) and closed
                         (default ${DEFAULT_MAX_CONNECTIONS}, or RLIMIT_NOFILE - ${RESERVED_FDS} if lower)
  --shutdown-ms N        on SIGINT/SIGTERM, how long queued output may drain (default ${DEFAULT_SHUTDOWN_MS})
  --fd-exhaustion MODE   pause | shed: out of fds, pause accepting or accept
                         and close at once (default pause)
  --young-generation M   fixed | grow: V8's young generation in each serving
                         thread stays at 1 MiB semi-spaces, or grows as V8
                         likes (up to 16 MiB) and stays grown after a burst
                         of accepts (default fixed)
  --log-level LEVEL      debug | info | warn | error | silent: what the loop
                         and server log to stderr (default warn)
  -h, --help             show this help
  -v, --version          show the version

Input bounds (over one: the protocol's error, then the connection closes):
  --max-request-bytes N  resp: bytes one unfinished request may hold
                         (default ${DEFAULT_MAX_REQUEST_BYTES}, 64 MiB)
  --max-bulk-length N    resp: longest bulk string, at most
                         --max-request-bytes (default ${DEFAULT_MAX_BULK_LENGTH}, 32 MiB)
  --max-key-length N     resp: longest key (default ${DEFAULT_MAX_KEY_LENGTH})
  --max-memory N         resp: bytes each worker's store may hold; past it
                         writes get -OOM, reads go on (default ${DEFAULT_MAX_MEMORY},
                         1 GiB; 0 no limit)
  --max-header-bytes N   http: longest header section, 431 past it
                         (default ${DEFAULT_MAX_HEADER_BYTES})
  --headers-timeout-ms N http: the header section must arrive within this
                         of the request's first byte, else 408; 0 never
                         (default ${DEFAULT_HEADERS_TIMEOUT_MS})
  --request-timeout-ms N http: the whole request, body included, within
                         this, else 408; 0 never (default ${DEFAULT_REQUEST_TIMEOUT_MS})
`;

/** More worker threads than this would only contend for the cores. */
const MAX_WORKERS = 256;

class UsageError extends Error {}

function integer(name: string, text: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER, min = 0): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new UsageError(`--${name} must be a whole number, got '${text}'`);
  if (value > max) throw new UsageError(`--${name} must be at most ${max}, got ${value}`);
  if (value < min) throw new UsageError(`--${name} must be at least ${min}, got ${value}`);
  return value;
}

/** A flag with no fallback here: left out, the protocol's own default applies. */
function optionalInteger(name: string, text: string | undefined, max: number, min = 0): number | undefined {
  return text === undefined ? undefined : integer(name, text, 0, max, min);
}

function choice(name: string, text: string | undefined, choices: readonly string[], fallback: string): string {
  const value = text ?? fallback;
  if (!choices.includes(value)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${value}'`);
  return value;
}

/** The Unix socket path of --path, refused here with the usage line when Server would refuse it. */
function unixPath(values: { path?: string; host?: string; port?: string; workers?: string }): string | undefined {
  const path = values.path;
  if (path === undefined) return undefined;
  if (values.host !== undefined || values.port !== undefined) throw new UsageError('--path excludes --host and --port: the server listens on one address');
  // SO_REUSEPORT, which lets each worker own a listener on one port, has no Unix socket counterpart.
  if (values.workers !== undefined && values.workers !== '1') throw new UsageError('--path serves on one thread: --workers must be 1 (workers share a TCP port with SO_REUSEPORT)');
  try {
    assertUnixPath(path);
  } catch (error) {
    throw new UsageError(`--path: ${(error as Error).message}`);
  }
  return path;
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      protocol: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      path: { type: 'string' },
      workers: { type: 'string' },
      backend: { type: 'string' },
      trigger: { type: 'string' },
      'max-events': { type: 'string' },
      'max-fds': { type: 'string' },
      backlog: { type: 'string' },
      'idle-timeout-ms': { type: 'string' },
      'max-connections': { type: 'string' },
      'shutdown-ms': { type: 'string' },
      'fd-exhaustion': { type: 'string' },
      'log-level': { type: 'string' },
      'young-generation': { type: 'string' },
      'max-request-bytes': { type: 'string' },
      'max-bulk-length': { type: 'string' },
      'max-key-length': { type: 'string' },
      'max-memory': { type: 'string' },
      'max-header-bytes': { type: 'string' },
      'headers-timeout-ms': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
    },
    strict: true,
  });
  const path = unixPath(values);
  const config: ServeConfig = {
    protocol: choice('protocol', values.protocol, Object.keys(protocols), 'echo') as ProtocolName,
    backend: choice('backend', values.backend, BACKENDS, 'epoll') as (typeof BACKENDS)[number],
    trigger: choice('trigger', values.trigger, ['level', 'edge'], 'level') as 'level' | 'edge',
    port: integer('port', values.port, 7000, 65535),
    workers: integer('workers', values.workers, 1, MAX_WORKERS, 1),
    maxEvents: integer('max-events', values['max-events'], DEFAULT_MAX_EVENTS),
    maxFds: integer('max-fds', values['max-fds'], DEFAULT_MAX_FDS),
    backlog: integer('backlog', values.backlog, 511),
    idleTimeoutMs: integer('idle-timeout-ms', values['idle-timeout-ms'], DEFAULT_IDLE_TIMEOUT_MS, 0x7fffffff),
    maxConnections: integer('max-connections', values['max-connections'], defaultMaxConnections(), 0x7fffffff, 1),
    shutdownMs: integer('shutdown-ms', values['shutdown-ms'], DEFAULT_SHUTDOWN_MS, 0x7fffffff),
    fdExhaustion: choice('fd-exhaustion', values['fd-exhaustion'], ['pause', 'shed'], 'pause') as 'pause' | 'shed',
    logLevel: choice('log-level', values['log-level'], LOG_LEVELS, 'warn') as LogLevel,
    youngGeneration: choice('young-generation', values['young-generation'], YOUNG_GENERATION_MODES, 'fixed') as YoungGeneration,
    host: path === undefined ? await resolveHost(values.host ?? '127.0.0.1') : '',
    path,
    maxRequestBytes: optionalInteger('max-request-bytes', values['max-request-bytes'], MAX_REQUEST_BYTES, 1),
    maxBulkLength: optionalInteger('max-bulk-length', values['max-bulk-length'], MAX_REQUEST_BYTES),
    maxKeyLength: optionalInteger('max-key-length', values['max-key-length'], MAX_KEY_LENGTH),
    maxMemory: optionalInteger('max-memory', values['max-memory'], Number.MAX_SAFE_INTEGER),
    maxHeaderBytes: optionalInteger('max-header-bytes', values['max-header-bytes'], 1 << 20, 64),
    headersTimeoutMs: optionalInteger('headers-timeout-ms', values['headers-timeout-ms'], 0x7fffffff),
    requestTimeoutMs: optionalInteger('request-timeout-ms', values['request-timeout-ms'], 0x7fffffff),
  };
  const requestBytes = config.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  if (config.maxBulkLength !== undefined && config.maxBulkLength > requestBytes) {
    throw new UsageError(`--max-bulk-length must be at most --max-request-bytes (${requestBytes}), got ${config.maxBulkLength}`);
  }
  const requestMs = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (config.headersTimeoutMs !== undefined && requestMs > 0 && config.headersTimeoutMs > requestMs) {
    throw new UsageError(`--headers-timeout-ms must be at most --request-timeout-ms (${requestMs}), got ${config.headersTimeoutMs}`);
  }
  return runServe(config);
}

/**
 * The laboratory lives with the benchmarks, which depend on the library and
 * not the other way round: a checkout has it, an installed package need not.
 */
const LAB = fileURLToPath(new URL('../../bench/lab/cli.js', import.meta.url));

function bench(args: string[]): Promise<number> {
  if (!existsSync(LAB)) {
    console.error(`wasmloop bench: the benchmark laboratory is not part of this installation (no ${LAB});`);
    console.error('from a checkout of wasmloop, after npm install: npm run lab -- --help');
    return Promise.resolve(1);
  }
  // Ctrl-C reaches the lab from the terminal itself (one process group), so
  // this process only waits; a SIGTERM sent to it alone is passed on. Both
  // handlers are installed before the lab exists: a SIGINT sent as soon as
  // the lab is seen must not find SIGINT's default action (death) still in
  // place. They run from the event loop, so after `lab` is assigned.
  const wait = (): void => {};
  const pass = (): void => void lab.kill('SIGTERM');
  process.on('SIGINT', wait);
  process.on('SIGTERM', pass);
  const lab = spawn(process.execPath, [LAB, ...args], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    lab.once('error', reject);
    lab.once('exit', (code, signal) => {
      process.off('SIGINT', wait);
      process.off('SIGTERM', pass);
      resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
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
  if (command === 'bench') return bench(rest);
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
