/**
 * The etcd v3 backend, on the `etcd3` client's connection pool and its raw KV, Lease and Watch
 * RPCs. Every write is one etcd transaction, so conditions and results come from one place.
 *
 * Why the raw Watch RPC and not etcd3's `Watcher`: the Watcher resumes by itself after a
 * disconnection from `header.revision + 1` of the last response it saw, and the `created`
 * response already carries the *current* revision, so events not yet replayed when the stream
 * drops are skipped for good. It also reports a compacted start revision as a bare
 * `EtcdError('Watcher canceled: ')` without the compact revision. Here each RawWatch owns one
 * gRPC watch stream, ends with MARGAY_ERR_DATASTORE_UNAVAILABLE when the stream fails and with
 * MARGAY_ERR_COMPACTED when etcd cancels it for compaction; resuming is the syncer's job, from the
 * last revision it has actually seen.
 */
import { readFileSync } from 'node:fs';
import { handleWhen, noop, retry } from 'cockatiel';
import {
  Etcd3,
  GRPCDeadlineExceededError,
  isRecoverableError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
  EtcdAuthenticationFailedError,
  type ICompare,
  type IKeyValue,
  type IRangeRequest,
  type IRangeResponse,
  type ITxnRequest,
  type ITxnResponse,
  type IOptions,
  type IRequestOp,
  type IResponseOp,
  type IWatchResponse,
  type ILeaseKeepAliveResponse,
} from 'etcd3';
import { MargayError, hasCode } from '../errors/mod.ts';
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
import { checkTxnOp, ETCD_DEFAULT_LIMITS, hasCondition, notFound, validateReads, validateTxnOps } from './txn-rules.ts';
import { WatchQueue } from './watch-queue.ts';
import { decodedRange, decodedTxn } from './etcd-range.ts';
import { decodedWatch } from './etcd-watch.ts';

/** TLS files for talking to etcd (PEM). */
export interface EtcdTlsOptions {
  /** CA bundle that signed etcd's server certificate (the system roots when omitted). */
  caFile?: string;
  /** Client certificate, when etcd requires client-certificate authentication. */
  certFile?: string;
  /** Key of the client certificate. */
  keyFile?: string;
}

/** Options of {@link EtcdDatastore}. */
export interface EtcdDatastoreOptions {
  /** Client URLs, e.g. `['http://127.0.0.1:2379']`; `https://` or `tls` for TLS. */
  endpoints: string[];
  tls?: EtcdTlsOptions;
  /**
   * How long one request may take, connecting and the client's own retries included, before it
   * fails with MARGAY_ERR_DATASTORE_UNAVAILABLE naming this timeout (milliseconds, default 10000,
   * at most {@link MAX_REQUEST_TIMEOUT_MS}). Watches are not limited.
   */
  dialTimeoutMs?: number;
  /** What the error of a timed-out request calls the timeout (default `the datastore timeout`), e.g. the variable that sets it. */
  timeoutName?: string;
  /** Keys per page when listing a prefix (default 1000). */
  listPageSize?: number;
  /** The server's transaction limits, when it runs with other than etcd's defaults (128 ops, 1.5 MiB). */
  limits?: TxnLimits;
}

/** Longest request timeout: 10 minutes (also far below what a Node timer can hold). */
export const MAX_REQUEST_TIMEOUT_MS = 600_000;

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // no upper bound: every key from `prefix` on
}

function readPem(file: string | undefined, what: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new MargayError('MARGAY_ERR_CONFIG', `cannot read the etcd ${what} ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** Raised by the backup timer of {@link EtcdDatastore} when a request's deadline passes. */
class DeadlineError extends Error {
  constructor() {
    super('DEADLINE_EXCEEDED');
    this.name = 'DeadlineError';
  }
}

interface Outcome {
  revision: number;
  responses: IResponseOp[];
}

/** A Datastore on an etcd v3 cluster. */
export class EtcdDatastore implements Datastore {
  readonly limits: TxnLimits;
  readonly #client: Etcd3;
  /** Range requests (etcd-range.ts: decoded without protobufjs when etcd3 allows). */
  readonly #range: (req: IRangeRequest, options: { deadline: Date }) => Promise<IRangeResponse>;
  /** Transactions (etcd-range.ts: decoded without protobufjs when etcd3 allows). */
  readonly #txn: (req: ITxnRequest, options: { deadline: Date }) => Promise<ITxnResponse>;
  /** Opens a raw watch stream (responses decoded by watch-decode.ts when etcd3 allows it). */
  readonly #openWatch: () => ReturnType<Etcd3['watchClient']['watch']>;
  readonly #endpoints: string;
  readonly #pageSize: number;
  readonly #timeoutMs: number;
  readonly #timeoutName: string;
  readonly #watches = new Set<{ close(): void }>();
  #closed = false;

  constructor(options: EtcdDatastoreOptions) {
    if (options.endpoints.length === 0) {
      throw new MargayError('MARGAY_ERR_CONFIG', 'no etcd endpoints configured (etcdEndpoints is empty)');
    }
    this.#endpoints = options.endpoints.join(',');
    this.#pageSize = options.listPageSize ?? 1000;
    this.limits = { ...(options.limits ?? ETCD_DEFAULT_LIMITS) };
    const timeoutMs = options.dialTimeoutMs ?? 10_000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_REQUEST_TIMEOUT_MS) {
      throw new MargayError('MARGAY_ERR_CONFIG', `the datastore timeout must be a whole number of milliseconds from 1 to ${MAX_REQUEST_TIMEOUT_MS}, got ${timeoutMs}`);
    }
    this.#timeoutMs = timeoutMs;
    this.#timeoutName = options.timeoutName ?? 'the datastore timeout';
    const tls = options.tls;
    const clientOptions: IOptions = {
      hosts: options.endpoints,
      // No default deadline: each request gets one absolute deadline in #call, shared by the
      // client's retries (a per-attempt deadline made a silent etcd cost three timeouts).
      faultHandling: {
        // No circuit breaker: etcd3's default opens after three failures in a row and then fails
        // every request of this client for 5 s, whatever its own deadline — under load, a few
        // slow requests took the controllers' resyncs down with them. Each request has its deadline.
        host: () => noop,
        // Retry what may pass on another attempt (connection lost, leader change), not a request
        // whose deadline has passed: its retries would fail at once.
        global: retry(handleWhen((err) => isRecoverableError(err) && !(err instanceof GRPCDeadlineExceededError)), { maxAttempts: 3 }),
      },
      grpcOptions: {
        'grpc.max_receive_message_length': -1,
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      },
    };
    if (tls && (tls.caFile || tls.certFile || tls.keyFile)) {
      const credentials: NonNullable<IOptions['credentials']> = {
        rootCertificate: readPem(tls.caFile, 'CA file') as Buffer,
      };
      const certChain = readPem(tls.certFile, 'certificate file');
      const privateKey = readPem(tls.keyFile, 'key file');
      if (certChain) credentials.certChain = certChain;
      if (privateKey) credentials.privateKey = privateKey;
      clientOptions.credentials = credentials;
    }
    try {
      this.#client = new Etcd3(clientOptions);
    } catch (err) {
      throw new MargayError('MARGAY_ERR_CONFIG', `bad etcd client configuration: ${(err as Error).message}`, { cause: err });
    }
    const client = this.#client;
    this.#range = decodedRange(client) ?? ((req, o) => client.kv.range(req, o));
    this.#txn = decodedTxn(client) ?? ((req, o) => client.kv.txn(req, o));
    this.#openWatch = decodedWatch(client) ?? (() => client.watchClient.watch());
  }

  async get(key: string): Promise<KVPair | undefined> {
    const res = await this.#call((o) => this.#range({ key: Buffer.from(key) }, o));
    const kv = res.kvs[0];
    return kv ? toPair(kv) : undefined;
  }

  async list(prefix: string): Promise<ListResult> {
    for (let attempt = 0; ; attempt++) {
      const items: KVPair[] = [];
      try {
        const revision = await this.listPages(prefix, (page) => {
          for (const kv of page) items.push(kv);
        });
        return { items, revision };
      } catch (err) {
        // A compaction can overtake a long paged list; start over at a fresh revision.
        if (!hasCode(err, 'MARGAY_ERR_COMPACTED') || attempt >= 3) throw err;
      }
    }
  }

  async listPages(prefix: string, onPage: PageHandler, options: ListPagesOptions = {}): Promise<number> {
    const start = prefix === '' ? Buffer.from([0]) : Buffer.from(prefix);
    const rangeEnd = prefix === '' ? Buffer.from([0]) : prefixRangeEnd(start);
    let revision = options.revision;
    const read = (key: Buffer): Promise<IRangeResponse> =>
      this.#call((o) => this.#range({ key, range_end: rangeEnd, limit: this.#pageSize, ...(revision === undefined ? {} : { revision }) }, o));
    let res = await read(start);
    revision ??= Number(res.header.revision);
    for (;;) {
      const last = res.kvs[res.kvs.length - 1];
      // The next page is asked for before this one is handed over: etcd reads it meanwhile.
      const next = res.more && last ? read(Buffer.concat([last.key, Buffer.from([0])])) : undefined;
      // Awaited below; when onPage throws, its failure (if any) is dropped with it.
      next?.catch(() => undefined);
      await onPage(res.kvs.map(toPair), revision);
      if (next === undefined) return revision;
      res = await next;
    }
  }

  /** One transaction of ranges: every read at the same revision, one round trip. */
  async getMany(reads: readonly ReadRequest[]): Promise<ManyResult> {
    validateReads(reads);
    if (reads.length === 0) return { results: [], revision: await this.currentRevision() };
    const success: IRequestOp[] = reads.map((r) => {
      if ('key' in r) return { request_range: { key: Buffer.from(r.key) } };
      const start = r.prefix === '' ? Buffer.from([0]) : Buffer.from(r.prefix);
      return { request_range: { key: start, range_end: r.prefix === '' ? Buffer.from([0]) : prefixRangeEnd(start) } };
    });
    const res = await this.#call((o) => this.#txn({ compare: [], success, failure: [] }, o));
    return {
      results: reads.map((_, i) => (res.responses[i]?.response_range?.kvs ?? []).map(toPair)),
      revision: Number(res.header.revision),
    };
  }

  async create(key: string, value: string, options: WriteOptions = {}): Promise<KVPair> {
    const op = withLease({ op: 'create', key, value }, options);
    return this.#writeOne(op);
  }

  async update(key: string, value: string, modRevision: number, options: WriteOptions = {}): Promise<KVPair> {
    return this.#writeOne(withLease({ op: 'update', key, value, modRevision }, options));
  }

  async put(key: string, value: string, options: WriteOptions = {}): Promise<KVPair> {
    return this.#writeOne(withLease({ op: 'put', key, value }, options));
  }

  async delete(key: string, modRevision?: number): Promise<KVPair> {
    const op: TxnOp = modRevision === undefined ? { op: 'delete', key } : { op: 'delete', key, modRevision };
    const { responses } = await this.#commit([op]);
    const prev = responses[0]?.response_delete_range?.prev_kvs?.[0];
    if (!prev) throw notFound(key); // deleted by someone else between check and apply: cannot happen in one txn
    return toPair(prev);
  }

  async txn(ops: TxnOp[]): Promise<number> {
    // Only the revision: no previous values back (an IPAM block's is kilobytes to decode).
    return (await this.#commit(ops, false)).revision;
  }

  watch(prefix: string, fromRevision: number, options: WatchOptions = {}): RawWatch {
    const key = Buffer.from(prefix);
    const rangeEnd = prefix === '' ? Buffer.from([0]) : prefixRangeEnd(key);
    let stream: Awaited<ReturnType<Etcd3['watchClient']['watch']>> | undefined;
    let done = false;
    const endStream = (): void => {
      done = true;
      this.#watches.delete(handle);
      if (!stream) return;
      const s = stream;
      stream = undefined;
      // end() first: the stream is then no longer writable, so etcd3 does not count the
      // CANCELLED status that cancel() produces as a host failure.
      s.end();
      s.cancel();
    };
    const queue = new WatchQueue(endStream);
    const handle = {
      close: () => {
        queue.close();
        endStream();
      },
    };
    if (this.#closed) {
      queue.fail(new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', 'the etcd client is closed'));
      return { events: queue, cancel: async () => queue.close() };
    }
    this.#watches.add(handle);
    const fail = (err: MargayError): void => {
      queue.fail(err);
      endStream();
    };
    const onData = (res: IWatchResponse): void => {
      if (done) return;
      if (res.canceled) {
        const compacted = Number(res.compact_revision);
        if (compacted > 0) {
          fail(
            new MargayError(
              'MARGAY_ERR_COMPACTED',
              `cannot watch ${prefix} from revision ${fromRevision}: etcd compacted its history to revision ${compacted}`,
            ),
          );
        } else {
          fail(
            new MargayError(
              'MARGAY_ERR_DATASTORE_UNAVAILABLE',
              `etcd cancelled the watch of ${prefix}${res.cancel_reason ? `: ${res.cancel_reason}` : ''}`,
            ),
          );
        }
        return;
      }
      if (res.events.length === 0) return;
      queue.push(
        res.events.map((ev): WatchEvent => {
          const modRevision = Number(ev.kv.mod_revision);
          if (ev.type === 'Delete') {
            return {
              type: 'delete',
              key: ev.kv.key.toString(),
              value: ev.prev_kv ? ev.prev_kv.value.toString() : undefined,
              modRevision,
            };
          }
          const put: WatchEvent = {
            type: 'put',
            key: ev.kv.key.toString(),
            value: ev.kv.value.toString(),
            modRevision,
            createRevision: Number(ev.kv.create_revision),
          };
          if (ev.kv.lease && ev.kv.lease !== '0') put.lease = ev.kv.lease;
          return put;
        }),
      );
    };
    void (async () => {
      let s: typeof stream;
      try {
        s = await this.#openWatch();
      } catch (err) {
        fail(this.#toError(err, `watch ${prefix}`));
        return;
      }
      if (done) {
        s.end();
        s.cancel();
        return;
      }
      stream = s;
      s.on('data', onData);
      s.on('error', (err) => {
        if (!done) fail(this.#toError(err, `watch ${prefix}`));
      });
      s.on('end', () => {
        if (!done) fail(new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', `etcd ended the watch stream of ${prefix}`));
      });
      s.write({
        create_request: {
          key,
          range_end: rangeEnd,
          // Previous values only when asked: etcd would send every put's too (an IPAM block's
          // old value, kilobytes, with each of its writes' echoes).
          ...(options.deletedValues ? { prev_kv: true } : {}),
          ...(fromRevision > 0 ? { start_revision: fromRevision } : {}),
        },
      });
    })();
    return {
      events: queue,
      cancel: async () => handle.close(),
    };
  }

  async grantLease(ttlSeconds: number): Promise<Lease> {
    if (!(ttlSeconds >= 1)) {
      throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `a lease TTL must be at least 1 second, got ${ttlSeconds}`);
    }
    const res = await this.#call((o) => this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlSeconds) }, o));
    const id = res.ID;
    return {
      id,
      keepAliveOnce: () => this.#keepAliveOnce(id),
      revoke: async () => {
        try {
          await this.#call((o) => this.#client.leaseClient.leaseRevoke({ ID: id }, o));
        } catch (err) {
          if (!hasCode(err, 'MARGAY_ERR_LEASE')) throw err;
        }
      },
    };
  }

  async #keepAliveOnce(id: string): Promise<void> {
    const res = await this.#call(async (o) => {
      const stream = await this.#client.leaseClient.leaseKeepAlive(o);
      try {
        return await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.on('end', () => reject(new Error('etcd ended the lease keep-alive stream')));
          stream.write({ ID: id });
        });
      } finally {
        stream.end();
        stream.cancel();
      }
    });
    if (Number(res.TTL) <= 0) throw new MargayError('MARGAY_ERR_LEASE', `lease ${id} has expired or does not exist`);
  }

  async currentRevision(): Promise<number> {
    const res = await this.#call((o) => this.#range({ key: Buffer.from([0]), count_only: true }, o));
    return Number(res.header.revision);
  }

  /** Compacts etcd's history up to `revision` (watches from earlier revisions then fail). For tests and maintenance. */
  async compact(revision: number): Promise<void> {
    await this.#call((o) => this.#client.kv.compact({ revision, physical: true }, o));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#watches]) w.close();
    this.#client.close();
  }

  async #writeOne(op: TxnOp & { op: 'create' | 'update' | 'put' }): Promise<KVPair> {
    const { revision, responses } = await this.#commit([op]);
    const prev = responses[0]?.response_put?.prev_kv;
    const pair: KVPair = {
      key: op.key,
      value: op.value,
      modRevision: revision,
      createRevision: prev && prev.create_revision !== '0' ? Number(prev.create_revision) : revision,
    };
    if (op.lease !== undefined) pair.lease = op.lease;
    return pair;
  }

  /**
   * Runs ops as one etcd transaction: every condition as a compare, every write in `success`, and
   * a read of every conditioned key in `failure` so that a failed transaction can name its first
   * failing op from a consistent view. `prevKv`: each write's previous value comes back too.
   */
  async #commit(ops: TxnOp[], prevKv = true): Promise<Outcome> {
    validateTxnOps(ops, this.limits);
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    const failure: IRequestOp[] = [];
    const conditioned: TxnOp[] = [];
    for (const op of ops) {
      const key = Buffer.from(op.key);
      if (hasCondition(op)) {
        conditioned.push(op);
        failure.push({ request_range: { key, keys_only: true } });
      }
      switch (op.op) {
        case 'create':
          compare.push({ key, target: 'Create', result: 'Equal', create_revision: 0 });
          break;
        case 'update':
          compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: op.modRevision });
          if (op.modRevision < 1) compare.push({ key, target: 'Create', result: 'Greater', create_revision: 0 });
          break;
        case 'delete':
          if (op.modRevision !== undefined) compare.push({ key, target: 'Mod', result: 'Equal', mod_revision: op.modRevision });
          if (op.modRevision === undefined || op.modRevision < 1) {
            compare.push({ key, target: 'Create', result: 'Greater', create_revision: 0 });
          }
          break;
        case 'put':
          break;
      }
      if (op.op === 'delete') {
        success.push({ request_delete_range: { key, prev_kv: prevKv } });
      } else {
        success.push({
          request_put: { key, value: Buffer.from(op.value), prev_kv: prevKv, ...(op.lease !== undefined ? { lease: op.lease } : {}) },
        });
      }
    }
    const res = await this.#call((o) => this.#txn({ compare, success, failure }, o));
    if (res.succeeded) return { revision: Number(res.header.revision), responses: res.responses };
    conditioned.forEach((op, i) => {
      const kv = res.responses[i]?.response_range?.kvs?.[0];
      const err = checkTxnOp(op, kv ? { modRevision: Number(kv.mod_revision) } : undefined);
      if (err) throw err;
    });
    throw new MargayError('MARGAY_ERR_CONFLICT', `transaction on ${ops.map((o) => o.key).join(', ')} failed its conditions`);
  }

  /**
   * Runs one request under one absolute deadline: gRPC gets it (so the etcd3 client's retries
   * share it rather than each getting a full timeout), and a timer backs it up for what gRPC does
   * not bound (a keep-alive stream, a wait in the client's fault handling). A request that runs
   * out of time fails with MARGAY_ERR_DATASTORE_UNAVAILABLE naming the timeout.
   */
  async #call<T>(fn: (options: { deadline: Date }) => Promise<T>): Promise<T> {
    if (this.#closed) throw new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', 'the etcd client is closed');
    const deadline = new Date(Date.now() + this.#timeoutMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError()), this.#timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([fn({ deadline }), expired]);
    } catch (err) {
      throw this.#toError(err, 'request');
    } finally {
      clearTimeout(timer);
    }
  }

  /** The one-line error of a request that ran out of time. */
  #timedOut(what: string, err: unknown): MargayError {
    const seconds = this.#timeoutMs / 1000;
    return new MargayError(
      'MARGAY_ERR_DATASTORE_UNAVAILABLE',
      `etcd at ${this.#endpoints} did not answer the ${what} within ${seconds} s (${this.#timeoutName})`,
      { cause: err },
    );
  }

  /** Maps an etcd3/gRPC error to a MargayError with a stable code. */
  #toError(err: unknown, what: string): MargayError {
    if (err instanceof MargayError) return err;
    const message = err instanceof Error ? firstLine(err.message) : String(err);
    if (err instanceof DeadlineError || message.includes('DEADLINE_EXCEEDED')) return this.#timedOut(what, err);
    const options = { cause: err };
    if (message.includes('required revision has been compacted')) {
      return new MargayError('MARGAY_ERR_COMPACTED', `etcd ${what}: ${message}`, options);
    }
    if (err instanceof EtcdLeaseInvalidError || message.includes('requested lease not found')) {
      return new MargayError('MARGAY_ERR_LEASE', `etcd ${what}: the lease has expired or does not exist`, options);
    }
    if (
      err instanceof EtcdPermissionDeniedError ||
      err instanceof GRPCInvalidArgumentError ||
      err instanceof GRPCUnauthenticatedError ||
      err instanceof EtcdAuthenticationFailedError ||
      /request is too large|duplicate key given|too many operations|permission denied|future revision/.test(message)
    ) {
      return new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `etcd refused the ${what}: ${message}`, options);
    }
    return new MargayError(
      'MARGAY_ERR_DATASTORE_UNAVAILABLE',
      `etcd at ${this.#endpoints} cannot be reached (${what}): ${message}`,
      options,
    );
  }
}

function withLease<T extends TxnOp & { op: 'create' | 'update' | 'put' }>(op: T, options: WriteOptions): T {
  return options.lease === undefined ? op : { ...op, lease: options.lease };
}

function toPair(kv: IKeyValue): KVPair {
  const pair: KVPair = {
    key: kv.key.toString(),
    value: kv.value.toString(),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  };
  if (kv.lease && kv.lease !== '0') pair.lease = kv.lease;
  return pair;
}
