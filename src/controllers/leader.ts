/**
 * One active controller per cluster: leader election on an etcd lease. The leader holds the key
 * `/calico/margay/controllers/leader` (value: its identity), attached to a lease it renews every
 * third of the TTL. If it dies, the lease expires and the key vanishes; if it stops cleanly it
 * revokes the lease at once. Followers poll the key and take it when it is gone (create-if-absent,
 * so exactly one wins). A leader that cannot renew within the TTL, or finds the key no longer
 * its own, steps down: its `signal` aborts and its work stops between steps.
 */
import type { Datastore, Lease } from '../datastore/mod.ts';
import { LEADER_KEY } from '../datastore/mod.ts';
import { hasCode } from '../errors/mod.ts';
import { type Logger, silentLogger } from '../log/mod.ts';
import { sleep } from '../os/mod.ts';

/** Options of {@link acquireLeadership}. */
export interface LeaderElectionOptions {
  datastore: Datastore;
  /** Who we are (host name and PID, say); stored as the key's value. */
  identity: string;
  key?: string;
  /** Lease TTL in seconds (default 15). */
  ttlSeconds?: number;
  /** How often a follower looks at the key, ms (default: a third of the TTL, at most 2 s). */
  pollMs?: number;
  /** Monotonic time (ms), to know when renewals have failed for longer than the TTL. */
  monotonicNow?: () => number;
  /** Waits; rejects (or resolves early) when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  logger?: Logger;
}

/** A held leadership. */
export interface Leadership {
  readonly identity: string;
  /** Aborted when leadership is lost or resigned. */
  readonly signal: AbortSignal;
  /** Gives leadership up: stops renewing and revokes the lease (the key goes at once). */
  resign(): Promise<void>;
}

async function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, signal); // any length; returns early when aborted
}

/**
 * Waits until this process is the leader (resolves with the leadership) or `stop` aborts
 * (resolves undefined). Datastore outages are waited out.
 */
export async function acquireLeadership(options: LeaderElectionOptions, stop: AbortSignal): Promise<Leadership | undefined> {
  const ds = options.datastore;
  const key = options.key ?? LEADER_KEY;
  const ttl = options.ttlSeconds ?? 15;
  const pollMs = options.pollMs ?? Math.min(2000, (ttl * 1000) / 3);
  const sleep = options.sleep ?? defaultSleep;
  const logger = options.logger ?? silentLogger();
  const value = JSON.stringify({ identity: options.identity });
  let lastHolder: string | undefined;
  while (!stop.aborted) {
    try {
      const current = await ds.get(key);
      if (!current) {
        const lease = await ds.grantLease(ttl);
        try {
          await ds.create(key, value, { lease: lease.id });
          return startTerm(options, key, lease, stop);
        } catch (err) {
          await lease.revoke().catch(() => {});
          if (!hasCode(err, 'MARGAY_ERR_ALREADY_EXISTS')) throw err;
        }
      } else if (current.value !== lastHolder) {
        lastHolder = current.value;
        logger.info({ leader: current.value }, 'another controller is the leader; waiting');
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'leader election: datastore error; retrying');
    }
    await sleep(pollMs, stop);
  }
  return undefined;
}

function startTerm(options: LeaderElectionOptions, key: string, lease: Lease, stop: AbortSignal): Leadership {
  const ds = options.datastore;
  const ttlMs = (options.ttlSeconds ?? 15) * 1000;
  const now = options.monotonicNow ?? (() => performance.now());
  const sleep = options.sleep ?? defaultSleep;
  const logger = options.logger ?? silentLogger();
  const lost = new AbortController();
  const renewing = new AbortController();
  const onStop = (): void => renewing.abort();
  stop.addEventListener('abort', onStop, { once: true });
  let lastRenewed = now();
  const stepDown = (why: string): void => {
    if (lost.signal.aborted) return;
    logger.warn({ reason: why }, 'lost leadership');
    lost.abort(new Error(why));
    renewing.abort();
  };
  const loop = (async () => {
    while (!renewing.signal.aborted) {
      await sleep(ttlMs / 3, renewing.signal);
      if (renewing.signal.aborted) break;
      try {
        await lease.keepAliveOnce();
        const kv = await ds.get(key);
        if (!kv || kv.lease !== lease.id) {
          stepDown('the leader key is no longer held by our lease');
          break;
        }
        lastRenewed = now();
      } catch (err) {
        if (hasCode(err, 'MARGAY_ERR_LEASE')) {
          stepDown('our lease expired');
          break;
        }
        if (now() - lastRenewed >= ttlMs) {
          stepDown(`could not renew the lease for ${ttlMs} ms: ${(err as Error).message}`);
          break;
        }
      }
    }
  })();
  return {
    identity: options.identity,
    signal: lost.signal,
    async resign() {
      stop.removeEventListener('abort', onStop);
      renewing.abort();
      await loop;
      if (!lost.signal.aborted) lost.abort(new Error('resigned'));
      await lease.revoke().catch(() => {});
    },
  };
}

/** Waits `ms`, or less when one of `signals` aborts. */
export async function pause(ms: number, signals: AbortSignal[]): Promise<void> {
  await sleep(ms, AbortSignal.any(signals)); // any length; woken early by a signal
}

/**
 * Campaigns until `stop` aborts: waits to become the leader, runs `term` with the leadership (it
 * must return once `leadership.signal` or `stop` aborts), resigns, and campaigns again.
 */
export async function campaign(options: LeaderElectionOptions, stop: AbortSignal, term: (leadership: Leadership) => Promise<void>): Promise<void> {
  const logger = options.logger ?? silentLogger();
  while (!stop.aborted) {
    const leadership = await acquireLeadership(options, stop);
    if (!leadership) break;
    try {
      await term(leadership);
    } finally {
      await leadership.resign();
    }
    if (!stop.aborted) logger.warn({ identity: options.identity }, 'no longer the leader; campaigning again');
  }
}
