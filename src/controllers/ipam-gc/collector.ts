/**
 * IPAM garbage collection, one pass: read (IPAM snapshot first, then nodes and workload
 * endpoints, so that a workload created after the snapshot can only make an allocation look
 * valid, never leaked), decide (decide.ts), act (execute.ts), remember what was seen.
 */
import { nodeKind } from '../../api/mod.ts';
import { workloadEndpointKind } from '../../api/mod.ts';
import { type Clock, systemClock } from '../../os/mod.ts';
import type { Datastore } from '../../datastore/mod.ts';
import { ResourceStore } from '../../datastore/mod.ts';
import { Ipam } from '../../ipam/mod.ts';
import { workloadFromResource, type PodLookup, type WorkloadRef } from '../../ipam/mod.ts';
import { type Logger, silentLogger } from '../../log/mod.ts';
import { loadControllerSettings } from '../settings.ts';
import { emptyGcState, type GcPlan, type GcState, type PlannedRelease, planGc } from './decide.ts';
import { executeGc, type GcOutcome } from './execute.ts';

/** Options of {@link IpamGarbageCollector}. */
export interface IpamGcOptions {
  datastore: Datastore;
  /** The IPAM client to release through (a new one by default). */
  ipam?: Ipam;
  /** Monotonic time for grace periods (the real clock by default; a ManualClock in tests). */
  clock?: Pick<Clock, 'now'>;
  /** Wall-clock time for cooldowns. */
  now?: () => Date;
  /** Overrides KubeControllersConfiguration's leakGracePeriod. */
  leakGraceMs?: number;
  /** How long an empty block keeps its affinity (default: the leak grace period). */
  emptyBlockGraceMs?: number;
  /** Grace for stale affinity and handle records (default: the leak grace period, capped at 1 minute). */
  staleRecordGraceMs?: number;
  logger?: Logger;
  /** A pod oracle (kube-controllers: the Kubernetes API); ownership rule 6. */
  pods?: PodOracle;
}

/**
 * What an orchestrator knows about pods: a cached lookup to judge with, and fresh answers about
 * the pods of the allocations about to be released (asked right before releasing them).
 */
export interface PodOracle {
  /** From a cache; undefined for a pod it cannot tell about (e.g. not synced yet). */
  lookup: PodLookup;
  /** Asks the source again about these pods; the result answers for them (and falls back to `lookup`). */
  refresh(pods: readonly { namespace: string; pod: string }[]): Promise<PodLookup>;
}

/** What one pass saw, decided and did. */
export interface GcPassReport {
  revision: number;
  plan: GcPlan;
  outcome: GcOutcome;
}

/** Runs GC passes, keeping first-seen times between them. */
export class IpamGarbageCollector {
  readonly #ds: Datastore;
  readonly #store: ResourceStore;
  readonly #ipam: Ipam;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #now: () => Date;
  readonly #options: IpamGcOptions;
  readonly #logger: Logger;
  #state: GcState = emptyGcState();

  constructor(options: IpamGcOptions) {
    this.#ds = options.datastore;
    this.#store = new ResourceStore(options.datastore);
    this.#ipam = options.ipam ?? new Ipam(options.datastore, options.now ? { now: options.now } : {});
    this.#clock = options.clock ?? systemClock;
    this.#now = options.now ?? (() => new Date());
    this.#options = options;
    this.#logger = options.logger ?? silentLogger();
  }

  async #inputs(): Promise<{ nodes: Set<string>; workloads: WorkloadRef[] }> {
    const [nodes, weps] = await Promise.all([this.#store.list(nodeKind), this.#store.list(workloadEndpointKind)]);
    return { nodes: new Set(nodes.items.map((n) => n.metadata.name)), workloads: weps.items.map(workloadFromResource) };
  }

  async #revalidate(releases: readonly PlannedRelease[]): Promise<{ nodes: Set<string>; workloads: WorkloadRef[]; pods?: PodLookup }> {
    const oracle = this.#options.pods;
    const named = releases.flatMap((r) => (r.allocation.attrs.namespace && r.allocation.attrs.pod ? [{ namespace: r.allocation.attrs.namespace, pod: r.allocation.attrs.pod }] : []));
    const [inputs, pods] = await Promise.all([this.#inputs(), oracle ? oracle.refresh(named) : undefined]);
    return pods ? { ...inputs, pods } : inputs;
  }

  /** Runs one pass. `signal` aborts between steps (leadership lost). */
  async runPass(signal?: AbortSignal): Promise<GcPassReport> {
    const snapshot = await this.#ipam.snapshot();
    const [{ nodes, workloads }, settings, config] = await Promise.all([this.#inputs(), loadControllerSettings(this.#store), this.#ipam.getConfig()]);
    const leakGraceMs = this.#options.leakGraceMs ?? settings.leakGraceMs;
    const plan = planGc({
      snapshot,
      nodes,
      workloads,
      nowMs: this.#clock.now(),
      wallNowMs: this.#now().getTime(),
      settings: {
        leakGraceMs,
        emptyBlockGraceMs: this.#options.emptyBlockGraceMs ?? leakGraceMs,
        staleRecordGraceMs: this.#options.staleRecordGraceMs ?? Math.min(leakGraceMs, 60_000),
        cooldownSeconds: config.ipCooldownSeconds,
      },
      state: this.#state,
      ...(this.#options.pods ? { pods: this.#options.pods.lookup } : {}),
    });
    this.#state = plan.state;
    const outcome = await executeGc(plan, {
      ipam: this.#ipam,
      datastore: this.#ds,
      revalidate: (releases) => this.#revalidate(releases),
      logger: this.#logger,
      ...(signal ? { signal } : {}),
    });
    return { revision: snapshot.revision, plan, outcome };
  }
}
