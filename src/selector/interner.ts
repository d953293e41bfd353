/**
 * Shared copies of equal values, counted: thousands of endpoints carry the same label set (the
 * pods of one deployment, one namespace) and the same parent list (`[kns.<ns>]`), so the label
 * index keeps one object per distinct value instead of one per item (issue 14: memory per
 * remote endpoint). A value is forgotten when its last holder releases it, so churning label
 * sets (a rollout's new `pod-template-hash`) do not accumulate.
 *
 * Interned values are shared: nobody may modify one.
 */

interface Held<T> {
  readonly value: T;
  readonly key: string;
  refs: number;
}

/** A counted table of shared values, by a content key the caller computes. */
export class Interner<T extends object> {
  readonly #byKey = new Map<string, Held<T>>();
  readonly #byValue = new Map<T, Held<T>>();
  readonly #keyOf: (value: T) => string;

  /** `keyOf` gives equal values, and only them, the same key. */
  constructor(keyOf: (value: T) => string) {
    this.#keyOf = keyOf;
  }

  /** The shared value equal to `value` (`value` itself when it is the first), counted once more. */
  acquire(value: T): T {
    const key = this.#keyOf(value);
    let held = this.#byKey.get(key);
    if (held === undefined) {
      held = { value, key, refs: 0 };
      this.#byKey.set(key, held);
      this.#byValue.set(value, held);
    }
    held.refs++;
    return held.value;
  }

  /** One holder less of a value {@link acquire} returned; the last one forgets it. Others are ignored. */
  release(value: T): void {
    const held = this.#byValue.get(value);
    if (held === undefined || --held.refs > 0) return;
    this.#byKey.delete(held.key);
    this.#byValue.delete(value);
  }

  /** Number of distinct values held. */
  get size(): number {
    return this.#byKey.size;
  }
}

/** The content key of a label map: its entries in key order (JSON, so any string is safe). */
export function labelsKey(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  const flat: string[] = [];
  for (const k of keys) flat.push(k, labels[k] as string);
  return JSON.stringify(flat);
}

/** The content key of a list of ids, in order. */
export function idsKey(ids: readonly string[]): string {
  return JSON.stringify(ids);
}
