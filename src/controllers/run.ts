/**
 * The `margay controllers` process: wins the leader election, then runs the IPAM garbage
 * collector every interval until it loses leadership (then campaigns again) or is stopped
 * (then it resigns, so that another controller takes over at once).
 */
import { hostname } from 'node:os';
import type { Datastore } from '../datastore/mod.ts';
import { ResourceStore } from '../datastore/mod.ts';
import { IpamGarbageCollector, type GcPassReport } from './ipam-gc/collector.ts';
import { campaign, pause } from './leader.ts';
import { type Logger, silentLogger } from '../log/mod.ts';
import { gcIntervalMs, loadControllerSettings } from './settings.ts';

/** Options of {@link startControllers}. */
export interface ControllersOptions {
  datastore: Datastore;
  /** Who this process is in the election (default `<hostname>-<pid>`). */
  identity?: string;
  /** Lease TTL, seconds (default 15). */
  leaseTtlSeconds?: number;
  /** Overrides KubeControllersConfiguration's leakGracePeriod, ms. */
  leakGraceMs?: number;
  /** Time between GC passes, ms (default: half the leak grace period, 1 s – 5 min). */
  intervalMs?: number;
  /** How often a follower checks the leader key, ms. */
  pollMs?: number;
  logger?: Logger;
  /** Called after every GC pass (tests, metrics). */
  onPass?: (report: GcPassReport) => void;
}

/** A running controllers process. */
export interface RunningControllers {
  /** True while this process is the leader. */
  isLeader(): boolean;
  /** Stops: finishes or abandons the current step, resigns, resolves when done. */
  stop(): Promise<void>;
  /** Resolves when the process has stopped. */
  readonly done: Promise<void>;
}

/** Starts the controllers. */
export function startControllers(options: ControllersOptions): RunningControllers {
  const logger = options.logger ?? silentLogger();
  const identity = options.identity ?? `${hostname()}-${process.pid}`;
  const stop = new AbortController();
  let leader = false;
  const done = (async () => {
    const store = new ResourceStore(options.datastore);
    const election = {
      datastore: options.datastore,
      identity,
      ...(options.leaseTtlSeconds === undefined ? {} : { ttlSeconds: options.leaseTtlSeconds }),
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      logger,
    };
    await campaign(election, stop.signal, async (leadership) => {
      leader = true;
      logger.info({ identity }, 'became the leader; running IPAM garbage collection');
      const gc = new IpamGarbageCollector({
        datastore: options.datastore,
        logger,
        ...(options.leakGraceMs === undefined ? {} : { leakGraceMs: options.leakGraceMs }),
      });
      while (!stop.signal.aborted && !leadership.signal.aborted) {
        let interval = options.intervalMs;
        try {
          const report = await gc.runPass(leadership.signal);
          options.onPass?.(report);
          const o = report.outcome;
          logger.info(
            {
              revision: report.revision,
              allocations: report.plan.stats.allocations,
              candidates: report.plan.stats.candidates,
              released: o.released.length,
              spared: o.spared.length,
              affinitiesReleased: o.affinitiesReleased.length,
              handlesDeleted: o.handlesDeleted.length,
            },
            'IPAM garbage collection pass',
          );
          interval ??= gcIntervalMs(options.leakGraceMs ?? (await loadControllerSettings(store)).leakGraceMs);
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'IPAM garbage collection pass failed; retrying');
          interval ??= 5000;
        }
        await pause(interval, [stop.signal, leadership.signal]);
      }
      leader = false;
    });
    logger.info({ identity }, 'controllers stopped');
  })();
  return {
    isLeader: () => leader,
    async stop() {
      stop.abort();
      await done;
    },
    done,
  };
}
