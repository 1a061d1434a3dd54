// The three backends through the addon directly: the same readiness, the same
// record bytes, the same answers to misuse, whichever kernel interface waits.
// select alone differs where its interface has no room: a hang-up shows as
// readable (the read returns 0), and fds >= FD_SETSIZE are refused.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLRDHUP } from '../src/core/abi.js';
import { native } from '../src/kernel/native.js';
import { sockets } from '../src/index.js';
import { closeAll, HOST, pair } from './helpers/fds.js';
import { runnableMs } from './helpers/timing.js';

const { EAGAIN, EBADF, EEXIST, EINVAL, ENOENT, ENOTSUP, EPERM, ERANGE, ECONNREFUSED } = osConstants.errno;

const BACKENDS = ['epoll', 'poll', 'select'] as const;
type BackendName = (typeof BACKENDS)[number];

interface Fired {
  fd: number;
  generation: number;
  events: number;
}

/** A backend writing into a buffer of its own, the way the loop hands it the wasm memory. */
class Backend {
  readonly id: number;
  readonly memory: ArrayBuffer;
  readonly view: DataView;

  constructor(readonly name: BackendName, readonly maxEvents = 64) {
    this.memory = new ArrayBuffer(maxEvents * native.EVENT_SIZE);
    this.view = new DataView(this.memory);
    this.id = native.backendCreate(name, this.memory, 0, maxEvents);
    assert.ok(this.id >= 0, `backendCreate(${name}) = ${this.id}`);
  }

  add(fd: number, events: number, generation = 1): number {
    return native.backendAdd(this.id, fd, events >>> 0, generation);
  }

  modify(fd: number, events: number, generation = 1): number {
    return native.backendModify(this.id, fd, events >>> 0, generation);
  }

  remove(fd: number): number {
    return native.backendRemove(this.id, fd);
  }

  /** One wait; the records it wrote, parsed. */
  wait(timeoutMs: number): Fired[] {
    const count = native.backendWait(this.id, timeoutMs);
    assert.ok(count >= 0, `backendWait(${this.name}) = ${count}`);
    const fired: Fired[] = [];
    for (let i = 0; i < count; i++) {
      const at = i * native.EVENT_SIZE;
      const data = at + native.EVENT_DATA_OFFSET;
      fired.push({
        events: this.view.getUint32(at, true),
        fd: this.view.getUint32(data, true),
        generation: this.view.getUint32(data + 4, true),
      });
    }
    return fired;
  }

  /** The first `count` records as raw bytes. */
  bytes(count: number): number[] {
    return [...new Uint8Array(this.memory, 0, count * native.EVENT_SIZE)];
  }

  free(): void {
    assert.is(native.backendFree(this.id), 0);
  }
}

/** Runs `body` with a fresh backend and frees it afterwards. */
function withBackend(name: BackendName, body: (b: Backend) => void, maxEvents?: number): void {
  const backend = new Backend(name, maxEvents);
  try {
    body(backend);
  } finally {
    backend.free();
  }
}

function newPipe(): [number, number] {
  const fds = native.pipe();
  assert.ok(Array.isArray(fds), `pipe() = ${String(fds)}`);
  return fds as [number, number];
}

function newEventfd(initial = 0): number {
  const fd = native.eventfd(initial);
  assert.ok(fd >= 0, `eventfd() = ${fd}`);
  return fd;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function writeText(fd: number, text: string): void {
  const data = bytes(text);
  assert.is(native.write(fd, data, 0, data.length), data.length);
}

function readCount(fd: number): number {
  return native.read(fd, new Uint8Array(65536), 0, 65536);
}

/** Fires for fd, at most one record: its events (0 when it did not fire). */
function eventsOf(fired: Fired[], fd: number): number {
  const mine = fired.filter((f) => f.fd === fd);
  assert.ok(mine.length <= 1, `fd ${fd} reported ${mine.length} times in one wait`);
  return mine[0]?.events ?? 0;
}

/** The hang-up bit a backend can report: select has none, only "readable". */
const hangupBit = (name: BackendName): number => (name === 'select' ? EPOLLIN : EPOLLHUP);

for (const name of BACKENDS) {
  test(`${name}: a pipe turns readable when written, and idle again when drained`, () => {
    const [readFd, writeFd] = newPipe();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(readFd, EPOLLIN, 7), 0);
        assert.equal(b.wait(0), []);
        writeText(writeFd, 'hi');
        assert.equal(b.wait(1000), [{ fd: readFd, generation: 7, events: EPOLLIN }]);
        // Level-triggered: still readable until read.
        assert.equal(b.wait(0), [{ fd: readFd, generation: 7, events: EPOLLIN }]);
        assert.is(readCount(readFd), 2);
        assert.equal(b.wait(0), []);
      });
    } finally {
      closeAll(readFd, writeFd);
    }
  });

  test(`${name}: an eventfd turns readable when its counter is written`, () => {
    const fd = newEventfd();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(fd, EPOLLIN), 0);
        assert.equal(b.wait(0), []);
        assert.is(native.eventfdWrite(fd, 5), 0);
        assert.is(eventsOf(b.wait(1000), fd), EPOLLIN);
        assert.is(native.eventfdRead(fd), 5);
        assert.equal(b.wait(0), []);
      });
    } finally {
      closeAll(fd);
    }
  });

  test(`${name}: a connected socket is writable at once and readable when the peer writes`, () => {
    const { peer, local } = pair();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(local, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 3), 0);
        assert.equal(b.wait(1000), [{ fd: local, generation: 3, events: EPOLLOUT }]);
        assert.is(b.modify(local, EPOLLIN | EPOLLRDHUP, 4), 0);
        assert.equal(b.wait(0), []);
        writeText(peer, 'ping');
        assert.equal(b.wait(1000), [{ fd: local, generation: 4, events: EPOLLIN }]);
      });
    } finally {
      closeAll(peer, local);
    }
  });

  test(`${name}: a full pipe is not writable until the reader drains it`, () => {
    const [readFd, writeFd] = newPipe();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(writeFd, EPOLLOUT), 0);
        assert.is(eventsOf(b.wait(0), writeFd), EPOLLOUT);
        const chunk = new Uint8Array(65536);
        for (let i = 0; i < 64 && native.write(writeFd, chunk, 0, chunk.length) > 0; i++);
        assert.is(native.write(writeFd, chunk, 0, 1), -EAGAIN, 'the pipe did not fill');
        assert.equal(b.wait(0), []);
        while (readCount(readFd) > 0);
        assert.is(eventsOf(b.wait(1000), writeFd), EPOLLOUT);
      });
    } finally {
      closeAll(readFd, writeFd);
    }
  });

  test(`${name}: closing a pipe's write end hangs the read end up`, () => {
    const [readFd, writeFd] = newPipe();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(readFd, EPOLLIN | EPOLLRDHUP), 0);
        native.close(writeFd);
        const events = eventsOf(b.wait(1000), readFd);
        assert.ok(events & hangupBit(name), `events 0x${events.toString(16)}`);
        assert.is(readCount(readFd), 0, 'end of file');
      });
    } finally {
      closeAll(readFd);
    }
  });

  test(`${name}: a peer's close reports the read side hung up`, () => {
    const { peer, local } = pair();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(local, EPOLLIN | EPOLLRDHUP), 0);
        native.close(peer);
        const events = eventsOf(b.wait(1000), local);
        assert.ok(events & (name === 'select' ? EPOLLIN : EPOLLRDHUP), `events 0x${events.toString(16)}`);
        assert.is(readCount(local), 0, 'end of file');
      });
    } finally {
      closeAll(local);
    }
  });

  test(`${name}: a refused connect reports an error (select: readable and writable)`, () => {
    const listener = sockets.listen(HOST, 0);
    const port = sockets.localPort(listener);
    sockets.close(listener);
    const fd = native.connect(HOST, port);
    assert.ok(fd >= 0, `connect = ${fd}`);
    try {
      withBackend(name, (b) => {
        assert.is(b.add(fd, EPOLLOUT), 0);
        const events = eventsOf(b.wait(1000), fd);
        const expected = name === 'select' ? EPOLLOUT : EPOLLERR;
        assert.ok(events & expected, `events 0x${events.toString(16)}`);
        assert.is(native.socketError(fd), ECONNREFUSED);
      });
    } finally {
      closeAll(fd);
    }
  });

  test(`${name}: misuse is refused as epoll_ctl refuses it, and changes nothing`, () => {
    const [readFd, writeFd] = newPipe();
    const dir = mkdtempSync(join(tmpdir(), 'wasmloop-'));
    const file = join(dir, 'regular');
    writeFileSync(file, 'data');
    const fileFd = openSync(file, 'r');
    const dirFd = openSync(dir, 'r');
    try {
      withBackend(name, (b) => {
        assert.is(b.add(readFd, EPOLLIN, 1), 0);
        const closedFd = native.eventfd(0);
        native.close(closedFd);
        assert.is(b.add(closedFd, EPOLLIN), -EBADF);
        assert.is(b.add(-1, EPOLLIN), -EBADF);
        assert.is(b.add(fileFd, EPOLLIN), -EPERM);
        assert.is(b.add(dirFd, EPOLLIN), -EPERM);
        assert.is(b.add(readFd, EPOLLIN | EPOLLOUT, 2), -EEXIST);
        assert.is(b.modify(writeFd, EPOLLOUT), -ENOENT);
        assert.is(b.remove(writeFd), -ENOENT);
        if (name !== 'epoll') {
          assert.is(b.add(writeFd, EPOLLOUT | EPOLLET), -EINVAL);
          assert.is(b.modify(readFd, EPOLLIN | EPOLLET), -EINVAL);
        }
        // Nothing changed: readFd keeps its first registration, writeFd has none.
        writeText(writeFd, 'x');
        assert.equal(b.wait(1000), [{ fd: readFd, generation: 1, events: EPOLLIN }]);
        assert.is(b.remove(readFd), 0);
        assert.is(b.remove(readFd), -ENOENT);
        assert.equal(b.wait(0), []);
      });
    } finally {
      closeSync(fileFd);
      closeSync(dirFd);
      rmSync(dir, { recursive: true });
      closeAll(readFd, writeFd);
    }
  });

  test(`${name}: more ready fds than maxEvents are all reported within a few waits`, () => {
    const fds = Array.from({ length: 10 }, () => newEventfd(1));
    try {
      withBackend(
        name,
        (b) => {
          fds.forEach((fd, i) => assert.is(b.add(fd, EPOLLIN, i), 0));
          const seen = new Set<number>();
          for (let wait = 0; wait < 4; wait++) {
            const fired = b.wait(1000);
            assert.is(fired.length, 3);
            for (const f of fired) seen.add(f.fd);
          }
          assert.equal([...seen].sort((x, y) => x - y), [...fds].sort((x, y) => x - y));
        },
        3,
      );
    } finally {
      closeAll(...fds);
    }
  });

  test(`${name}: a wait with nothing ready lasts its timeout`, () => {
    const fd = newEventfd();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(fd, EPOLLIN), 0);
        const started = performance.now();
        assert.equal(b.wait(60), []);
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 59, `ended early: ${elapsed.toFixed(1)} ms`);
        assert.ok(elapsed < 5000, `ran long: ${elapsed.toFixed(1)} ms`);
      });
    } finally {
      closeAll(fd);
    }
  });

  test(`${name}: an fd closed behind the backend's back is forgotten, without spinning`, () => {
    const [readFd, writeFd] = newPipe();
    const idle = newEventfd();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(readFd, EPOLLIN), 0);
        assert.is(b.add(idle, EPOLLIN), 0);
        native.close(readFd);
        const cpuBefore = process.cpuUsage();
        // A spin wants the CPU for the whole wait, however little a loaded machine gives it.
        const runnableBefore = runnableMs('self');
        const started = performance.now();
        assert.equal(b.wait(100), []);
        const elapsed = performance.now() - started;
        const wantedMs = runnableMs('self') - runnableBefore;
        const cpu = process.cpuUsage(cpuBefore);
        const cpuMs = (cpu.user + cpu.system) / 1000;
        assert.ok(elapsed >= 99, `ended early: ${elapsed.toFixed(1)} ms`);
        assert.ok(wantedMs < elapsed / 2, `spun: wanted the CPU for ${wantedMs.toFixed(1)} ms (${cpuMs.toFixed(1)} ms on it) in ${elapsed.toFixed(1)} ms`);
        // The number is free again; a new file under it registers afresh.
        const again = native.dupFd(idle, readFd);
        assert.is(again, readFd);
        try {
          assert.is(b.add(again, EPOLLOUT, 9), 0);
          assert.equal(b.wait(1000), [{ fd: again, generation: 9, events: EPOLLOUT }]);
          // A dup shares its file with idle, which epoll would keep watching.
          assert.is(b.remove(again), 0);
        } finally {
          native.close(again);
        }
        // And the idle fd still works.
        assert.is(native.eventfdWrite(idle, 1), 0);
        assert.is(eventsOf(b.wait(1000), idle), EPOLLIN);
      });
    } finally {
      closeAll(writeFd, idle);
    }
  });

  test(`${name}: removing an fd whose number now names another file answers like epoll`, () => {
    const [readFd, writeFd] = newPipe();
    try {
      withBackend(name, (b) => {
        assert.is(b.add(readFd, EPOLLIN), 0);
        native.close(readFd);
        assert.is(b.remove(readFd), -EBADF);
        const reused = native.dupFd(writeFd, readFd);
        assert.is(reused, readFd);
        try {
          assert.is(b.add(reused, EPOLLOUT), 0);
          native.close(reused);
          const other = native.eventfd(0);
          assert.is(other, reused, 'the fd number was not reused');
          assert.is(b.remove(other), -ENOENT, 'a remove of the new file would let the caller close it');
        } finally {
          closeAll(reused);
        }
      });
    } finally {
      closeAll(writeFd);
    }
  });
}

test('the record bytes are the same whichever backend wrote them', () => {
  const fd = newEventfd(1);
  const records = BACKENDS.map((name) => {
    const b = new Backend(name);
    try {
      assert.is(b.add(fd, EPOLLIN | EPOLLRDHUP, 0xfedcba98), 0);
      assert.equal(b.wait(1000), [{ fd, generation: 0xfedcba98, events: EPOLLIN }]);
      return b.bytes(1);
    } finally {
      b.free();
    }
  });
  closeAll(fd);
  assert.equal(records[1], records[0], 'poll');
  assert.equal(records[2], records[0], 'select');
});

test('select refuses an fd >= FD_SETSIZE with ERANGE; epoll and poll take it', () => {
  assert.is(native.FD_SETSIZE, 1024);
  const fd = newEventfd(1);
  const high = native.dupFd(fd, native.FD_SETSIZE);
  assert.ok(high >= native.FD_SETSIZE, `dupFd = ${high} (RLIMIT_NOFILE too low?)`);
  try {
    withBackend('select', (b) => {
      assert.is(b.add(high, EPOLLIN), -ERANGE);
      assert.is(b.modify(high, EPOLLIN), -ENOENT);
      assert.is(b.remove(high), -ENOENT);
      assert.equal(b.wait(0), []);
    });
    for (const name of ['epoll', 'poll'] as const) {
      withBackend(name, (b) => {
        assert.is(b.add(high, EPOLLIN, 5), 0);
        assert.equal(b.wait(1000), [{ fd: high, generation: 5, events: EPOLLIN }]);
      });
    }
  } finally {
    closeAll(high, fd);
  }
});

test('backendFd is the epoll fd, and ENOTSUP for poll and select', () => {
  withBackend('epoll', (b) => {
    const fd = native.backendFd(b.id);
    assert.ok(fd >= 0);
    // An epoll fd is pollable: another backend sees it turn readable.
    const inner = newEventfd(1);
    try {
      assert.is(b.add(inner, EPOLLIN), 0);
      withBackend('poll', (outer) => {
        assert.is(outer.add(fd, EPOLLIN), 0);
        assert.is(eventsOf(outer.wait(1000), fd), EPOLLIN);
      });
    } finally {
      closeAll(inner);
    }
  });
  for (const name of ['poll', 'select'] as const) withBackend(name, (b) => assert.is(native.backendFd(b.id), -ENOTSUP));
  assert.is(native.backendFd(-1), -EINVAL);
});

test('backendCreate refuses an unknown backend name', () => {
  assert.is(native.backendCreate('kqueue', new ArrayBuffer(64), 0, 1), -EINVAL);
});

test('pipe: non-blocking ends that carry bytes one way', () => {
  const [readFd, writeFd] = newPipe();
  try {
    assert.is.not(readFd, writeFd);
    assert.is(readCount(readFd), -EAGAIN);
    writeText(writeFd, 'abc');
    assert.is(readCount(readFd), 3);
    assert.is(native.write(readFd, bytes('x'), 0, 1), -EBADF, 'the read end is not writable');
  } finally {
    closeAll(readFd, writeFd);
  }
});

test('eventfd: writes add up, a read takes the sum and resets it', () => {
  const fd = newEventfd(2);
  try {
    assert.is(native.eventfdWrite(fd, 3), 0);
    assert.is(native.eventfdRead(fd), 5);
    assert.is(native.eventfdRead(fd), -EAGAIN);
    assert.is(native.eventfdWrite(fd, 2 ** 53), 0);
    assert.is(native.eventfdRead(fd), 2 ** 53);
  } finally {
    closeAll(fd);
  }
});

test('eventfd: counts that are not integers in [0, 2^53] are refused', () => {
  const fd = newEventfd();
  try {
    for (const n of [-1, 1.5, 2 ** 53 + 2, Number.NaN, Infinity]) {
      assert.is(native.eventfdWrite(fd, n), -EINVAL, String(n));
    }
    assert.is(native.eventfd(-1), -EINVAL);
    assert.is(native.eventfdRead(fd), -EAGAIN, 'nothing was written');
  } finally {
    closeAll(fd);
  }
  assert.is(native.eventfdWrite(fd, 1), -EBADF);
  assert.is(native.eventfdRead(fd), -EBADF);
});

test('eventfdRead on an fd that is not a counter answers EINVAL', () => {
  const [readFd, writeFd] = newPipe();
  try {
    writeText(writeFd, 'abc');
    assert.is(native.eventfdRead(readFd), -EINVAL);
  } finally {
    closeAll(readFd, writeFd);
  }
});

for (const name of BACKENDS) {
  test(`${name}: a timerfd turns readable when it expires, not before`, () => {
    const created = performance.now();
    const later = native.timerfd(20, 0);
    const atOnce = native.timerfd(0, 0);
    try {
      assert.ok(later >= 0 && atOnce >= 0);
      withBackend(name, (b) => {
        assert.is(b.add(later, EPOLLIN), 0);
        assert.is(b.add(atOnce, EPOLLIN), 0);
        assert.is(eventsOf(b.wait(1000), atOnce), EPOLLIN);
        assert.is(native.timerfdRead(atOnce), 1);
        assert.is(b.remove(atOnce), 0);

        const fired = b.wait(5000);
        const elapsed = performance.now() - created;
        assert.is(eventsOf(fired, later), EPOLLIN);
        assert.ok(elapsed >= 19, `fired after ${elapsed.toFixed(1)} ms`);
        assert.is(native.timerfdRead(later), 1);
        assert.is(native.timerfdRead(later), -EAGAIN);
      });
    } finally {
      closeAll(later, atOnce);
    }
  });
}

test('timerfd: an interval timer counts every expiry since the last read', () => {
  const fd = native.timerfd(1, 1);
  try {
    assert.ok(fd >= 0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    assert.ok(native.timerfdRead(fd) >= 2);
  } finally {
    closeAll(fd);
  }
});

test('timerfd refuses negative times', () => {
  assert.is(native.timerfd(-1, 0), -EINVAL);
  assert.is(native.timerfd(0, -1), -EINVAL);
});

test('dupFd: the lowest free fd at or above the floor', () => {
  const fd = newEventfd(4);
  const copy = native.dupFd(fd, 500);
  try {
    assert.ok(copy >= 500);
    assert.is(native.eventfdRead(copy), 4, 'the same counter');
    assert.is(native.dupFd(-1, 0), -EBADF);
  } finally {
    closeAll(copy, fd);
  }
});

for (const name of BACKENDS) {
  test(`${name}: a one-shot fd is reported once, then not again until modified`, () => {
    withBackend(name, (b) => {
      const fd = newEventfd(1); // readable from the start, and stays so
      try {
        assert.is(b.add(fd, EPOLLIN | EPOLLONESHOT), 0);
        assert.equal(b.wait(1000), [{ fd, generation: 1, events: EPOLLIN }]);
        assert.equal(b.wait(0), [], 'a disarmed one-shot fd was reported again');
        assert.is(b.modify(fd, EPOLLIN | EPOLLONESHOT, 2), 0);
        assert.equal(b.wait(1000), [{ fd, generation: 2, events: EPOLLIN }]);
        assert.equal(b.wait(0), []);
        assert.is(b.remove(fd), 0);
      } finally {
        native.close(fd);
      }
    });
  });
}

test.run();
