// A logger for the command line: one line per entry on stderr, at or above
// a level. It has pino's shape, so the loop and servers log through it as
// through any logger given to them.
import type { Logger } from '../loop/options.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** `wasmloop: warn: message {"fd":7}`; an `err` field is written as its message. */
export function stderrLogger(level: LogLevel, prefix = 'wasmloop'): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const logger: Logger = {};
  for (const name of ['debug', 'info', 'warn', 'error'] as const) {
    if (LOG_LEVELS.indexOf(name) < threshold) continue;
    logger[name] = (object: object, message: string): void => {
      const { err, ...rest } = object as { err?: unknown };
      const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      const error = err === undefined ? '' : `: ${err instanceof Error ? err.message : String(err)}`;
      process.stderr.write(`${prefix}: ${name}: ${message.replace(/^wasmloop: /, '')}${error}${fields}\n`);
    };
  }
  return logger;
}
