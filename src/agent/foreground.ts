/**
 * Foreground work someone is waiting for (a CNI ADD or DEL: a runtime waits for its answer), so
 * that background work nobody waits for (the status reports) can stay out of its way: an
 * endpoint status write is a gRPC call and ~0.5 ms of the one event loop, which, landing inside
 * an ADD, made that ADD as much slower (docs/cni.md, session 11). Background work waits until no
 * foreground work is in progress, or at most a bounded time, so a steady stream of ADDs delays a
 * status report, never stops it. Pure apart from the injected {@link Clock}.
 */
import type { Clock } from '../os/mod.ts';

/** Counts foreground operations in progress; tells background work when none is. */
export class Foreground {
  readonly #clock: Clock;
  #active = 0;
  #waiters: Array<() => void> = [];
  readonly #idleListeners: Array<() => void> = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** True while foreground work is in progress. */
  get busy(): boolean {
    return this.#active > 0;
  }

  /** A foreground operation starts; call the returned function (once) when it has ended. */
  begin(): () => void {
    this.#active++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.#active > 0) return;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
      for (const l of this.#idleListeners) l();
    };
  }

  /** Calls `listener` each time the last foreground operation in progress ends. */
  onIdle(listener: () => void): void {
    this.#idleListeners.push(listener);
  }

  /** Resolves once no foreground work is in progress (at once when none is), or after `maxMs`. */
  idle(maxMs: number): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        this.#clock.clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== finish);
        resolve();
      };
      const timer = this.#clock.setTimeout(finish, maxMs);
      this.#waiters.push(finish);
    });
  }
}
