/**
 * Where the label index files each selector, so that an item update visits only the selectors
 * that could match it. Every selector is analysed once (restrictions.ts) for what any match
 * must carry, and filed in exactly one place:
 * - **values** `(key, {v1, v2, ...})`: every match has `key` with one of those values
 *   (`app == "web"`, `tier in {...}`, or such a term inside a top-level `&&`);
 * - **key** `key`: every match has `key` (`has(k)`, `k contains "x"`, ...);
 * - **scan**: nothing is demanded (`!has(x)`, `a != "b"`, `all()`, `a == "x" || b == "y"`);
 *   these are also filed under each label they mention;
 * - **never**: nothing can match (`a == "x" && a == "y"`, `!all()`); never evaluated.
 * When several labels qualify, the one with the fewest items at filing time is chosen.
 */
import type { SelectorNode } from './ast.ts';
import { referencedLabels } from './ast.ts';
import type { ItemEntry, ItemsByLabel } from './item-labels.ts';
import { addToSetMap, deleteFromSetMap, sameIds } from './label-map.ts';
import type { Restrictions } from './restrictions.ts';
import type { Selector } from './selector.ts';

/** Where a selector is filed. */
export type Plan =
  | { readonly kind: 'never' }
  | { readonly kind: 'values'; readonly key: string; readonly values: readonly string[] }
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'scan'; readonly keys: readonly string[] };

/**
 * A distinct selector of the label index (by canonical text) and the ids filed with it: policies
 * share selectors by the thousand (a cold start files 5,000 policies' selectors, 100 distinct),
 * so each distinct selector is filed, evaluated and holds its members once, whatever the number
 * of ids that name it; a match is reported once per id.
 */
export interface SelectorEntry {
  readonly selector: Selector;
  readonly canonical: string;
  readonly restrictions: Restrictions;
  plan: Plan;
  /** The ids filed with this selector (never empty while the entry is filed). */
  readonly ids: Set<string>;
  /** Current matches. */
  readonly members: Set<ItemEntry>;
}

/**
 * Chooses where to file a selector: under its label with the fewest items now. The plan object is
 * made for the label chosen only (optimize() asks again for every selector once the snapshot is in).
 */
export function choosePlan(r: Restrictions, ast: SelectorNode, items: ItemsByLabel): Plan {
  if (r.never) return { kind: 'never' };
  let bestKey: string | undefined;
  let bestValues: ReadonlySet<string> | undefined;
  let bestCost = Infinity;
  for (const [key, lr] of r.labels) {
    if (!lr.present) continue;
    let cost: number;
    if (lr.values !== undefined) {
      cost = 0;
      for (const v of lr.values) cost += items.valueCount(key, v);
      // Prefer a value filing over a key filing at equal cost, and fewer values over more.
      cost += lr.values.size * 1e-6;
    } else {
      cost = items.keyCount(key) + 0.5;
    }
    if (cost < bestCost) {
      bestCost = cost;
      bestKey = key;
      bestValues = lr.values;
    }
  }
  if (bestKey === undefined) return { kind: 'scan', keys: referencedLabels(ast) };
  return bestValues !== undefined ? { kind: 'values', key: bestKey, values: [...bestValues] } : { kind: 'key', key: bestKey };
}

/** True when two plans file a selector in the same place. */
export function samePlan(a: Plan, b: Plan): boolean {
  switch (a.kind) {
    case 'never':
    case 'scan':
      return a.kind === b.kind;
    case 'key':
      return b.kind === 'key' && a.key === b.key;
    case 'values':
      return b.kind === 'values' && a.key === b.key && sameIds(a.values, b.values);
  }
}

/** The selectors as filed (read by the index; changed only through file/unfile). */
export class SelectorFiling {
  /** Selectors filed by value: key → value → selectors. */
  readonly byValue = new Map<string, Map<string, Set<SelectorEntry>>>();
  /** Selectors filed by key. */
  readonly byKey = new Map<string, Set<SelectorEntry>>();
  /** Scan selectors, all of them and by each label they mention. */
  readonly scan = new Set<SelectorEntry>();
  readonly scanByKey = new Map<string, Set<SelectorEntry>>();

  /** Files a selector where its plan says. */
  file(sel: SelectorEntry): void {
    const plan = sel.plan;
    switch (plan.kind) {
      case 'never':
        return;
      case 'values': {
        let byValue = this.byValue.get(plan.key);
        if (byValue === undefined) this.byValue.set(plan.key, (byValue = new Map()));
        for (const v of plan.values) addToSetMap(byValue, v, sel);
        return;
      }
      case 'key':
        addToSetMap(this.byKey, plan.key, sel);
        return;
      case 'scan':
        this.scan.add(sel);
        for (const k of plan.keys) addToSetMap(this.scanByKey, k, sel);
        return;
    }
  }

  /** Removes a selector from where its plan filed it. */
  unfile(sel: SelectorEntry): void {
    const plan = sel.plan;
    switch (plan.kind) {
      case 'never':
        return;
      case 'values': {
        const byValue = this.byValue.get(plan.key);
        if (byValue === undefined) return;
        for (const v of plan.values) deleteFromSetMap(byValue, v, sel);
        if (byValue.size === 0) this.byValue.delete(plan.key);
        return;
      }
      case 'key':
        deleteFromSetMap(this.byKey, plan.key, sel);
        return;
      case 'scan':
        this.scan.delete(sel);
        for (const k of plan.keys) deleteFromSetMap(this.scanByKey, k, sel);
        return;
    }
  }
}
