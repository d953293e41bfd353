/**
 * The Datastore: the one interface every Margay component uses to reach its source of truth.
 * Two backends implement it with identical semantics: etcd v3 (production) and in-memory
 * (unit tests of pure code). Keys are strings, values are strings (JSON by convention),
 * revisions are etcd's global modification revisions (positive integers).
 *
 * Errors are MargayErrors with codes MARGAY_ERR_NOT_FOUND, MARGAY_ERR_ALREADY_EXISTS,
 * MARGAY_ERR_CONFLICT, MARGAY_ERR_DATASTORE_UNAVAILABLE, MARGAY_ERR_COMPACTED, MARGAY_ERR_LEASE.
 */

/** A key, its value and the revision at which it was last modified. */
export interface KVPair {
  key: string;
  value: string;
  /** The revision of the last write to this key (etcd mod_revision). */
  modRevision: number;
  /** The revision at which this key was created (etcd create_revision). */
  createRevision: number;
  /** The lease attached to the key, when any. */
  lease?: string;
}

/** The result of a list: the pairs under a prefix, and the store revision they were read at. */
export interface ListResult {
  items: KVPair[];
  revision: number;
}

/** Receives one page of a paged listing: its pairs in key order, and the listing's revision. */
export type PageHandler = (page: KVPair[], revision: number) => void | Promise<void>;

/** Options of {@link Datastore.listPages}. */
export interface ListPagesOptions {
  /** Read at this revision (default: the newest, the first page's). */
  revision?: number;
}

/** Options of a write. */
export interface WriteOptions {
  /** Attach the key to this lease (it disappears when the lease expires or is revoked). */
  lease?: string;
}

/** Options of {@link Datastore.watch}. */
export interface WatchOptions {
  /** Deletes carry the value the key had (default false, as etcd without `prev_kv`; the in-memory store does the same). */
  deletedValues?: boolean;
}

/** One change seen by a watch. For deletes, `value` is the last value known, when the backend knows it and was asked. */
export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  value: string | undefined;
  modRevision: number;
  /** For puts: the key's create revision (so that a put converts to a full KVPair). */
  createRevision?: number;
  /** For puts: the lease the key is attached to, when any. */
  lease?: string;
}

/**
 * A low-level watch of a prefix from a revision. Backends deliver events in revision order.
 * When the start revision was compacted away the watch ends with an error of code
 * MARGAY_ERR_COMPACTED; when the datastore becomes unreachable it ends with
 * MARGAY_ERR_DATASTORE_UNAVAILABLE. Resumption is the syncer's job (see syncer.ts).
 */
export interface RawWatch {
  /** Events as they arrive; the iterator ends (throws) on error, or returns after `cancel()`. */
  events: AsyncIterable<WatchEvent[]>;
  cancel(): Promise<void>;
}

/** A lease: keys written with it vanish when it expires or is revoked. */
export interface Lease {
  readonly id: string;
  /** Renews the lease once. Throws MARGAY_ERR_LEASE when it has already expired. */
  keepAliveOnce(): Promise<void>;
  /** Revokes the lease, deleting its keys. Idempotent. */
  revoke(): Promise<void>;
}

/**
 * One operation of an atomic transaction. Conditions: `create` needs the key absent; `update`
 * needs it present at `modRevision`; `delete` needs it present (at `modRevision` when given);
 * `put` has none. A key may appear only once per transaction. A write without `lease` detaches
 * the key from any lease it had (as in etcd).
 */
export type TxnOp =
  | { op: 'create'; key: string; value: string; lease?: string }
  | { op: 'update'; key: string; value: string; modRevision: number; lease?: string }
  | { op: 'put'; key: string; value: string; lease?: string }
  | { op: 'delete'; key: string; modRevision?: number };

/** One read of {@link Datastore.getMany}: one key, or every key under a prefix. */
export type ReadRequest = { key: string } | { prefix: string };

/** The result of {@link Datastore.getMany}: per request, the pairs found, all at `revision`. */
export interface ManyResult {
  /** Same order as the requests: none or one pair for a key, the sorted pairs of a prefix. */
  results: KVPair[][];
  revision: number;
}

/**
 * What one transaction may hold, as the server enforces it (etcd's `--max-txn-ops` and
 * `--max-request-bytes`). Batches larger than this go through src/datastore/batch.ts.
 */
export interface TxnLimits {
  /** Most operations in one transaction (etcd's default: 128). */
  maxOps: number;
  /** Largest request, in bytes as estimated by `txnRequestBytes` (etcd's default: 1.5 MiB). */
  maxBytes: number;
}

/** The interface of a datastore backend. */
export interface Datastore {
  /** The limits of one transaction; etcd's defaults when a backend does not say. */
  readonly limits?: TxnLimits;
  /** Reads one key; undefined when absent. */
  get(key: string): Promise<KVPair | undefined>;
  /** Reads every key starting with `prefix`, sorted by key, at one consistent revision. */
  list(prefix: string): Promise<ListResult>;
  /**
   * Reads every key under `prefix` as {@link list} does, handing each page to `onPage` (awaited)
   * as it arrives while the backend reads the next, so that a consumer takes in a page while etcd
   * serves the next one; returns the listing's revision. With `options.revision`, at that
   * revision: MARGAY_ERR_COMPACTED when the backend can no longer serve it (etcd: compacted; the
   * in-memory store serves only its current revision). After an error the pages handed over stay
   * handed over; an error thrown by `onPage` is rethrown as it is.
   */
  listPages(prefix: string, onPage: PageHandler, options?: ListPagesOptions): Promise<number>;
  /**
   * Reads several keys and prefixes at one revision, in one round trip. Meant for a handful of
   * small reads (a node's settings and blocks): a prefix is read whole, without paging. At most
   * 128 reads (MARGAY_ERR_DATASTORE_REJECTED beyond, or for an empty key).
   */
  getMany(reads: readonly ReadRequest[]): Promise<ManyResult>;
  /** Creates a key that must not exist (MARGAY_ERR_ALREADY_EXISTS otherwise). */
  create(key: string, value: string, options?: WriteOptions): Promise<KVPair>;
  /**
   * Replaces a key only when its modRevision still equals `modRevision` (compare-and-swap).
   * MARGAY_ERR_NOT_FOUND when absent, MARGAY_ERR_CONFLICT when changed since.
   */
  update(key: string, value: string, modRevision: number, options?: WriteOptions): Promise<KVPair>;
  /** Writes a key unconditionally. */
  put(key: string, value: string, options?: WriteOptions): Promise<KVPair>;
  /**
   * Deletes a key; with `modRevision`, only when it still has that revision (MARGAY_ERR_CONFLICT
   * otherwise). MARGAY_ERR_NOT_FOUND when absent. Returns the deleted pair.
   */
  delete(key: string, modRevision?: number): Promise<KVPair>;
  /**
   * Applies every operation or none. Conditions are checked together; on failure nothing is
   * written and the error names the first failing key (NOT_FOUND, ALREADY_EXISTS or CONFLICT).
   * A transaction beyond {@link limits} is refused before anything is sent
   * (MARGAY_ERR_DATASTORE_REJECTED). Returns the revision of the transaction.
   */
  txn(ops: TxnOp[]): Promise<number>;
  /**
   * Watches a prefix from `fromRevision` (inclusive; 0 means from the next write on). A delete's
   * `value` comes only with `options.deletedValues` (etcd then sends every event's previous value,
   * kilobytes for each IPAM block write; no watcher needs them by default).
   */
  watch(prefix: string, fromRevision: number, options?: WatchOptions): RawWatch;
  /** Grants a lease of `ttlSeconds`. */
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** The current store revision. */
  currentRevision(): Promise<number>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
