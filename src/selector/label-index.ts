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
 *   a policy's). The index tracks the set of items whose effective labels it matches. Ids whose
 *   selectors are equal (same canonical text) share one entry: it is filed, evaluated and holds
 *   its members once (5,000 policies have ~100 distinct selectors), and each match is reported
 *   once per id, or, with {@link LabelIndexOptions.groups}, once per shared selector (a group of
 *   ids) and item, with the changes of a group's ids reported apart.
 *
 * ## Strategy: work proportional to the change
 * Every selector is analysed once (restrictions.ts) for what any match must carry, and filed in
 * exactly one place (selector-filing.ts: by values, by key, scan, never), under its label with
 * the fewest items at filing time ({@link LabelIndex.optimize} re-files after the item population
 * has changed a lot).
 *
 * Items are indexed by their effective labels: key → value → the label sets carrying it → items
 * (item-labels.ts).
 *
 * - **Item added or changed**: re-check the selectors it matched; then evaluate the selectors
 *   filed under each `(key, value)` and each `key` it carries (each selector is filed under one
 *   key and an item has one value per key, so no selector is visited twice), and the scan
 *   selectors that mention a label whose effective value changed (all scan selectors when the item
 *   is new). A selector that mentions no changed label cannot change its answer, so the other
 *   scan selectors are skipped; a filed selector that is not a candidate cannot match at all.
 * - **Parent labels changed**: only that parent's children are recomputed, each as an item
 *   whose effective labels changed (a child that overrides every changed label costs one diff).
 * - **Selector added or changed**: a selector another id already has costs no evaluation (its
 *   members are known); a new one evaluates only the items in its filing bucket (for a scan
 *   selector, every item: its answer can depend on any item). A changed id reports the difference
 *   between the old selector's members and the new one's.
 * - **Deletes** stop exactly the matches that existed.
 *
 * Callbacks run synchronously inside the update that causes them; for each item (or selector) an
 * update touches, its stops come before its starts. Callbacks must not modify the index (doing so
 * throws) and must not throw (the update would be left half done). Queries return copies.
 *
 * Membership is kept twice (selector → items, item → selectors) as sets of entry objects, so
 * both queries and deletes cost the size of the answer.
 *
 * ## Memory
 * Items carry the same label sets and parent lists by the thousand (the pods of a deployment,
 * the endpoints of a namespace): own labels, effective labels and parent lists are interned
 * (interner.ts), one shared object per distinct value. An item may also carry the caller's data
 * (the IP-set index keeps an endpoint's addresses there), handed to the callbacks, so the caller
 * needs no map of its own beside the index's.
 */
import type { Labels } from './evaluate.ts';
import { idsHash, Interner, labelsHash } from './interner.ts';
import { hasMatch, type ItemEntry, ItemsByLabel, NO_MATCHES, ParentLabels, withMatch, withoutMatch } from './item-labels.ts';
import { copyLabels, EMPTY_LABELS, type LabelMap, sameIds, sameLabels } from './label-map.ts';
import { labelRestrictions } from './restrictions.ts';
import { choosePlan, samePlan, type SelectorEntry, SelectorFiling } from './selector-filing.ts';
import type { Selector } from './selector.ts';

/** Called with the selector's id (as filed), the item's id and the item's data (as last given). */
export type MatchCallback<D = unknown> = (selectorId: string, itemId: string, data: D) => void;

/**
 * The ids filed with one selector, as {@link LabelIndexGroupCallbacks} report them: the index's
 * own entry, live (read it during a call; keep it only as an identity: it changes as ids come and
 * go, and it is dropped, with stops reported for its members, after its last id went).
 */
export interface SelectorGroup {
  /** The ids filed with this selector now (empty while it is being filed or dropped). */
  readonly ids: ReadonlySet<string>;
  /** The items matching it now (after the change being reported). */
  readonly members: { readonly size: number };
}

/**
 * Membership reported by shared selector rather than by id: 5,000 policies of a cold start share
 * ~100 selectors, and a consumer that keeps "which groups does each item match" (the policy
 * resolver) does a hundredth of the work of one that hears each id. The group reports mirror
 * each item's matches exactly: a start when an item starts matching a selector (also one that
 * has no id yet: while it is filed), a stop when it stops (also when the selector is dropped
 * after its last id); a change of a group's ids is reported apart, its members unchanged.
 */
export interface LabelIndexGroupCallbacks<D = unknown> {
  /** The item started matching the group's selector. */
  matchStarted(group: SelectorGroup, itemId: string, data: D): void;
  /** The item stopped matching the group's selector (it changed, or either was deleted). */
  matchStopped(group: SelectorGroup, itemId: string, data: D): void;
  /** An id was filed with the group's selector (its members start matching it; not reported apart). */
  idAdded(group: SelectorGroup, id: string): void;
  /** An id filed with the group's selector went (its members stop matching it; not reported apart). */
  idRemoved(group: SelectorGroup, id: string): void;
}

/** Options for {@link LabelIndex}. */
export interface LabelIndexOptions<D = unknown> {
  /** An item started matching a selector. */
  onMatchStarted?: MatchCallback<D>;
  /** An item stopped matching a selector (it changed, or either was deleted). */
  onMatchStopped?: MatchCallback<D>;
  /** Reports by group instead (then `onMatchStarted` and `onMatchStopped` are not called). */
  groups?: LabelIndexGroupCallbacks<D>;
}

/**
 * Incrementally maintained selector → matching items index, with label inheritance from parents.
 * `D` is the data the caller may attach to each item.
 */
export class LabelIndex<D = undefined> {
  readonly #onStarted: MatchCallback<D> | undefined;
  readonly #onStopped: MatchCallback<D> | undefined;
  readonly #groups: LabelIndexGroupCallbacks<D> | undefined;
  /** Own and effective label maps, shared between the items that carry equal ones. */
  readonly #labelSets = new Interner<LabelMap>({ hash: labelsHash, same: sameLabels });
  /** Parent lists, shared likewise. */
  readonly #parentLists = new Interner<readonly string[]>({ hash: idsHash, same: sameIds });

  /** id → its selector's entry. */
  readonly #selectors = new Map<string, SelectorEntry>();
  /** canonical text → the entry of that selector (shared by the ids filed with it). */
  readonly #distinct = new Map<string, SelectorEntry>();
  readonly #items = new Map<string, ItemEntry>();
  readonly #parents = new ParentLabels();

  /** Items by effective label. */
  readonly #byLabel = new ItemsByLabel();
  /** Where each selector is filed. */
  readonly #filing = new SelectorFiling();

  #busy = false;

  constructor(options: LabelIndexOptions<D> = {}) {
    this.#groups = options.groups;
    this.#onStarted = options.groups === undefined ? options.onMatchStarted : undefined;
    this.#onStopped = options.groups === undefined ? options.onMatchStopped : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Selectors

  /**
   * Adds a selector under `id`, or replaces the selector filed there. Replacing it with an equal
   * selector (same canonical text) does nothing; a replacement reports a stop for each item only
   * the old one matches, then a start for each item only the new one matches.
   */
  updateSelector(id: string, selector: Selector): void {
    this.#enter();
    try {
      const canonical = selector.toString();
      const old = this.#selectors.get(id);
      if (old !== undefined && old.canonical === canonical) return;
      const entry = this.#distinct.get(canonical) ?? this.#addDistinct(selector, canonical);
      if (old !== undefined) {
        old.ids.delete(id);
        this.#groups?.idRemoved(old, id);
        if (this.#onStopped !== undefined) {
          for (const item of old.members) {
            if (!entry.members.has(item)) this.#onStopped(id, item.id, item.data as D);
          }
        }
      }
      this.#selectors.set(id, entry);
      entry.ids.add(id);
      this.#groups?.idAdded(entry, id);
      if (this.#onStarted !== undefined) {
        for (const item of entry.members) {
          if (old === undefined || !old.members.has(item)) this.#onStarted(id, item.id, item.data as D);
        }
      }
      if (old !== undefined && old.ids.size === 0) this.#dropDistinct(old);
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
      this.#selectors.delete(id);
      entry.ids.delete(id);
      this.#groups?.idRemoved(entry, id);
      if (this.#onStopped !== undefined) for (const item of entry.members) this.#onStopped(id, item.id, item.data as D);
      if (entry.ids.size === 0) this.#dropDistinct(entry);
    } finally {
      this.#busy = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Items

  /**
   * Adds or updates an item: its own labels and its parents, in priority order, and the caller's
   * `data` (replaced on every update; given to the callbacks). The labels are copied. An update
   * that changes neither labels nor parents evaluates nothing.
   */
  updateItem(itemId: string, labels: Labels, parentIds: readonly string[] = [], data?: D): void {
    this.#enter();
    try {
      const copy = copyLabels(labels); // throws for a bad value before anything changes
      let item = this.#items.get(itemId);
      if (item === undefined) {
        const own = this.#labelSets.acquire(copy);
        item = { id: itemId, own, parentIds: this.#parentLists.acquire([...parentIds]), labels: EMPTY_LABELS, matches: NO_MATCHES, data };
        this.#items.set(itemId, item);
        this.#parents.attach(item, item.parentIds);
        const eff = this.#labelSets.acquire(this.#parents.effective(item));
        this.#byLabel.add(item, eff);
        item.labels = eff;
        this.#evaluateItem(item, undefined);
        return;
      }
      item.data = data;
      const parentsChanged = !sameIds(item.parentIds, parentIds);
      if (!parentsChanged && sameLabels(item.own, copy)) return;
      if (parentsChanged) {
        const old = item.parentIds;
        item.parentIds = this.#parentLists.acquire([...parentIds]);
        this.#parents.attach(item, item.parentIds);
        this.#parents.detach(item, old, item.parentIds);
        this.#parentLists.release(old);
      }
      const oldOwn = item.own;
      item.own = this.#labelSets.acquire(copy);
      this.#labelSets.release(oldOwn);
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
      this.#byLabel.remove(item, item.labels);
      this.#parents.detach(item, item.parentIds, []);
      this.#items.delete(itemId);
      this.#labelSets.release(item.own);
      this.#labelSets.release(item.labels);
      this.#parentLists.release(item.parentIds);
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
      const parent = this.#parents.ensure(parentId);
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
      for (const entry of this.#distinct.values()) {
        const plan = choosePlan(entry.restrictions, entry.selector.ast, this.#byLabel);
        if (samePlan(plan, entry.plan)) continue;
        this.#filing.unfile(entry);
        entry.plan = plan;
        this.#filing.file(entry);
        moved += entry.ids.size;
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
    if (item !== undefined) for (const sel of item.matches) for (const id of sel.ids) out.add(id);
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

  /** The data last given with the item, or undefined if unknown. */
  itemData(itemId: string): D | undefined {
    return this.#items.get(itemId)?.data as D | undefined;
  }

  /** How many distinct label sets and parent lists the items share (for benchmarks). */
  get sharedValues(): { labelSets: number; parentLists: number } {
    return { labelSets: this.#labelSets.size, parentLists: this.#parentLists.size };
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

  /**
   * How the selectors are filed (for metrics and benchmarks): `selectors` and the filings count
   * ids, `distinct` the distinct selectors they share.
   */
  stats(): { selectors: number; distinct: number; byValue: number; byKey: number; scan: number; never: number; items: number; parents: number } {
    let byValue = 0;
    let byKey = 0;
    let scan = 0;
    let never = 0;
    for (const s of this.#distinct.values()) {
      const n = s.ids.size;
      if (s.plan.kind === 'values') byValue += n;
      else if (s.plan.kind === 'key') byKey += n;
      else if (s.plan.kind === 'scan') scan += n;
      else never += n;
    }
    return {
      selectors: this.#selectors.size,
      distinct: this.#distinct.size,
      byValue,
      byKey,
      scan,
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

  /** The item starts matching the selector: recorded, and reported for its group or for each id filed with it. */
  #start(sel: SelectorEntry, item: ItemEntry): void {
    sel.members.add(item);
    item.matches = withMatch(item.matches, sel);
    if (this.#groups !== undefined) this.#groups.matchStarted(sel, item.id, item.data as D);
    else this.#report(this.#onStarted, sel, item);
  }

  #stop(sel: SelectorEntry, item: ItemEntry): void {
    sel.members.delete(item);
    item.matches = withoutMatch(item.matches, sel);
    if (this.#groups !== undefined) this.#groups.matchStopped(sel, item.id, item.data as D);
    else this.#report(this.#onStopped, sel, item);
  }

  /**
   * Calls `fn` for each id filed with the selector. `forEach`, not `for...of`: at a cold start
   * this runs ~100,000 times in code not yet optimized, where each step of an iterator is an
   * object for the garbage collector.
   */
  #report(fn: MatchCallback<D> | undefined, sel: SelectorEntry, item: ItemEntry): void {
    if (fn === undefined) return;
    const itemId = item.id;
    const data = item.data as D;
    sel.ids.forEach((id) => fn(id, itemId, data));
  }

  /** Files a selector no id has yet and finds its members (reported to nobody: it has no ids yet). */
  #addDistinct(selector: Selector, canonical: string): SelectorEntry {
    const restrictions = labelRestrictions(selector.ast);
    const plan = choosePlan(restrictions, selector.ast, this.#byLabel);
    const entry: SelectorEntry = { selector, canonical, restrictions, plan, ids: new Set(), members: new Set() };
    this.#distinct.set(canonical, entry);
    this.#filing.file(entry);
    this.#scanCandidates(entry);
    return entry;
  }

  /**
   * Unfiles a selector whose last id went (its matches were reported stopped per id; a group's are
   * reported now, with no id left, so that a consumer keeps no dropped group).
   */
  #dropDistinct(entry: SelectorEntry): void {
    if (this.#groups !== undefined) for (const item of [...entry.members]) this.#stop(entry, item);
    else for (const item of entry.members) item.matches = withoutMatch(item.matches, entry);
    this.#filing.unfile(entry);
    this.#distinct.delete(entry.canonical);
  }

  /** Evaluates a new selector against the items of its filing bucket. */
  #scanCandidates(sel: SelectorEntry): void {
    const plan = sel.plan;
    const matches = sel.selector.matches;
    const consider = (item: ItemEntry): void => {
      if (matches(item.labels)) this.#start(sel, item);
    };
    switch (plan.kind) {
      case 'never':
        return;
      case 'values':
        this.#byLabel.forEachItem(plan.key, plan.values, consider);
        return;
      case 'key':
        this.#byLabel.forEachItem(plan.key, undefined, consider);
        return;
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
    const filing = this.#filing;
    for (const k in labels) {
      const byValue = filing.byValue.get(k);
      if (byValue !== undefined) {
        const set = byValue.get(labels[k] as string);
        if (set !== undefined) {
          for (const sel of set) {
            if (!hasMatch(item.matches, sel) && sel.selector.matches(labels)) this.#start(sel, item);
          }
        }
      }
      const byKey = filing.byKey.get(k);
      if (byKey !== undefined) {
        for (const sel of byKey) {
          if (!hasMatch(item.matches, sel) && sel.selector.matches(labels)) this.#start(sel, item);
        }
      }
    }
    // 3. Scan selectors: all of them for a new item, else those that mention a changed label.
    if (filing.scan.size === 0) return;
    if (changed === undefined) {
      for (const sel of filing.scan) {
        if (!hasMatch(item.matches, sel) && sel.selector.matches(labels)) this.#start(sel, item);
      }
      return;
    }
    for (const k of changed) {
      const set = filing.scanByKey.get(k);
      if (set === undefined) continue;
      for (const sel of set) {
        if (!hasMatch(item.matches, sel) && sel.selector.matches(labels)) this.#start(sel, item);
      }
    }
  }

  /** Recomputes an existing item's effective labels and, if they changed, re-indexes and re-evaluates it. */
  #refresh(item: ItemEntry): void {
    const old = item.labels;
    const eff = this.#labelSets.acquire(this.#parents.effective(item));
    item.labels = eff;
    this.#labelSets.release(old);
    if (eff === old) return;
    const changed: string[] = [];
    for (const k in eff) if (old[k] !== eff[k]) changed.push(k);
    for (const k in old) if (eff[k] === undefined) changed.push(k);
    this.#byLabel.move(item, old, eff, changed);
    if (changed.length === 0) return;
    this.#evaluateItem(item, changed);
  }
}
