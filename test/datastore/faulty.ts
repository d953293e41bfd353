/**
 * A Datastore wrapper that fails chosen transactions, for tests of what a failure leaves behind
 * (over the in-memory store in unit tests, over a real etcd in integration tests). Everything
 * else is passed through unchanged.
 */
import type { Datastore, ListPagesOptions, PageHandler, ReadRequest, TxnOp, WatchOptions, WriteOptions } from '../../src/datastore/datastore.ts';
import { MargayError } from '../../src/errors/mod.ts';

/** How a chosen transaction fails. */
export type Fault =
  /** Refused before anything is written, as etcd refuses a request that is too large. */
  | 'rejected'
  /** No answer: nothing written, and the caller cannot tell. */
  | 'lost-request'
  /** No answer, but the transaction was applied: the caller cannot tell either. */
  | 'lost-answer'
  /** The datastore stops answering from this transaction on (every later call fails too). */
  | 'outage';

/** Decides, for the n-th transaction (1-based) and its ops, whether and how it fails. */
export type FaultPlan = (n: number, ops: readonly TxnOp[]) => Fault | undefined;

/** Wraps `inner` so that transactions fail as `plan` says. `txns` counts the transactions seen. */
export class FaultyDatastore implements Datastore {
  readonly inner: Datastore;
  readonly plan: FaultPlan;
  txns = 0;
  #down = false;

  constructor(inner: Datastore, plan: FaultPlan) {
    this.inner = inner;
    this.plan = plan;
  }

  get limits() {
    return this.inner.limits;
  }

  async txn(ops: TxnOp[]): Promise<number> {
    this.#check();
    const fault = this.plan(++this.txns, ops);
    switch (fault) {
      case undefined:
        return this.inner.txn(ops);
      case 'rejected':
        throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', 'etcd refused the request: etcdserver: request is too large (injected)');
      case 'lost-answer':
        await this.inner.txn(ops);
        throw unanswered();
      case 'outage':
        this.#down = true;
        throw unanswered();
      case 'lost-request':
        throw unanswered();
    }
  }

  async get(key: string) {
    this.#check();
    return this.inner.get(key);
  }
  async list(prefix: string) {
    this.#check();
    return this.inner.list(prefix);
  }
  async listPages(prefix: string, onPage: PageHandler, options?: ListPagesOptions) {
    this.#check();
    return this.inner.listPages(prefix, onPage, options);
  }
  async getMany(reads: readonly ReadRequest[]) {
    this.#check();
    return this.inner.getMany(reads);
  }
  async create(key: string, value: string, options?: WriteOptions) {
    this.#check();
    return this.inner.create(key, value, options);
  }
  async update(key: string, value: string, modRevision: number, options?: WriteOptions) {
    this.#check();
    return this.inner.update(key, value, modRevision, options);
  }
  async put(key: string, value: string, options?: WriteOptions) {
    this.#check();
    return this.inner.put(key, value, options);
  }
  async delete(key: string, modRevision?: number) {
    this.#check();
    return this.inner.delete(key, modRevision);
  }
  watch(prefix: string, fromRevision: number, options?: WatchOptions) {
    return this.inner.watch(prefix, fromRevision, options);
  }
  async grantLease(ttlSeconds: number) {
    this.#check();
    const lease = await this.inner.grantLease(ttlSeconds);
    // Through this wrapper, so that an outage also stops the holder's renewals and revocation.
    return {
      id: lease.id,
      keepAliveOnce: async () => (this.#check(), lease.keepAliveOnce()),
      revoke: async () => (this.#check(), lease.revoke()),
    };
  }
  async currentRevision() {
    this.#check();
    return this.inner.currentRevision();
  }
  /** Ends an injected outage. */
  recover(): void {
    this.#down = false;
  }
  close() {
    return this.inner.close();
  }

  #check(): void {
    if (this.#down) throw unanswered();
  }
}

function unanswered(): MargayError {
  return new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', 'etcd did not answer the request within 10 s (injected)');
}

/** Every key under `prefix` with its value, revisions and lease, as one comparable text. */
export async function dump(ds: Datastore, prefix = '/'): Promise<string> {
  const { items } = await ds.list(prefix);
  return items.map((kv) => `${kv.key} c${kv.createRevision} m${kv.modRevision} l${kv.lease ?? '-'} ${kv.value}`).join('\n');
}
