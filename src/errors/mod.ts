export { ErrorCodes, type ErrorCode } from './codes.ts';
export { MargayError, hasCode } from './margay-error.ts';
