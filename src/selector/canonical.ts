/**
 * The canonical text of a selector, as Calico's `String()` prints it: values in double quotes
 * (single quotes when the value holds a `"`), every `&&`/`||` chain in parentheses, `!` glued to
 * its operand, set literals sorted and de-duplicated, and the empty selector as `all()`.
 * Two selectors with the same canonical text are the same selector (and share an IP-set id).
 */
import type { SelectorNode } from './ast.ts';

/** Quotes a value the way Calico does: `"v"`, or `'v'` if `v` contains `"`. */
export function quoteValue(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}

const OPERATOR_TEXT = {
  eq: ' == ',
  ne: ' != ',
  contains: ' contains ',
  startsWith: ' starts with ',
  endsWith: ' ends with ',
} as const;

/** Prints a syntax tree in canonical form. */
export function canonicalString(node: SelectorNode): string {
  switch (node.kind) {
    case 'all':
      return 'all()';
    case 'global':
      return 'global()';
    case 'has':
      return `has(${node.label})`;
    case 'eq':
    case 'ne':
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return node.label + OPERATOR_TEXT[node.kind] + quoteValue(node.value);
    case 'in':
    case 'notIn':
      return `${node.label} ${node.kind === 'in' ? 'in' : 'not in'} {${node.values.map(quoteValue).join(', ')}}`;
    case 'not':
      return `!${canonicalString(node.operand)}`;
    case 'and':
      return `(${node.operands.map(canonicalString).join(' && ')})`;
    case 'or':
      return `(${node.operands.map(canonicalString).join(' || ')})`;
  }
}
