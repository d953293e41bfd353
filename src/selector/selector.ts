/**
 * The parsed selector object and `parseSelector`, with a bounded cache of parsed selectors keyed
 * by their text (a cluster has many copies of few selectors, and a Selector is immutable).
 */
import type { SelectorNode } from './ast.ts';
import { canonicalString } from './canonical.ts';
import { compileMatcher, type Labels, type Matcher } from './evaluate.ts';
import { selectorId } from './id.ts';
import { parseSelectorAst } from './parser.ts';

/** A parsed, immutable label selector. */
export interface Selector {
  /** True when `labels` match this selector. Allocation-free. */
  matches(labels: Labels): boolean;
  /** The canonical text (Calico's `String()`); equal canonical text means an equal selector. */
  toString(): string;
  /** The stable id, Calico's `UniqueID()`: `s:` + base64url(SHA-224(`s:` + canonical)). */
  readonly id: string;
  /** The syntax tree, for the label index and rule compilers. */
  readonly ast: SelectorNode;
}

class ParsedSelector implements Selector {
  readonly ast: SelectorNode;
  readonly matches: Matcher;
  #canonical: string | undefined;
  #id: string | undefined;

  constructor(ast: SelectorNode) {
    this.ast = ast;
    this.matches = compileMatcher(ast);
  }

  toString(): string {
    return (this.#canonical ??= canonicalString(this.ast));
  }

  get id(): string {
    return (this.#id ??= selectorId(this.toString()));
  }

  toJSON(): string {
    return this.toString();
  }
}

/** How many parsed selectors the cache keeps (oldest dropped first). */
const CACHE_LIMIT = 8192;
const cache = new Map<string, Selector>();

/**
 * Parses a selector expression (Calico syntax). The empty (or all-blank) selector matches
 * everything, like `all()`. Results are cached by text, so parsing the same text again is cheap
 * and returns the same object.
 * @throws {SelectorParseError} when the text is not a valid selector; `position` says where.
 */
export function parseSelector(text: string): Selector {
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  const sel = new ParsedSelector(parseSelectorAst(text));
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(text, sel);
  return sel;
}
