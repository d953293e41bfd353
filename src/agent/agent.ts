/**
 * The agent: one host's loop from the datastore to the kernel (Felix's role).
 *
 * ```
 * etcd ─▶ DatastoreFeed (two syncers; both in sync → graph in sync) ──▶ other listeners (BGP)
 *              │ onUpdate(key, value)                       └──▶ SideTracker (status ids, host count)
 *              ▼
 *      calculation graph (pure; settings resolver inside) ── kick ──▶ FlushLoop (FlushScheduler:
 *                                                                       coalesce + leaky bucket)
 *                                                                  │ graph.flush() → DataplaneUpdate[]
 *                                                                  ▼
 *                                                          Dataplane.apply (one nft transaction)
 *                                                          Dataplane.resync (periodic, after errors, after outages)
 *                                                                  │
 *                      health (/liveness, /readiness) ◀────────────┼──▶ metrics (/metrics)   (AgentServers)
 *                                                                  ▼
 *                     status keys /calico/felix/v2/<region>/host/<host>/…   (StatusPublisher)
 * ```
 *
 * Rules:
 * - Nothing reaches the kernel before both syncers have delivered a complete snapshot.
 * - A burst of datastore changes becomes one flush; flushes never overlap.
 * - When the datastore is unreachable the dataplane keeps its last good state (periodic resyncs
 *   still repair drift against it), readiness fails, and a full resync follows the reconnection.
 * - A failed apply is retried (as a full resync) with backoff; readiness fails meanwhile.
 */
import type { AgentConfig, ParamName } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { buildCalcGraph, type CalcGraph } from '../calc/mod.ts';
import { type ConfigSource, type LocalConfig, SettingsResolver } from '../calc/mod.ts';
import { type Clock, loadMallocControl, type MallocControl, MALLOC_THRESHOLD_BYTES, systemClock } from '../os/mod.ts';
import type { Datastore } from '../datastore/mod.ts';
import { resourceKey } from '../datastore/mod.ts';
import { MargayError } from '../errors/mod.ts';
import type { AgentDataplane, DataplaneOutcome } from './dataplane-port.ts';
import { DatastoreFeed, type DatastoreListener } from './datastore-feed.ts';
import { EndpointWaiters } from './endpoint-waiters.ts';
import { describe, FlushLoop } from './flush-loop.ts';
import { Foreground } from './foreground.ts';
import { HealthAggregator } from './health.ts';
import { componentLogger, createLogger, type Logger, setLogLevel } from '../log/mod.ts';
import { AgentMetrics } from './metrics.ts';
import { Ticker } from './scheduler.ts';
import { AgentServers, SERVER_PARAMS } from './servers.ts';
import { HeapTrim } from './heap-trim.ts';
import { IdleScavenge } from './idle-scavenge.ts';
import { SideTracker } from './side-tracking.ts';
import { StatusPublisher } from './status-publisher.ts';

export type { AgentDataplane, DataplaneOutcome };
export type { DatastoreListener };

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
  /** glibc's malloc settings (src/os/malloc-control.ts); default the built addon, `null` none. */
  malloc?: MallocControl | null;
}

/** Parameters that take effect only when the agent restarts. */
const RESTART_PARAMS: readonly ParamName[] = ['openstackRegion', 'prometheusProcessMetricsEnabled', 'dataplaneFlushDelay', 'endpointReportingDelay'];

/** One host's agent. */
export class Agent {
  readonly health: HealthAggregator;
  readonly metrics: AgentMetrics;
  /** Work someone waits for (the CNI service's ADDs and DELs), which the status writes stay out of. */
  readonly foreground: Foreground;
  readonly graph: CalcGraph;
  readonly #settings: SettingsResolver;
  readonly #root: Logger;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #wall: () => number;
  readonly #serve: boolean;
  readonly #dataplane: AgentDataplane;
  readonly #feed: DatastoreFeed;
  readonly #loop: FlushLoop;
  readonly #side: SideTracker;
  /** One full collection after a burst of updates (heap-trim.ts). */
  readonly #heapTrim: HeapTrim;
  /** The malloc control addon, or why it is not there (logged at start). */
  readonly #malloc: { control?: MallocControl; error?: string };
  readonly #idleScavenge: IdleScavenge;
  readonly #servers: AgentServers;
  readonly #status: StatusPublisher;
  /** Callers (the CNI service) waiting for an endpoint to be programmed at a revision. */
  readonly #endpointWaiters: EndpointWaiters;
  #config: AgentConfig;
  #tickers: Ticker[] = [];
  #resyncTicker: Ticker | undefined;
  /** When the syncer batch being fed started, and whether it wrote a local endpoint. */
  #batchStart: number | undefined;
  #batchLocalEndpoint = false;
  #started = false;
  /** A first flush has ended (applied or failed): the host status is worth writing from then on. */
  #firstOutcome = false;
  #stopping = false;
  #fatalError: Error | undefined;
  #resolveDone!: () => void;
  #rejectDone!: (err: unknown) => void;
  /** Settles when the agent stops: resolves after stop(), rejects on a fatal error. */
  readonly done: Promise<void>;

  constructor(options: AgentOptions) {
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
    this.metrics = new AgentMetrics({ processMetrics: this.#config.prometheusProcessMetricsEnabled });
    this.#servers = new AgentServers(this.health, this.metrics, componentLogger(this.#root, 'health'));
    this.#feed = new DatastoreFeed({
      datastore: options.datastore,
      logger: componentLogger(this.#root, 'syncer'),
      health: this.health,
      metrics: this.metrics,
      ...(options.syncerBackoff ? { backoff: options.syncerBackoff } : {}),
      onFatal: (what, err) => this.#fatal(what, err),
    });

    const calcLog = componentLogger(this.#root, 'calc');
    this.graph = buildCalcGraph({ hostname, settings: this.#settings, onWarning: (message, key) => calcLog.warn({ key }, message) });
    this.#settings.subscribe({ onConfigChanged: (changed) => this.#reconfigure(changed) });
    this.#malloc = options.malloc === undefined ? loadMallocControl() : options.malloc === null ? {} : { control: options.malloc };
    const malloc = this.#malloc.control;
    this.#heapTrim = new HeapTrim({
      clock: this.#clock,
      ...(malloc ? { release: () => void malloc.trim() } : {}),
      working: () => this.#loop.running,
      onCollected: ({ ms, heapBefore, heapAfter }) =>
        this.#log.info({ ms: Math.round(ms), heapBeforeMiB: Math.round(heapBefore / 2 ** 20), heapAfterMiB: Math.round(heapAfter / 2 ** 20) }, 'heap compacted after a burst of updates'),
    });
    this.#side = new SideTracker(hostname, (count) => this.metrics.clusterNumHosts.set(count));
    this.#dataplane = options.dataplane(this.#config, componentLogger(this.#root, 'dataplane'));
    this.#loop = new FlushLoop({
      graph: this.graph,
      dataplane: this.#dataplane,
      clock: this.#clock,
      wallClock: this.#wall,
      logger: this.#log,
      health: this.health,
      metrics: this.metrics,
      delayMs: this.#config.dataplaneFlushDelay,
      burst: this.#config.dataplaneFlushBurst,
      intervalMs: this.#config.dataplaneFlushInterval,
      watchdogTimeoutMs: () => this.#config.dataplaneWatchdogTimeout,
      datastoreInSync: () => this.#feed.inSync,
      onFlushed: ({ first, changed }) => this.#afterFlush(first, changed),
      onFailed: () => {
        this.#updateInSyncGauge();
        this.#updateEndpointStatuses();
        if (!this.#firstOutcome) {
          this.#firstOutcome = true;
          void this.#status.reportHost();
        }
      },
      onFatal: (what, err) => this.#fatal(what, err),
    });
    this.#feed.subscribe(this.#graphFeed());

    this.foreground = new Foreground(this.#clock);
    // The young generation collected between ADDs and DELs when nearly full, not inside the next one.
    this.#idleScavenge = new IdleScavenge({ clock: this.#clock, busy: () => this.foreground.busy });
    this.foreground.onIdle(() => this.#idleScavenge.idle());
    this.#status = new StatusPublisher({
      foreground: this.foreground,
      datastore: options.datastore,
      config: this.#config,
      clock: this.#clock,
      now: this.#wall,
      logger: componentLogger(this.#root, 'status'),
      hostState: () => ({ inSync: this.inSync, ready: this.health.ready, lastInSync: this.#loop.lastInSync }),
    });
  }

  /** The root logger (JSON lines; its level follows logSeverityScreen). */
  get logger(): Logger {
    return this.#root;
  }

  /** The clock the agent's timers run on. */
  get clock(): Clock {
    return this.#clock;
  }

  /** The configuration now (it changes when FelixConfigurations do). */
  get config(): AgentConfig {
    return this.#config;
  }

  /** Where each configuration value came from. */
  get configSources(): Record<ParamName, ConfigSource> {
    return this.#settings.current.sources;
  }

  /** The bound health address (after start, when enabled). */
  get healthAddress(): { host: string; port: number } | undefined {
    return this.#servers.healthAddress;
  }

  /** The bound metrics address (after start, when enabled). */
  get metricsAddress(): { host: string; port: number } | undefined {
    return this.#servers.metricsAddress;
  }

  /** True once the dataplane has been programmed from a complete snapshot and the datastore is connected. */
  get inSync(): boolean {
    return this.#loop.dataplaneInSync && this.#feed.inSync;
  }

  /**
   * Feeds another part of the process from the agent's syncers (BGP), so that each key arrives
   * once per process. Before {@link start}.
   */
  subscribe(listener: DatastoreListener): void {
    this.#feed.subscribe(listener);
  }

  /**
   * Resolves once the kernel reflects the datastore at `revision` or later and the workload
   * endpoint `<namespace>/<name>` is programmed (its chains and policy in place); rejects after
   * `timeoutMs`. The CNI service answers ADD only after this.
   */
  waitForEndpointProgrammed(key: string, revision: number, timeoutMs: number): Promise<void> {
    const loop = this.#loop;
    const timeout = () => new Error(`endpoint ${key} was not programmed within ${timeoutMs} ms${loop.lastApplyError ? ` (last dataplane error: ${loop.lastApplyError})` : ''}`);
    return this.#endpointWaiters.wait(key, revision, timeoutMs, timeout, (pending) => {
      this.#settleEndpointWaiters();
      // Its change is already in the graph and waits for the coalescing timer: do not wait for it.
      if (pending() && revision <= loop.fedRevision && loop.busy && !loop.running) loop.expedite();
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
    if (!this.#loop.graphInSync || this.#stopping) return () => undefined;
    const key = resourceKey('workloadendpoints', name, namespace);
    const id = `${namespace}/${name}`;
    const { resourceVersion: _stored, ...metadata } = endpoint.metadata;
    const seq = this.#side.ahead.feed(id);
    this.#feedAhead(key, structuredClone({ ...endpoint, metadata }));
    this.#loop.expedite();
    return () => {
      const back = this.#side.ahead.withdraw(id, seq);
      if (!back) return;
      this.#feedAhead(key, back.value);
      this.#loop.kick();
    };
  }

  #feedAhead(key: string, value: unknown): void {
    this.#side.observe(key, value, 'ahead');
    this.graph.onUpdate(key, value);
    this.#loop.notePending();
  }

  #settleEndpointWaiters(): void {
    const loop = this.#loop;
    this.#endpointWaiters.settle(
      (key, revision) => revision <= loop.appliedRevision && loop.programmed.workloads.has(key) && !loop.failedEndpoints.has(key),
    );
  }

  /** Resolves when no flush is pending or running (tests). */
  whenIdle(): Promise<void> {
    return this.#loop.whenIdle();
  }

  /** Starts serving, syncing and programming. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const resolved = this.#settings.current;
    for (const w of resolved.warnings) this.#log.warn(w);
    // Fixed malloc thresholds from the start: what a burst frees goes back as it is freed.
    const mallocFixed = this.#malloc.control?.setThresholds(MALLOC_THRESHOLD_BYTES, MALLOC_THRESHOLD_BYTES) ?? false;
    this.#log.info(
      {
        config: this.#config,
        sources: Object.fromEntries(Object.entries(resolved.sources).filter(([, s]) => s !== 'default')),
        malloc: mallocFixed ? 'thresholds fixed' : (this.#malloc.error ?? 'default'),
      },
      'agent starting',
    );
    this.health.report('dataplane', { live: true, ready: false, detail: 'waiting for the datastore snapshot' });
    if (this.#serve) await this.#servers.start(this.#config);
    this.#resyncTicker = new Ticker(this.#clock, this.#resyncPeriod(), () => this.requestResync('periodic'));
    this.#tickers = [this.#resyncTicker, new Ticker(this.#clock, 1000, () => this.#loop.watchdog())];
    this.#status.start();
    this.#feed.start();
    // Once the listing's request is on its way: the dataplane's processes start while etcd answers.
    setImmediate(() => {
      if (!this.#stopping) this.#dataplane.warm?.();
    });
  }

  /** Asks for a full dataplane resync (read the kernel, repair drift) at the next flush. */
  requestResync(reason: string): void {
    if (this.#stopping) return;
    this.#loop.requestResync(reason);
  }

  /** Stops everything; the kernel keeps what was programmed. */
  async stop(): Promise<void> {
    if (this.#stopping) return this.done;
    this.#stopping = true;
    this.#log.info('agent stopping');
    this.#endpointWaiters.rejectAll(new Error('the agent is stopping'));
    for (const t of this.#tickers) t.stop();
    this.#heapTrim.stop();
    this.#idleScavenge.stop();
    this.#status.pause();
    await this.#feed.stop();
    await this.#loop.stop();
    await this.#status.stop();
    await this.#servers.close();
    await this.#dataplane.close?.();
    this.#log.info('agent stopped');
    if (this.#fatalError) this.#rejectDone(this.#fatalError);
    else this.#resolveDone();
  }

  // -----------------------------------------------------------------------------------------------
  // Datastore side

  /** The agent's own listener: the graph, the side tracking and the flush loop. */
  #graphFeed(): DatastoreListener {
    return {
      onUpdate: (key, value, revision) => {
        this.#batchStart ??= performance.now();
        if (this.#side.observe(key, value, 'datastore')) this.#batchLocalEndpoint = true;
        this.graph.onUpdate(key, value);
        this.#loop.noteRevision(revision);
      },
      onInSync: () => {
        this.#loop.markGraphInSync();
        this.graph.onInSync();
        this.#log.info('datastore snapshot complete; programming the dataplane');
      },
      onBatchEnd: (changes) => {
        if (changes > 0) {
          this.#heapTrim.note(changes);
          this.metrics.datastoreUpdates.inc(changes);
          this.metrics.calcGraphUpdateSeconds.observe((performance.now() - (this.#batchStart ?? performance.now())) / 1000);
          this.#loop.notePending();
        }
        const local = this.#batchLocalEndpoint;
        this.#batchStart = undefined;
        this.#batchLocalEndpoint = false;
        if (!this.#loop.graphInSync) return;
        // A new or changed local endpoint is what a CNI ADD waits for: no coalescing delay.
        if (local) this.#loop.expedite();
        else this.#loop.kick();
      },
      onConnectivity: (_inSync, reconnected) => {
        if (reconnected) this.requestResync('datastore reconnected');
        this.#updateInSyncGauge();
        // Before the first flush has ended the host is reported when it ends (its outcome is the
        // news): a status write now, its lease and gRPC work (~30 ms of a cold start's one
        // thread, in the middle of the render), would only say "not in sync" first.
        if (this.#firstOutcome) void this.#status.reportHost();
      },
    };
  }

  #reconfigure(changed: ParamName[]): void {
    const next = this.#settings.current.config;
    this.#config = next;
    for (const w of this.#settings.current.warnings) this.#log.warn(w);
    this.#log.info({ changed: Object.fromEntries(changed.map((p) => [p, next[p]])) }, 'configuration changed');
    if (changed.includes('logSeverityScreen')) setLogLevel(this.#root, next.logSeverityScreen);
    if (changed.includes('nftablesRefreshInterval') || changed.includes('routeRefreshInterval')) this.#resyncTicker?.setPeriod(this.#resyncPeriod());
    this.#status.reconfigure(next);
    if (changed.includes('endpointReportingEnabled')) this.#updateEndpointStatuses();
    if (this.#serve && this.#started && !this.#stopping && changed.some((p) => SERVER_PARAMS.includes(p))) {
      this.#servers.restart(next).catch((err: unknown) => this.#log.error({ err: describe(err) }, 'could not move the health and metrics servers'));
    }
    const needsRestart = changed.filter((p) => RESTART_PARAMS.includes(p));
    if (needsRestart.length > 0) this.#log.warn({ params: needsRestart }, 'these parameters take effect when the agent restarts');
  }

  #resyncPeriod(): number {
    const periods = [this.#config.nftablesRefreshInterval, this.#config.routeRefreshInterval].filter((p) => p > 0);
    return periods.length === 0 ? 0 : Math.min(...periods);
  }

  // -----------------------------------------------------------------------------------------------
  // Dataplane side and status

  #afterFlush(first: boolean, changed: boolean): void {
    if (changed) this.#heapTrim.busy();
    this.#settleEndpointWaiters();
    this.#updateInSyncGauge();
    if (changed) this.#updateEndpointStatuses();
    if (first) {
      this.#firstOutcome = true;
      void this.#status.reportHost();
    }
  }

  #updateInSyncGauge(): void {
    this.metrics.inSync.set(this.inSync ? 1 : 0);
  }

  #updateEndpointStatuses(): void {
    const loop = this.#loop;
    this.#status.updateEndpoints({ programmed: loop.programmed, workloadIds: this.#side.workloadIds, failed: loop.failedEndpoints });
  }

  #fatal(what: string, err: unknown): void {
    if (this.#stopping) return;
    this.#log.fatal({ err: describe(err) }, what);
    this.#fatalError = new Error(`${what}: ${describe(err)}`, { cause: err });
    void this.stop();
  }
}
