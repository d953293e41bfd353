/**
 * Stable selector ids, equal to Calico's `Selector.UniqueID()` (libcalico-go `hash.MakeUniqueID`):
 * `"s:" + base64url-without-padding(SHA-224("s:" + canonical))`. Felix names selector IP sets
 * after this id, so equal ids mean one shared set.
 */
// crypto.hash: one call, no Hash object per id (thousands of them at start, docs/dataplane.md).
import { hash } from 'node:crypto';

/** The id of the selector whose canonical text is `canonical` (see canonical.ts). */
export function selectorId(canonical: string): string {
  return `s:${hash('sha224', `s:${canonical}`, 'base64url')}`;
}
