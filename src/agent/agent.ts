/**
 * The agent: one host's loop from the datastore to the kernel (Felix's role).
 *
 * ```
 * etcd ─▶ Syncer /calico/resources/v3/projectcalico.org/ ─┐
 *      ─▶ Syncer /calico/ipam/v2/assignment/ ─────────────┤ (both in sync → graph in sync)
 *                                                          ▼
 *                          calculation graph (pure) ── kick ──▶ FlushScheduler (coalesce + leaky bucket)
 *                                                                  │ graph.flush() → DataplaneUpdate[]
 *                                                                  ▼
 *                                                          Dataplane.apply (one nft transaction)
 *                                                          Dataplane.resync (periodic, after errors, after outages)
 *                                                                  │
 *                      health (/liveness, /readiness) ◀────────────┼──▶ metrics (/metrics)
 *                                                                  ▼
 *                                   status keys /calico/felix/v2/<region>/host/<host>/…
 * ```
 *
 * Rules:
 * - Nothing reaches the kernel before both syncers have delivered a complete snapshot.
 * - A burst of datastore changes becomes one flush; flushes never overlap.
 * - When the datastore is unreachable the dataplane keeps its last good state (periodic resyncs
 *   still repair drift against it), readiness fails, and a full resync follows the reconnection.
 * - A failed apply is retried (as a full resync) with backoff; readiness fails meanwhile.
 */
import type { Resource } from '../api/resource.ts';
import { buildCalcGraph, type CalcGraph } from '../calc/mod.ts';
import type { DataplaneUpdate } from '../calc/model.ts';
import { type LocalConfig, SettingsResolver } from '../calc/settings-resolver.ts';
import type { AgentConfig, ParamName } from '../api/felix-params.ts';
import { type Clock, systemClock } from '../datastore/clock.ts';
import type { Datastore } from '../datastore/datastore.ts';
import { parseResourceKey, resourceKey, RESOURCES_PREFIX } from '../datastore/keys.ts';
import { Syncer, type SyncerEvent, type SyncerState } from '../datastore/syncer.ts';
import { MargayError } from '../errors/mod.ts';
import { type AgentDataplane, checkOutcome, DataplaneFailure, type DataplaneOutcome } from './dataplane-port.ts';
import { EndpointsAhead } from './ahead.ts';
import { EndpointWaiters } from './endpoint-waiters.ts';
import { ProgrammedState, touchedEndpoints } from './programmed.ts';
import { HealthAggregator, type RunningServer, startHealthServer } from './health.ts';
import { componentLogger, createLogger, type Logger, setLogLevel } from './log.ts';
import { AgentMetrics, RESYNC_STATE, startMetricsServer } from './metrics.ts';
import { FlushScheduler, Ticker } from './scheduler.ts';
import {
  endpointStatuses,
  type EndpointStatus,
  StatusReporter,
  statusRegion,
  type WorkloadStatusId,
  workloadStatusId,
} from './status.ts';

export type { AgentDataplane, DataplaneOutcome };

/** The IPAM prefix the agent follows (blocks: routes and blackholes). */
export const IPAM_BLOCKS_PREFIX = '/calico/ipam/v2/assignment/';

/** Options of {@link Agent}. */
export interface AgentOptions {
  datastore: Datastore;
  /** The file, environment and flag layers (see config.ts). */
  local: LocalConfig;
  /** The hostname when nothing configures one (the machine's name). */
  defaultHostname?: string;
  /** Builds the dataplane once the configuration is known (netns, hostname). */
  dataplane: (config: AgentConfig, logger: Logger) => AgentDataplane;
  /** The root logger (default: JSON lines on stderr at the configured level). */
  logger?: Logger;
  /** Timers (default: the system clock). */
  clock?: Clock;
  /** Wall-clock milliseconds since the epoch, for status times (default Date.now). */
  wallClock?: () => number;
  /** Serve health and metrics over HTTP (default true). */
  servers?: boolean;
  /** Syncer retry backoff (tests shorten it). */
  syncerBackoff?: { initialMs: number; maxMs: number };
}


type SyncerName = 'resources' | 'ipam';

/** One host's agent. */
export class Agent {
  readonly health: HealthAggregator;
  readonly metrics: AgentMetrics;
  readonly graph: CalcGraph;
  readonly #ds: Datastore;
  readonly #settings: SettingsResolver;
  readonly #root: Logger;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #wall: () => number;
  readonly #serve: boolean;
  readonly #dataplane: AgentDataplane;
  readonly #scheduler: FlushScheduler;
  readonly #statusScheduler: FlushScheduler;
  readonly #reporter: StatusReporter;
  readonly #syncers: Record<SyncerName, Syncer>;
  readonly #syncerState: Record<SyncerName, SyncerState | undefined> = { resources: undefined, ipam: undefined };
  readonly #syncerInSync: Record<SyncerName, boolean> = { resources: false, ipam: false };
  readonly #programmed = new ProgrammedState();
  /** The highest datastore revision fed to the graph, and the highest one the kernel reflects. */
  #fedRevision = 0;
  #appliedRevision = 0;
  /** Local endpoints the CNI service had programmed ahead of their datastore write. */
  readonly #ahead = new EndpointsAhead();
  /** Callers (the CNI service) waiting for an endpoint to be programmed at a revision. */
  readonly #endpointWaiters: EndpointWaiters;
  /** WorkloadEndpoint `<ns>/<name>` → its status key identity. */
  readonly #wepIds = new Map<string, WorkloadStatusId>();
  readonly #nodes = new Set<string>();
  /** Endpoints whose last update failed to apply. */
  readonly #failedEndpoints = new Set<string>();
  #config: AgentConfig;
  #resyncTicker: Ticker | undefined;
  #reportTicker: Ticker | undefined;
  #watchdogTicker: Ticker | undefined;
  #healthServer: RunningServer | undefined;
  #metricsServer: RunningServer | undefined;
  #serversRestart: Promise<void> = Promise.resolve();
  #resyncRequested = false;
  #graphInSync = false;
  #prepared = false;
  #dataplaneInSync = false;
  #lastInSync: number | undefined;
  #pendingSince: number | undefined;
  #operationStartedAt: number | undefined;
  #lastApplyError: string | undefined;
  #started = false;
  #stopping = false;
  #fatalError: Error | undefined;
  #resolveDone!: () => void;
  #rejectDone!: (err: unknown) => void;
  /** Settles when the agent stops: resolves after stop(), rejects on a fatal error. */
  readonly done: Promise<void>;

  constructor(options: AgentOptions) {
    this.#ds = options.datastore;
    this.#clock = options.clock ?? systemClock;
    this.#endpointWaiters = new EndpointWaiters(this.#clock);
    this.#wall = options.wallClock ?? Date.now;
    this.#serve = options.servers ?? true;
    this.#settings = new SettingsResolver({ local: options.local, defaultHostname: options.defaultHostname ?? '' });
    this.#config = this.#settings.current.config;
    const hostname = this.#config.felixHostname;
    if (hostname === '') {
      throw new MargayError('MARGAY_ERR_CONFIG', 'no hostname: pass --hostname, or set NODENAME or MARGAY_HOSTNAME');
    }
    this.#root = options.logger ?? createLogger({ level: this.#config.logSeverityScreen, base: { hostname } });
    this.#log = componentLogger(this.#root, 'agent');
    this.done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.done.catch(() => {});

    this.health = new HealthAggregator(this.#clock);
    this.health.register('datastore', { live: false, ready: true });
    this.health.register('dataplane', { live: true, ready: true });
    this.metrics = new AgentMetrics({ processMetrics: this.#config.prometheusProcessMetricsEnabled });

    const calcLog = componentLogger(this.#root, 'calc');
    this.graph = buildCalcGraph({ hostname, settings: this.#settings, onWarning: (message, key) => calcLog.warn({ key }, message) });
    this.#settings.subscribe({ onConfigChanged: (changed) => this.#reconfigure(changed) });
    this.#dataplane = options.dataplane(this.#config, componentLogger(this.#root, 'dataplane'));

    this.#scheduler = new FlushScheduler({
      clock: this.#clock,
      run: () => this.#flush(),
      delayMs: this.#config.dataplaneFlushDelay,
      burst: this.#config.dataplaneFlushBurst,
      intervalMs: this.#config.dataplaneFlushInterval,
      retryInitialMs: 100,
      retryMaxMs: 10_000,
      onError: (err, failures) => this.#log.error({ err: describe(err), failures }, 'dataplane update failed; retrying'),
    });
    const statusLog = componentLogger(this.#root, 'status');
    this.#reporter = new StatusReporter({
      datastore: this.#ds,
      hostname,
      region: statusRegion(this.#config.openstackRegion),
      logger: statusLog,
      ttlSeconds: this.#config.reportingTTL / 1000,
      now: this.#wall,
    });
    this.#statusScheduler = new FlushScheduler({
      clock: this.#clock,
      run: () => this.#reporter.flushEndpoints(),
      delayMs: this.#config.endpointReportingDelay,
      burst: 1,
      intervalMs: this.#config.endpointReportingDelay,
      retryInitialMs: 1000,
      retryMaxMs: 30_000,
      onError: (err) => statusLog.debug({ err: describe(err) }, 'endpoint status write failed; retrying'),
    });

    const backoff = options.syncerBackoff ?? { initialMs: 100, maxMs: 5000 };
    const syncerLog = componentLogger(this.#root, 'syncer');
    const make = (name: SyncerName, prefix: string): Syncer =>
      new Syncer(this.#ds, prefix, (events) => this.#onSyncerEvents(name, events), {
        initialBackoffMs: backoff.initialMs,
        maxBackoffMs: backoff.maxMs,
        onError: (err) => syncerLog.debug({ syncer: name, err: err.message }, 'datastore error'),
      });
    this.#syncers = { resources: make('resources', RESOURCES_PREFIX), ipam: make('ipam', IPAM_BLOCKS_PREFIX) };
  }

  /** The root logger (JSON lines; its level follows logSeverityScreen). */
  get logger(): Logger {
    return this.#root;
  }

  /** The configuration now (it changes when FelixConfigurations do). */
  get config(): AgentConfig {
    return this.#config;
  }

  /** Where each configuration value came from. */
  get configSources(): Record<ParamName, string> {
    return this.#settings.current.sources;
  }

  /** The bound health address (after start, when enabled). */
  get healthAddress(): { host: string; port: number } | undefined {
    return this.#healthServer ? { host: this.#healthServer.host, port: this.#healthServer.port } : undefined;
  }

  /** The bound metrics address (after start, when enabled). */
  get metricsAddress(): { host: string; port: number } | undefined {
    return this.#metricsServer ? { host: this.#metricsServer.host, port: this.#metricsServer.port } : undefined;
  }

  /**
   * Resolves once the kernel reflects the datastore at `revision` or later and the workload
   * endpoint `<namespace>/<name>` is programmed (its chains and policy in place); rejects after
   * `timeoutMs`. The CNI service answers ADD only after this.
   */
  waitForEndpointProgrammed(key: string, revision: number, timeoutMs: number): Promise<void> {
    const timeout = () => new Error(`endpoint ${key} was not programmed within ${timeoutMs} ms${this.#lastApplyError ? ` (last dataplane error: ${this.#lastApplyError})` : ''}`);
    return this.#endpointWaiters.wait(key, revision, timeoutMs, timeout, (pending) => {
      this.#settleEndpointWaiters();
      // Its change is already in the graph and waits for the coalescing timer: do not wait for it.
      if (pending() && revision <= this.#fedRevision && this.#scheduler.busy && !this.#scheduler.running) {
        this.#scheduler.expedite();
      }
    });
  }

  /**
   * Programs a local workload endpoint from the value the CNI service is about to write, without
   * waiting for the datastore to echo it back: the kernel work overlaps the write, and the flush
   * of the echo, which {@link waitForEndpointProgrammed} still waits for, finds nothing left to
   * do (see ahead.ts). Returns the withdrawal, for a write that failed: the datastore's last value
   * of the endpoint comes back.
   */
  programAhead(endpoint: Resource): () => void {
    const { name, namespace = 'default' } = endpoint.metadata;
    if (!this.#graphInSync || this.#stopping) return () => undefined;
    const key = resourceKey('workloadendpoints', name, namespace);
    const id = `${namespace}/${name}`;
    const { resourceVersion: _stored, ...metadata } = endpoint.metadata;
    const seq = this.#ahead.feed(id);
    this.#feedAhead(key, structuredClone({ ...endpoint, metadata }));
    this.#scheduler.expedite();
    return () => {
      const back = this.#ahead.withdraw(id, seq);
      if (!back) return;
      this.#feedAhead(key, back.value);
      this.#scheduler.kick();
    };
  }

  #feedAhead(key: string, value: unknown): void {
    this.#observe(key, value, 'ahead');
    this.graph.onUpdate(key, value);
    this.#pendingSince ??= performance.now();
  }

  #settleEndpointWaiters(): void {
    this.#endpointWaiters.settle(
      (key, revision) =>
        revision <= this.#appliedRevision && this.#programmed.workloads.has(key) && !this.#failedEndpoints.has(key),
    );
  }

  /** True once the dataplane has been programmed from a complete snapshot and the datastore is connected. */
  get inSync(): boolean {
    return this.#dataplaneInSync && this.#datastoreInSync();
  }

  /** Resolves when no flush is pending or running (tests). */
  whenIdle(): Promise<void> {
    return this.#scheduler.whenIdle();
  }

  /** Starts serving, syncing and programming. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const resolved = this.#settings.current;
    for (const w of resolved.warnings) this.#log.warn(w);
    this.#log.info(
      { config: this.#config, sources: Object.fromEntries(Object.entries(resolved.sources).filter(([, s]) => s !== 'default')) },
      'agent starting',
    );
    this.health.report('datastore', { live: true, ready: false, detail: 'connecting' });
    this.health.report('dataplane', { live: true, ready: false, detail: 'waiting for the datastore snapshot' });
    if (this.#serve) await this.#startServers();
    this.#resyncTicker = new Ticker(this.#clock, this.#resyncPeriod(), () => this.requestResync('periodic'));
    this.#reportTicker = new Ticker(this.#clock, this.#config.reportingInterval, () => void this.#reportHost());
    this.#watchdogTicker = new Ticker(this.#clock, 1000, () => this.#watchdog());
    for (const [name, syncer] of Object.entries(this.#syncers) as [SyncerName, Syncer][]) {
      syncer.start();
      syncer.done.catch((err: unknown) => this.#fatal(`the ${name} syncer stopped`, err));
    }
  }

  /** Asks for a full dataplane resync (read the kernel, repair drift) at the next flush. */
  requestResync(reason: string): void {
    if (!this.#graphInSync || this.#stopping) return;
    this.#log.debug({ reason }, 'dataplane resync requested');
    this.#resyncRequested = true;
    this.#scheduler.kick();
  }

  /** Stops everything; the kernel keeps what was programmed. */
  async stop(): Promise<void> {
    if (this.#stopping) return this.done;
    this.#stopping = true;
    this.#log.info('agent stopping');
    this.#endpointWaiters.rejectAll(new Error('the agent is stopping'));
    this.#resyncTicker?.stop();
    this.#reportTicker?.stop();
    this.#watchdogTicker?.stop();
    await Promise.all(Object.values(this.#syncers).map((s) => s.stop()));
    await this.#scheduler.stop();
    await this.#statusScheduler.stop();
    await withDeadline(this.#reporter.close(), 2000);
    await this.#serversRestart;
    await this.#healthServer?.close();
    await this.#metricsServer?.close();
    await this.#dataplane.close?.();
    this.#log.info('agent stopped');
    if (this.#fatalError) this.#rejectDone(this.#fatalError);
    else this.#resolveDone();
  }

  // -----------------------------------------------------------------------------------------------
  // Datastore side

  #datastoreInSync(): boolean {
    return this.#syncerState.resources === 'in-sync' && this.#syncerState.ipam === 'in-sync';
  }

  #onSyncerEvents(name: SyncerName, events: SyncerEvent[]): void {
    const start = performance.now();
    let changes = 0;
    let becameInSync = false;
    let localEndpoint = false;
    for (const ev of events) {
      switch (ev.type) {
        case 'update':
        case 'delete': {
          changes++;
          const key = ev.type === 'update' ? ev.kv.key : ev.key;
          let value: unknown;
          if (ev.type === 'update') {
            try {
              value = JSON.parse(ev.kv.value);
            } catch {
              this.#log.warn({ key }, 'datastore value is not JSON; treated as deleted');
            }
          }
          const revision = ev.type === 'update' ? ev.kv.modRevision : ev.revision;
          localEndpoint = this.#observe(key, value, 'datastore') || localEndpoint;
          this.graph.onUpdate(key, value);
          if (revision > this.#fedRevision) this.#fedRevision = revision;
          break;
        }
        case 'in-sync':
          this.#syncerInSync[name] = true;
          becameInSync = true;
          break;
        case 'status':
          this.#onSyncerStatus(name, ev.state, ev.error?.message);
          break;
      }
    }
    if (changes > 0) {
      this.metrics.datastoreUpdates.inc(changes);
      this.metrics.calcGraphUpdateSeconds.observe((performance.now() - start) / 1000);
      this.#pendingSince ??= performance.now();
    }
    if (becameInSync && !this.#graphInSync && this.#syncerInSync.resources && this.#syncerInSync.ipam) {
      this.#graphInSync = true;
      this.graph.onInSync();
      this.#log.info('datastore snapshot complete; programming the dataplane');
    }
    if (this.#graphInSync && (changes > 0 || becameInSync)) {
      // A new or changed local endpoint is what a CNI ADD waits for: no coalescing delay.
      if (localEndpoint) this.#scheduler.expedite();
      else this.#scheduler.kick();
    }
  }

  #onSyncerStatus(name: SyncerName, state: SyncerState, error: string | undefined): void {
    const wasInSync = this.#datastoreInSync();
    this.#syncerState[name] = state;
    const nowInSync = this.#datastoreInSync();
    const states = Object.values(this.#syncerState);
    this.metrics.resyncState.set(
      states.includes('disconnected') ? RESYNC_STATE.waitForDatastore : nowInSync ? RESYNC_STATE.inSync : RESYNC_STATE.resyncing,
    );
    if (state === 'disconnected') {
      this.#log.warn({ syncer: name, err: error }, 'datastore unreachable; keeping the dataplane as it is');
    }
    this.health.report('datastore', {
      live: true,
      ready: nowInSync,
      detail: nowInSync ? 'in sync' : `${name}: ${state}${error ? ` (${error})` : ''}`,
    });
    if (!wasInSync && nowInSync && this.#graphInSync) {
      this.#log.info('datastore connection restored; resyncing the dataplane');
      this.requestResync('datastore reconnected');
    }
    this.#updateInSyncGauge();
    if (wasInSync !== nowInSync) void this.#reportHost();
  }

  /**
   * Side-tracking of a few kinds the agent itself needs (config, status ids, host count, the
   * datastore's values of local endpoints). Returns true for a workload endpoint of this host
   * written (not deleted).
   */
  #observe(key: string, value: unknown, source: 'datastore' | 'ahead'): boolean {
    const ref = parseResourceKey(key);
    if (ref === undefined) return false;
    const res = value as Resource | undefined;
    switch (ref.plural) {
      case 'workloadendpoints': {
        // Only this host's endpoints get a status key: keep nothing for the rest of the cluster.
        const id = `${ref.namespace ?? 'default'}/${ref.name}`;
        const local = res !== undefined && (res.spec as { node?: unknown } | undefined)?.node === this.#config.felixHostname;
        if (source === 'datastore') this.#ahead.onDatastore(id, res, local);
        if (!local) {
          this.#wepIds.delete(id);
          break;
        }
        this.#wepIds.set(id, workloadStatusId(ref.namespace ?? 'default', ref.name, res!.spec));
        return true;
      }
      case 'nodes':
        if (res === undefined) this.#nodes.delete(ref.name);
        else this.#nodes.add(ref.name);
        this.metrics.clusterNumHosts.set(this.#nodes.size);
        break;
    }
    return false;
  }

  #reconfigure(changed: ParamName[]): void {
    const next = this.#settings.current.config;
    this.#config = next;
    for (const w of this.#settings.current.warnings) this.#log.warn(w);
    this.#log.info({ changed: Object.fromEntries(changed.map((p) => [p, next[p]])) }, 'configuration changed');
    if (changed.includes('logSeverityScreen')) setLogLevel(this.#root, next.logSeverityScreen);
    if (changed.includes('nftablesRefreshInterval') || changed.includes('routeRefreshInterval')) this.#resyncTicker?.setPeriod(this.#resyncPeriod());
    if (changed.includes('reportingInterval')) this.#reportTicker?.setPeriod(next.reportingInterval);
    if (changed.includes('reportingTTL')) this.#reporter.ttlSeconds = next.reportingTTL / 1000;
    if (changed.includes('endpointReportingEnabled')) this.#updateEndpointStatuses();
    const serverParams: ParamName[] = ['healthEnabled', 'healthHost', 'healthPort', 'prometheusMetricsEnabled', 'prometheusMetricsHost', 'prometheusMetricsPort'];
    if (this.#serve && this.#started && changed.some((p) => serverParams.includes(p))) {
      this.#serversRestart = this.#serversRestart.then(async () => {
        if (this.#stopping) return;
        await this.#healthServer?.close();
        await this.#metricsServer?.close();
        this.#healthServer = this.#metricsServer = undefined;
        await this.#startServers();
      });
    }
    const needsRestart = changed.filter((p) => ['openstackRegion', 'prometheusProcessMetricsEnabled', 'dataplaneFlushDelay', 'endpointReportingDelay'].includes(p));
    if (needsRestart.length > 0) this.#log.warn({ params: needsRestart }, 'these parameters take effect when the agent restarts');
  }

  #resyncPeriod(): number {
    const periods = [this.#config.nftablesRefreshInterval, this.#config.routeRefreshInterval].filter((p) => p > 0);
    return periods.length === 0 ? 0 : Math.min(...periods);
  }

  // -----------------------------------------------------------------------------------------------
  // Dataplane side

  /** The scheduler's job: flush the graph, apply, resync when asked. False when there was nothing to do. */
  async #flush(): Promise<boolean> {
    if (!this.#graphInSync || this.#stopping) return false;
    let updates: DataplaneUpdate[];
    try {
      updates = this.graph.flush();
    } catch (err) {
      this.#fatal('the calculation graph failed', err);
      return false;
    }
    const pendingSince = this.#pendingSince;
    this.#pendingSince = undefined;
    const revisionAtFlush = this.#fedRevision;
    const resync = this.#resyncRequested;
    this.#resyncRequested = false;
    const touched = touchedEndpoints(updates);
    if (!this.#prepared) {
      // Host sysctls, like everything else in the kernel, only once the snapshot is complete.
      this.#prepared = true;
      try {
        await this.#dataplane.prepare?.();
      } catch (err) {
        this.#log.error({ err: describe(err) }, 'preparing the host (sysctls) failed');
      }
    }
    try {
      if (updates.length > 0) {
        this.#operationStartedAt = this.#clock.now();
        const t0 = performance.now();
        try {
          checkOutcome(await this.#dataplane.apply(updates), 'apply');
        } finally {
          this.#operationStartedAt = undefined;
        }
        this.metrics.dataplaneApplySeconds.observe((performance.now() - t0) / 1000);
        this.#track(updates);
      }
      if (resync) {
        this.#operationStartedAt = this.#clock.now();
        const t0 = performance.now();
        try {
          checkOutcome(await this.#dataplane.resync(), 'resync');
        } finally {
          this.#operationStartedAt = undefined;
        }
        this.metrics.dataplaneResyncSeconds.observe((performance.now() - t0) / 1000);
      }
    } catch (err) {
      this.metrics.dataplaneErrors.inc({ operation: updates.length > 0 ? 'apply' : 'resync' });
      if (updates.length > 0) this.#track(updates); // the dataplane keeps them as desired state
      const failed = err instanceof DataplaneFailure && err.failedEndpoints.length > 0 ? err.failedEndpoints : touched;
      for (const key of failed) this.#failedEndpoints.add(key);
      this.#lastApplyError = describe(err);
      this.#resyncRequested = true; // retry as a full resync
      this.#pendingSince ??= pendingSince;
      this.health.report('dataplane', { live: true, ready: false, detail: `apply failed: ${this.#lastApplyError}` });
      this.#updateInSyncGauge();
      this.#updateEndpointStatuses();
      throw err;
    }
    const hadFailures = this.#failedEndpoints.size > 0;
    if (resync) this.#failedEndpoints.clear(); // a successful resync programmed everything
    for (const key of touched) this.#failedEndpoints.delete(key);
    this.#lastApplyError = undefined;
    const first = !this.#dataplaneInSync;
    if (first) {
      this.#dataplaneInSync = true;
      this.#log.info(
        { endpoints: this.#programmed.workloads.size + this.#programmed.hostEndpoints.size, policies: this.#programmed.policies.size, ipSets: this.#programmed.ipSets.size },
        'dataplane in sync',
      );
    } else if (pendingSince !== undefined && updates.length > 0) {
      this.metrics.policyProgrammingLatencySeconds.observe((performance.now() - pendingSince) / 1000);
    }
    if (this.#datastoreInSync()) this.#lastInSync = this.#wall();
    if (revisionAtFlush > this.#appliedRevision) this.#appliedRevision = revisionAtFlush;
    this.#settleEndpointWaiters();
    this.health.report('dataplane', { live: true, ready: true, detail: `programmed (${this.#programmed.workloads.size} workloads)` });
    this.#updateInSyncGauge();
    if (updates.length > 0 || first || hadFailures) this.#updateEndpointStatuses();
    if (first) void this.#reportHost();
    return updates.length > 0 || resync || first || hadFailures;
  }

  #track(updates: readonly DataplaneUpdate[]): void {
    const p = this.#programmed;
    p.track(updates);
    this.metrics.activeLocalEndpoints.set(p.workloads.size + p.hostEndpoints.size);
    this.metrics.activeLocalPolicies.set(p.policies.size);
    this.metrics.activeLocalSelectors.set(p.ipSets.size);
  }

  #updateInSyncGauge(): void {
    this.metrics.inSync.set(this.inSync ? 1 : 0);
  }

  /** A dataplane operation running longer than the watchdog timeout makes the agent not live. */
  #watchdog(): void {
    const started = this.#operationStartedAt;
    const limit = this.#config.dataplaneWatchdogTimeout;
    if (started !== undefined && limit > 0 && this.#clock.now() - started > limit) {
      this.health.report('dataplane', { live: false, ready: false, detail: `a dataplane operation has run for ${Math.round((this.#clock.now() - started) / 1000)} s` });
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Status

  #updateEndpointStatuses(): void {
    const statuses = this.#config.endpointReportingEnabled
      ? endpointStatuses({
          region: statusRegion(this.#config.openstackRegion),
          host: this.#config.felixHostname,
          programmed: this.#programmed,
          workloadIds: this.#wepIds,
          failed: this.#failedEndpoints,
        })
      : new Map<string, EndpointStatus>();
    this.#reporter.setEndpointStatuses(statuses);
    if (this.#reporter.endpointsDirty) this.#statusScheduler.kick();
  }

  async #reportHost(): Promise<void> {
    if (this.#stopping) return;
    try {
      await this.#reporter.reportHost({ inSync: this.inSync, ready: this.health.ready, lastInSync: this.#lastInSync });
    } catch (err) {
      this.#log.debug({ err: describe(err) }, 'host status write failed; will retry');
    }
  }

  // -----------------------------------------------------------------------------------------------

  async #startServers(): Promise<void> {
    const c = this.#config;
    const log = componentLogger(this.#root, 'health');
    if (c.healthEnabled) {
      this.#healthServer = await startHealthServer(this.health, c.healthHost, c.healthPort);
      log.info({ host: this.#healthServer.host, port: this.#healthServer.port }, 'serving /liveness and /readiness');
    }
    if (c.prometheusMetricsEnabled) {
      this.#metricsServer = await startMetricsServer(this.metrics, c.prometheusMetricsHost, c.prometheusMetricsPort);
      log.info({ host: this.#metricsServer.host, port: this.#metricsServer.port }, 'serving /metrics');
    }
  }

  #fatal(what: string, err: unknown): void {
    if (this.#stopping) return;
    this.#log.fatal({ err: describe(err) }, what);
    this.#fatalError = new Error(`${what}: ${describe(err)}`, { cause: err });
    void this.stop();
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function withDeadline(p: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
