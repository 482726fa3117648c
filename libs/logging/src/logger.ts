/** The process logger: pino, JSON lines, secrets redacted whatever the call site passes. */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOGGER = Symbol('Logger');

export const REDACTED_PATHS = ['password', '*.password', 'pass', '*.pass', 'secret', '*.secret', 'credentials', '*.credentials'];

export interface LoggerOptions {
  level?: string;
  /** Append to this file instead of standard error. */
  file?: string;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.file ? pino.destination({ dest: options.file, mkdir: true, sync: false }) : pino.destination({ fd: 2, sync: false });
  return pino(
    {
      name: options.name ?? 'mailnode',
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '****' },
      base: { pid: process.pid },
    },
    destination,
  );
}

/** A logger that drops everything (tests, `--quiet`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
