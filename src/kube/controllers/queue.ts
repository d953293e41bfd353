/**
 * A work queue of keys, as controllers use one: adding a key that is already waiting does
 * nothing (the worker reads the latest state when it runs), one key is never worked on twice at
 * once (a key added while in flight runs again afterwards), different keys run concurrently up to
 * a limit, and a failed key is retried with a backoff (doubling from `retryMs` to `maxRetryMs`).
 */
import { type Logger, silentLogger } from '../../log/mod.ts';

/** Options of {@link KeyedQueue}. */
export interface KeyedQueueOptions {
  /** Keys worked on at once (default 8). */
  concurrency?: number;
  /** First retry delay, ms (default 250); doubles up to `maxRetryMs` (default 30000). */
  retryMs?: number;
  maxRetryMs?: number;
  logger?: Logger;
  /** What the keys are, for log lines (`namespace`, `policy`…). */
  what?: string;
}

/** See the module comment. */
export class KeyedQueue {
  readonly #work: (key: string) => Promise<void>;
  readonly #options: KeyedQueueOptions;
  readonly #logger: Logger;
  readonly #waiting = new Set<string>();
  readonly #inFlight = new Set<string>();
  readonly #again = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #idleWaiters: (() => void)[] = [];
  #stopped = false;

  constructor(work: (key: string) => Promise<void>, options: KeyedQueueOptions = {}) {
    this.#work = work;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger();
  }

  /** Queues a key. */
  add(key: string): void {
    if (this.#stopped) return;
    if (this.#inFlight.has(key)) {
      this.#again.add(key);
      return;
    }
    this.#waiting.add(key);
    this.#pump();
  }

  /** Keys waiting, in flight or waiting for a retry. */
  get size(): number {
    return this.#waiting.size + this.#inFlight.size + this.#timers.size;
  }

  /** Resolves once nothing is waiting, in flight or scheduled for a retry. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Drops everything waiting and stops taking keys; resolves when in-flight work is done. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#waiting.clear();
    this.#again.clear();
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    while (this.#inFlight.size > 0) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  #pump(): void {
    const limit = this.#options.concurrency ?? 8;
    for (const key of this.#waiting) {
      if (this.#inFlight.size >= limit) break;
      this.#waiting.delete(key);
      this.#inFlight.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#work(key);
      this.#failures.delete(key);
    } catch (err) {
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const wait = Math.min(this.#options.maxRetryMs ?? 30_000, (this.#options.retryMs ?? 250) * 2 ** (n - 1));
      this.#logger.warn({ [this.#options.what ?? 'key']: key, err: (err as Error).message, attempt: n, retryInMs: wait }, 'sync failed; will retry');
      if (!this.#stopped) {
        this.#timers.set(
          key,
          setTimeout(() => {
            this.#timers.delete(key);
            this.add(key);
          }, wait),
        );
      }
    } finally {
      this.#inFlight.delete(key);
      if (this.#again.delete(key)) this.add(key);
      this.#pump();
      if (this.size === 0 || (this.#stopped && this.#inFlight.size === 0)) for (const w of this.#idleWaiters.splice(0)) w();
    }
  }
}
