// `node build/bench/http-handler-path.js [requests] [handler|default]`: the handler API's own
// cost per request, with no socket and no loop under it — what the
// httpProtocol({ handler }) sessions do between a read and its write. 50
// sessions on a stand-in connection (it counts the bytes written) are each fed
// wrk's request (`GET /`, one Host header) in turn, one request per read, and
// answered by bench/peers/wasmloop-handler.ts's handler (writeHead with a
// header object built once, end with a 5-byte body, no Date); microtasks
// ('finish') run every 50 reads. Prints wall and CPU nanoseconds per request
// over `requests` (1,000,000) after 200,000 of warm-up. `default` measures the
// fixed responder instead (`wasmloop serve --protocol http`: no handler, no
// request or response objects): the parser and the session alone. Run it under
// `node --cpu-prof` to see where the time goes.
import { httpProtocol } from '../src/protocols/http.js';
import { standInConnection } from './stand-in.js';

const SESSIONS = 50;
const WARMUP = 200_000;
const requests = Number(process.argv[2] ?? 1_000_000);
const mode = process.argv[3] ?? 'handler';
if (mode !== 'handler' && mode !== 'default') throw new Error(`the second argument is handler or default, not '${mode}'`);

const HELLO = Buffer.from('hello');
const HELLO_HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(HELLO.length) };
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n');

const standIn = standInConnection();
const connection = standIn.connection;

const factory =
  mode === 'default'
    ? httpProtocol()
    : httpProtocol({
        handler: (_req, res) => {
          res.sendDate = false;
          res.writeHead(200, HELLO_HEADERS);
          res.end(HELLO);
        },
      });
const sessions = Array.from({ length: SESSIONS }, () => factory(connection));

async function feed(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    sessions[i % SESSIONS]!.data(connection, REQUEST);
    if (i % SESSIONS === SESSIONS - 1) await null;
  }
  await new Promise((resolve) => setImmediate(resolve));
}

await feed(WARMUP);
standIn.reset();
const started = process.hrtime.bigint();
const cpu = process.cpuUsage();
await feed(requests);
const wallNs = Number(process.hrtime.bigint() - started) / requests;
const used = process.cpuUsage(cpu);
const cpuNs = ((used.user + used.system) * 1000) / requests;
console.log(`${mode}, ${requests} requests: ${wallNs.toFixed(0)} ns wall, ${cpuNs.toFixed(0)} ns CPU per request; ${standIn.written() / requests} bytes written per request`);
