import type { ErrorCode } from './codes.ts';

/**
 * The base class of every error Margay raises on purpose. `code` is stable (see codes.ts);
 * `message` is one line a person can act on.
 */
export class MargayError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MargayError';
    this.code = code;
  }
}

/** True when `err` is a MargayError with the given code. */
export function hasCode(err: unknown, code: ErrorCode): err is MargayError {
  return err instanceof MargayError && err.code === code;
}
