/**
 * Margay's one logger: pino JSON lines, one object per event, with `level` as a word, an ISO
 * `time`, a `component` naming the part that logs (`agent`, `syncer`, `calc`, `dataplane`,
 * `status`, `health`, `bgp`, `cni`, `controllers`) and context in fields, message last:
 *
 *   {"level":"info","time":"2026-11-26T10:00:00.000Z","component":"agent","hostname":"host1","msg":"in sync"}
 *
 * Call shape (pino's): fields first, then the message: `log.warn({ node, err }, 'BIRD exited')`.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Log levels, pino's names for Felix's Trace, Debug, Info, Warning (`warn`), Error, Fatal. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The lowest level written (default `info`); `silent` writes nothing. */
  level?: LogLevel | 'silent';
  /** The `component` field of every line (a root without one names it per part with {@link componentLogger}). */
  component?: string;
  /** Other fields on every line (e.g. hostname). */
  base?: Record<string, unknown>;
  /** Where lines go (default: standard error, synchronously, so nothing is lost on exit). */
  destination?: DestinationStream;
  /** Append lines to this file instead (synchronously). */
  file?: string;
}

/** A root logger writing JSON lines. Use `componentLogger(root, 'syncer')` for each part. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination(options.file !== undefined ? { dest: options.file, sync: true } : { fd: 2, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: { ...(options.component !== undefined ? { component: options.component } : {}), ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

const children = new WeakMap<Logger, Logger[]>();

/** A child logger whose lines carry `component`; {@link setLogLevel} on the root reaches it. */
export function componentLogger(root: Logger, component: string): Logger {
  const child = root.child({ component });
  let list = children.get(root);
  if (list === undefined) children.set(root, (list = []));
  list.push(child);
  return child;
}

/** Changes the level of a root logger and of every component logger made from it. */
export function setLogLevel(root: Logger, level: LogLevel): void {
  root.level = level;
  for (const child of children.get(root) ?? []) child.level = level;
}

/** A logger that drops everything (tests, the CLI's offline evaluation). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
