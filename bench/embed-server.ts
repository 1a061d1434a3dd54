// `node build/bench/embed-server.js --mode run|start [--protocol resp|echo|http] [--port N]`:
// a wasmloop Server driven by run() or by start(), for bench/embedding.ts.
// Prints "listening on HOST:PORT"; SIGINT or SIGTERM closes it.
//
// The two modes differ only in who waits: run() blocks in the loop's own
// epoll_wait (watching Node's backend fd beside its sockets); start() leaves
// the waiting to libuv, which watches the loop's epoll fd and wakes it.
import { parseArgs } from 'node:util';

import { EventLoop, protocols, Server, type ProtocolName } from '../src/index.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'run' },
    protocol: { type: 'string', default: 'resp' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '0' },
  },
});
const mode = values.mode!;
if (mode !== 'run' && mode !== 'start') throw new Error(`--mode must be run or start, got ${mode}`);
const protocol = values.protocol as ProtocolName;
if (!(protocol in protocols)) throw new Error(`--protocol must be one of ${Object.keys(protocols).join(', ')}`);

const loop = new EventLoop();
const server = new Server(loop, protocols[protocol](), { host: values.host!, port: Number(values.port) });
server.listen();
console.log(`listening on ${values.host}:${server.port} (${mode} mode, ${protocol})`);

const shutdown = (): void => {
  loop.stop();
  server.close();
  loop.close();
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
if (mode === 'run') await loop.run();
else loop.start();
