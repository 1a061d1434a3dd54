// The checked socket calls for a connected socket's addresses and options:
// sockets.address/peerAddress against both ends of a loopback pair, null for
// a Unix domain socket (sockets.connectUnix against a node:net Unix server);
// setNoDelay/setKeepAlive read back with tcpOptions, ENOTSUP on a Unix
// socket; connectUnix's errors; the argument checks.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { sockets } from '../src/index.js';
import { rangeErr, throws, typeErr } from './helpers/errors.js';
import { closeAll, HOST, openFds, pair } from './helpers/fds.js';

// Counted when this file's tests start, not when uvu imports it: uvu imports
// every file before running any, and the files before this one may leave
// fds that belong to the process (Node makes some lazily), not to this file.
let fdsAtStart = -1;
test.before(() => {
  fdsAtStart = openFds();
});

test('address() and peerAddress() of each end of a loopback pair are the other end\'s peerAddress() and address()', () => {
  const { peer, local } = pair();
  try {
    const server = sockets.address(local)!;
    const client = sockets.address(peer)!;
    assert.equal(sockets.peerAddress(peer), server);
    assert.equal(sockets.peerAddress(local), client);
    assert.equal([server.address, server.family, client.address, client.family], [HOST, 'IPv4', HOST, 'IPv4']);
    assert.is(server.port, sockets.localPort(local));
  } finally {
    closeAll(peer, local);
  }
});

test('setNoDelay() and setKeepAlive() set what tcpOptions() reads back', () => {
  const { peer, local } = pair();
  try {
    sockets.setNoDelay(peer, true);
    sockets.setKeepAlive(peer, true, 7_999);
    assert.equal(sockets.tcpOptions(peer), { noDelay: true, keepAlive: true, keepAliveIdleSeconds: 7 });
    sockets.setNoDelay(peer, false);
    sockets.setKeepAlive(peer);
    assert.equal([sockets.tcpOptions(peer).noDelay, sockets.tcpOptions(peer).keepAlive], [false, false]);
    throws(() => sockets.setNoDelay(peer, 1 as never), typeErr);
    throws(() => sockets.setKeepAlive(peer, true, -1), rangeErr);
    throws(() => sockets.address(-1), rangeErr);
  } finally {
    closeAll(peer, local);
  }
});

test('a Unix domain socket: connectUnix() connects, its addresses are null, TCP options are ENOTSUP (EOPNOTSUPP); a missing path fails, a too long one is refused up front as listenUnix refuses it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wasmloop-sockets-'));
  const path = join(dir, 's.sock');
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const fd = sockets.connectUnix(path);
    try {
      assert.equal([sockets.address(fd), sockets.peerAddress(fd)], [null, null]);
      throws(() => sockets.setNoDelay(fd), { type: Error, code: 'ENOTSUP' });
    } finally {
      sockets.close(fd);
    }
    throws(() => sockets.connectUnix(join(dir, 'missing.sock')), { type: Error, code: 'ENOENT' });
    throws(() => sockets.connectUnix(`/tmp/${'x'.repeat(120)}`), { type: RangeError, code: 'ERR_INVALID_ARG_VALUE' });
    throws(() => sockets.connectUnix(7 as never), typeErr);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no fds leaked by this file', () => {
  assert.is(openFds(), fdsAtStart);
});

test.run();
