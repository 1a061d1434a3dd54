// The peer: a RESP server on node:net with the commands of wasmloop's RESP
// protocol (PING, ECHO, SET, GET, DEL, INCR, EXISTS, CONFIG GET, COMMAND),
// written the way a Node user would: parse what arrived, gather the replies,
// one socket.write per data event. Inline and multibulk requests, pipelined.
// `--port N` (default 0).
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NIL = Buffer.from('$-1\r\n');
const CONFIG: Record<string, string> = { save: '', appendonly: 'no' };
const store = new Map<string, Buffer>();

const bulk = (value: Buffer): Buffer[] => [Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')];
const integer = (value: number | bigint): Buffer => Buffer.from(`:${value}\r\n`);
const error = (message: string): Buffer => Buffer.from(`-ERR ${message}\r\n`);

function execute(args: Buffer[], out: Buffer[]): void {
  const name = args[0]!.toString('latin1').toLowerCase();
  const key = args[1]?.toString('latin1');
  const arity = (ok: boolean): boolean => {
    if (!ok) out.push(error(`wrong number of arguments for '${name}' command`));
    return ok;
  };
  switch (name) {
    case 'ping':
      if (arity(args.length <= 2)) out.push(...(args.length === 2 ? bulk(args[1]!) : [PONG]));
      return;
    case 'echo':
      if (arity(args.length === 2)) out.push(...bulk(args[1]!));
      return;
    case 'set':
      if (!arity(args.length >= 3)) return;
      if (args.length > 3) out.push(error('syntax error'));
      else {
        store.set(key!, Buffer.from(args[2]!));
        out.push(OK);
      }
      return;
    case 'get': {
      if (!arity(args.length === 2)) return;
      const value = store.get(key!);
      out.push(...(value === undefined ? [NIL] : bulk(value)));
      return;
    }
    case 'del':
    case 'exists': {
      if (!arity(args.length >= 2)) return;
      let count = 0;
      for (const arg of args.slice(1)) {
        const k = arg.toString('latin1');
        if (name === 'del' ? store.delete(k) : store.has(k)) count++;
      }
      out.push(integer(count));
      return;
    }
    case 'incr': {
      if (!arity(args.length === 2)) return;
      const text = store.get(key!)?.toString('latin1') ?? '0';
      if (!/^(0|-?[1-9]\d{0,18})$/.test(text) || BigInt(text) >= 2n ** 63n || BigInt(text) < -(2n ** 63n)) {
        out.push(error('value is not an integer or out of range'));
        return;
      }
      const next = BigInt(text) + 1n;
      if (next >= 2n ** 63n) {
        out.push(error('increment or decrement would overflow'));
        return;
      }
      store.set(key!, Buffer.from(String(next)));
      out.push(integer(next));
      return;
    }
    case 'config': {
      const pairs = args.slice(2).flatMap((arg) => {
        const param = arg.toString('latin1').toLowerCase();
        return param in CONFIG ? [param, CONFIG[param]!] : [];
      });
      out.push(Buffer.from(`*${pairs.length}\r\n`), ...pairs.flatMap((text) => bulk(Buffer.from(text))));
      return;
    }
    case 'command':
      out.push(Buffer.from('*0\r\n'));
      return;
    default:
      out.push(error(`unknown command '${args[0]!.toString('latin1')}', with args beginning with: `));
  }
}

/** Parses one request at `at`: [arguments, next offset], null if incomplete; throws on bad input. */
function parse(input: Buffer, at: number): [Buffer[], number] | null {
  const lineEnd = input.indexOf('\r\n', at);
  if (lineEnd < 0) return null;
  if (input[at] !== 0x2a) {
    const words = input.toString('latin1', at, lineEnd).split(' ').filter((word) => word !== '');
    return [words.map((word) => Buffer.from(word, 'latin1')), lineEnd + 2];
  }
  const count = Number(input.toString('latin1', at + 1, lineEnd));
  if (!Number.isInteger(count)) throw new Error('invalid multibulk length');
  const args: Buffer[] = [];
  let next = lineEnd + 2;
  for (let i = 0; i < count; i++) {
    const headerEnd = input.indexOf('\r\n', next);
    if (headerEnd < 0) return null;
    if (input[next] !== 0x24) throw new Error(`expected '$', got '${String.fromCharCode(input[next]!)}'`);
    const length = Number(input.toString('latin1', next + 1, headerEnd));
    if (!Number.isInteger(length) || length < 0) throw new Error('invalid bulk length');
    const start = headerEnd + 2;
    if (input.length < start + length + 2) return null;
    args.push(input.subarray(start, start + length));
    next = start + length + 2;
  }
  return [args, next];
}

const server = createServer({ noDelay: true }, (socket) => {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    const input = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    try {
      for (let request = parse(input, at); request !== null; request = parse(input, at)) {
        if (request[0].length > 0) execute(request[0], out);
        at = request[1];
        if (at >= input.length) break;
      }
    } catch (problem) {
      out.push(error(`Protocol error: ${(problem as Error).message}`));
      socket.end(Buffer.concat(out));
      return;
    }
    pending = Buffer.from(input.subarray(at));
    if (out.length > 0) socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
  });
});
server.listen(Number(values.port), values.host, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  console.log(`node:net resp server listening on ${values.host}:${address.port}`);
});
const stop = (): void => {
  server.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
