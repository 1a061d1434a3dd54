// What every Node peer shares: its command line (`--host`, default
// 127.0.0.1; `--port`, default 0; `--backlog`, default Node's 511), the
// announcement the suite waits for ("<label> listening on HOST:PORT"), and a
// clean exit on SIGTERM or SIGINT.
import type { Server } from 'node:net';
import { parseArgs } from 'node:util';

export function listen(server: Server, label: string): void {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      backlog: { type: 'string', default: '511' },
    },
  });
  server.listen({ host: values.host, port: Number(values.port), backlog: Number(values.backlog) }, () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    console.log(`${label} listening on ${values.host}:${address.port}`);
  });
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
