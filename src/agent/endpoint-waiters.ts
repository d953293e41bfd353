/**
 * Callers waiting for a workload endpoint to be programmed (the CNI service answers ADD only
 * then): each waits for an endpoint key at a datastore revision, and is resolved when the agent
 * says so, rejected at its deadline or when the agent stops.
 */
import type { Clock, TimerHandle } from '../os/mod.ts';

interface Waiter {
  key: string;
  revision: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: TimerHandle;
}

/** The set of waiting callers. */
export class EndpointWaiters {
  readonly #clock: Clock;
  readonly #waiters = new Set<Waiter>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * Waits for `key` at `revision`. `onTimeout` words the rejection after `timeoutMs`; `started`
   * runs once the waiter is registered, with a function telling whether it is still waiting.
   */
  wait(key: string, revision: number, timeoutMs: number, onTimeout: () => Error, started: (pending: () => boolean) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        key,
        revision,
        resolve,
        reject,
        timer: this.#clock.setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(onTimeout());
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
      started(() => this.#waiters.has(waiter));
    });
  }

  /** Resolves every waiter whose endpoint `isProgrammed` says is in place at its revision. */
  settle(isProgrammed: (key: string, revision: number) => boolean): void {
    for (const w of this.#waiters) {
      if (isProgrammed(w.key, w.revision)) {
        this.#clock.clearTimeout(w.timer);
        this.#waiters.delete(w);
        w.resolve();
      }
    }
  }

  /** Rejects every waiter with `err`. */
  rejectAll(err: Error): void {
    for (const w of this.#waiters) {
      this.#clock.clearTimeout(w.timer);
      w.reject(err);
    }
    this.#waiters.clear();
  }
}
