/**
 * Maps whose values are small collections, most of them of one element (issue 14: memory per
 * remote endpoint): a key holds its one element itself, and a `Set` only from the second element
 * on (an empty `Set` costs ~100 bytes). Elements are objects other than `Set`s.
 */

/** One element, or a `Set` of two or more. */
export type OneOrSet<V extends object> = V | Set<V>;

/** Adds `value` under `key`; true when `key` was not there before. */
export function addOne<K, V extends object>(map: Map<K, OneOrSet<V>>, key: K, value: V): boolean {
  const held = map.get(key);
  if (held === undefined) {
    map.set(key, value);
    return true;
  }
  if (held instanceof Set) held.add(value);
  else if (held !== value) map.set(key, new Set([held, value]));
  return false;
}

/** Removes `value` from under `key`, and `key` with its last element; true when `key` went. */
export function deleteOne<K, V extends object>(map: Map<K, OneOrSet<V>>, key: K, value: V): boolean {
  const held = map.get(key);
  if (held instanceof Set) {
    held.delete(value);
    if (held.size === 1) map.set(key, held.values().next().value as V);
    return false;
  }
  if (held === undefined || held !== value) return false;
  map.delete(key);
  return true;
}

/** Calls `fn` with each element under `key`. */
export function forEachOne<K, V extends object>(map: Map<K, OneOrSet<V>>, key: K, fn: (value: V) => void): void {
  const held = map.get(key);
  if (held instanceof Set) for (const v of held) fn(v);
  else if (held !== undefined) fn(held);
}
