/** Waiting helpers for tests: poll until true, and take from async iterators with a deadline. */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `check` until it returns without throwing (and, if it returns a boolean, returns true),
 * or throws the last failure after `timeoutMs` (default 10000).
 */
export async function eventually<T>(
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== false) return value;
      lastError = new Error(`${options.what ?? 'condition'} still false`);
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw lastError;
    await sleep(options.intervalMs ?? 25);
  }
}

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Drains an async iterable of batches in the background into `items`, so that a test can wait for
 * a count, look at everything that arrived, and see how the stream ended (`error`, `ended`).
 */
export class Collector<T> {
  readonly items: T[] = [];
  /** How many batches arrived. */
  batches = 0;
  error: unknown;
  ended = false;
  readonly #done: Promise<void>;

  constructor(source: AsyncIterable<T[]>) {
    this.#done = (async () => {
      try {
        for await (const batch of source) {
          this.batches++;
          this.items.push(...batch);
        }
      } catch (err) {
        this.error = err;
      } finally {
        this.ended = true;
      }
    })();
  }

  /** Waits until at least `count` items arrived (fails early if the stream ends short). */
  async waitFor(count: number, timeoutMs = 10_000): Promise<T[]> {
    await eventually(
      () => {
        if (this.items.length >= count) return true;
        if (this.ended) throw new Error(`stream ended after ${this.items.length} of ${count} items: ${String(this.error)}`);
        return false;
      },
      { timeoutMs, what: `${count} items (have ${this.items.length})` },
    );
    return this.items.slice(0, count);
  }

  /** Waits until the stream ended; returns its error, if any. */
  async waitEnd(timeoutMs = 10_000): Promise<unknown> {
    await withTimeout(this.#done, timeoutMs, 'end of stream');
    return this.error;
  }
}
