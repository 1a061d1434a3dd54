// One worker thread of `wasmloop serve --workers N`: its own loop and Server
// on the shared port (SO_REUSEPORT), driven by messages from the main thread
// (see serve.ts). It reports its stats when stopped, then lets the thread end.
import { parentPort, workerData } from 'node:worker_threads';

import { ServingThread, type FromWorker, type ToWorker, type WorkerData } from './serve.js';

const port = parentPort!;
const { config, index } = workerData as WorkerData;
const send = (message: FromWorker): void => port.postMessage(message);

let thread: ServingThread | undefined;
try {
  // A lone worker serves as the main thread would: no worker label on its logs and metrics.
  thread = new ServingThread(config, true, config.workers === 1 ? undefined : { worker: String(index) });
  send({ type: 'listening', port: thread.listen() });
} catch (error) {
  send({ type: 'failed', message: `worker ${index}: ${(error as Error).message}` });
}

if (thread !== undefined) {
  const { loop, server } = thread;
  const onMessage = (message: ToWorker): void => {
    if (message.type === 'sample') send({ type: 'sample', id: message.id, sample: thread!.sample() });
    else if (message.type === 'shutdown') {
      send({ type: 'closing', connections: server.stats.active });
      void server.shutdown(message.deadlineMs).then(() => loop.stop());
    }
    else {
      server.close();
      loop.stop();
    }
  };
  port.on('message', onMessage);
  try {
    await loop.run();
  } finally {
    port.off('message', onMessage);
    thread.close();
  }
  send({ type: 'stopped', stats: server.stats, requests: thread.requests ?? null });
}
