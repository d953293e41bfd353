/**
 * The agent's flush loop: the calculation graph's output to the dataplane. A
 * {@link FlushScheduler} coalesces kicks into serialized runs; each run flushes the graph, applies
 * the batch (one kernel transaction), resyncs when asked, and keeps the books the rest of the
 * agent reads: what is programmed, which endpoints failed, up to which datastore revision the
 * kernel is current, the dataplane's health and metrics.
 *
 * Rules:
 * - Nothing reaches the kernel before the graph is in sync (the first complete snapshot); host
 *   sysctls are written alongside the first apply, which is done only when both are.
 * - A failed apply stays desired: it is retried as a full resync with backoff, the endpoints it
 *   touched are reported failed, and readiness fails meanwhile.
 * - An apply or resync running longer than `dataplaneWatchdogTimeout` makes the agent not live.
 */
import type { CalcGraph } from '../calc/mod.ts';
import type { DataplaneUpdate } from '../calc/mod.ts';
import type { Clock, TimerHandle } from '../os/mod.ts';
import { type AgentDataplane, checkOutcome, DataplaneFailure } from './dataplane-port.ts';
import type { HealthAggregator } from './health.ts';
import type { Logger } from '../log/mod.ts';
import type { AgentMetrics } from './metrics.ts';
import { ProgrammedState, touchedEndpoints } from './programmed.ts';
import { FlushScheduler } from './scheduler.ts';

/**
 * How long changes must pause before the policy chains and sets they left unused in the kernel
 * are deleted (the dataplane keeps them meanwhile, so that a change and its reversal stay small).
 */
export const TIDY_DELAY_MS = 2000;

/** Options of {@link FlushLoop}. */
export interface FlushLoopOptions {
  graph: CalcGraph;
  dataplane: AgentDataplane;
  clock: Clock;
  /** Wall-clock milliseconds since the epoch (the last-in-sync time of status reports). */
  wallClock: () => number;
  logger: Logger;
  health: HealthAggregator;
  metrics: AgentMetrics;
  /** Coalescing and throttling (the dataplaneFlush* parameters). */
  delayMs: number;
  burst: number;
  intervalMs: number;
  /** The longest a dataplane operation may run before the agent is not live (0: no limit). */
  watchdogTimeoutMs: () => number;
  /** True while the datastore is connected and in sync. */
  datastoreInSync: () => boolean;
  /** After a successful run: `first` for the first one, `changed` when endpoint statuses may have changed. */
  onFlushed: (info: { first: boolean; changed: boolean }) => void;
  /** After a failed run (before the retry). */
  onFailed: () => void;
  /** The calculation graph threw: the agent cannot go on. */
  onFatal: (what: string, err: unknown) => void;
}

/** Flushes the graph into the dataplane, one serialized run at a time. */
export class FlushLoop {
  /** What the dataplane has been told to program. */
  readonly programmed = new ProgrammedState();
  /** Endpoints whose last update failed to apply. */
  readonly failedEndpoints = new Set<string>();
  readonly #o: FlushLoopOptions;
  readonly #log: Logger;
  readonly #scheduler: FlushScheduler;
  #graphInSync = false;
  #stopping = false;
  #prepared = false;
  #dataplaneInSync = false;
  #resyncRequested = false;
  #fedRevision = 0;
  #appliedRevision = 0;
  #pendingSince: number | undefined;
  #operationStartedAt: number | undefined;
  #lastApplyError: string | undefined;
  #lastInSync: number | undefined;
  #tidyTimer: TimerHandle | undefined;
  #tidyDue = false;

  constructor(options: FlushLoopOptions) {
    this.#o = options;
    this.#log = options.logger;
    options.health.register('dataplane', { live: true, ready: true });
    this.#scheduler = new FlushScheduler({
      clock: options.clock,
      run: () => this.#flush(),
      delayMs: options.delayMs,
      burst: options.burst,
      intervalMs: options.intervalMs,
      retryInitialMs: 100,
      retryMaxMs: 10_000,
      onError: (err, failures) => this.#log.error({ err: describe(err), failures }, 'dataplane update failed; retrying'),
    });
  }

  /** True once the dataplane has been programmed from a complete snapshot. */
  get dataplaneInSync(): boolean {
    return this.#dataplaneInSync;
  }

  /** True once the graph has had its complete snapshot. */
  get graphInSync(): boolean {
    return this.#graphInSync;
  }

  /** The highest datastore revision fed to the graph. */
  get fedRevision(): number {
    return this.#fedRevision;
  }

  /** The highest datastore revision the kernel reflects. */
  get appliedRevision(): number {
    return this.#appliedRevision;
  }

  /** The error of the last failed run, until a run succeeds. */
  get lastApplyError(): string | undefined {
    return this.#lastApplyError;
  }

  /** When the dataplane was last in sync with a connected datastore (wall clock). */
  get lastInSync(): number | undefined {
    return this.#lastInSync;
  }

  /** True while a run is wanted or in progress; `running` while one is in progress. */
  get busy(): boolean {
    return this.#scheduler.busy;
  }

  get running(): boolean {
    return this.#scheduler.running;
  }

  /** The graph got the datastore's change at `revision`. */
  noteRevision(revision: number): void {
    if (revision > this.#fedRevision) this.#fedRevision = revision;
  }

  /** The graph has changes to flush (from now: the programming latency's start). */
  notePending(): void {
    this.#pendingSince ??= performance.now();
  }

  /** The graph has its complete snapshot: runs may program the kernel from now on. */
  markGraphInSync(): void {
    this.#graphInSync = true;
  }

  /** Something changed: flush soon. */
  kick(): void {
    this.#scheduler.kick();
  }

  /** Something changed that a caller waits for: flush without the coalescing delay. */
  expedite(): void {
    this.#scheduler.expedite();
  }

  /** Asks for a full dataplane resync (read the kernel, repair drift) at the next flush. */
  requestResync(reason: string): void {
    if (!this.#graphInSync || this.#stopping) return;
    this.#log.debug({ reason }, 'dataplane resync requested');
    this.#resyncRequested = true;
    this.#scheduler.kick();
  }

  /** Resolves when no flush is pending or running. */
  whenIdle(): Promise<void> {
    return this.#scheduler.whenIdle();
  }

  /** Stops flushing; resolves when the run in progress has finished. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#tidyTimer !== undefined) this.#o.clock.clearTimeout(this.#tidyTimer);
    await this.#scheduler.stop();
  }

  /** A dataplane operation running longer than the watchdog timeout makes the agent not live. */
  watchdog(): void {
    const started = this.#operationStartedAt;
    const limit = this.#o.watchdogTimeoutMs();
    const now = this.#o.clock.now();
    if (started !== undefined && limit > 0 && now - started > limit) {
      this.#o.health.report('dataplane', { live: false, ready: false, detail: `a dataplane operation has run for ${Math.round((now - started) / 1000)} s` });
    }
  }

  /** The scheduler's job: flush the graph, apply, resync when asked. False when there was nothing to do. */
  async #flush(): Promise<boolean> {
    if (!this.#graphInSync || this.#stopping) return false;
    // The host's sysctls are written (by a resident shell in another namespace) while the graph
    // is flushed and the first transaction rendered, not before: ~40 ms off a cold start.
    const prepared = this.#prepareOnce();
    let updates: DataplaneUpdate[];
    try {
      updates = this.#o.graph.flush();
    } catch (err) {
      this.#o.onFatal('the calculation graph failed', err);
      return false;
    }
    const pendingSince = this.#pendingSince;
    this.#pendingSince = undefined;
    const revisionAtFlush = this.#fedRevision;
    const resync = this.#resyncRequested;
    this.#resyncRequested = false;
    const touched = touchedEndpoints(updates);
    const tidy = this.#tidyDue && updates.length === 0 && !resync;
    this.#tidyDue = false;
    try {
      if (updates.length > 0) {
        await this.#timed('apply', () => this.#o.dataplane.apply(updates), this.#o.metrics.dataplaneApplySeconds);
        this.#track(updates);
      }
      if (resync) await this.#timed('resync', () => this.#o.dataplane.resync(), this.#o.metrics.dataplaneResyncSeconds);
      if (tidy && this.#o.dataplane.tidy) await this.#timed('apply', () => this.#o.dataplane.tidy!(), this.#o.metrics.dataplaneApplySeconds);
      await prepared;
    } catch (err) {
      await prepared;
      this.#onFailure(err, updates, touched, pendingSince);
      throw err;
    }
    const hadFailures = this.failedEndpoints.size > 0;
    if (resync) this.failedEndpoints.clear(); // a successful resync programmed everything
    for (const key of touched) this.failedEndpoints.delete(key);
    this.#lastApplyError = undefined;
    const first = !this.#dataplaneInSync;
    if (first) {
      this.#dataplaneInSync = true;
      const p = this.programmed;
      this.#log.info({ endpoints: p.workloads.size + p.hostEndpoints.size, policies: p.policies.size, ipSets: p.ipSets.size }, 'dataplane in sync');
    } else if (pendingSince !== undefined && updates.length > 0) {
      this.#o.metrics.policyProgrammingLatencySeconds.observe((performance.now() - pendingSince) / 1000);
    }
    if (this.#o.datastoreInSync()) this.#lastInSync = this.#o.wallClock();
    if (revisionAtFlush > this.#appliedRevision) this.#appliedRevision = revisionAtFlush;
    this.#o.health.report('dataplane', { live: true, ready: true, detail: `programmed (${this.programmed.workloads.size} workloads)` });
    this.#o.onFlushed({ first, changed: updates.length > 0 || first || hadFailures });
    this.#armTidy(updates.length > 0);
    return updates.length > 0 || resync || tidy || first || hadFailures;
  }

  /** Host sysctls, like everything else in the kernel, only once the snapshot is complete. Never throws. */
  async #prepareOnce(): Promise<void> {
    if (this.#prepared) return;
    this.#prepared = true;
    try {
      await this.#o.dataplane.prepare?.();
    } catch (err) {
      this.#log.error({ err: describe(err) }, 'preparing the host (sysctls) failed');
    }
  }

  /** Runs one dataplane operation under the watchdog, and times it. */
  /**
   * Starts the tidy timer while the dataplane has leftovers (restarts it after a change): they go
   * once changes pause for {@link TIDY_DELAY_MS}.
   */
  #armTidy(changed: boolean): void {
    if (this.#stopping || !this.#o.dataplane.untidy?.()) return;
    if (this.#tidyTimer !== undefined) {
      if (!changed) return;
      this.#o.clock.clearTimeout(this.#tidyTimer);
    }
    this.#tidyTimer = this.#o.clock.setTimeout(() => {
      this.#tidyTimer = undefined;
      this.#tidyDue = true;
      this.#scheduler.kick();
    }, TIDY_DELAY_MS);
  }

  async #timed(what: 'apply' | 'resync', op: () => ReturnType<AgentDataplane['apply']>, histogram: { observe(v: number): void }): Promise<void> {
    this.#operationStartedAt = this.#o.clock.now();
    const t0 = performance.now();
    try {
      const outcome = await op();
      if (outcome?.nft?.via) this.#o.metrics.dataplaneTransactions.inc({ via: outcome.nft.via });
      checkOutcome(outcome, what);
    } finally {
      this.#operationStartedAt = undefined;
    }
    histogram.observe((performance.now() - t0) / 1000);
  }

  #onFailure(err: unknown, updates: DataplaneUpdate[], touched: string[], pendingSince: number | undefined): void {
    this.#o.metrics.dataplaneErrors.inc({ operation: updates.length > 0 ? 'apply' : 'resync' });
    if (updates.length > 0) this.#track(updates); // the dataplane keeps them as desired state
    const failed = err instanceof DataplaneFailure && err.failedEndpoints.length > 0 ? err.failedEndpoints : touched;
    for (const key of failed) this.failedEndpoints.add(key);
    this.#lastApplyError = describe(err);
    this.#resyncRequested = true; // retry as a full resync
    this.#pendingSince ??= pendingSince;
    this.#o.health.report('dataplane', { live: true, ready: false, detail: `apply failed: ${this.#lastApplyError}` });
    this.#o.onFailed();
  }

  #track(updates: readonly DataplaneUpdate[]): void {
    const p = this.programmed;
    p.track(updates);
    this.#o.metrics.activeLocalEndpoints.set(p.workloads.size + p.hostEndpoints.size);
    this.#o.metrics.activeLocalPolicies.set(p.policies.size);
    this.#o.metrics.activeLocalSelectors.set(p.ipSets.size);
  }
}

/** The message of an error, or the thing itself as text. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
