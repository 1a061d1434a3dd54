// loop.watch() on real fds: a FIFO (a real pipe, made with mkfifo) and
// loopback sockets. Readiness, hang-ups, modify(), one-shot, edge versus
// level, and the refusals that must leave the loop unchanged.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { EventLoop, WasmloopError, sockets, type WatchEvent, type Watcher } from '../src/index.js';
import { rangeErr, throws, typeErr, valueErr } from './helpers/errors.js';
import { closeAll, isOpen, pair } from './helpers/fds.js';
import { mockLoop } from './helpers/mock-loops.js';
import { until, withTimeout } from './helpers/waiting.js';
import { TestLoop } from './test-loop.js';

const { O_RDWR, O_RDONLY, O_WRONLY, O_NONBLOCK } = fsConstants;

const dir = mkdtempSync(join(tmpdir(), 'wasmloop-watch-'));
let fifos = 0;

/** A fresh FIFO's path. */
function fifo(): string {
  const path = join(dir, `fifo-${fifos++}`);
  execFileSync('mkfifo', [path]);
  return path;
}

/** Both ends of a pipe in one non-blocking fd: it is readable once written to. */
function pipeFd(): number {
  return openSync(fifo(), O_RDWR | O_NONBLOCK);
}

/** Separate read and write ends, so closing the writer hangs the reader up. */
function pipeEnds(): { reader: number; writer: number } {
  const path = fifo();
  const reader = openSync(path, O_RDONLY | O_NONBLOCK);
  return { reader, writer: openSync(path, O_WRONLY | O_NONBLOCK) };
}

function closeFds(...fds: number[]): void {
  for (const fd of fds) if (isOpen(fd)) closeSync(fd);
}

/** Reads what the pipe holds now. */
function drainPipe(fd: number): number {
  const buffer = Buffer.alloc(65536);
  let total = 0;
  for (;;) {
    try {
      const n = readSync(fd, buffer);
      if (n === 0) return total;
      total += n;
    } catch (error) {
      if ((error as { code?: string }).code === 'EAGAIN') return total;
      throw error;
    }
  }
}

/** Turns the loop `times` times without blocking; returns the events seen, in order. */
function turn(loop: EventLoop, times: number, seen: WatchEvent[] = []): WatchEvent[] {
  for (let i = 0; i < times; i++) loop.runOnce(0);
  return seen;
}

test('a pipe with data is readable; drained, it is quiet', () => {
  const loop = new TestLoop();
  const fd = pipeFd();
  try {
    const seen: WatchEvent[] = [];
    const handed: Watcher[] = [];
    const watcher = loop.watch(fd, { readable: true, label: 'pipe' }, (event, w) => {
      handed.push(w);
      seen.push(event);
    });
    assert.is(loop.runOnce(0), 0);
    writeSync(fd, 'hello');
    assert.is(loop.runOnce(1000), 1);
    assert.equal(seen, ['readable']);
    assert.is(handed[0], watcher, 'the handler was not handed its watcher');
    assert.is(drainPipe(fd), 5);
    assert.is(loop.runOnce(0), 0);
    assert.equal(seen, ['readable']);
  } finally {
    loop.close();
    closeFds(fd);
  }
});

test('an empty pipe is writable', () => {
  const loop = new TestLoop();
  const fd = pipeFd();
  try {
    const seen: WatchEvent[] = [];
    loop.watch(fd, { writable: true }, (event) => seen.push(event));
    assert.is(loop.runOnce(1000), 1);
    assert.equal(seen, ['writable']);
  } finally {
    loop.close();
    closeFds(fd);
  }
});

test("a socket's half-close (RDHUP) is a 'hangup' only with hangup: true, and the watcher stays active", () => {
  for (const hangup of [false, true]) {
    const loop = new TestLoop();
    const { peer, local } = pair();
    try {
      const seen: WatchEvent[] = [];
      const watcher = loop.watch(local, { readable: true, hangup }, (event) => seen.push(event));
      sockets.shutdown(peer, 'write');
      assert.is(loop.runOnce(1000), 1);
      assert.equal(seen, hangup ? ['readable', 'hangup'] : ['readable'], `hangup: ${hangup}`);
      assert.ok(watcher.active, 'a half-close stopped the watcher');
      // The socket can still send.
      assert.is(sockets.write(local, Buffer.from('x')), 1);
    } finally {
      loop.close();
      closeAll(peer, local);
    }
  }
});

test('a full hang-up stops the watcher without closing the fd', () => {
  const loop = new TestLoop();
  const { reader, writer } = pipeEnds();
  try {
    const seen: WatchEvent[] = [];
    const watcher = loop.watch(reader, { readable: true }, (event) => seen.push(event));
    writeSync(writer, 'bye');
    closeSync(writer);
    assert.is(loop.runOnce(1000), 1);
    // Data sent before the hang-up comes first.
    assert.equal(seen, ['readable', 'hangup']);
    assert.is(watcher.active, false);
    assert.is(loop.isRegistered(reader), false);
    assert.is(loop.size, 0);
    assert.ok(isOpen(reader), 'the loop closed a watched fd');
    assert.is(drainPipe(reader), 3);
    assert.is(loop.runOnce(0), 0, 'the hung-up fd is still watched');
  } finally {
    loop.close();
    closeFds(reader, writer);
  }
});

test('modify() changes the interest; what it leaves out stays', () => {
  const loop = new TestLoop();
  const fd = pipeFd();
  try {
    const seen: WatchEvent[] = [];
    const watcher = loop.watch(fd, { readable: true }, (event) => seen.push(event));
    assert.equal(turn(loop, 2, seen), []);
    watcher.modify({ writable: true });
    assert.equal(turn(loop, 1, seen), ['writable']);
    writeSync(fd, 'x');
    // Still readable: the modify left it on.
    assert.equal(turn(loop, 1, seen), ['writable', 'writable', 'readable']);
    watcher.modify({ writable: false, readable: false });
    assert.equal(turn(loop, 2, seen).length, 3);
  } finally {
    loop.close();
    closeFds(fd);
  }
});

test('one-shot fires once until modify() re-arms it with the same interest', () => {
  const loop = new TestLoop();
  const fd = pipeFd();
  try {
    let calls = 0;
    const watcher = loop.watch(fd, { readable: true, oneshot: true }, () => calls++);
    writeSync(fd, 'x'); // never drained: level-triggered, it would repeat
    turn(loop, 3);
    assert.is(calls, 1);
    watcher.modify({});
    turn(loop, 3);
    assert.is(calls, 2, 'modify({}) did not re-arm the one-shot watcher');
    watcher.modify({ readable: true });
    turn(loop, 3);
    assert.is(calls, 3, 'modify({ readable: true }) did not re-arm the one-shot watcher');
  } finally {
    loop.close();
    closeFds(fd);
  }
});

test('edge-triggered fires once per edge; level-triggered repeats until drained', () => {
  for (const trigger of ['edge', 'level'] as const) {
    const loop = new TestLoop();
    const fd = pipeFd();
    try {
      let calls = 0;
      loop.watch(fd, { readable: true, trigger }, () => calls++);
      writeSync(fd, 'a');
      turn(loop, 3);
      assert.is(calls, trigger === 'edge' ? 1 : 3, trigger);
      writeSync(fd, 'b'); // a new edge
      turn(loop, 3);
      assert.is(calls, trigger === 'edge' ? 2 : 6, trigger);
      drainPipe(fd);
      turn(loop, 3);
      assert.is(calls, trigger === 'edge' ? 2 : 6, `${trigger}: readiness after draining`);
    } finally {
      loop.close();
      closeFds(fd);
    }
  }
});

test('watching an fd twice is EEXIST, and the first watcher goes on', () => {
  const loop = new TestLoop();
  const fd = pipeFd();
  try {
    let calls = 0;
    const first = loop.watch(fd, { writable: true }, () => calls++);
    throws(() => loop.watch(fd, { readable: true }, () => {}), { type: Error, code: 'EEXIST', syscall: 'epoll_ctl' });
    assert.is(loop.size, 1);
    assert.ok(first.active);
    loop.runOnce(1000);
    assert.is(calls, 1);
  } finally {
    loop.close();
    closeFds(fd);
  }
});

test('watching a closed fd is EBADF and a regular file EPERM; nothing is registered', () => {
  const loop = new TestLoop();
  const file = join(dir, 'regular');
  writeFileSync(file, 'data');
  const fileFd = openSync(file, O_RDONLY);
  // Closed after the file is open, so the file cannot take its number.
  const closed = pipeFd();
  closeSync(closed);
  try {
    throws(() => loop.watch(closed, { readable: true }, () => {}), { type: Error, code: 'EBADF', syscall: 'epoll_ctl' });
    assert.is(loop.size, 0);
    assert.is(loop.isRegistered(closed), false);
    throws(() => loop.watch(fileFd, { readable: true }, () => {}), { type: Error, code: 'EPERM', syscall: 'epoll_ctl' });
    assert.is(loop.size, 0);
    assert.is(loop.isRegistered(fileFd), false);
    assert.ok(isOpen(fileFd));
  } finally {
    loop.close();
    closeFds(fileFd);
  }
});

test('watcher.close() twice is fine; the fd stays open and can be watched again', () => {
  const loop = new TestLoop();
  const fd = pipeFd();
  try {
    const watcher = loop.watch(fd, { writable: true }, () => {});
    watcher.close();
    watcher.close();
    assert.is(watcher.active, false);
    assert.is(loop.size, 0);
    assert.ok(isOpen(fd));
    throws(() => watcher.modify({ readable: true }), { type: WasmloopError, code: 'ERR_WATCHER_CLOSED' });
    let calls = 0;
    loop.watch(fd, { writable: true }, () => calls++);
    loop.runOnce(1000);
    assert.is(calls, 1);
  } finally {
    loop.close();
    closeFds(fd);
  }
});

test('loop.close() leaves a watched fd open and its watcher inactive', () => {
  const loop = new TestLoop();
  const fd = pipeFd();
  try {
    const watcher = loop.watch(fd, { readable: true }, () => {});
    loop.close();
    assert.is(watcher.active, false);
    assert.ok(isOpen(fd), 'loop.close() closed a watched fd');
    watcher.close();
  } finally {
    closeFds(fd);
  }
});

test('edge trigger on a level-only backend is ERR_EDGE_UNSUPPORTED; nothing is registered', () => {
  const { loop, mock } = mockLoop({}, { levelOnly: true });
  try {
    throws(() => loop.watch(10, { readable: true, trigger: 'edge' }, () => {}), { type: WasmloopError, code: 'ERR_EDGE_UNSUPPORTED' });
    assert.is(loop.size, 0);
    assert.equal(mock.registrations(), []);
    assert.ok(loop.watch(10, { readable: true, trigger: 'level' }, () => {}).active);
  } finally {
    loop.close();
  }
});

test('bad arguments throw TypeError or RangeError before anything changes', () => {
  const { loop, mock } = mockLoop({ maxFds: 64 });
  const handler = (): void => {};
  try {
    const bad = (call: () => unknown, expected: typeof typeErr): void => {
      throws(call, expected);
      assert.is(loop.size, 0);
      assert.equal(mock.registrations(), []);
    };
    bad(() => loop.watch(-1, {}, handler), rangeErr);
    bad(() => loop.watch(1.5, {}, handler), rangeErr);
    bad(() => loop.watch(64, {}, handler), rangeErr);
    bad(() => loop.watch('3' as never, {}, handler), typeErr);
    bad(() => loop.watch(3, null as never, handler), typeErr);
    bad(() => loop.watch(3, {}, 'handler' as never), typeErr);
    bad(() => loop.watch(3, { readable: 1 as never }, handler), typeErr);
    bad(() => loop.watch(3, { writable: 'yes' as never }, handler), typeErr);
    bad(() => loop.watch(3, { hangup: 0 as never }, handler), typeErr);
    bad(() => loop.watch(3, { oneshot: 1 as never }, handler), typeErr);
    bad(() => loop.watch(3, { trigger: 'rising' as never }, handler), valueErr);
    bad(() => loop.watch(3, { priority: 4 }, handler), rangeErr);
    bad(() => loop.watch(3, { priority: -1 }, handler), rangeErr);
    bad(() => loop.watch(3, { label: 5 as never }, handler), typeErr);
    const watcher = loop.watch(3, { readable: true }, handler);
    const mask = mock.registrations()[0]!.mask;
    throws(() => watcher.modify(null as never), typeErr);
    throws(() => watcher.modify({ writable: 1 as never }), typeErr);
    throws(() => watcher.modify({ priority: 9 }), rangeErr);
    assert.is(mock.registrations()[0]!.mask, mask);
    assert.ok(watcher.active);
  } finally {
    loop.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('stdin: a process watches its own fd 0 (a pipe from its parent), reads what is written, and sees the end', async () => {
  const child = spawn(process.execPath, [new URL('./fixtures/watch-stdin.js', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (text: string) => (out += text));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await until(() => out.includes('watching'), 'the child to watch its stdin');
  child.stdin.write('hello');
  await until(() => out.includes('read hello'), 'the child to read from its stdin');
  child.stdin.end();
  assert.is(await withTimeout(exited, 'the child to see its stdin end'), 0);
  assert.match(out, /read hello\n(eof|hangup)\n/);
});

test.run();
