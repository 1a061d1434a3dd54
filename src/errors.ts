// Errors by layer: native calls return -errno; this module turns that into an
// Error shaped like Node's own system errors (code, errno, syscall), and gives
// the argument checks that run before any native call.
import { getSystemErrorMap } from 'node:util';

/** An operating-system error, shaped like the ones `node:net` and `node:fs` throw. */
export interface SystemError extends Error {
  /** The errno name, such as `'EBADF'`. */
  code: string;
  /** The negative errno, as in Node (`-9` for EBADF). */
  errno: number;
  /** The system call that failed, such as `'epoll_ctl'`. */
  syscall: string;
  fd?: number;
}

const errorMap = getSystemErrorMap();

/**
 * Builds the error for a `-errno` result from `syscall`. `info` replaces the
 * system's description when the caller knows better what went wrong.
 */
export function systemError(negativeErrno: number, syscall: string, details?: { fd?: number; info?: string }): SystemError {
  const [code, description] = errorMap.get(negativeErrno) ?? [`E${-negativeErrno}`, 'unknown error'];
  const text = details?.info ?? (details?.fd !== undefined ? `${description} (fd ${details.fd})` : description);
  const error = new Error(`${syscall} ${code}: ${text}`) as SystemError;
  error.code = code;
  error.errno = negativeErrno;
  error.syscall = syscall;
  if (details?.fd !== undefined) error.fd = details.fd;
  return error;
}

/** Throws the system error for `result` when it is negative; returns it otherwise. */
export function check(result: number, syscall: string, details?: { fd?: number; info?: string }): number {
  if (result < 0) throw systemError(result, syscall, details);
  return result;
}

/** An error of the library's own, with a stable `code` (the `ERR_*` convention of Node). */
export class WasmloopError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'WasmloopError';
    this.code = code;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return `a ${typeof value}`;
}

/** An argument of the wrong type: a TypeError with code ERR_INVALID_ARG_TYPE. */
export function typeError(name: string, expected: string, value: unknown): TypeError {
  const error = new TypeError(`${name} must be ${expected}, got ${describe(value)}`) as TypeError & { code: string };
  error.code = 'ERR_INVALID_ARG_TYPE';
  return error;
}

export function rangeError(message: string): RangeError {
  const error = new RangeError(message) as RangeError & { code: string };
  error.code = 'ERR_OUT_OF_RANGE';
  return error;
}

/** A finite number above zero: a TypeError for a non-number, a RangeError otherwise. */
export function assertPositiveNumber(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!(value > 0) || !Number.isFinite(value)) throw rangeError(`${name} must be a positive finite number, got ${value}`);
}

/** An integer in [min, max]: a TypeError for a non-number, a RangeError otherwise. */
export function assertInteger(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/** A file descriptor: a non-negative int32. */
export function assertFd(value: unknown, name = 'fd'): asserts value is number {
  assertInteger(name, value, 0, 0x7fffffff);
}

export function assertFunction(name: string, value: unknown): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw typeError(name, 'a function', value);
}

export function assertOptionalFunction(name: string, value: unknown): void {
  if (value !== undefined) assertFunction(name, value);
}

export function assertBoolean(name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
}

export function assertString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw typeError(name, 'a string', value);
}

export function assertObject(name: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) throw typeError(name, 'an object', value);
}

export function assertOneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): asserts value is T {
  if (!choices.includes(value as T)) {
    const error = new TypeError(`${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}`) as TypeError & { code: string };
    error.code = 'ERR_INVALID_ARG_VALUE';
    throw error;
  }
}

export function assertBytes(name: string, value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw typeError(name, 'a Uint8Array or Buffer', value);
}
