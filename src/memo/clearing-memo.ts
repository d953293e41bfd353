/**
 * Memos for values that hot code makes again and again from the same few inputs (parsed ports,
 * canonical nets, chain names, rendered rules): a cold start of the agent meets the same few
 * hundred texts thousands of times. A long-running agent meets new texts without end, so each memo
 * is bounded by the weight it holds (one per entry unless told: a list of nets weighs its length)
 * and cleared when a new value would not fit — simpler and cheaper than recency, and the memo
 * refills with what is in use. Values are only read once remembered: callers share them.
 */

/** A memo by one key. */
export class ClearingMemo<K, V> {
  readonly #map = new Map<K, V>();
  readonly #maxWeight: number;
  #weight = 0;

  /** `maxWeight`: the most it holds in all (entries, when every value weighs 1). */
  constructor(maxWeight: number) {
    this.#maxWeight = maxWeight;
  }

  /** The value remembered for `key`, or undefined. */
  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  /**
   * Remembers `value` for `key`, clearing everything first when it would not fit; a value heavier
   * than the whole memo is not remembered. Meant for a key not held yet (a held key is replaced
   * and its old weight counted until the next clear).
   */
  set(key: K, value: V, weight = 1): void {
    if (weight > this.#maxWeight) return;
    if (this.#weight + weight > this.#maxWeight) this.clear();
    this.#map.set(key, value);
    this.#weight += weight;
  }

  /** Entries held. */
  get size(): number {
    return this.#map.size;
  }

  /** Weight held. */
  get weight(): number {
    return this.#weight;
  }

  /** Forgets everything. */
  clear(): void {
    this.#map.clear();
    this.#weight = 0;
  }
}

/**
 * A memo by two keys (say a namespace and a selector), without a combined key text made per
 * lookup; bounded by the weight it holds in all (entries, when every value weighs 1).
 */
export class ClearingMemo2<A, B, V> {
  readonly #outer = new Map<A, Map<B, V>>();
  readonly #maxWeight: number;
  #weight = 0;
  #entries = 0;

  /** `maxWeight`: the most it holds in all (entries, when every value weighs 1). */
  constructor(maxWeight: number) {
    this.#maxWeight = maxWeight;
  }

  /** The value remembered for (`a`, `b`), or undefined. */
  get(a: A, b: B): V | undefined {
    return this.#outer.get(a)?.get(b);
  }

  /**
   * Remembers `value` for (`a`, `b`), clearing everything first when it would not fit; a value
   * heavier than the whole memo is not remembered. A replaced value's weight is counted until the
   * next clear.
   */
  set(a: A, b: B, value: V, weight = 1): void {
    if (weight > this.#maxWeight) return;
    if (this.#weight + weight > this.#maxWeight) {
      this.#outer.clear();
      this.#weight = 0;
      this.#entries = 0;
    }
    let inner = this.#outer.get(a);
    if (inner === undefined) this.#outer.set(a, (inner = new Map()));
    if (!inner.has(b)) this.#entries++;
    inner.set(b, value);
    this.#weight += weight;
  }

  /** Entries held. */
  get size(): number {
    return this.#entries;
  }

  /** Weight held. */
  get weight(): number {
    return this.#weight;
  }
}
