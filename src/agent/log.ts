/**
 * The agent's logs: pino JSON lines, one object per event, with `level` as a word, an ISO
 * `time`, a `component` naming the part of the agent (`agent`, `syncer`, `calc`, `dataplane`,
 * `status`, `health`) and context in fields:
 *
 *   {"level":"info","time":"2026-11-26T10:00:00.000Z","component":"agent","hostname":"host1","msg":"in sync"}
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../api/felix-params.ts';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go (default: standard error, synchronously, so nothing is lost on exit). */
  destination?: DestinationStream;
  /** Fields on every line (e.g. hostname). */
  base?: Record<string, unknown>;
}

/** The root logger. Use `componentLogger(root, 'syncer')` for each part. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
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
