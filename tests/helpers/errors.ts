// Thrown errors: what a call must throw (its class and stable code), and the
// three argument errors every public call uses.
import * as assert from 'uvu/assert';

/** The shape of an error a call is expected to throw. */
export interface Expected {
  type: new (...args: never[]) => Error;
  code?: string;
  errno?: number;
  syscall?: string;
}

/** Runs `fn`, asserts it throws an error of this shape, and returns the error. */
export function throws(fn: () => unknown, expected: Expected): Error & Record<string, unknown> {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected a ${expected.type.name}, nothing was thrown`);
  const error = caught as Error & Record<string, unknown>;
  assert.instance(error, expected.type, `expected a ${expected.type.name}, got ${String(error)}`);
  if ('code' in expected) assert.is(error.code, expected.code, `code of: ${error.message}`);
  if ('errno' in expected) assert.is(error.errno, expected.errno, `errno of: ${error.message}`);
  if ('syscall' in expected) assert.is(error.syscall, expected.syscall, `syscall of: ${error.message}`);
  return error;
}

/** An argument of the wrong type. */
export const typeErr: Expected = { type: TypeError, code: 'ERR_INVALID_ARG_TYPE' };

/** An argument of the right type but a refused value. */
export const valueErr: Expected = { type: TypeError, code: 'ERR_INVALID_ARG_VALUE' };

/** A number out of its range. */
export const rangeErr: Expected = { type: RangeError, code: 'ERR_OUT_OF_RANGE' };
