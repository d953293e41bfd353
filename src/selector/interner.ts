/**
 * Shared copies of equal values, counted: thousands of endpoints carry the same label set (the
 * pods of one deployment, one namespace) and the same parent list (`[kns.<ns>]`), so the label
 * index keeps one object per distinct value instead of one per item (issue 14: memory per
 * remote endpoint). A value is forgotten when its last holder releases it, so churning label
 * sets (a rollout's new `pod-template-hash`) do not accumulate.
 *
 * Values are found by a content hash and compared by content: no key text is kept per value
 * (a label set of its own, a StatefulSet pod's, cost two JSON texts of its labels before).
 *
 * Interned values are shared: nobody may modify one.
 */

interface Held<T> {
  readonly value: T;
  refs: number;
}

/** How an {@link Interner} finds equal values. */
export interface InternerOptions<T> {
  /** Equal values, and as few others as can be, get the same number. */
  hash: (value: T) => number;
  /** True when two values are equal. */
  same: (a: T, b: T) => boolean;
}

/** A counted table of shared values. */
export class Interner<T extends object> {
  /** hash → the value held with that hash, or the values when hashes collide. */
  readonly #byHash = new Map<number, Held<T> | Held<T>[]>();
  readonly #hash: (value: T) => number;
  readonly #same: (a: T, b: T) => boolean;
  #size = 0;

  constructor(options: InternerOptions<T>) {
    this.#hash = options.hash;
    this.#same = options.same;
  }

  /** The shared value equal to `value` (`value` itself when it is the first), counted once more. */
  acquire(value: T): T {
    const hash = this.#hash(value);
    const found = this.#byHash.get(hash);
    const held = found === undefined ? undefined : Array.isArray(found) ? found.find((h) => this.#is(h, value)) : this.#is(found, value) ? found : undefined;
    if (held !== undefined) {
      held.refs++;
      return held.value;
    }
    const fresh: Held<T> = { value, refs: 1 };
    if (found === undefined) this.#byHash.set(hash, fresh);
    else if (Array.isArray(found)) found.push(fresh);
    else this.#byHash.set(hash, [found, fresh]);
    this.#size++;
    return value;
  }

  #is(held: Held<T>, value: T): boolean {
    return held.value === value || this.#same(held.value, value);
  }

  /** One holder less of a value {@link acquire} returned; the last one forgets it. Others are ignored. */
  release(value: T): void {
    const hash = this.#hash(value);
    const found = this.#byHash.get(hash);
    if (found === undefined) return;
    const candidates = Array.isArray(found) ? found : [found];
    const i = candidates.findIndex((h) => h.value === value);
    const held = candidates[i];
    if (held === undefined || --held.refs > 0) return;
    this.#size--;
    if (!Array.isArray(found)) this.#byHash.delete(hash);
    else if (found.length === 2) this.#byHash.set(hash, found[1 - i] as Held<T>);
    else found.splice(i, 1);
  }

  /** Number of distinct values held. */
  get size(): number {
    return this.#size;
  }
}

/** FNV-1a over a text's UTF-16 code units, from `seed`: a 32-bit number. */
export function hashText(text: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** A content hash of a label map, the same whatever the order of its keys (its entries' hashes summed). */
export function labelsHash(labels: Readonly<Record<string, string>>): number {
  let sum = 0;
  for (const k in labels) sum = (sum + hashText(labels[k] as string, hashText(k) ^ 0x3d)) | 0;
  return sum;
}

/** A content hash of a list of ids, in order. */
export function idsHash(ids: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const id of ids) h = hashText(id, Math.imul(h ^ 0x2c, 0x01000193));
  return h;
}
