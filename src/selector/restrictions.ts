/**
 * What a selector demands of the labels of anything it matches, worked out from its tree. The
 * label index uses this to file each selector under the one label (and values) that every match
 * must carry, so an update only looks at selectors that could possibly match.
 *
 * Soundness is the only requirement: if a selector matches labels `L`, then for every entry
 * `key → r` of its restrictions, `r.present` implies `key` is in `L`, `r.absent` implies it is
 * not, and `r.values` (when set) contains `L[key]`. Being incomplete is allowed (it only costs
 * extra evaluations); being wrong is not. Negation is pushed down to the leaves first (De Morgan),
 * so `!(a != "x")` restricts `a` like `a == "x"` and `!(!has(a) || has(b))` requires `a`.
 */
import type { SelectorNode } from './ast.ts';

/** What one label must look like for a selector to match. */
export interface LabelRestriction {
  /** The label must be present. */
  readonly present: boolean;
  /** The label must be absent. */
  readonly absent: boolean;
  /** If set, the label's value must be one of these (implies `present`); empty means "cannot match". */
  readonly values: ReadonlySet<string> | undefined;
}

/** The restrictions of a whole selector. */
export interface Restrictions {
  /** True when the selector can never match anything (e.g. `a == "x" && a == "y"`, `!all()`). */
  readonly never: boolean;
  /** Per-label restrictions; labels not listed are unrestricted. */
  readonly labels: ReadonlyMap<string, LabelRestriction>;
}

interface MutableRestriction {
  present: boolean;
  absent: boolean;
  values: Set<string> | undefined;
}

interface Acc {
  never: boolean;
  labels: Map<string, MutableRestriction>;
}

const none = (): Acc => ({ never: false, labels: new Map() });
const never = (): Acc => ({ never: true, labels: new Map() });
const one = (key: string, r: MutableRestriction): Acc => ({ never: false, labels: new Map([[key, r]]) });

/**
 * Restrictions by tree: parsed selectors are cached and shared (selector.ts), and thousands of
 * policies share a few selectors (a cold start files 5,000 policies' selectors, 100 distinct), so
 * each tree is analysed once. Trees and restrictions are never changed.
 */
const analysed = new WeakMap<SelectorNode, Restrictions>();

/** Works out the label restrictions of a selector tree. */
export function labelRestrictions(node: SelectorNode): Restrictions {
  let out = analysed.get(node);
  if (out === undefined) analysed.set(node, (out = analyse(node)));
  return out;
}

function analyse(node: SelectorNode): Restrictions {
  const acc = walk(node, false);
  for (const r of acc.labels.values()) {
    if ((r.present && r.absent) || (r.values !== undefined && r.values.size === 0)) return never();
  }
  return acc;
}

function walk(node: SelectorNode, negated: boolean): Acc {
  switch (node.kind) {
    case 'all':
    case 'global':
      return negated ? never() : none();
    case 'has':
      return one(node.label, negated ? { present: false, absent: true, values: undefined } : present());
    case 'eq':
      return negated ? none() : one(node.label, { present: true, absent: false, values: new Set([node.value]) });
    case 'ne':
      // !(a != "x") is a == "x".
      return negated ? one(node.label, { present: true, absent: false, values: new Set([node.value]) }) : none();
    case 'contains':
    case 'startsWith':
    case 'endsWith':
      return negated ? none() : one(node.label, present());
    case 'in':
    case 'notIn':
      // `a in S` and `!(a not in S)` both demand a value from S; with S empty, nothing matches.
      if ((node.kind === 'in') === negated) return none();
      if (node.values.length === 0) return never();
      return one(node.label, { present: true, absent: false, values: new Set(node.values) });
    case 'not':
      return walk(node.operand, !negated);
    case 'and':
    case 'or': {
      // !(a && b) is !a || !b; !(a || b) is !a && !b.
      const conjunction = (node.kind === 'and') !== negated;
      let acc: Acc | undefined;
      for (const op of node.operands) {
        const r = walk(op, negated);
        acc = acc === undefined ? r : conjunction ? both(acc, r) : either(acc, r);
      }
      return acc ?? none();
    }
  }
}

function present(): MutableRestriction {
  return { present: true, absent: false, values: undefined };
}

/** Restrictions of `a && b`: everything either side demands. */
function both(a: Acc, b: Acc): Acc {
  if (a.never || b.never) return never();
  for (const [key, rb] of b.labels) {
    const ra = a.labels.get(key);
    if (ra === undefined) {
      a.labels.set(key, rb);
      continue;
    }
    ra.present ||= rb.present;
    ra.absent ||= rb.absent;
    if (ra.values === undefined) ra.values = rb.values;
    else if (rb.values !== undefined) {
      for (const v of ra.values) if (!rb.values.has(v)) ra.values.delete(v);
    }
    if ((ra.present && ra.absent) || (ra.values !== undefined && ra.values.size === 0)) return never();
  }
  for (const r of a.labels.values()) {
    if (r.values !== undefined && r.values.size === 0) return never();
  }
  return a;
}

/** Restrictions of `a || b`: only what both sides demand. */
function either(a: Acc, b: Acc): Acc {
  if (a.never) return b;
  if (b.never) return a;
  const out = new Map<string, MutableRestriction>();
  for (const [key, ra] of a.labels) {
    const rb = b.labels.get(key);
    if (rb === undefined) continue;
    const r: MutableRestriction = {
      present: ra.present && rb.present,
      absent: ra.absent && rb.absent,
      values: undefined,
    };
    if (ra.values !== undefined && rb.values !== undefined) {
      r.values = new Set(ra.values);
      for (const v of rb.values) r.values.add(v);
    }
    if (r.present || r.absent) out.set(key, r);
  }
  return { never: false, labels: out };
}
