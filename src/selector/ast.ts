/**
 * The selector syntax tree. Nodes are plain frozen objects with a `kind` discriminant, so rule
 * compilers and the label index can walk them with a `switch`.
 *
 * The tree keeps the shape Calico's parser gives it, because the canonical text (and so the
 * IP-set id) is printed from it: `&&`/`||` chains are one node with 2+ operands, a parenthesised
 * group is a nested node (never flattened), runs of `!` are folded by parity, and the empty
 * selector is an `all` node.
 */

/** `all()`, or the empty selector: matches everything. */
export interface AllNode {
  readonly kind: 'all';
}

/** `global()`: matches everything; only meaningful inside a rule's namespaceSelector. */
export interface GlobalNode {
  readonly kind: 'global';
}

/** `has(label)`: the label is present, whatever its value. */
export interface HasNode {
  readonly kind: 'has';
  readonly label: string;
}

/** Operators that compare one label with one string literal. */
export type ValueOperator = 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith';

/**
 * `label == "v"`, `label != "v"`, `label contains "v"`, `label starts with "v"`,
 * `label ends with "v"`. Only `!=` matches when the label is missing.
 */
export interface ValueNode {
  readonly kind: ValueOperator;
  readonly label: string;
  readonly value: string;
}

/** Operators that test a label against a set literal. */
export type SetOperator = 'in' | 'notIn';

/**
 * `label in {"a", "b"}` / `label not in {...}`. `values` is sorted (by code point, as Go sorts
 * UTF-8 bytes) and de-duplicated; it may be empty. `not in` matches when the label is missing.
 */
export interface SetNode {
  readonly kind: SetOperator;
  readonly label: string;
  readonly values: readonly string[];
}

/** `!operand`. */
export interface NotNode {
  readonly kind: 'not';
  readonly operand: SelectorNode;
}

/** `a && b && ...` (two or more operands). */
export interface AndNode {
  readonly kind: 'and';
  readonly operands: readonly SelectorNode[];
}

/** `a || b || ...` (two or more operands). */
export interface OrNode {
  readonly kind: 'or';
  readonly operands: readonly SelectorNode[];
}

/** Any node of a parsed selector. */
export type SelectorNode = AllNode | GlobalNode | HasNode | ValueNode | SetNode | NotNode | AndNode | OrNode;

/** The node the empty selector and `all()` parse to. */
export const ALL_NODE: AllNode = Object.freeze({ kind: 'all' });

/** The node `global()` parses to. */
export const GLOBAL_NODE: GlobalNode = Object.freeze({ kind: 'global' });

/**
 * Compares two strings by Unicode code point, which is the order Go's `sort.Strings` gives their
 * UTF-8 bytes (plain `<` on JS strings compares UTF-16 units and differs above U+FFFF).
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Move surrogates (0xD800-0xDFFF) above 0xE000-0xFFFF, where their code points belong.
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** Sorts (by code point) and de-duplicates a set literal's values. */
export function normaliseSetValues(values: readonly string[]): string[] {
  const sorted = [...values].sort(compareCodePoints);
  const out: string[] = [];
  for (const v of sorted) {
    if (out.length === 0 || out[out.length - 1] !== v) out.push(v);
  }
  return out;
}

/** Every label name the selector mentions, each once, in order of first appearance. */
export function referencedLabels(node: SelectorNode): string[] {
  const seen = new Set<string>();
  const walk = (n: SelectorNode): void => {
    switch (n.kind) {
      case 'all':
      case 'global':
        return;
      case 'not':
        walk(n.operand);
        return;
      case 'and':
      case 'or':
        for (const op of n.operands) walk(op);
        return;
      default:
        seen.add(n.label);
    }
  };
  walk(node);
  return [...seen];
}
