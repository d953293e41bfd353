/**
 * The controllers' log: structured JSON lines (pino) on stderr, component `controllers`; tests
 * pass their own {@link Logger} (or {@link silentLogger}).
 */
import { pino } from 'pino';

/** The logging the controllers do: pino's call shape, fields first. */
export interface Logger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** JSON lines on stderr (fd 2), with ISO times and the component name. */
export function createLogger(options: { level?: string; component?: string } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { component: options.component ?? 'controllers' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
