// Loopback port probes, shared by the quick suite's harness and the lab.
// No side effects at import (the harness installs signal handlers; the lab's
// tests import this file into the test process).
import { connect, createServer } from 'node:net';

/** A port that was free a moment ago: for servers that cannot pick their own and say which. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Whether something accepts connections on a loopback port now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

