// `node build/bench/write-crossing.js [writes-per-batch] [rounds]`: what a
// batch of small writes costs through native.write (one crossing each, what
// a connection's uncork makes) and through native.writeMany (the bytes copied
// into one region, one crossing for the batch: src/net/batch-writes.ts), on
// pipes, no loop. Each round writes a 69-byte reply (an HTTP hello) to each
// of `writes-per-batch` (6) pipes; every 64 rounds the pipes are drained.
// Prints ns per write for both ways, twice each in turn, over `rounds`
// (300,000) after 20,000 of warm-up: the difference is what the batch saves
// a write.
import { Buffer } from 'node:buffer';

import { native } from '../src/kernel/native.js';

const perBatch = Number(process.argv[2] ?? 6);
const rounds = Number(process.argv[3] ?? 300_000);
if (!(Number.isInteger(perBatch) && perBatch > 0 && perBatch <= 64)) throw new Error(`writes-per-batch is an integer from 1 to 64, not '${process.argv[2]}'`);
if (!(Number.isInteger(rounds) && rounds > 0)) throw new Error(`rounds must be a positive integer, not '${process.argv[3]}'`);
const WARMUP = 20_000;
const DRAIN_EVERY = 64;

const pipes = Array.from({ length: perBatch }, () => {
  const pipe = native.pipe();
  if (typeof pipe === 'number') throw new Error(`pipe: ${pipe}`);
  return pipe;
});
const reply = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
const drained = Buffer.alloc(64 * 1024);
const PLAN_BYTES = 64 * 8;
const memory = new ArrayBuffer(PLAN_BYTES + 64 * reply.length);
const plan = new Int32Array(memory, 0, 128);
const region = new Uint8Array(memory, PLAN_BYTES);

function drain(): void {
  for (const [readEnd] of pipes) native.read(readEnd, drained, 0, drained.length);
}

function eachWriting(): void {
  for (let i = 0; i < perBatch; i++) {
    if (native.write(pipes[i]![1], reply, 0, reply.length) !== reply.length) throw new Error('a short write');
  }
}

function batched(): void {
  let at = 0;
  for (let i = 0; i < perBatch; i++) {
    region.set(reply, at);
    plan[2 * i] = pipes[i]![1];
    plan[2 * i + 1] = reply.length;
    at += reply.length;
  }
  native.writeMany(memory, perBatch, PLAN_BYTES);
  for (let i = 0; i < perBatch; i++) if (plan[2 * i + 1] !== reply.length) throw new Error('a short write');
}

function measure(write: () => void): number {
  for (let r = 0; r < WARMUP; r++) {
    write();
    if (r % DRAIN_EVERY === DRAIN_EVERY - 1) drain();
  }
  drain();
  const started = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    write();
    if (r % DRAIN_EVERY === DRAIN_EVERY - 1) drain();
  }
  return Number(process.hrtime.bigint() - started) / rounds / perBatch;
}

for (let pass = 0; pass < 2; pass++) {
  const each = measure(eachWriting);
  const many = measure(batched);
  console.log(`${perBatch} writes a batch: native.write ${each.toFixed(0)} ns a write, native.writeMany ${many.toFixed(0)} ns a write (drains included)`);
}
for (const [readEnd, writeEnd] of pipes) {
  native.close(readEnd);
  native.close(writeEnd);
}
