/**
 * The in-memory datastore: etcd v3's semantics without etcd, for unit tests of everything above
 * the datastore. One global revision counter that every write (or transaction) bumps by one;
 * create and mod revisions per key; compare-and-swap; all-or-nothing transactions; watches that
 * replay history from any revision not yet compacted; leases whose expiry or revocation deletes
 * their keys in one revision.
 *
 * Extras for tests: `compact(revision)` drops history so that older watches fail with
 * MARGAY_ERR_COMPACTED; `peer()` opens a second client on the same store; `setReachable(false)`
 * cuts one client off (its calls fail and its watches end with MARGAY_ERR_DATASTORE_UNAVAILABLE)
 * while its peers carry on, like a network partition.
 */
import { MargayError } from '../errors/mod.ts';
import { systemClock, type Clock, type TimerHandle } from '../os/mod.ts';
import type {
  Datastore,
  KVPair,
  Lease,
  ListPagesOptions,
  ListResult,
  ManyResult,
  PageHandler,
  RawWatch,
  ReadRequest,
  TxnLimits,
  TxnOp,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './datastore.ts';
import { checkTxnOp, conflict, ETCD_DEFAULT_LIMITS, notFound, alreadyExists, validateReads, validateTxnOps } from './txn-rules.ts';
import { WatchQueue } from './watch-queue.ts';

/** Options of {@link MemoryDatastore}. */
export interface MemoryDatastoreOptions {
  /** Time source for lease expiry; the real clock (unref'd timers) by default. */
  clock?: Clock;
  /** Transaction limits, enforced as etcd enforces them (etcd's defaults unless given). */
  limits?: TxnLimits;
}

interface StoredKV {
  value: string;
  modRevision: number;
  createRevision: number;
  lease: string | undefined;
}

interface StoredLease {
  id: string;
  ttlMs: number;
  timer: TimerHandle;
  keys: Set<string>;
}

interface Watcher {
  client: MemoryDatastore;
  prefix: string;
  queue: WatchQueue;
  /** Whether deletes carry the key's last value (like etcd only when asked: `prev_kv`). */
  deletedValues: boolean;
}

/** The events under `w`'s prefix as etcd would deliver them to it (a delete's value only when asked). */
function eventsFor(w: Pick<Watcher, 'prefix' | 'deletedValues'>, events: readonly WatchEvent[]): WatchEvent[] {
  const mine: WatchEvent[] = [];
  for (const e of events) {
    if (!e.key.startsWith(w.prefix)) continue;
    if (e.type === 'delete' && !w.deletedValues && e.value !== undefined) {
      mine.push({ ...e, value: undefined });
    } else mine.push(e);
  }
  return mine;
}

/** One write inside a commit. */
type Change =
  | { kind: 'put'; key: string; value: string; lease: string | undefined }
  | { kind: 'delete'; key: string };

/** The shared state behind one or more MemoryDatastore clients. */
class MemoryStore {
  readonly clock: Clock;
  revision = 1;
  compactRevision = 0;
  readonly data = new Map<string, StoredKV>();
  /** Every committed revision's events, oldest first, from `compactRevision` on. */
  readonly history: { revision: number; events: WatchEvent[] }[] = [];
  readonly leases = new Map<string, StoredLease>();
  readonly watchers = new Set<Watcher>();
  leaseSeq = 0x4d47_0000;
  openClients = 0;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Applies changes at one new revision, records them, tells the watchers. Returns the revision. */
  commit(changes: Change[]): number {
    if (changes.length === 0) return this.revision;
    const revision = ++this.revision;
    const events: WatchEvent[] = [];
    for (const ch of changes) {
      const old = this.data.get(ch.key);
      if (old?.lease !== undefined) this.leases.get(old.lease)?.keys.delete(ch.key);
      if (ch.kind === 'put') {
        this.data.set(ch.key, {
          value: ch.value,
          modRevision: revision,
          createRevision: old ? old.createRevision : revision,
          lease: ch.lease,
        });
        if (ch.lease !== undefined) this.leases.get(ch.lease)?.keys.add(ch.key);
        const put: WatchEvent = {
          type: 'put',
          key: ch.key,
          value: ch.value,
          modRevision: revision,
          createRevision: old ? old.createRevision : revision,
        };
        if (ch.lease !== undefined) put.lease = ch.lease;
        events.push(put);
      } else if (old) {
        this.data.delete(ch.key);
        events.push({ type: 'delete', key: ch.key, value: old.value, modRevision: revision });
      }
    }
    this.history.push({ revision, events });
    for (const w of this.watchers) {
      const mine = eventsFor(w, events);
      if (mine.length > 0) w.queue.push(mine);
    }
    return revision;
  }

  expireLease(id: string): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    this.leases.delete(id);
    this.clock.clearTimeout(lease.timer);
    this.commit([...lease.keys].sort().map((key) => ({ kind: 'delete' as const, key })));
  }

  armLease(lease: StoredLease): void {
    this.clock.clearTimeout(lease.timer);
    lease.timer = this.clock.setTimeout(() => this.expireLease(lease.id), lease.ttlMs);
  }

  shutdown(): void {
    for (const lease of this.leases.values()) this.clock.clearTimeout(lease.timer);
  }
}

function toPair(key: string, kv: StoredKV): KVPair {
  const pair: KVPair = { key, value: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision };
  if (kv.lease !== undefined) pair.lease = kv.lease;
  return pair;
}

/** Set only while `peer()` constructs a client that shares an existing store. */
let adoptStore: MemoryStore | undefined;

/** Compares keys the way etcd does: by their UTF-8 bytes. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A Datastore held in this process's memory, with etcd's semantics. */
export class MemoryDatastore implements Datastore {
  readonly limits: TxnLimits;
  readonly #store: MemoryStore;
  #reachable = true;
  #closed = false;

  constructor(options: MemoryDatastoreOptions = {}) {
    this.#store = adoptStore ?? new MemoryStore(options.clock ?? systemClock);
    this.#store.openClients++;
    this.limits = { ...(options.limits ?? ETCD_DEFAULT_LIMITS) };
  }

  /** A second client on the same store: same data, revisions and leases; its own reachability and watches. */
  peer(): MemoryDatastore {
    adoptStore = this.#store;
    try {
      return new MemoryDatastore({ limits: this.limits });
    } finally {
      adoptStore = undefined;
    }
  }

  /**
   * Cuts this client off (`false`) or reconnects it (`true`). While cut off, every call fails with
   * MARGAY_ERR_DATASTORE_UNAVAILABLE and this client's open watches end with that error.
   */
  setReachable(reachable: boolean): void {
    this.#reachable = reachable;
    if (!reachable) {
      for (const w of this.#store.watchers) {
        if (w.client === this) {
          this.#store.watchers.delete(w);
          w.queue.fail(unavailable());
        }
      }
    }
  }

  /**
   * Discards the history before `revision` (like `etcdctl compact`): a watch from an earlier
   * revision then ends with MARGAY_ERR_COMPACTED.
   */
  async compact(revision: number): Promise<void> {
    this.#check();
    const store = this.#store;
    if (revision > store.revision) {
      throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `cannot compact to future revision ${revision}`);
    }
    if (revision <= store.compactRevision) {
      throw new MargayError('MARGAY_ERR_COMPACTED', `revision ${revision} has already been compacted`);
    }
    store.compactRevision = revision;
    let drop = 0;
    while (drop < store.history.length && store.history[drop]!.revision < revision) drop++;
    store.history.splice(0, drop);
  }

  async get(key: string): Promise<KVPair | undefined> {
    this.#check();
    const kv = this.#store.data.get(key);
    return kv ? toPair(key, kv) : undefined;
  }

  async list(prefix: string): Promise<ListResult> {
    this.#check();
    return { items: this.#under(prefix), revision: this.#store.revision };
  }

  async listPages(prefix: string, onPage: PageHandler, options: ListPagesOptions = {}): Promise<number> {
    this.#check();
    const revision = this.#store.revision;
    if (options.revision !== undefined && options.revision !== revision) {
      throw new MargayError('MARGAY_ERR_COMPACTED', `the in-memory store serves only its current revision (${revision}), not revision ${options.revision}`);
    }
    // One page: the whole listing.
    await onPage(this.#under(prefix), revision);
    return revision;
  }

  #under(prefix: string): KVPair[] {
    const items: KVPair[] = [];
    for (const [key, kv] of this.#store.data) if (key.startsWith(prefix)) items.push(toPair(key, kv));
    return items.sort((a, b) => compareKeys(a.key, b.key));
  }

  async getMany(reads: readonly ReadRequest[]): Promise<ManyResult> {
    this.#check();
    validateReads(reads);
    const results = reads.map((r) => {
      if ('key' in r) {
        const kv = this.#store.data.get(r.key);
        return kv ? [toPair(r.key, kv)] : [];
      }
      return this.#under(r.prefix);
    });
    return { results, revision: this.#store.revision };
  }

  async create(key: string, value: string, options: WriteOptions = {}): Promise<KVPair> {
    this.#check();
    this.#checkKey(key);
    if (this.#store.data.has(key)) throw alreadyExists(key);
    return this.#putNow(key, value, options.lease);
  }

  async update(key: string, value: string, modRevision: number, options: WriteOptions = {}): Promise<KVPair> {
    this.#check();
    const cur = this.#store.data.get(key);
    if (!cur) throw notFound(key);
    if (cur.modRevision !== modRevision) throw conflict(key, modRevision, cur.modRevision);
    return this.#putNow(key, value, options.lease);
  }

  async put(key: string, value: string, options: WriteOptions = {}): Promise<KVPair> {
    this.#check();
    this.#checkKey(key);
    return this.#putNow(key, value, options.lease);
  }

  async delete(key: string, modRevision?: number): Promise<KVPair> {
    this.#check();
    const cur = this.#store.data.get(key);
    if (!cur) throw notFound(key);
    if (modRevision !== undefined && cur.modRevision !== modRevision) throw conflict(key, modRevision, cur.modRevision);
    const pair = toPair(key, cur);
    this.#store.commit([{ kind: 'delete', key }]);
    return pair;
  }

  async txn(ops: TxnOp[]): Promise<number> {
    this.#check();
    validateTxnOps(ops, this.limits);
    const store = this.#store;
    for (const op of ops) {
      const err = checkTxnOp(op, store.data.get(op.key));
      if (err) throw err;
    }
    for (const op of ops) if (op.op !== 'delete') this.#checkLease(op.lease);
    return store.commit(
      ops.map((op): Change =>
        op.op === 'delete'
          ? { kind: 'delete', key: op.key }
          : { kind: 'put', key: op.key, value: op.value, lease: op.lease },
      ),
    );
  }

  watch(prefix: string, fromRevision: number, options: WatchOptions = {}): RawWatch {
    const store = this.#store;
    const deletedValues = options.deletedValues === true;
    let watcher: Watcher | undefined;
    const queue = new WatchQueue(() => {
      if (watcher) store.watchers.delete(watcher);
    });
    const cancel = async (): Promise<void> => {
      if (watcher) store.watchers.delete(watcher);
      queue.close();
    };
    if (this.#closed || !this.#reachable) {
      queue.fail(this.#closed ? closedError() : unavailable());
      return { events: queue, cancel };
    }
    const from = fromRevision > 0 ? fromRevision : store.revision + 1;
    if (from < store.compactRevision) {
      queue.fail(compactedError(from, store.compactRevision));
      return { events: queue, cancel };
    }
    const replay: WatchEvent[] = [];
    for (const entry of store.history) {
      if (entry.revision >= from) replay.push(...eventsFor({ prefix, deletedValues }, entry.events));
    }
    queue.push(replay);
    watcher = { client: this, prefix, queue, deletedValues };
    store.watchers.add(watcher);
    return { events: queue, cancel };
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    this.#check();
    if (!(ttlSeconds >= 1)) {
      throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `a lease TTL must be at least 1 second, got ${ttlSeconds}`);
    }
    const store = this.#store;
    const id = String(++store.leaseSeq);
    const lease: StoredLease = { id, ttlMs: Math.ceil(ttlSeconds) * 1000, timer: undefined, keys: new Set() };
    store.leases.set(id, lease);
    store.armLease(lease);
    return {
      id,
      keepAliveOnce: async () => {
        this.#check();
        const live = store.leases.get(id);
        if (!live) throw leaseGone(id);
        store.armLease(live);
      },
      revoke: async () => {
        this.#check();
        store.expireLease(id);
      },
    };
  }

  async currentRevision(): Promise<number> {
    this.#check();
    return this.#store.revision;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#store.watchers) {
      if (w.client === this) {
        this.#store.watchers.delete(w);
        w.queue.close();
      }
    }
    if (--this.#store.openClients === 0) this.#store.shutdown();
  }

  #putNow(key: string, value: string, lease: string | undefined): KVPair {
    this.#checkLease(lease);
    this.#store.commit([{ kind: 'put', key, value, lease }]);
    return toPair(key, this.#store.data.get(key)!);
  }

  #checkLease(lease: string | undefined): void {
    if (lease !== undefined && !this.#store.leases.has(lease)) throw leaseGone(lease);
  }

  #checkKey(key: string): void {
    if (key === '') throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', 'a datastore key cannot be empty');
  }

  #check(): void {
    if (this.#closed) throw closedError();
    if (!this.#reachable) throw unavailable();
  }
}

function unavailable(): MargayError {
  return new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', 'the in-memory datastore is set unreachable');
}

function closedError(): MargayError {
  return new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', 'the datastore client is closed');
}

function compactedError(from: number, compactRevision: number): MargayError {
  return new MargayError(
    'MARGAY_ERR_COMPACTED',
    `cannot watch from revision ${from}: history before revision ${compactRevision} has been compacted`,
  );
}

function leaseGone(id: string): MargayError {
  return new MargayError('MARGAY_ERR_LEASE', `lease ${id} has expired or does not exist`);
}
