/**
 * Matching a selector against a label map.
 *
 * {@link compileMatcher} turns a tree into nested closures once, so that a match is a few direct
 * property reads and comparisons with no allocation. {@link evaluate} walks the tree directly; it
 * is the plain reference the tests compare the compiled form against.
 *
 * Labels are read as `labels[key]` and only a string value counts as present, so keys inherited
 * from `Object.prototype` (`constructor`, `__proto__`, ...) read as missing on ordinary objects.
 *
 * Missing labels: `==`, `contains`, `starts with`, `ends with`, `in` and `has` are false;
 * `!=` and `not in` are true.
 */
import type { SelectorNode } from './ast.ts';

/** A label map: label name → value. */
export type Labels = Readonly<Record<string, string>>;

/** A compiled selector: true when the labels match. */
export type Matcher = (labels: Labels) => boolean;

const matchAll: Matcher = () => true;

/** Set literals up to this size are matched by comparison; larger ones by a Set lookup. */
const LINEAR_SET_LIMIT = 4;

/** Compiles a syntax tree into a matcher function. */
export function compileMatcher(node: SelectorNode): Matcher {
  switch (node.kind) {
    case 'all':
    case 'global':
      return matchAll;
    case 'has': {
      const k = node.label;
      return (l) => typeof l[k] === 'string';
    }
    case 'eq': {
      const k = node.label;
      const v = node.value;
      return (l) => l[k] === v;
    }
    case 'ne': {
      const k = node.label;
      const v = node.value;
      return (l) => l[k] !== v;
    }
    case 'contains': {
      const k = node.label;
      const v = node.value;
      return (l) => {
        const x = l[k];
        return typeof x === 'string' && x.includes(v);
      };
    }
    case 'startsWith': {
      const k = node.label;
      const v = node.value;
      return (l) => {
        const x = l[k];
        return typeof x === 'string' && x.startsWith(v);
      };
    }
    case 'endsWith': {
      const k = node.label;
      const v = node.value;
      return (l) => {
        const x = l[k];
        return typeof x === 'string' && x.endsWith(v);
      };
    }
    case 'in':
    case 'notIn': {
      const inSet = compileSetTest(node.label, node.values);
      if (node.kind === 'in') return inSet;
      return (l) => !inSet(l);
    }
    case 'not': {
      const f = compileMatcher(node.operand);
      return (l) => !f(l);
    }
    case 'and': {
      const fs = node.operands.map(compileMatcher);
      if (fs.length === 2) {
        const [a, b] = fs as [Matcher, Matcher];
        return (l) => a(l) && b(l);
      }
      return (l) => {
        for (let i = 0; i < fs.length; i++) if (!(fs[i] as Matcher)(l)) return false;
        return true;
      };
    }
    case 'or': {
      const fs = node.operands.map(compileMatcher);
      if (fs.length === 2) {
        const [a, b] = fs as [Matcher, Matcher];
        return (l) => a(l) || b(l);
      }
      return (l) => {
        for (let i = 0; i < fs.length; i++) if ((fs[i] as Matcher)(l)) return true;
        return false;
      };
    }
  }
}

function compileSetTest(k: string, values: readonly string[]): Matcher {
  switch (values.length) {
    case 0:
      return () => false;
    case 1: {
      const v0 = values[0];
      return (l) => l[k] === v0;
    }
    case 2: {
      const [v0, v1] = values;
      return (l) => {
        const x = l[k];
        return x === v0 || x === v1;
      };
    }
  }
  if (values.length <= LINEAR_SET_LIMIT) {
    const vs = [...values];
    return (l) => {
      const x = l[k];
      if (typeof x !== 'string') return false;
      for (let i = 0; i < vs.length; i++) if (vs[i] === x) return true;
      return false;
    };
  }
  const set = new Set(values);
  return (l) => {
    const x = l[k];
    return typeof x === 'string' && set.has(x);
  };
}

/** Evaluates a syntax tree directly (the slow, obviously-correct reference). */
export function evaluate(node: SelectorNode, labels: Labels): boolean {
  switch (node.kind) {
    case 'all':
    case 'global':
      return true;
    case 'not':
      return !evaluate(node.operand, labels);
    case 'and':
      return node.operands.every((op) => evaluate(op, labels));
    case 'or':
      return node.operands.some((op) => evaluate(op, labels));
  }
  const raw: unknown = Object.prototype.hasOwnProperty.call(labels, node.label) ? labels[node.label] : undefined;
  const value = typeof raw === 'string' ? raw : undefined;
  switch (node.kind) {
    case 'has':
      return value !== undefined;
    case 'eq':
      return value !== undefined && value === node.value;
    case 'ne':
      return value === undefined || value !== node.value;
    case 'contains':
      return value !== undefined && value.includes(node.value);
    case 'startsWith':
      return value !== undefined && value.startsWith(node.value);
    case 'endsWith':
      return value !== undefined && value.endsWith(node.value);
    case 'in':
      return value !== undefined && node.values.includes(value);
    case 'notIn':
      return value === undefined || !node.values.includes(value);
  }
}
