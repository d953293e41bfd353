/**
 * The selector tokenizer: a hand-written, single pass over the text with no regular expressions.
 *
 * Lexical rules (Calico's):
 * - Whitespace is space and tab only; anything else outside a token is an error.
 * - Labels are `[A-Za-z0-9_./-]{1,512}`.
 * - Strings are `"..."` or `'...'` with no escapes, so a string cannot hold its own quote.
 * - `has(label)`, `all()` and `global()` are single tokens; whitespace is allowed inside the
 *   parentheses but not between the word and `(`.
 * - The word operators `contains`, `starts with`, `ends with`, `in` and `not in` are recognised
 *   only right after a label, with optional whitespace between the two words (`startswith`,
 *   `notin`); a word operator must not run on into label characters (`inx` is an error).
 *   Anywhere else those words are ordinary labels (`contains contains "x"` is valid).
 */
import { SelectorParseError } from './errors.ts';

/** Longest label name the grammar allows. */
export const MAX_LABEL_LENGTH = 512;

/** The kinds of token. `eof` always ends the list. */
export type TokenKind =
  | 'label'
  | 'string'
  | 'lbrace'
  | 'rbrace'
  | 'comma'
  | 'eq'
  | 'ne'
  | 'in'
  | 'notIn'
  | 'not'
  | 'contains'
  | 'startsWith'
  | 'endsWith'
  | 'all'
  | 'global'
  | 'has'
  | 'lparen'
  | 'rparen'
  | 'and'
  | 'or'
  | 'eof';

/** One token: its kind, its value (label name, string contents, or `has` label; else ''), and where it is. */
export interface Token {
  readonly kind: TokenKind;
  /** The label name (`label`, `has`) or the string's contents (`string`); '' for other kinds. */
  readonly value: string;
  /** Offset of the token's first character. */
  readonly pos: number;
  /** Offset just past the token's last character. */
  readonly end: number;
}

const SPACE = 0x20;
const TAB = 0x09;

/** True for `[A-Za-z0-9_./-]`. */
export function isLabelChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x5f || // _
    c === 0x2e || // .
    c === 0x2f || // /
    c === 0x2d // -
  );
}

function skipSpace(text: string, i: number): number {
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB) break;
    i++;
  }
  return i;
}

function scanLabel(text: string, i: number): number {
  const n = text.length;
  while (i < n && isLabelChar(text.charCodeAt(i))) i++;
  return i;
}

function describeChar(text: string, i: number): string {
  if (i >= text.length) return 'end of selector';
  const cp = text.codePointAt(i) ?? 0;
  return JSON.stringify(String.fromCodePoint(cp));
}

/**
 * Splits a selector into tokens, ending with one `eof` token.
 * @throws {SelectorParseError} on a character or word that cannot start a token there.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const n = text.length;
  let i = 0;
  const push = (kind: TokenKind, pos: number, end: number, value = ''): void => {
    tokens.push({ kind, value, pos, end });
    i = end;
  };
  const fail = (reason: string, pos: number, hint?: string): never => {
    throw new SelectorParseError(reason, pos, text, hint);
  };
  const label = (start: number): number => {
    const end = scanLabel(text, start);
    if (end - start > MAX_LABEL_LENGTH) {
      fail(`label longer than ${MAX_LABEL_LENGTH} characters`, start);
    }
    return end;
  };

  for (;;) {
    i = skipSpace(text, i);
    if (i >= n) {
      tokens.push({ kind: 'eof', value: '', pos: n, end: n });
      return tokens;
    }
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x28: // (
        push('lparen', i, i + 1);
        continue;
      case 0x29: // )
        push('rparen', i, i + 1);
        continue;
      case 0x7b: // {
        push('lbrace', i, i + 1);
        continue;
      case 0x7d: // }
        push('rbrace', i, i + 1);
        continue;
      case 0x2c: // ,
        push('comma', i, i + 1);
        continue;
      case 0x22: // "
      case 0x27: {
        // '
        const close = text.indexOf(c === 0x22 ? '"' : "'", i + 1);
        if (close < 0) fail('unterminated string', i);
        push('string', i, close + 1, text.slice(i + 1, close));
        continue;
      }
      case 0x3d: // =
        if (text.charCodeAt(i + 1) === 0x3d) push('eq', i, i + 2);
        else fail('unexpected "="', i, 'expected "=="');
        continue;
      case 0x21: // !
        if (text.charCodeAt(i + 1) === 0x3d) push('ne', i, i + 2);
        else push('not', i, i + 1);
        continue;
      case 0x26: // &
        if (text.charCodeAt(i + 1) === 0x26) push('and', i, i + 2);
        else fail('unexpected "&"', i, 'expected "&&"');
        continue;
      case 0x7c: // |
        if (text.charCodeAt(i + 1) === 0x7c) push('or', i, i + 2);
        else fail('unexpected "|"', i, 'expected "||"');
        continue;
    }

    const prev = tokens[tokens.length - 1];
    if (prev !== undefined && prev.kind === 'label') {
      // Only an operator may follow a label.
      const start = i;
      let kind: TokenKind | undefined;
      let end = -1;
      if (text.startsWith('contains', i)) {
        kind = 'contains';
        end = i + 8;
      } else if (text.startsWith('starts', i)) {
        const j = skipSpace(text, i + 6);
        if (text.startsWith('with', j)) {
          kind = 'startsWith';
          end = j + 4;
        }
      } else if (text.startsWith('ends', i)) {
        const j = skipSpace(text, i + 4);
        if (text.startsWith('with', j)) {
          kind = 'endsWith';
          end = j + 4;
        }
      } else if (text.startsWith('not', i)) {
        const j = skipSpace(text, i + 3);
        if (text.startsWith('in', j)) {
          kind = 'notIn';
          end = j + 2;
        }
      } else if (text.startsWith('in', i)) {
        kind = 'in';
        end = i + 2;
      }
      if (kind === undefined || (end < n && isLabelChar(text.charCodeAt(end)))) {
        const wordEnd = scanLabel(text, start);
        const what = wordEnd > start ? JSON.stringify(text.slice(start, Math.min(wordEnd, start + 40))) : describeChar(text, start);
        fail(
          `unexpected ${what} after label ${JSON.stringify(prev.value)}`,
          start,
          'expected an operator: ==, !=, in, not in, contains, starts with, ends with',
        );
      }
      push(kind as TokenKind, start, end);
      continue;
    }

    if (text.startsWith('has(', i)) {
      const start = i;
      const j = skipSpace(text, i + 4);
      const k = label(j);
      if (k === j) fail(`unexpected ${describeChar(text, j)} inside "has("`, j, 'expected a label name');
      const close = skipSpace(text, k);
      if (text.charCodeAt(close) !== 0x29) fail(`unexpected ${describeChar(text, close)} inside "has("`, close, 'expected ")"');
      push('has', start, close + 1, text.slice(j, k));
      continue;
    }
    if (text.startsWith('all(', i) || text.startsWith('global(', i)) {
      const isAll = text.charCodeAt(i) === 0x61;
      const start = i;
      const close = skipSpace(text, i + (isAll ? 4 : 7));
      if (text.charCodeAt(close) !== 0x29) {
        fail(`unexpected ${describeChar(text, close)} after "${isAll ? 'all(' : 'global('}"`, close, 'expected ")"');
      }
      push(isAll ? 'all' : 'global', start, close + 1);
      continue;
    }
    const end = label(i);
    if (end > i) {
      push('label', i, end, text.slice(i, end));
      continue;
    }
    fail(`unexpected character ${describeChar(text, i)}`, i);
  }
}
