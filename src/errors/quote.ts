/**
 * How an error message shows what a user typed: on one line, with nothing that a terminal would
 * act on (control characters, escape sequences, bidirectional overrides), and never at length (a
 * 1 MB name gives a short message that says how long the name was).
 */

/** Longest value a message shows whole, in characters. */
export const QUOTE_MAX = 80;

/** Longest message the CLI prints, in characters. */
export const MESSAGE_MAX = 2000;

/**
 * C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional controls:
 * what must not reach a terminal raw.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Replaces every unsafe character by its `\uXXXX` escape (a line break becomes `\n`). */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** Cuts `text` in the middle when longer than `max`, saying how long it was. */
export function elide(text: string, max: number, what = 'characters'): string {
  if (text.length <= max) return text;
  const keep = Math.max(1, Math.floor((max - 1) / 2));
  // Never split a surrogate pair: the halves would print as U+FFFD.
  const head = text.slice(0, keep).replace(/[\ud800-\udbff]$/, '');
  const tail = text.slice(text.length - keep).replace(/^[\udc00-\udfff]/, '');
  return `${head}…${tail} (${text.length} ${what})`;
}

/**
 * A value as a message shows it: a string JSON-quoted, anything else as JSON; unsafe characters
 * escaped, and a long value cut in the middle with its length: `"aaaa…zzzz" (1048576 characters)`.
 */
export function quote(value: unknown, max = QUOTE_MAX): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (typeof value === 'string' && value.length > max) {
    return `${escapeControls(JSON.stringify(elide(value, max).replace(/ \(\d+ characters\)$/, '')))} (${value.length} characters)`;
  }
  return escapeControls(elide(text, max));
}

/** One line, safe for a terminal, at most {@link MESSAGE_MAX} characters. */
export function safeLine(message: string, max = MESSAGE_MAX): string {
  return elide(escapeControls(message), max);
}
