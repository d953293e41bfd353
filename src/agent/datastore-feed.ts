/**
 * The agent's view of the datastore: its two syncers (every v3 resource, every IPAM block), their
 * values parsed once, and whether both are in sync and connected. Everything in the process that
 * follows the datastore subscribes here (the calculation graph through the agent, BGP through the
 * node process), so each key arrives once per process.
 *
 * ```
 * etcd ─▶ Syncer /calico/resources/v3/projectcalico.org/ ─┐
 *      ─▶ Syncer /calico/ipam/v2/assignment/ ─────────────┴─▶ listeners: onUpdate(key, value, revision) …
 *                                                             onInSync() once both delivered a snapshot
 * ```
 */
import type { Datastore } from '../datastore/mod.ts';
import { IPAM_BLOCKS_PREFIX, RESOURCES_PREFIX } from '../datastore/mod.ts';
import { Syncer, type SyncerEvent, type SyncerState } from '../datastore/mod.ts';
import type { HealthAggregator } from './health.ts';
import type { Logger } from '../log/mod.ts';
import { type AgentMetrics, RESYNC_STATE } from './metrics.ts';

/** Follows the datastore: told each change, and when the first complete snapshot has arrived. */
export interface DatastoreListener {
  /** One key changed: its parsed JSON value (undefined: deleted, or not JSON). */
  onUpdate(key: string, value: unknown, revision: number): void;
  /** Both syncers have delivered their snapshot (once). */
  onInSync(): void;
  /** The end of one syncer batch: `changes` updates were delivered (after any onInSync). */
  onBatchEnd?(changes: number): void;
  /**
   * The connection changed: `inSync` is true while both syncers are connected and in sync;
   * `reconnected` when it came back after the snapshot (a resync follows).
   */
  onConnectivity?(inSync: boolean, reconnected: boolean): void;
}

type SyncerName = 'resources' | 'ipam';

/** Options of {@link DatastoreFeed}. */
export interface DatastoreFeedOptions {
  datastore: Datastore;
  logger: Logger;
  health: HealthAggregator;
  metrics: AgentMetrics;
  /** Syncer retry backoff (tests shorten it). */
  backoff?: { initialMs: number; maxMs: number };
  /** A syncer stopped for good (a bug or a fatal datastore error). */
  onFatal: (what: string, err: unknown) => void;
}

/** The two syncers and their listeners. */
export class DatastoreFeed {
  readonly #log: Logger;
  readonly #health: HealthAggregator;
  readonly #metrics: AgentMetrics;
  readonly #onFatal: (what: string, err: unknown) => void;
  readonly #syncers: Record<SyncerName, Syncer>;
  readonly #state: Record<SyncerName, SyncerState | undefined> = { resources: undefined, ipam: undefined };
  readonly #snapshot: Record<SyncerName, boolean> = { resources: false, ipam: false };
  readonly #listeners: DatastoreListener[] = [];
  #snapshotDone = false;
  #started = false;

  constructor(options: DatastoreFeedOptions) {
    this.#log = options.logger;
    this.#health = options.health;
    this.#metrics = options.metrics;
    this.#onFatal = options.onFatal;
    this.#health.register('datastore', { live: false, ready: true });
    const backoff = options.backoff ?? { initialMs: 100, maxMs: 5000 };
    const make = (name: SyncerName, prefix: string): Syncer =>
      new Syncer(options.datastore, prefix, (events) => this.#onEvents(name, events), {
        initialBackoffMs: backoff.initialMs,
        maxBackoffMs: backoff.maxMs,
        onError: (err) => this.#log.debug({ syncer: name, err: err.message }, 'datastore error'),
      });
    this.#syncers = { resources: make('resources', RESOURCES_PREFIX), ipam: make('ipam', IPAM_BLOCKS_PREFIX) };
  }

  /** Adds a listener; before {@link start}, so that it sees the whole snapshot. */
  subscribe(listener: DatastoreListener): void {
    if (this.#started) throw new Error('subscribe to the datastore feed before it starts');
    this.#listeners.push(listener);
  }

  /** True while both syncers are connected and in sync. */
  get inSync(): boolean {
    return this.#state.resources === 'in-sync' && this.#state.ipam === 'in-sync';
  }

  /** True once both syncers delivered their first snapshot. */
  get snapshotDone(): boolean {
    return this.#snapshotDone;
  }

  /** Starts both syncers. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#health.report('datastore', { live: true, ready: false, detail: 'connecting' });
    for (const [name, syncer] of Object.entries(this.#syncers) as [SyncerName, Syncer][]) {
      syncer.start();
      syncer.done.catch((err: unknown) => this.#onFatal(`the ${name} syncer stopped`, err));
    }
  }

  /** Stops both syncers. */
  async stop(): Promise<void> {
    await Promise.all(Object.values(this.#syncers).map((s) => s.stop()));
  }

  #onEvents(name: SyncerName, events: SyncerEvent[]): void {
    let changes = 0;
    let becameInSync = false;
    for (const ev of events) {
      switch (ev.type) {
        case 'update':
        case 'delete': {
          changes++;
          const key = ev.type === 'update' ? ev.kv.key : ev.key;
          const value = ev.type === 'update' ? this.#parse(key, ev.kv.value) : undefined;
          const revision = ev.type === 'update' ? ev.kv.modRevision : ev.revision;
          for (const l of this.#listeners) l.onUpdate(key, value, revision);
          break;
        }
        case 'in-sync':
          this.#snapshot[name] = true;
          becameInSync = true;
          break;
        case 'status':
          this.#onStatus(name, ev.state, ev.error?.message);
          break;
      }
    }
    if (becameInSync && !this.#snapshotDone && this.#snapshot.resources && this.#snapshot.ipam) {
      this.#snapshotDone = true;
      for (const l of this.#listeners) l.onInSync();
    }
    if (changes > 0 || becameInSync) for (const l of this.#listeners) l.onBatchEnd?.(changes);
  }

  #parse(key: string, text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      this.#log.warn({ key }, 'datastore value is not JSON; treated as deleted');
      return undefined;
    }
  }

  #onStatus(name: SyncerName, state: SyncerState, error: string | undefined): void {
    const wasInSync = this.inSync;
    this.#state[name] = state;
    const nowInSync = this.inSync;
    const states = Object.values(this.#state);
    this.#metrics.resyncState.set(
      states.includes('disconnected') ? RESYNC_STATE.waitForDatastore : nowInSync ? RESYNC_STATE.inSync : RESYNC_STATE.resyncing,
    );
    if (state === 'disconnected') {
      this.#log.warn({ syncer: name, err: error }, 'datastore unreachable; keeping the dataplane as it is');
    }
    this.#health.report('datastore', {
      live: true,
      ready: nowInSync,
      detail: nowInSync ? 'in sync' : `${name}: ${state}${error ? ` (${error})` : ''}`,
    });
    if (wasInSync === nowInSync) return;
    const reconnected = nowInSync && this.#snapshotDone;
    if (reconnected) this.#log.info('datastore connection restored; resyncing the dataplane');
    for (const l of this.#listeners) l.onConnectivity?.(nowInSync, reconnected);
  }
}
