/**
 * The error a selector that does not parse raises. It carries the stable code
 * `MARGAY_ERR_SELECTOR_PARSE`, the 0-based character offset of the problem and the selector text.
 */
import { escapeControls, MargayError } from '../errors/mod.ts';

/** Longest piece of selector text quoted in an error message; longer text is cut around the position. */
const MAX_QUOTED = 200;

/**
 * A selector expression could not be parsed.
 *
 * `message` reads like `unexpected token "==" at position 5 in "a == == b": expected a quoted
 * string after "=="`: the problem, where it is, the selector, then (after a colon) what was
 * expected there.
 */
export class SelectorParseError extends MargayError {
  /** 0-based offset (UTF-16 code units) in `selector` where the problem was found. */
  readonly position: number;
  /** The selector text that failed to parse. */
  readonly selector: string;
  /** The problem alone, without the position and the selector, e.g. `unexpected token "=="`. */
  readonly reason: string;

  constructor(reason: string, position: number, selector: string, hint?: string, options?: ErrorOptions) {
    const where = `at position ${position} in ${quoteSelector(selector, position)}`;
    // The selector is user input: no control character of it reaches a message raw.
    super('MARGAY_ERR_SELECTOR_PARSE', escapeControls(`${reason} ${where}${hint ? `: ${hint}` : ''}`), options);
    this.name = 'SelectorParseError';
    this.position = position;
    this.selector = selector;
    this.reason = reason;
  }
}

function quoteSelector(text: string, position: number): string {
  if (text.length <= MAX_QUOTED) return JSON.stringify(text);
  const start = Math.max(0, Math.min(position - MAX_QUOTED / 2, text.length - MAX_QUOTED));
  const piece = text.slice(start, start + MAX_QUOTED);
  return `${start > 0 ? '…' : ''}${JSON.stringify(piece)}${start + MAX_QUOTED < text.length ? '…' : ''}`;
}
