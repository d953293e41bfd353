/**
 * The ground floor's logging: one {@link Logger} type (pino's) and one factory writing JSON lines
 * with a `component` field; every process (agent, BGP, CNI service, controllers) logs through it.
 */
export { componentLogger, createLogger, setLogLevel, silentLogger } from './logger.ts';
export type { Logger, LoggerOptions, LogLevel } from './logger.ts';
