/**
 * Bounded retries of compare-and-swap writes with jittered exponential backoff. Every IPAM write
 * is conditional on the revision it read; when another writer got there first, the write is
 * recomputed from a fresh read and tried again, up to a bound (Calico's `datastoreRetries`, 100).
 */
import { hasCode } from '../errors/mod.ts';

/** Calico retries a conflicting IPAM write up to 100 times. */
export const DEFAULT_MAX_RETRIES = 100;

/** True for the outcomes of a lost race: the key changed, appeared or vanished since it was read. */
export function isCasFailure(err: unknown): boolean {
  return hasCode(err, 'MARGAY_ERR_CONFLICT') || hasCode(err, 'MARGAY_ERR_NOT_FOUND') || hasCode(err, 'MARGAY_ERR_ALREADY_EXISTS');
}

/** Runs a conditional write: its result, or undefined when it lost a race ({@link isCasFailure}); other errors are thrown. */
export async function unlessLostRace<T>(write: () => Promise<T>): Promise<T | undefined> {
  try {
    return await write();
  } catch (err) {
    if (isCasFailure(err)) return undefined;
    throw err;
  }
}

/** Runs a conditional write: true when it took effect, false when it lost a race; other errors are thrown. */
export async function wonRace(write: () => Promise<unknown>): Promise<boolean> {
  return (await unlessLostRace(async () => {
    await write();
    return true;
  })) ?? false;
}

/**
 * The pause before retry number `attempt` (0-based): none before the first retry (the write is
 * simply recomputed from a fresh read), then exponential from 2 ms, capped at 50 ms, with jitter
 * (a uniform 25–100 % of that), so that racing writers spread out.
 */
export function backoffMs(attempt: number, random: () => number, options: { baseMs?: number; capMs?: number } = {}): number {
  if (attempt <= 0) return 0;
  const base = options.baseMs ?? 2;
  const cap = options.capMs ?? 50;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt - 1, 16));
  return ceiling * (0.25 + 0.75 * random());
}
