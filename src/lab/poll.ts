/**
 * The lab's one waiting loop: ask, and ask again a little later, until there is an answer or the
 * deadline passes (an agent's readiness, a pod's server listening, routes on every host, a
 * process gone, etcd healthy).
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link pollUntil}. */
export interface PollOptions {
  /** When to give up: an absolute time in ms (`Date.now()` scale), shared by several waits. */
  deadline: number;
  /** Pause between two checks, in ms. */
  intervalMs: number;
  /** The time and the pause, `Date.now()` and a real timer unless a test brings its own. */
  clock?: { now(): number; sleep(ms: number): Promise<unknown> };
}

const realClock = { now: () => Date.now(), sleep: (ms: number) => sleep(ms) };

/**
 * Calls `check` until it returns something other than undefined and returns that; returns
 * undefined once the deadline has passed (the last check is made at or after it). A `check` that
 * throws (the awaited process died) ends the wait with its error.
 */
export async function pollUntil<T>(check: () => Promise<T | undefined> | T | undefined, options: PollOptions): Promise<T | undefined> {
  const clock = options.clock ?? realClock;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (clock.now() >= options.deadline) return undefined;
    await clock.sleep(options.intervalMs);
  }
}
