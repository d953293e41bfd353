/**
 * What a re-list changes for someone who has already been told about some keys: the pure core of
 * the syncer's recovery from a compacted watch.
 */
import type { KVPair } from './datastore.ts';

/** The difference between what was delivered and a fresh listing. */
export interface SnapshotDiff {
  /** Pairs that are new, or whose modRevision differs from the delivered one (listing order). */
  updates: KVPair[];
  /** Delivered keys that the listing no longer has (sorted). */
  deletes: string[];
}

/**
 * Compares `known` (key → modRevision already delivered) with `listed` (a full listing of the same
 * prefix). A key listed with the modRevision it was delivered at is unchanged: modRevisions are
 * unique per write, so an equal revision means the same write.
 */
export function diffSnapshot(known: ReadonlyMap<string, number>, listed: readonly KVPair[]): SnapshotDiff {
  // The first listing (a cold start: thousands of keys): everything is new, nothing to delete.
  if (known.size === 0) return { updates: [...listed], deletes: [] };
  const updates: KVPair[] = [];
  const present = new Set<string>();
  for (const kv of listed) {
    present.add(kv.key);
    if (known.get(kv.key) !== kv.modRevision) updates.push(kv);
  }
  const deletes: string[] = [];
  for (const key of known.keys()) if (!present.has(key)) deletes.push(key);
  deletes.sort();
  return { updates, deletes };
}
