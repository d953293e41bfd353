/**
 * V8's `gc` function without `--expose-gc` on the command line, fetched once on first use (it
 * takes a new V8 context, which a cold start should not wait for). Shared by the heap trim (a
 * compacting full collection after a burst) and the idle scavenge (a young-generation collection
 * between CNI operations).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's gc extension: no argument (or `{type: 'major'}`) a full collection, `{type: 'minor'}` a scavenge. */
export type V8Gc = (options?: { type?: 'major' | 'minor' }) => void;

let gc: V8Gc | null | undefined; // undefined: not fetched yet; null: unavailable

/** V8's `gc`, or null when V8 does not give it. */
export function exposedGc(): V8Gc | null {
  if (gc !== undefined) return gc;
  try {
    setFlagsFromString('--expose-gc');
    const fn = runInNewContext('gc') as unknown;
    gc = typeof fn === 'function' ? (fn as V8Gc) : null;
  } catch {
    gc = null;
  }
  return gc;
}
