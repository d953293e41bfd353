/**
 * The buffer behind a RawWatch's `events`: backends push batches in, one consumer pulls them out
 * with `for await`. Batches pushed before a failure are still delivered, then the iterator throws;
 * after `close()` the iterator returns at once, dropping what was buffered.
 */
import type { WatchEvent } from './datastore.ts';

interface Waiter {
  resolve(r: IteratorResult<WatchEvent[]>): void;
  reject(err: unknown): void;
}

export class WatchQueue implements AsyncIterable<WatchEvent[]>, AsyncIterator<WatchEvent[]> {
  #buffer: WatchEvent[][] = [];
  #waiter: Waiter | undefined;
  #error: unknown;
  #failed = false;
  #closed = false;
  readonly #onReturn: () => void;

  /** `onReturn` runs when the consumer stops iterating early (a `break` out of `for await`). */
  constructor(onReturn: () => void = () => {}) {
    this.#onReturn = onReturn;
  }

  /** True once the queue has failed or been closed: nothing more will be accepted. */
  get ended(): boolean {
    return this.#failed || this.#closed;
  }

  /** Adds a batch; ignored once the queue has ended, and when empty. */
  push(batch: WatchEvent[]): void {
    if (this.ended || batch.length === 0) return;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve({ done: false, value: batch });
    } else {
      this.#buffer.push(batch);
    }
  }

  /** Ends the stream with an error, delivered after the batches already buffered. */
  fail(err: unknown): void {
    if (this.ended) return;
    this.#failed = true;
    this.#error = err;
    if (this.#waiter && this.#buffer.length === 0) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.reject(err);
    }
  }

  /** Ends the stream cleanly and drops anything buffered. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer = [];
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve({ done: true, value: undefined });
    }
  }

  next(): Promise<IteratorResult<WatchEvent[]>> {
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    const batch = this.#buffer.shift();
    if (batch) return Promise.resolve({ done: false, value: batch });
    if (this.#failed) return Promise.reject(this.#error);
    if (this.#waiter) return Promise.reject(new Error('WatchQueue supports a single consumer'));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<WatchEvent[]>> {
    const wasOpen = !this.ended;
    this.close();
    if (wasOpen) this.#onReturn();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent[]> {
    return this;
  }
}
