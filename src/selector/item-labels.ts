/**
 * The items' side of the label index: an item's effective labels (its own over its parents',
 * the first listed parent winning), the parents and their children, and the items indexed by
 * effective label (key → value → label sets → items, with counts per key and value).
 */
import { type LabelMap, newLabelMap } from './label-map.ts';
import { addOne, deleteOne, forEachOne, type OneOrSet } from './one-or-set.ts';
import type { SelectorEntry } from './selector-filing.ts';

/** An item (endpoint, network set) of the label index. */
export interface ItemEntry {
  readonly id: string;
  /** Own labels (copy, no prototype keys; interned: shared with items that carry equal ones). */
  own: LabelMap;
  /** Interned likewise. */
  parentIds: readonly string[];
  /** Effective labels (no prototype keys; interned; may be `own` itself when there are no parents). */
  labels: LabelMap;
  /** Current matches (see {@link Matches}). */
  matches: Matches;
  /** The caller's data (see LabelIndex.updateItem). */
  data: unknown;
}

/**
 * An item's current matches: most items match a few selectors, and a `Set` costs ~150 bytes even
 * for two, so up to {@link SMALL_MATCHES} they are an exactly sized array that is replaced, never
 * changed (so a loop over the old one while matches start and stop is safe, as with a `Set`), and
 * beyond that a `Set`.
 */
export type Matches = readonly SelectorEntry[] | Set<SelectorEntry>;

const SMALL_MATCHES = 8;

/** No matches (shared). */
export const NO_MATCHES: readonly SelectorEntry[] = Object.freeze([]);

/** True when `sel` is among the matches. */
export function hasMatch(m: Matches, sel: SelectorEntry): boolean {
  return m instanceof Set ? m.has(sel) : m.includes(sel);
}

/** The matches with `sel` added (the same `Set`, or a new array). */
export function withMatch(m: Matches, sel: SelectorEntry): Matches {
  if (m instanceof Set) return m.add(sel);
  if (m.includes(sel)) return m;
  if (m.length >= SMALL_MATCHES) return new Set([...m, sel]);
  return m.concat([sel]);
}

/** The matches without `sel` (the same `Set`, or a new array). */
export function withoutMatch(m: Matches, sel: SelectorEntry): Matches {
  if (m instanceof Set) {
    m.delete(sel);
    return m;
  }
  const i = m.indexOf(sel);
  if (i < 0) return m;
  if (m.length === 1) return NO_MATCHES;
  return m.slice(0, i).concat(m.slice(i + 1));
}

/** A parent (profile, namespace): the labels it passes on, and the items that name it. */
export interface ParentEntry {
  labels: LabelMap | undefined;
  readonly children: Set<ItemEntry>;
}

/** The parents items name, and what they pass on. */
export class ParentLabels {
  readonly #parents = new Map<string, ParentEntry>();

  /** Number of parents known (named by an item, or given labels). */
  get size(): number {
    return this.#parents.size;
  }

  /** The parent, or undefined when unknown. */
  get(parentId: string): ParentEntry | undefined {
    return this.#parents.get(parentId);
  }

  /** The parent, created without labels when unknown. */
  ensure(parentId: string): ParentEntry {
    let parent = this.#parents.get(parentId);
    if (parent === undefined) {
      parent = { labels: undefined, children: new Set() };
      this.#parents.set(parentId, parent);
    }
    return parent;
  }

  /** Forgets a parent. */
  delete(parentId: string): void {
    this.#parents.delete(parentId);
  }

  /** Makes the item a child of each parent in `parentIds`. */
  attach(item: ItemEntry, parentIds: readonly string[]): void {
    for (const pid of parentIds) this.ensure(pid).children.add(item);
  }

  /** Detaches an item from the parents in `oldIds` that are not in `keepIds`. */
  detach(item: ItemEntry, oldIds: readonly string[], keepIds: readonly string[]): void {
    for (const pid of oldIds) {
      if (keepIds.includes(pid)) continue;
      const parent = this.#parents.get(pid);
      if (parent === undefined) continue;
      parent.children.delete(item);
      if (parent.children.size === 0 && parent.labels === undefined) this.#parents.delete(pid);
    }
  }

  /** The item's effective labels: its own over its parents', earlier parents over later ones. */
  effective(item: ItemEntry): LabelMap {
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
}

/**
 * Items by effective label. Items are grouped by their effective label set, which is interned
 * (equal sets are one object: the pods of one deployment in one namespace share it), and the
 * groups, not the items, are filed key → value: an item costs one entry in its group instead of
 * one per label (issue 14, memory per remote endpoint). A group of one item, and a value one
 * label set carries, hold it without a `Set` (one-or-set.ts), so an item whose labels no other
 * carries costs no more than before grouping. Counts per key and per value say how many items a
 * filing would visit.
 */
export class ItemsByLabel {
  /** Effective label set → the items that carry it. */
  readonly #groups = new Map<LabelMap, OneOrSet<ItemEntry>>();
  /** key → value → the label sets (groups) carrying it. */
  readonly #byValue = new Map<string, Map<string, OneOrSet<LabelMap>>>();
  /** key → value → number of items carrying it. */
  readonly #valueCounts = new Map<string, Map<string, number>>();
  readonly #keyCounts = new Map<string, number>();

  /** Number of items carrying `key`. */
  keyCount(key: string): number {
    return this.#keyCounts.get(key) ?? 0;
  }

  /** Number of items carrying `key = value`. */
  valueCount(key: string, value: string): number {
    return this.#valueCounts.get(key)?.get(value) ?? 0;
  }

  /** Calls `fn` for each item carrying `key` with one of `values` (any value when undefined). */
  forEachItem(key: string, values: readonly string[] | undefined, fn: (item: ItemEntry) => void): void {
    const byValue = this.#byValue.get(key);
    if (byValue === undefined) return;
    const visit = (value: string): void => forEachOne(byValue, value, (labels) => forEachOne(this.#groups, labels, fn));
    for (const v of values ?? byValue.keys()) visit(v);
  }

  /** Files a new item under `labels`, its interned effective labels. */
  add(item: ItemEntry, labels: LabelMap): void {
    this.#join(item, labels);
    for (const k in labels) this.#count(k, labels[k] as string, 1);
  }

  /** Unfiles an item from `labels`, as it was filed. */
  remove(item: ItemEntry, labels: LabelMap): void {
    this.#leave(item, labels);
    for (const k in labels) this.#count(k, labels[k] as string, -1);
  }

  /** Refiles an item whose effective labels went from `from` to `to`; `changed` lists the keys whose value differs. */
  move(item: ItemEntry, from: LabelMap, to: LabelMap, changed: readonly string[]): void {
    this.#leave(item, from);
    this.#join(item, to);
    for (const k of changed) {
      if (from[k] !== undefined) this.#count(k, from[k] as string, -1);
      if (to[k] !== undefined) this.#count(k, to[k] as string, 1);
    }
  }

  /** Puts the item in the group of `labels`, filing the group when it is new. */
  #join(item: ItemEntry, labels: LabelMap): void {
    if (!addOne(this.#groups, labels, item)) return;
    for (const k in labels) {
      let byValue = this.#byValue.get(k);
      if (byValue === undefined) this.#byValue.set(k, (byValue = new Map()));
      addOne(byValue, labels[k] as string, labels);
    }
  }

  /** Takes the item out of the group of `labels`, unfiling the group when it empties. */
  #leave(item: ItemEntry, labels: LabelMap): void {
    if (!deleteOne(this.#groups, labels, item)) return;
    for (const k in labels) {
      const byValue = this.#byValue.get(k);
      if (byValue === undefined) continue;
      deleteOne(byValue, labels[k] as string, labels);
      if (byValue.size === 0) this.#byValue.delete(k);
    }
  }

  #count(key: string, value: string, delta: 1 | -1): void {
    let values = this.#valueCounts.get(key);
    if (values === undefined) this.#valueCounts.set(key, (values = new Map()));
    const n = (values.get(value) ?? 0) + delta;
    if (n > 0) values.set(value, n);
    else values.delete(value);
    if (values.size === 0) this.#valueCounts.delete(key);
    const total = (this.#keyCounts.get(key) ?? 0) + delta;
    if (total > 0) this.#keyCounts.set(key, total);
    else this.#keyCounts.delete(key);
  }
}
