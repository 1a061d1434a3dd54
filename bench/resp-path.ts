// `node build/bench/resp-path.js [reads] [ping|set|get] [pipeline]`: the RESP
// protocol's own cost per command, with no socket and no loop under it — what a
// RESP session does between a read and its write. 50 sessions on a stand-in
// connection (it counts the bytes written) are each fed redis-benchmark's
// request `pipeline` (16) times over in one read, as `-P 16` sends it (GET and SET on
// `key:__rand_int__` with a 3-byte value), in turn. Prints wall and CPU
// nanoseconds per command over `reads` (300,000) after 50,000 of warm-up.
// Run it under `node --cpu-prof` to see where the time goes.
import { Buffer } from 'node:buffer';

import { respProtocol } from '../src/protocols/resp.js';
import { standInConnection } from './stand-in.js';

const SESSIONS = 50;
const PIPELINE = Number(process.argv[4] ?? 16);
const WARMUP = 50_000;
const reads = Number(process.argv[2] ?? 300_000);
const test = process.argv[3] ?? 'get';
const COMMANDS: Record<string, string> = {
  ping: '*1\r\n$4\r\nPING\r\n',
  set: '*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n',
  get: '*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n',
};
const command = COMMANDS[test];
if (command === undefined) throw new Error(`the second argument is one of ${Object.keys(COMMANDS).join(', ')}, not '${test}'`);
if (!(Number.isInteger(reads) && reads > 0)) throw new Error(`reads must be a positive integer, not '${process.argv[2]}'`);
if (!(Number.isInteger(PIPELINE) && PIPELINE > 0)) throw new Error(`pipeline must be a positive integer, not '${process.argv[4]}'`);
const REQUEST = Buffer.from(command.repeat(PIPELINE));

const standIn = standInConnection();
const connection = standIn.connection;

const factory = respProtocol();
const sessions = Array.from({ length: SESSIONS }, () => factory(connection));
// GET finds the value SET would have stored.
sessions[0]!.data(connection, Buffer.from(COMMANDS.set!));

function feed(count: number): void {
  for (let i = 0; i < count; i++) sessions[i % SESSIONS]!.data(connection, REQUEST);
}

feed(WARMUP);
standIn.reset();
const started = process.hrtime.bigint();
const cpu = process.cpuUsage();
feed(reads);
const commands = reads * PIPELINE;
const wallNs = Number(process.hrtime.bigint() - started) / commands;
const used = process.cpuUsage(cpu);
const cpuNs = ((used.user + used.system) * 1000) / commands;
console.log(`${test}, ${commands} commands: ${wallNs.toFixed(0)} ns wall, ${cpuNs.toFixed(0)} ns CPU per command; ${standIn.written() / commands} bytes written per command`);
