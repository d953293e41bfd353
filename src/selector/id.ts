/**
 * Stable selector ids, equal to Calico's `Selector.UniqueID()` (libcalico-go `hash.MakeUniqueID`):
 * `"s:" + base64url-without-padding(SHA-224("s:" + canonical))`. Felix names selector IP sets
 * after this id, so equal ids mean one shared set.
 */
import { createHash } from 'node:crypto';

/** The id of the selector whose canonical text is `canonical` (see canonical.ts). */
export function selectorId(canonical: string): string {
  return `s:${createHash('sha224').update(`s:${canonical}`, 'utf8').digest('base64url')}`;
}
