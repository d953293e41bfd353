/**
 * The label index: keeps "which items does each selector match" up to date as selectors, items
 * and parents change, and reports every change of membership through two callbacks.
 *
 * ## Model
 * - An **item** (a workload or host endpoint, a network set) has its own labels and an ordered
 *   list of **parents** (profiles, namespaces). Its effective labels are its own labels, plus
 *   each parent's labels that it does not set itself; when two parents set the same label, the
 *   one listed first wins (Felix's InheritIndex does the same).
 * - A **selector** is filed under an id the caller chooses (typically the selector's own id, or
 *   a policy's). The index tracks the set of items whose effective labels it matches.
 *
 * ## Strategy: work proportional to the change
 * Every selector is analysed once (restrictions.ts) for what any match must carry, and filed in
 * exactly one place:
 * - **values** `(key, {v1, v2, ...})`: every match has `key` with one of those values
 *   (`app == "web"`, `tier in {...}`, or such a term inside a top-level `&&`);
 * - **key** `key`: every match has `key` (`has(k)`, `k contains "x"`, ...);
 * - **scan**: nothing is demanded (`!has(x)`, `a != "b"`, `all()`, `a == "x" || b == "y"`);
 *   these are also filed under each label they mention;
 * - **never**: nothing can match (`a == "x" && a == "y"`, `!all()`); never evaluated.
 * When several labels qualify, the one with the fewest items at filing time is chosen
 * ({@link LabelIndex.optimize} re-files after the item population has changed a lot).
 *
 * Items are indexed by their effective labels: key → value → items.
 *
 * - **Item added or changed**: re-check the selectors it matched; then evaluate the selectors
 *   filed under each `(key, value)` and each `key` it carries (each selector is filed under one
 *   key and an item has one value per key, so no selector is visited twice), and the scan
 *   selectors that mention a label whose effective value changed (all scan selectors when the item
 *   is new). A selector that mentions no changed label cannot change its answer, so the other
 *   scan selectors are skipped; a filed selector that is not a candidate cannot match at all.
 * - **Parent labels changed**: only that parent's children are recomputed, each as an item
 *   whose effective labels changed (a child that overrides every changed label costs one diff).
 * - **Selector added or changed**: re-check its current members, then evaluate only the items in
 *   its filing bucket (for a scan selector, every item: its answer can depend on any item).
 * - **Deletes** stop exactly the matches that existed.
 *
 * Callbacks run synchronously inside the update that causes them; for each item (or selector) an
 * update touches, its stops come before its starts. Callbacks must not modify the index (doing so
 * throws) and must not throw (the update would be left half done). Queries return copies.
 *
 * Membership is kept twice (selector → items, item → selectors) as sets of entry objects, so
 * both queries and deletes cost the size of the answer.
 */
import type { SelectorNode } from './ast.ts';
import { referencedLabels } from './ast.ts';
import type { Labels } from './evaluate.ts';
import { labelRestrictions, type Restrictions } from './restrictions.ts';
import type { Selector } from './selector.ts';

/** Called with the selector's id (as filed) and the item's id. */
export type MatchCallback = (selectorId: string, itemId: string) => void;

/** Options for {@link LabelIndex}. */
export interface LabelIndexOptions {
  /** An item started matching a selector. */
  onMatchStarted?: MatchCallback;
  /** An item stopped matching a selector (it changed, or either was deleted). */
  onMatchStopped?: MatchCallback;
}

type LabelMap = Record<string, string>;

type Plan =
  | { readonly kind: 'never' }
  | { readonly kind: 'values'; readonly key: string; readonly values: readonly string[] }
  | { readonly kind: 'key'; readonly key: string }
  | { readonly kind: 'scan'; readonly keys: readonly string[] };

interface SelectorEntry {
  readonly id: string;
  selector: Selector;
  canonical: string;
  restrictions: Restrictions;
  plan: Plan;
  /** Current matches. */
  readonly members: Set<ItemEntry>;
}

interface ItemEntry {
  readonly id: string;
  /** Own labels (copy, no prototype keys). */
  own: LabelMap;
  parentIds: readonly string[];
  /** Effective labels (no prototype keys; may be `own` itself when there are no parents). */
  labels: LabelMap;
  /** Current matches. */
  readonly matches: Set<SelectorEntry>;
}

interface ParentEntry {
  labels: LabelMap | undefined;
  readonly children: Set<ItemEntry>;
}

/**
 * Label maps are created with this (empty, null-prototype) prototype: nothing is inherited, so
 * keys like `constructor` or `__proto__` are ordinary own keys, and unlike `Object.create(null)`
 * the objects stay in V8's fast mode (cheap property reads and `for...in`).
 */
const LABELS_PROTO: object = Object.freeze(Object.create(null) as object);
const newLabelMap = (): LabelMap => Object.create(LABELS_PROTO) as LabelMap;

const EMPTY_LABELS: LabelMap = Object.freeze(newLabelMap());

/** Incrementally maintained selector → matching items index, with label inheritance from parents. */
export class LabelIndex {
  readonly #onStarted: MatchCallback | undefined;
  readonly #onStopped: MatchCallback | undefined;

  readonly #selectors = new Map<string, SelectorEntry>();
  readonly #items = new Map<string, ItemEntry>();
  readonly #parents = new Map<string, ParentEntry>();

  /** Items by effective label: key → value → items. */
  readonly #itemsByValue = new Map<string, Map<string, Set<ItemEntry>>>();
  /** Number of items carrying each key. */
  readonly #keyCounts = new Map<string, number>();

  /** Selectors filed by value: key → value → selectors. */
  readonly #selsByValue = new Map<string, Map<string, Set<SelectorEntry>>>();
  /** Selectors filed by key. */
  readonly #selsByKey = new Map<string, Set<SelectorEntry>>();
  /** Scan selectors, all of them and by each label they mention. */
  readonly #scanSels = new Set<SelectorEntry>();
  readonly #scanSelsByKey = new Map<string, Set<SelectorEntry>>();

  #busy = false;

  constructor(options: LabelIndexOptions = {}) {
    this.#onStarted = options.onMatchStarted;
    this.#onStopped = options.onMatchStopped;
  }

  // ---------------------------------------------------------------------------------------------
  // Selectors

  /**
   * Adds a selector under `id`, or replaces the selector filed there. Replacing it with an equal
   * selector (same canonical text) does nothing.
   */
  updateSelector(id: string, selector: Selector): void {
    this.#enter();
    try {
      const canonical = selector.toString();
      let entry = this.#selectors.get(id);
      if (entry !== undefined && entry.canonical === canonical) {
        entry.selector = selector;
        return;
      }
      const restrictions = labelRestrictions(selector.ast);
      const plan = this.#plan(restrictions, selector.ast);
      if (entry === undefined) {
        entry = { id, selector, canonical, restrictions, plan, members: new Set() };
        this.#selectors.set(id, entry);
        this.#file(entry);
      } else {
        this.#unfile(entry);
        entry.selector = selector;
        entry.canonical = canonical;
        entry.restrictions = restrictions;
        entry.plan = plan;
        this.#file(entry);
        for (const item of entry.members) {
          if (!selector.matches(item.labels)) this.#stop(entry, item);
        }
      }
      this.#scanCandidates(entry);
    } finally {
      this.#busy = false;
    }
  }

  /** Removes the selector filed under `id` (stopping all its matches); unknown ids are ignored. */
  deleteSelector(id: string): void {
    this.#enter();
    try {
      const entry = this.#selectors.get(id);
      if (entry === undefined) return;
      for (const item of entry.members) this.#stop(entry, item);
      this.#unfile(entry);
      this.#selectors.delete(id);
    } finally {
      this.#busy = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Items

  /**
   * Adds or updates an item: its own labels and its parents, in priority order. The labels are
   * copied. An update that changes neither is a no-op.
   */
  updateItem(itemId: string, labels: Labels, parentIds: readonly string[] = []): void {
    this.#enter();
    try {
      const own = copyLabels(labels);
      let item = this.#items.get(itemId);
      if (item === undefined) {
        item = { id: itemId, own, parentIds: [...parentIds], labels: EMPTY_LABELS, matches: new Set() };
        this.#items.set(itemId, item);
        this.#attach(item, item.parentIds);
        const eff = this.#effective(item);
        for (const k in eff) this.#indexItem(item, k, eff[k] as string);
        item.labels = eff;
        this.#evaluateItem(item, undefined);
        return;
      }
      const parentsChanged = !sameIds(item.parentIds, parentIds);
      if (!parentsChanged && sameLabels(item.own, own)) return;
      if (parentsChanged) {
        const old = item.parentIds;
        item.parentIds = [...parentIds];
        this.#attach(item, item.parentIds);
        this.#detach(item, old, item.parentIds);
      }
      item.own = own;
      this.#refresh(item);
    } finally {
      this.#busy = false;
    }
  }

  /** Removes an item (stopping all its matches); unknown ids are ignored. */
  deleteItem(itemId: string): void {
    this.#enter();
    try {
      const item = this.#items.get(itemId);
      if (item === undefined) return;
      for (const sel of item.matches) this.#stop(sel, item);
      for (const k in item.labels) this.#unindexItem(item, k, item.labels[k] as string);
      this.#detach(item, item.parentIds, []);
      this.#items.delete(itemId);
    } finally {
      this.#busy = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Parents

  /**
   * Sets the labels a parent passes to its children (copied). Only the parent's children are
   * re-evaluated. A parent may be given labels before any item names it.
   */
  updateParentLabels(parentId: string, labels: Labels): void {
    this.#enter();
    try {
      const copy = copyLabels(labels);
      let parent = this.#parents.get(parentId);
      if (parent === undefined) {
        parent = { labels: undefined, children: new Set() };
        this.#parents.set(parentId, parent);
      }
      if (parent.labels !== undefined && sameLabels(parent.labels, copy)) return;
      parent.labels = copy;
      for (const child of parent.children) this.#refresh(child);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Removes a parent's labels. Items that name it keep naming it and simply inherit nothing from
   * it until it is given labels again.
   */
  deleteParent(parentId: string): void {
    this.#enter();
    try {
      const parent = this.#parents.get(parentId);
      if (parent === undefined || parent.labels === undefined) return;
      parent.labels = undefined;
      for (const child of parent.children) this.#refresh(child);
      if (parent.children.size === 0) this.#parents.delete(parentId);
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Re-files every selector under its currently cheapest label. Filing never changes results,
   * only how many candidates an update visits; selectors are filed by the item counts at the time
   * they are added, so call this once the initial snapshot is loaded (selectors that arrived
   * before the items they select may be filed under a label that turned out to be common).
   * Costs one pass over the selectors and evaluates nothing. Returns how many were re-filed.
   */
  optimize(): number {
    this.#enter();
    try {
      let moved = 0;
      for (const entry of this.#selectors.values()) {
        const plan = this.#plan(entry.restrictions, entry.selector.ast);
        if (samePlan(plan, entry.plan)) continue;
        this.#unfile(entry);
        entry.plan = plan;
        this.#file(entry);
        moved++;
      }
      return moved;
    } finally {
      this.#busy = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  /** Ids of the items the selector filed under `selectorId` matches now (a copy; empty if unknown). */
  membersOf(selectorId: string): ReadonlySet<string> {
    const entry = this.#selectors.get(selectorId);
    const out = new Set<string>();
    if (entry !== undefined) for (const item of entry.members) out.add(item.id);
    return out;
  }

  /** Ids of the selectors that match the item now (a copy; empty if unknown). */
  selectorsMatching(itemId: string): ReadonlySet<string> {
    const item = this.#items.get(itemId);
    const out = new Set<string>();
    if (item !== undefined) for (const sel of item.matches) out.add(sel.id);
    return out;
  }

  /** Number of items the selector filed under `selectorId` matches now. */
  memberCount(selectorId: string): number {
    return this.#selectors.get(selectorId)?.members.size ?? 0;
  }

  /** The item's effective labels (own labels over inherited ones), or undefined if unknown. */
  effectiveLabels(itemId: string): Readonly<Record<string, string>> | undefined {
    const item = this.#items.get(itemId);
    return item === undefined ? undefined : { ...item.labels };
  }

  /** True when a selector is filed under `selectorId`. */
  hasSelector(selectorId: string): boolean {
    return this.#selectors.has(selectorId);
  }

  /** True when the item is known. */
  hasItem(itemId: string): boolean {
    return this.#items.has(itemId);
  }

  /** Number of selectors filed. */
  get selectorCount(): number {
    return this.#selectors.size;
  }

  /** Number of items known. */
  get itemCount(): number {
    return this.#items.size;
  }

  /** How the selectors are filed (for metrics and benchmarks). */
  stats(): { selectors: number; byValue: number; byKey: number; scan: number; never: number; items: number; parents: number } {
    let byValue = 0;
    let byKey = 0;
    let never = 0;
    for (const s of this.#selectors.values()) {
      if (s.plan.kind === 'values') byValue++;
      else if (s.plan.kind === 'key') byKey++;
      else if (s.plan.kind === 'never') never++;
    }
    return {
      selectors: this.#selectors.size,
      byValue,
      byKey,
      scan: this.#scanSels.size,
      never,
      items: this.#items.size,
      parents: this.#parents.size,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  #enter(): void {
    if (this.#busy) throw new Error('LabelIndex was modified from inside one of its callbacks');
    this.#busy = true;
  }

  #start(sel: SelectorEntry, item: ItemEntry): void {
    sel.members.add(item);
    item.matches.add(sel);
    this.#onStarted?.(sel.id, item.id);
  }

  #stop(sel: SelectorEntry, item: ItemEntry): void {
    sel.members.delete(item);
    item.matches.delete(sel);
    this.#onStopped?.(sel.id, item.id);
  }

  /** Chooses where to file a selector (see the header comment). */
  #plan(r: Restrictions, ast: SelectorNode): Plan {
    if (r.never) return { kind: 'never' };
    let best: Plan | undefined;
    let bestCost = Infinity;
    for (const [key, lr] of r.labels) {
      if (!lr.present) continue;
      let cost: number;
      let plan: Plan;
      if (lr.values !== undefined) {
        cost = 0;
        const byValue = this.#itemsByValue.get(key);
        for (const v of lr.values) cost += byValue?.get(v)?.size ?? 0;
        // Prefer a value filing over a key filing at equal cost, and fewer values over more.
        cost += lr.values.size * 1e-6;
        plan = { kind: 'values', key, values: [...lr.values] };
      } else {
        cost = (this.#keyCounts.get(key) ?? 0) + 0.5;
        plan = { kind: 'key', key };
      }
      if (cost < bestCost) {
        bestCost = cost;
        best = plan;
      }
    }
    return best ?? { kind: 'scan', keys: referencedLabels(ast) };
  }

  #file(sel: SelectorEntry): void {
    const plan = sel.plan;
    switch (plan.kind) {
      case 'never':
        return;
      case 'values': {
        let byValue = this.#selsByValue.get(plan.key);
        if (byValue === undefined) this.#selsByValue.set(plan.key, (byValue = new Map()));
        for (const v of plan.values) {
          let set = byValue.get(v);
          if (set === undefined) byValue.set(v, (set = new Set()));
          set.add(sel);
        }
        return;
      }
      case 'key': {
        let set = this.#selsByKey.get(plan.key);
        if (set === undefined) this.#selsByKey.set(plan.key, (set = new Set()));
        set.add(sel);
        return;
      }
      case 'scan':
        this.#scanSels.add(sel);
        for (const k of plan.keys) {
          let set = this.#scanSelsByKey.get(k);
          if (set === undefined) this.#scanSelsByKey.set(k, (set = new Set()));
          set.add(sel);
        }
        return;
    }
  }

  #unfile(sel: SelectorEntry): void {
    const plan = sel.plan;
    switch (plan.kind) {
      case 'never':
        return;
      case 'values': {
        const byValue = this.#selsByValue.get(plan.key);
        if (byValue === undefined) return;
        for (const v of plan.values) {
          const set = byValue.get(v);
          if (set === undefined) continue;
          set.delete(sel);
          if (set.size === 0) byValue.delete(v);
        }
        if (byValue.size === 0) this.#selsByValue.delete(plan.key);
        return;
      }
      case 'key':
        deleteFromSetMap(this.#selsByKey, plan.key, sel);
        return;
      case 'scan':
        this.#scanSels.delete(sel);
        for (const k of plan.keys) deleteFromSetMap(this.#scanSelsByKey, k, sel);
        return;
    }
  }

  /** Evaluates a (new or changed) selector against the items of its filing bucket it does not match yet. */
  #scanCandidates(sel: SelectorEntry): void {
    const plan = sel.plan;
    const matches = sel.selector.matches;
    const consider = (item: ItemEntry): void => {
      if (!sel.members.has(item) && matches(item.labels)) this.#start(sel, item);
    };
    switch (plan.kind) {
      case 'never':
        return;
      case 'values': {
        const byValue = this.#itemsByValue.get(plan.key);
        if (byValue === undefined) return;
        for (const v of plan.values) {
          const set = byValue.get(v);
          if (set !== undefined) for (const item of set) consider(item);
        }
        return;
      }
      case 'key': {
        const byValue = this.#itemsByValue.get(plan.key);
        if (byValue === undefined) return;
        for (const set of byValue.values()) for (const item of set) consider(item);
        return;
      }
      case 'scan':
        for (const item of this.#items.values()) consider(item);
        return;
    }
  }

  /**
   * Re-evaluates an item whose effective labels are `item.labels`. `changed` lists the labels
   * whose effective value changed, or is undefined for a new item.
   */
  #evaluateItem(item: ItemEntry, changed: readonly string[] | undefined): void {
    const labels = item.labels;
    // 1. Matches that no longer hold.
    for (const sel of item.matches) {
      if (!sel.selector.matches(labels)) this.#stop(sel, item);
    }
    // 2. Selectors filed under a label (and value) the item carries.
    const matches = item.matches;
    for (const k in labels) {
      const byValue = this.#selsByValue.get(k);
      if (byValue !== undefined) {
        const set = byValue.get(labels[k] as string);
        if (set !== undefined) {
          for (const sel of set) {
            if (!matches.has(sel) && sel.selector.matches(labels)) this.#start(sel, item);
          }
        }
      }
      const byKey = this.#selsByKey.get(k);
      if (byKey !== undefined) {
        for (const sel of byKey) {
          if (!matches.has(sel) && sel.selector.matches(labels)) this.#start(sel, item);
        }
      }
    }
    // 3. Scan selectors: all of them for a new item, else those that mention a changed label.
    if (this.#scanSels.size === 0) return;
    if (changed === undefined) {
      for (const sel of this.#scanSels) {
        if (!matches.has(sel) && sel.selector.matches(labels)) this.#start(sel, item);
      }
      return;
    }
    for (const k of changed) {
      const set = this.#scanSelsByKey.get(k);
      if (set === undefined) continue;
      for (const sel of set) {
        if (!matches.has(sel) && sel.selector.matches(labels)) this.#start(sel, item);
      }
    }
  }

  /** Recomputes an existing item's effective labels and, if they changed, re-indexes and re-evaluates it. */
  #refresh(item: ItemEntry): void {
    const old = item.labels;
    const eff = this.#effective(item);
    const changed: string[] = [];
    for (const k in eff) if (old[k] !== eff[k]) changed.push(k);
    for (const k in old) if (eff[k] === undefined) changed.push(k);
    item.labels = eff;
    if (changed.length === 0) return;
    for (const k of changed) {
      const ov = old[k];
      const nv = eff[k];
      if (ov !== undefined) this.#unindexItem(item, k, ov);
      if (nv !== undefined) this.#indexItem(item, k, nv);
    }
    this.#evaluateItem(item, changed);
  }

  #effective(item: ItemEntry): LabelMap {
    const ids = item.parentIds;
    if (ids.length === 0) return item.own;
    let eff: LabelMap | undefined;
    // Last parent first, so earlier parents, then the item's own labels, overwrite.
    for (let i = ids.length - 1; i >= 0; i--) {
      const labels = this.#parents.get(ids[i] as string)?.labels;
      if (labels === undefined) continue;
      eff ??= newLabelMap();
      for (const k in labels) eff[k] = labels[k] as string;
    }
    if (eff === undefined) return item.own;
    const own = item.own;
    for (const k in own) eff[k] = own[k] as string;
    return eff;
  }

  #indexItem(item: ItemEntry, key: string, value: string): void {
    let byValue = this.#itemsByValue.get(key);
    if (byValue === undefined) this.#itemsByValue.set(key, (byValue = new Map()));
    let set = byValue.get(value);
    if (set === undefined) byValue.set(value, (set = new Set()));
    set.add(item);
    this.#keyCounts.set(key, (this.#keyCounts.get(key) ?? 0) + 1);
  }

  #unindexItem(item: ItemEntry, key: string, value: string): void {
    const byValue = this.#itemsByValue.get(key);
    if (byValue === undefined) return;
    const set = byValue.get(value);
    if (set === undefined || !set.delete(item)) return;
    if (set.size === 0) {
      byValue.delete(value);
      if (byValue.size === 0) this.#itemsByValue.delete(key);
    }
    const n = (this.#keyCounts.get(key) ?? 1) - 1;
    if (n === 0) this.#keyCounts.delete(key);
    else this.#keyCounts.set(key, n);
  }

  #attach(item: ItemEntry, parentIds: readonly string[]): void {
    for (const pid of parentIds) {
      let parent = this.#parents.get(pid);
      if (parent === undefined) {
        parent = { labels: undefined, children: new Set() };
        this.#parents.set(pid, parent);
      }
      parent.children.add(item);
    }
  }

  /** Detaches an item from the parents in `oldIds` that are not in `keepIds`. */
  #detach(item: ItemEntry, oldIds: readonly string[], keepIds: readonly string[]): void {
    for (const pid of oldIds) {
      if (keepIds.includes(pid)) continue;
      const parent = this.#parents.get(pid);
      if (parent === undefined) continue;
      parent.children.delete(item);
      if (parent.children.size === 0 && parent.labels === undefined) this.#parents.delete(pid);
    }
  }
}

function copyLabels(labels: Labels): LabelMap {
  const out = newLabelMap();
  for (const k of Object.keys(labels)) {
    const v = labels[k];
    if (typeof v !== 'string') throw new TypeError(`label ${JSON.stringify(k)} has a non-string value`);
    out[k] = v;
  }
  return out;
}

function sameLabels(a: LabelMap, b: LabelMap): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function samePlan(a: Plan, b: Plan): boolean {
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

function deleteFromSetMap<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
