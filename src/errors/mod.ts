export { ErrorCodes, type ErrorCode } from './codes.ts';
export { MargayError, hasCode } from './margay-error.ts';
export { escapeControls, elide, quote, safeLine, QUOTE_MAX, MESSAGE_MAX } from './quote.ts';
