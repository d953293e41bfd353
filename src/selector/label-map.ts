/**
 * Label maps as the label index keeps them: copies whose keys are all own keys (no inherited
 * `constructor` or `__proto__`), compared without allocating.
 */
import type { Labels } from './evaluate.ts';

/** A label map: key → value, every key an own key. */
export type LabelMap = Record<string, string>;

/**
 * Label maps are created with this (empty, null-prototype) prototype: nothing is inherited, so
 * keys like `constructor` or `__proto__` are ordinary own keys, and unlike `Object.create(null)`
 * the objects stay in V8's fast mode (cheap property reads and `for...in`).
 */
const LABELS_PROTO: object = Object.freeze(Object.create(null) as object);

/** A new, empty label map. */
export const newLabelMap = (): LabelMap => Object.create(LABELS_PROTO) as LabelMap;

/** The empty label map (frozen). */
export const EMPTY_LABELS: LabelMap = Object.freeze(newLabelMap());

/** Copies labels into a label map; throws a TypeError for a non-string value. */
export function copyLabels(labels: Labels): LabelMap {
  const out = newLabelMap();
  for (const k of Object.keys(labels)) {
    const v = labels[k];
    if (typeof v !== 'string') throw new TypeError(`label ${JSON.stringify(k)} has a non-string value`);
    out[k] = v;
  }
  return out;
}

/** True when both maps hold the same keys with the same values. */
export function sameLabels(a: LabelMap, b: LabelMap): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

/** True when both lists hold the same strings in the same order. */
export function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Adds `value` to the set under `key`, making the set when there is none. */
export function addToSetMap<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  set.add(value);
}

/** Removes `value` from the set under `key`, and the set once empty. */
export function deleteFromSetMap<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
