/**
 * Time for everything that waits or expires (the in-memory datastore's leases, the agent's
 * scheduler, health, the IPAM garbage collector): the real clock by default, a manual one in
 * tests so that a lease can expire without waiting.
 */

/** A handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/**
 * The longest single wait a Node timer holds (2^31-1 ms, about 24.8 days); a longer one fires
 * after 1 ms instead. The timers here wait longer in several steps.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay a timer can take: negative or NaN is 0, the rest as given (the timers here chain long waits). */
export function timerDelay(ms: number): number {
  return ms > 0 ? ms : 0;
}

/** A real timer that may wait longer than {@link MAX_TIMER_MS}: re-armed until the whole wait is over. */
interface LongTimer {
  timer: ReturnType<typeof setTimeout> | undefined;
}

function startLongTimer(fn: () => void, ms: number, unref: boolean): LongTimer {
  const handle: LongTimer = { timer: undefined };
  const arm = (left: number): void => {
    const step = Math.min(left, MAX_TIMER_MS);
    handle.timer = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
    if (unref) handle.timer.unref();
  };
  arm(timerDelay(ms));
  return handle;
}

/**
 * Waits `ms` (any length, see {@link MAX_TIMER_MS}); resolves early, without error, when `signal`
 * aborts. Holds the process open while it waits, as `timers/promises` does.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(handle.timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = startLongTimer(done, ms, false);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The time source and timers a component uses, injectable for tests. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch; never goes backwards. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds. Real timers are unref'd: they never hold the process open. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and unref'd Node timers, long waits chained (never cut short to 1 ms). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => startLongTimer(fn, ms, true),
  clearTimeout: (handle) => clearTimeout((handle as LongTimer | undefined)?.timer),
};

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told: `advance(ms)` fires, in time order, every timer that falls
 * due. For tests of leases and anything else that waits.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Set<ManualTimer>();

  constructor(startMs = 0) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.#now + timerDelay(ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as ManualTimer);
  }

  /** The number of timers still pending. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order (timers they set are honoured too). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.#timers) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.#timers.delete(next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }
}
