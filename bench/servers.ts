// Every server the suite measures, as a command line: wasmloop's own (and a
// baseline checkout's, for a before/after run), the Node peers in
// bench/peers/, the C epoll ceiling, and redis-server and nginx when they
// are installed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

import { here, type ServerSpec, type Unavailable } from './harness.js';
import { BASELINE_NAME, type Baseline } from './options.js';

type Protocol = 'echo' | 'resp' | 'http';

/** Fds enough for 10,000 connections plus the process's own. */
export const MANY_FDS = 16_384;

const C_PEER = here('../bench-peers/c-epoll-echo');

const installed = (command: string): boolean => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

function wasmloopAt(name: string, cli: string, protocol: Protocol, extraArgs: string[]): ServerSpec {
  return {
    name,
    announces: true,
    nofile: MANY_FDS,
    command: () => ({
      file: process.execPath,
      args: [cli, 'serve', '--protocol', protocol, '--host', '127.0.0.1', '--port', '0', ...extraArgs],
    }),
  };
}

export function wasmloop(protocol: Protocol, extraArgs: string[] = []): ServerSpec {
  return wasmloopAt('wasmloop', here('../src/serve/cli.js'), protocol, extraArgs);
}

/** wasmloop and, when the run has a baseline, the baseline checkout's server beside it. */
export function wasmloops(protocol: Protocol, baseline: Baseline | null, extraArgs: string[] = []): ServerSpec[] {
  const ours = wasmloop(protocol, extraArgs);
  return baseline ? [ours, wasmloopAt(BASELINE_NAME, baseline.cli, protocol, extraArgs)] : [ours];
}

/** A peer written on node:net or node:http, from bench/peers/. */
export function nodePeer(name: string, script: string, extraArgs: string[] = []): ServerSpec {
  return {
    name,
    announces: true,
    nofile: MANY_FDS,
    command: () => ({ file: process.execPath, args: [here(`./peers/${script}`), ...extraArgs] }),
  };
}

/** Builds the C peer (scripts/build-bench-peers.mjs); the reason it is missing, or null once it exists. */
export function buildCPeer(): string | null {
  const result = spawnSync(process.execPath, [here('../../scripts/build-bench-peers.mjs')], { encoding: 'utf8', timeout: 60_000 });
  if (result.status === 0 && existsSync(C_PEER)) return null;
  return `build failed: ${(result.stderr || result.error?.message || '').trim().split('\n').pop()}`;
}

export function cEpoll(mode: Protocol, missing: string | null): ServerSpec | Unavailable {
  const name = 'C epoll';
  if (missing) return { name, unavailable: missing };
  return {
    name,
    announces: true,
    nofile: MANY_FDS,
    command: () => ({ file: C_PEER, args: ['--host', '127.0.0.1', '--port', '0', '--mode', mode] }),
  };
}

export function redisServer(): ServerSpec | Unavailable {
  const name = 'redis-server';
  if (!installed('redis-server')) return { name, unavailable: 'not installed' };
  return {
    name,
    announces: false,
    nofile: MANY_FDS,
    // No persistence: an RDB save or AOF fsync in the middle of a trial would measure the disk.
    // maxclients above its default 10,000 (the idle scenario holds 10,000 clients beside
    // the harness's own probe) and the listen backlog at the kernel's cap, as every other
    // server gets in that scenario (its default 511 drops SYNs in a burst of connects).
    command: (port) => ({
      file: 'redis-server',
      args: [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', ''],
        ...['--maxclients', String(MANY_FDS - 64), '--tcp-backlog', '4096'],
      ],
    }),
  };
}

export function nginx(): ServerSpec | Unavailable {
  const name = 'nginx';
  if (!installed('nginx')) return { name, unavailable: 'not installed' };
  return {
    name,
    announces: false,
    nofile: MANY_FDS,
    // bench/peers/nginx.conf names its port NGINX_PORT; each trial gets its
    // own prefix directory holding the filled-in copy, the pid file and the
    // temp paths, so nothing is written outside it.
    command: (port) => {
      const prefix = mkdtempSync(`${tmpdir()}/wasmloop-nginx-`);
      const template = readFileSync(here('../../bench/peers/nginx.conf'), 'utf8');
      writeFileSync(`${prefix}/nginx.conf`, template.replaceAll('NGINX_PORT', String(port)));
      return {
        file: 'nginx',
        args: ['-p', prefix, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'],
        cleanup: () => rmSync(prefix, { recursive: true, force: true }),
      };
    },
  };
}
