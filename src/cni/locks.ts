/**
 * Per-key mutual exclusion: operations on the same attachment (its handle, its host interface)
 * run one after the other; operations on different attachments run concurrently.
 */

/** Runs async sections one at a time per key. */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Number of keys with a section running or waiting (for tests and metrics). */
  get size(): number {
    return this.#tails.size;
  }

  /**
   * Runs `fn` holding every key in `keys` (taken in sorted order, so two callers never wait on
   * each other crosswise).
   */
  async run<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: (() => void)[] = [];
    try {
      for (const key of sorted) releases.push(await this.#acquire(key));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  async #acquire(key: string): Promise<() => void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.#tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}
