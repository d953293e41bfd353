/**
 * The syncer: list a prefix, deliver it as a snapshot, say "in sync", then deliver each change,
 * and keep doing so across datastore outages and compactions without losing or repeating
 * anything.
 *
 * Delivery is by callback, in batches: `handler(events)` receives the events that arrived
 * together (a snapshot, one watch response, one status change), in order. The syncer awaits the
 * handler (it may return a promise) before it delivers the next batch, so a slow consumer slows
 * the syncer rather than piling events up. The stream, across batches:
 *
 *   status resyncing → update… → in-sync → status in-sync → update|delete… (deltas)
 *
 * - `{type:'in-sync'}` comes exactly once, after the first complete snapshot.
 * - `{type:'status'}` comes on each change of state: `resyncing` while (re)listing,
 *   `disconnected` while the datastore cannot be reached (with the error), `in-sync` once the
 *   snapshot is delivered or the connection is back.
 * - When the datastore is unreachable the syncer retries with exponential backoff and resumes
 *   the watch from the last revision it delivered + 1, so nothing is missed or repeated.
 * - When that revision has been compacted away it lists again and delivers only the difference
 *   from what it had delivered: updates for new or changed keys (by modRevision) and deletes for
 *   keys that are really gone.
 * - When the store comes back at a lower revision than already seen (restored from a backup),
 *   it lists again the same way.
 * - Every delivered update is newer than what was delivered for that key (or, after a restore,
 *   different from it), and every delete is of a key that was delivered and not yet deleted.
 * - The first listing may come in several batches of updates, page by page as it is read (a cold
 *   start takes in one page while etcd serves the next), still all before `in-sync`.
 * - A batch larger than one transaction (datastore/batch.ts) is never delivered in part: while its
 *   marker is seen open, changes are held back, and delivered together (the last state of each
 *   key) once it closes — applied whole, or rolled back to nothing. A batch whose writer died is
 *   rolled back by the syncer itself once the writer's lease has lapsed. The protocol's own keys
 *   are never delivered.
 */
import { MargayError, hasCode } from '../errors/mod.ts';
import { recoverBatches } from './batch-recovery.ts';
import type { Datastore, KVPair, RawWatch, WatchEvent } from './datastore.ts';
import { BATCH_MARKERS_PREFIX, isBatchKey } from './keys.ts';
import { diffSnapshot } from './resync-diff.ts';

/** How often a syncer holding a batch back looks for its writer's death (then rolls it back). */
const BATCH_CHECK_MS = 2000;

/** The syncer's connection state, as reported by status events. */
export type SyncerState = 'resyncing' | 'in-sync' | 'disconnected';

/** One event of the syncer's stream. */
export type SyncerEvent =
  | { type: 'update'; kv: KVPair }
  /** `revision` is the revision of the delete, or of the listing that found the key gone. */
  | { type: 'delete'; key: string; revision: number }
  | { type: 'in-sync' }
  | { type: 'status'; state: SyncerState; error?: MargayError };

/** Receives batches of events, in order; the next batch waits for a returned promise. */
export type SyncerHandler = (events: SyncerEvent[]) => void | Promise<void>;

/** Options of {@link Syncer}. */
export interface SyncerOptions {
  /** First retry delay after a failure, in milliseconds (default 100). */
  initialBackoffMs?: number;
  /** Longest retry delay, in milliseconds (default 5000). */
  maxBackoffMs?: number;
  /** Told about each datastore error the syncer recovers from (for logs). */
  onError?: (err: MargayError) => void;
}

class HandlerFailure {
  constructor(readonly error: unknown) {}
}

/** Ends a paged listing that the syncer no longer wants (it was stopped meanwhile). */
class ListingStopped {}

/** Keeps a consumer in step with every key under one prefix. See the file comment for the contract. */
export class Syncer {
  readonly #ds: Datastore;
  readonly #prefix: string;
  readonly #handler: SyncerHandler;
  readonly #initialBackoff: number;
  readonly #maxBackoff: number;
  readonly #onError: ((err: MargayError) => void) | undefined;

  /** key → modRevision of what has been delivered and not deleted. */
  readonly #known = new Map<string, number>();
  /** Markers of the batches open now: while any is, changes are held back. */
  readonly #open = new Set<string>();
  /** key → its last change held back while a batch was open. */
  readonly #held = new Map<string, WatchEvent>();
  /** A listing taken while a batch was open, held back with the changes that follow it. */
  #heldSnapshot: KVPair[] | undefined;
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  /** Revisions, in the watch response at hand, of transactions that open a batch. */
  readonly #opening = new Set<number>();
  #revision = 0;
  #state: SyncerState | undefined;
  #inSyncSent = false;
  #started = false;
  #stopped = false;
  #inHandler = false;
  #watch: RawWatch | undefined;
  #wake: (() => void) | undefined;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #loop: Promise<void> | undefined;
  #resolveDone!: () => void;
  #rejectDone!: (err: unknown) => void;

  /**
   * Settles when the syncer has stopped: resolves after `stop()`, rejects with the handler's
   * error if the handler threw (the syncer stops then).
   */
  readonly done: Promise<void>;

  constructor(ds: Datastore, prefix: string, handler: SyncerHandler, options: SyncerOptions = {}) {
    this.#ds = ds;
    this.#prefix = prefix;
    this.#handler = handler;
    this.#initialBackoff = options.initialBackoffMs ?? 100;
    this.#maxBackoff = options.maxBackoffMs ?? 5000;
    this.#onError = options.onError;
    this.done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.done.catch(() => {}); // the caller may never look at it
  }

  /** The current state; undefined before the first list starts. */
  get state(): SyncerState | undefined {
    return this.#state;
  }

  /** The highest datastore revision delivered so far (0 before the snapshot). */
  get revision(): number {
    return this.#revision;
  }

  /** True once the first snapshot has been delivered. */
  get inSync(): boolean {
    return this.#inSyncSent;
  }

  /** Starts listing and watching. Calling it again does nothing. */
  start(): this {
    if (this.#started || this.#stopped) return this;
    this.#started = true;
    this.#loop = this.#run().then(
      () => this.#resolveDone(),
      (err) => this.#rejectDone(err instanceof HandlerFailure ? err.error : err),
    );
    return this;
  }

  /**
   * Stops: cancels the watch and any retry timer; no event is delivered after it resolves.
   * Called from inside the handler, it returns at once and the syncer stops when the handler returns.
   */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      if (this.#sleepTimer !== undefined) clearTimeout(this.#sleepTimer);
      this.#sleepTimer = undefined;
      clearTimeout(this.#batchTimer);
      this.#wake?.();
      const watch = this.#watch;
      this.#watch = undefined;
      await watch?.cancel();
      if (!this.#started) this.#resolveDone();
    }
    if (this.#inHandler) return;
    await this.#loop;
  }

  async #run(): Promise<void> {
    let backoff = this.#initialBackoff;
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#setState('resyncing');
          if (this.#stopped) return;
          await this.#relist();
          needList = false;
        } else {
          const current = await this.#ds.currentRevision(); // is the datastore back?
          if (this.#stopped) return;
          if (current < this.#revision) {
            // The store went back in time (restored from a backup): our revision means nothing there.
            needList = true;
            continue;
          }
          await this.#setState('in-sync');
        }
        backoff = this.#initialBackoff;
        if (this.#stopped) return;
        await this.#follow();
        if (this.#stopped) return;
        throw new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', `the watch of ${this.#prefix} ended`);
      } catch (err) {
        this.#watch = undefined;
        if (err instanceof HandlerFailure) throw err;
        if (this.#stopped) return;
        const error =
          err instanceof MargayError
            ? err
            : new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', `syncer of ${this.#prefix}: ${String(err)}`, { cause: err });
        this.#onError?.(error);
        if (hasCode(error, 'MARGAY_ERR_COMPACTED')) {
          needList = true; // relist at once: the datastore is there, our revision is not
          await this.#setState('resyncing', error);
          continue;
        }
        await this.#setState('disconnected', error);
        await this.#sleep(backoff);
        backoff = Math.min(backoff * 2, this.#maxBackoff);
      }
    }
  }

  /** Lists the prefix and delivers the difference from what was delivered before (held while a batch is open). */
  async #relist(): Promise<void> {
    if (this.#known.size === 0 && !this.#inSyncSent && (await this.#streamFirstListing())) return;
    const { items, revision } = await this.#ds.list(this.#prefix);
    if (this.#stopped) return;
    this.#open.clear();
    this.#held.clear();
    for (const kv of items) if (kv.key.startsWith(BATCH_MARKERS_PREFIX)) this.#open.add(kv.key);
    this.#revision = revision;
    const data = items.filter((kv) => !isBatchKey(kv.key));
    if (this.#open.size > 0) {
      this.#heldSnapshot = data;
      this.#watchBatches();
      return;
    }
    this.#heldSnapshot = undefined;
    await this.#deliverSnapshot(data);
  }

  /**
   * Delivers a first listing page by page as it is read, when no batch is open at its revision
   * (the markers read first when the prefix holds them); false, with nothing delivered, when one is
   * or when the store cannot list at that revision (the listing is then taken whole, as by
   * {@link #relist}). A failure after some pages leaves them delivered and known: the next
   * listing delivers the difference.
   */
  async #streamFirstListing(): Promise<boolean> {
    let at: number | undefined;
    if (BATCH_MARKERS_PREFIX.startsWith(this.#prefix)) {
      // A range read, as the listing's own (a transaction would make etcd3 generate its request encoder, ~4 ms, before ready).
      const markers = await this.#ds.list(BATCH_MARKERS_PREFIX);
      if (markers.items.length > 0) return false;
      at = markers.revision;
    }
    let revision: number;
    try {
      revision = await this.#ds.listPages(this.#prefix, (page) => this.#deliverPage(page), at === undefined ? {} : { revision: at });
    } catch (err) {
      if (err instanceof ListingStopped) return true;
      if (hasCode(err, 'MARGAY_ERR_COMPACTED') && this.#known.size === 0) return false;
      throw err;
    }
    if (this.#stopped) return true;
    this.#revision = revision;
    await this.#deliver(this.#inSyncEvents([]));
    return true;
  }

  /** Delivers one page of a first listing: an update per key (the protocol's own keys left out). */
  async #deliverPage(page: readonly KVPair[]): Promise<void> {
    if (this.#stopped) throw new ListingStopped();
    const events: SyncerEvent[] = [];
    for (const kv of page) {
      if (isBatchKey(kv.key)) continue;
      this.#known.set(kv.key, kv.modRevision);
      events.push({ type: 'update', kv });
    }
    await this.#deliver(events);
  }

  /** Delivers the difference between a listing (at {@link revision}) and what was delivered. */
  async #deliverSnapshot(items: readonly KVPair[]): Promise<void> {
    const diff = diffSnapshot(this.#known, items);
    const events: SyncerEvent[] = [];
    for (const kv of diff.updates) {
      this.#known.set(kv.key, kv.modRevision);
      events.push({ type: 'update', kv });
    }
    for (const key of diff.deletes) {
      this.#known.delete(key);
      events.push({ type: 'delete', key, revision: this.#revision });
    }
    await this.#deliver(this.#inSyncEvents(events));
  }

  /** `events` followed by what ends a delivered snapshot: `in-sync` the first time, then the status. */
  #inSyncEvents(events: SyncerEvent[]): SyncerEvent[] {
    if (!this.#inSyncSent) {
      this.#inSyncSent = true;
      events.push({ type: 'in-sync' });
    }
    this.#state = 'in-sync';
    events.push({ type: 'status', state: 'in-sync' });
    return events;
  }

  /** Watches from the last delivered revision + 1 and delivers each batch until the watch ends. */
  async #follow(): Promise<void> {
    const watch = this.#ds.watch(this.#prefix, this.#revision + 1);
    this.#watch = watch;
    if (this.#stopped) {
      await watch.cancel();
      return;
    }
    for await (const batch of watch.events) {
      if (this.#stopped) return;
      const events: SyncerEvent[] = [];
      // A transaction's events share a revision: one that opens a batch is held whole, and one
      // that closes it too (its writes are the batch's last).
      for (const ev of batch) if (ev.type === 'put' && ev.key.startsWith(BATCH_MARKERS_PREFIX) && !this.#open.has(ev.key)) this.#opening.add(ev.modRevision);
      for (const ev of batch) {
        if (isBatchKey(ev.key)) {
          if (ev.key.startsWith(BATCH_MARKERS_PREFIX)) ev.type === 'put' ? this.#open.add(ev.key) : this.#open.delete(ev.key);
        } else if (this.#holding || this.#opening.has(ev.modRevision)) {
          this.#held.set(ev.key, ev);
        } else {
          const out = this.#toEvent(ev);
          if (out) events.push(out);
        }
      }
      for (const ev of batch) if (ev.modRevision > this.#revision) this.#revision = ev.modRevision;
      this.#opening.clear();
      if (events.length > 0) await this.#deliver(events);
      if (this.#open.size === 0 && this.#holding) await this.#flush();
      else if (this.#open.size > 0) this.#watchBatches();
    }
  }

  /** True while changes are held back: a batch is open, or one closed and its changes wait. */
  get #holding(): boolean {
    return this.#open.size > 0 || this.#held.size > 0 || this.#heldSnapshot !== undefined;
  }

  /** One watch event as the syncer delivers it, or undefined when already delivered or stale. */
  #toEvent(ev: WatchEvent): SyncerEvent | undefined {
    const known = this.#known.get(ev.key);
    if (ev.type === 'delete') {
      if (known === undefined || known > ev.modRevision) return undefined; // never delivered, or stale
      this.#known.delete(ev.key);
      return { type: 'delete', key: ev.key, revision: ev.modRevision };
    }
    if (known !== undefined && known >= ev.modRevision) return undefined; // already delivered
    const kv: KVPair = { key: ev.key, value: ev.value ?? '', modRevision: ev.modRevision, createRevision: ev.createRevision ?? ev.modRevision };
    if (ev.lease !== undefined) kv.lease = ev.lease;
    this.#known.set(ev.key, ev.modRevision);
    return { type: 'update', kv };
  }

  /** Delivers what was held back while batches were open, now that none is. */
  async #flush(): Promise<void> {
    const held = [...this.#held.values()];
    this.#held.clear();
    const snapshot = this.#heldSnapshot;
    this.#heldSnapshot = undefined;
    if (snapshot) {
      const state = new Map(snapshot.map((kv) => [kv.key, kv]));
      for (const ev of held) {
        if (ev.type === 'delete') state.delete(ev.key);
        else state.set(ev.key, { key: ev.key, value: ev.value ?? '', modRevision: ev.modRevision, createRevision: ev.createRevision ?? ev.modRevision, ...(ev.lease !== undefined ? { lease: ev.lease } : {}) });
      }
      await this.#deliverSnapshot([...state.values()]);
      return;
    }
    const events = held.map((ev) => this.#toEvent(ev)).filter((e): e is SyncerEvent => e !== undefined);
    if (events.length > 0) await this.#deliver(events);
  }

  /** While a batch is open, looks now and then whether its writer died, and rolls it back then. */
  #watchBatches(): void {
    if (this.#batchTimer !== undefined || this.#stopped) return;
    this.#batchTimer = setTimeout(() => {
      this.#batchTimer = undefined;
      if (this.#stopped || this.#open.size === 0) return;
      void recoverBatches(this.#ds)
        .catch((err: unknown) => this.#onError?.(err instanceof MargayError ? err : new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', String(err))))
        .finally(() => this.#watchBatches());
    }, BATCH_CHECK_MS);
    (this.#batchTimer as { unref?: () => void }).unref?.();
  }

  async #setState(state: SyncerState, error?: MargayError): Promise<void> {
    if (this.#state === state) return;
    this.#state = state;
    await this.#deliver([error ? { type: 'status', state, error } : { type: 'status', state }]);
  }

  async #deliver(events: SyncerEvent[]): Promise<void> {
    if (this.#stopped || events.length === 0) return;
    this.#inHandler = true;
    try {
      await this.#handler(events);
    } catch (err) {
      this.#stopped = true;
      const watch = this.#watch;
      this.#watch = undefined;
      void watch?.cancel();
      throw new HandlerFailure(err);
    } finally {
      this.#inHandler = false;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stopped) return resolve();
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
      this.#sleepTimer = setTimeout(() => {
        this.#sleepTimer = undefined;
        this.#wake?.();
      }, ms);
    });
  }
}

/** Creates a {@link Syncer} on `prefix` and starts it. */
export function watchPrefix(
  ds: Datastore,
  prefix: string,
  handler: SyncerHandler,
  options: SyncerOptions = {},
): Syncer {
  return new Syncer(ds, prefix, handler, options).start();
}
