/**
 * Coalesces concurrent identical work: while a call for a key is running, further callers for the
 * same key get the same promise. Nothing is kept once it settles (no caching, no clock).
 */
export class SingleFlight<V> {
  readonly #running = new Map<string, Promise<V>>();

  /** Runs `fn` for `key`, or joins the run already in progress. */
  run(key: string, fn: () => Promise<V>): Promise<V> {
    const current = this.#running.get(key);
    if (current) return current;
    const p = Promise.resolve()
      .then(fn)
      .finally(() => {
        if (this.#running.get(key) === p) this.#running.delete(key);
      });
    this.#running.set(key, p);
    return p;
  }
}
