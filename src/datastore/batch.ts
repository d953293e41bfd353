/**
 * All-or-nothing batches of any size up to {@link MAX_BATCH_WRITES}, on a datastore whose
 * transactions are limited (etcd: 128 operations and 1.5 MiB per request by default).
 *
 * A batch that fits in one transaction is one transaction: it applies whole or not at all, and
 * nobody ever sees a part of it. A larger batch cannot be one transaction, so it runs as a chain
 * of transactions whose failure is undone by compensating writes verified by revision:
 *
 * 1. Every write is conditioned on the state the batch was planned on (a create needs the key
 *    absent; an update or delete needs the key at the revision that was read, whose value the
 *    caller hands in as the write's pre-image). A concurrent writer that got there first makes a
 *    transaction fail before it writes anything.
 * 2. Creates go first, then the updates and deletes, so that when the updates and deletes fit in
 *    one transaction (the usual case) a failure leaves every existing key untouched, revisions
 *    included.
 * 3. The writer holds an owner key on a lease it keeps alive (`/calico/margay/batches/<id>/owner`).
 *    Each transaction also moves a marker (`…/projectcalico.org/margay.batch.<id>`: created by the
 *    first, updated at the previous one's revision, deleted by the last), updates the owner key at
 *    its revision (a writer whose lease lapsed can write no more), and, but for the last, writes
 *    its own undo record (`…/<id>/undo/<step>`: the keys and their pre-images). When a transaction's outcome is unknown (etcd did not answer in
 *    time), the marker tells whether it was applied.
 * 4. On failure, every transaction already applied is undone in reverse order (batch-undo.ts): a
 *    created key is deleted, an updated key gets its pre-image back, a deleted key is created
 *    again — each only if the key is still exactly as the batch left it. A key another writer
 *    changed since is left as that writer made it, and reported.
 * 5. A writer killed half-way leaves the marker and undo records; once its lease has lapsed, the
 *    next command that reads or writes resources rolls the batch back from those records
 *    (batch-recovery.ts). Until the marker is gone, readers see the store as before the batch:
 *    resource reads wait for it (batch-recovery.ts), syncers hold its events back (syncer.ts).
 *
 * What the datastore then holds is what it held before, with two traces no protocol on etcd can
 * avoid: the store's revision counter has moved on, and a key restored by an undo (only possible
 * when the updates and deletes needed more than one transaction) has a new modification revision
 * (a re-created key also a new creation revision).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { MAX_BATCH_WRITES } from '../api/mod.ts';
import { hasCode, MargayError } from '../errors/mod.ts';
import { describeLeft, pack, uncertain, undoEntries, type Leftover, type UndoEntry } from './batch-undo.ts';
import type { Datastore, KVPair, Lease, TxnLimits, TxnOp } from './datastore.ts';
import { batchKeys } from './keys.ts';
import { ETCD_DEFAULT_LIMITS, MAX_READS, opRequestBytes, txnRequestBytes } from './txn-rules.ts';

export { MAX_BATCH_WRITES };

/** Most bytes (keys and values) one batch may write. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/** The lease of a batch's owner key: how long after its writer died a batch waits for the rollback. */
export const OWNER_TTL_SECONDS = 10;

/** The protocol's own ops in every transaction of a chain: marker, owner, undo record. */
const PROTOCOL_OPS = 3;

/** Room for the protocol's own ops in the bytes of one transaction (keys, framing, marker JSON). */
const PROTOCOL_BYTES = 4096;

/**
 * One write of a batch: a conditioned operation (`create`, `update`, `delete`; no `put`, no
 * lease) and, for an update or a delete, the pair its `modRevision` names — the value an undo
 * puts back.
 */
export interface BatchWrite {
  op: TxnOp;
  before?: KVPair;
}

/** Options of {@link writeBatch}. */
export interface BatchWriteOptions {
  /** The owner key's lease (default {@link OWNER_TTL_SECONDS}). */
  ownerTtlSeconds?: number;
}

/** What a marker holds: the chain's length, the last step applied, the revisions of the steps before it. */
export interface MarkerState {
  steps: number;
  step: number;
  /** Revisions of steps 0..step-1; the marker's own modRevision is step `step`'s. */
  revisions: number[];
}

/** One entry of an undo record, as stored. */
export type UndoRecordEntry = Omit<UndoEntry, 'revision'>;

/** A transaction of the chain once applied. */
interface Applied {
  writes: readonly BatchWrite[];
  revision: number;
}

/**
 * Applies `writes` all or nothing and returns, per write (same order), the revision of the
 * transaction that made it. On failure the datastore is as before (see the module comment) and
 * the error is the failing transaction's, saying so; when an undo could not complete, the error
 * is MARGAY_ERR_BATCH_INCOMPLETE naming the keys left.
 */
export async function writeBatch(ds: Datastore, writes: readonly BatchWrite[], options: BatchWriteOptions = {}): Promise<number[]> {
  const limits = ds.limits ?? ETCD_DEFAULT_LIMITS;
  checkBatch(writes, limits);
  if (writes.length === 0) return [];
  if (writes.length <= limits.maxOps && txnRequestBytes(writes.map((w) => w.op)) <= limits.maxBytes) {
    const revision = await ds.txn(writes.map((w) => w.op));
    return writes.map(() => revision);
  }
  return new Chain(ds, limits, writes, options.ownerTtlSeconds ?? OWNER_TTL_SECONDS).run();
}

/**
 * Refuses a batch that cannot be made safely: too many writes or bytes, an unconditioned or
 * leased write, a missing pre-image, or a write too large for any transaction.
 */
export function checkBatch(writes: readonly BatchWrite[], limits: TxnLimits = ETCD_DEFAULT_LIMITS): void {
  if (writes.length > MAX_BATCH_WRITES) {
    throw new MargayError('MARGAY_ERR_TOO_LARGE', `a batch of ${writes.length} writes; at most ${MAX_BATCH_WRITES} go in one batch (split the input)`);
  }
  let bytes = 0;
  const room = limits.maxBytes - PROTOCOL_BYTES;
  for (const { op, before } of writes) {
    if (op.op === 'put' || ('lease' in op && op.lease !== undefined)) {
      throw rejected(`batch write of ${op.key}: only conditioned writes without a lease (create, update, delete) can be undone`);
    }
    if (op.op !== 'create' && (before === undefined || before.key !== op.key || before.modRevision !== op.modRevision || before.lease !== undefined)) {
      throw rejected(`batch ${op.op} of ${op.key}: needs the pair it replaces (same key and revision, no lease)`);
    }
    const size = opRequestBytes(op);
    if (size > room) {
      throw new MargayError('MARGAY_ERR_TOO_LARGE', `${op.key}: a write of about ${size} bytes; one datastore request takes at most ${limits.maxBytes}`);
    }
    bytes += size;
  }
  if (bytes > MAX_BATCH_BYTES) {
    throw new MargayError('MARGAY_ERR_TOO_LARGE', `a batch of about ${bytes} bytes; at most ${MAX_BATCH_BYTES} go in one batch (split the input)`);
  }
}

/** Parses a marker's value; undefined when it is not one. */
export function parseMarker(kv: KVPair): MarkerState | undefined {
  try {
    const m = JSON.parse(kv.value) as Partial<MarkerState>;
    if (typeof m.steps !== 'number' || typeof m.step !== 'number' || !Array.isArray(m.revisions) || m.revisions.length !== m.step) return undefined;
    return m as MarkerState;
  } catch {
    return undefined;
  }
}

/** The undo record entry of a write. */
function recordEntry(w: BatchWrite): UndoRecordEntry {
  const op = w.op.op as UndoEntry['op'];
  return op === 'create' ? { key: w.op.key, op } : { key: w.op.key, op, before: w.before!.value };
}

/** A write's share of a chain transaction: the write and its entry in the undo record. */
function chainBytes(w: BatchWrite): number {
  return opRequestBytes(w.op) + Buffer.byteLength(JSON.stringify(recordEntry(w))) + 1;
}

/** A batch larger than one transaction, run as a chain of transactions (see the module comment). */
class Chain {
  readonly #ds: Datastore;
  readonly #limits: TxnLimits;
  readonly #writes: readonly BatchWrite[];
  readonly #steps: BatchWrite[][];
  readonly #keys = batchKeys(randomUUID());
  readonly #ttl: number;
  readonly #applied: Applied[] = [];
  #lease: Lease | undefined;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  /** The marker's and the owner key's revision after the last applied step. */
  #markerRevision = 0;
  #ownerRevision = 0;
  /** True when a step got no answer and the marker could not be read either. */
  #unknownStep = false;

  constructor(ds: Datastore, limits: TxnLimits, writes: readonly BatchWrite[], ttlSeconds: number) {
    this.#ds = ds;
    this.#limits = limits;
    this.#writes = writes;
    this.#ttl = ttlSeconds;
    const room: TxnLimits = { maxOps: limits.maxOps - PROTOCOL_OPS, maxBytes: limits.maxBytes - PROTOCOL_BYTES };
    const creates = writes.filter((w) => w.op.op === 'create');
    const others = writes.filter((w) => w.op.op !== 'create');
    // The usual case: the updates and deletes fit in the last transaction, which needs no undo
    // record, so their pre-images take no room.
    const lastOnly = others.length <= room.maxOps && txnRequestBytes(others.map((w) => w.op)) <= room.maxBytes;
    const tooLarge = (lastOnly ? creates : writes).find((w) => chainBytes(w) > room.maxBytes);
    if (tooLarge) {
      throw new MargayError('MARGAY_ERR_TOO_LARGE', `${tooLarge.op.key}: a write of about ${chainBytes(tooLarge)} bytes with its pre-image; in a batch of more than one transaction one write takes at most ${room.maxBytes} (write it on its own)`);
    }
    const last = lastOnly ? (others.length > 0 ? [others] : []) : pack(others, room, (w) => w.op, chainBytes);
    this.#steps = [...pack(creates, room, (w) => w.op, chainBytes), ...last];
  }

  async run(): Promise<number[]> {
    await this.#own();
    try {
      for (let step = 0; step < this.#steps.length; step++) {
        try {
          await this.#apply(step);
        } catch (err) {
          if (await this.#appliedAnyway(step, err)) continue;
          throw await this.#undo(err);
        }
      }
    } finally {
      clearInterval(this.#keepAlive);
    }
    await this.#cleanUp(this.#steps.length - 1);
    const revisionOf = new Map<BatchWrite, number>();
    for (const a of this.#applied) for (const w of a.writes) revisionOf.set(w, a.revision);
    return this.#writes.map((w) => revisionOf.get(w)!);
  }

  /** Takes the owner key on a fresh lease, kept alive while the chain runs. */
  async #own(): Promise<void> {
    this.#lease = await this.#ds.grantLease(this.#ttl);
    const owner = await this.#ds.create(this.#keys.owner, JSON.stringify({ host: hostname(), pid: process.pid }), { lease: this.#lease.id });
    this.#ownerRevision = owner.modRevision;
    const lease = this.#lease;
    this.#keepAlive = setInterval(() => void lease.keepAliveOnce().catch(() => undefined), (this.#ttl * 1000) / 3);
    this.#keepAlive.unref?.();
  }

  async #apply(step: number): Promise<void> {
    const writes = this.#steps[step]!;
    const last = step === this.#steps.length - 1;
    const { marker, owner, undo } = this.#keys;
    const state: MarkerState = { steps: this.#steps.length, step, revisions: this.#applied.map((a) => a.revision) };
    const ops: TxnOp[] = writes.map((w) => w.op);
    if (step === 0) {
      ops.push({ op: 'create', key: marker, value: JSON.stringify(state) });
    } else if (last) {
      ops.push({ op: 'delete', key: marker, modRevision: this.#markerRevision });
    } else {
      ops.push({ op: 'update', key: marker, value: JSON.stringify(state), modRevision: this.#markerRevision });
    }
    if (last) {
      ops.push({ op: 'delete', key: owner, modRevision: this.#ownerRevision });
    } else {
      ops.push({ op: 'update', key: owner, value: JSON.stringify({ host: hostname(), pid: process.pid }), modRevision: this.#ownerRevision, lease: this.#lease!.id });
      ops.push({ op: 'put', key: undo(step), value: JSON.stringify(writes.map(recordEntry)) });
    }
    this.#applied.push({ writes, revision: await this.#ds.txn(ops) });
    this.#markerRevision = this.#ownerRevision = this.#applied.at(-1)!.revision;
  }

  /**
   * After a transaction failed without a definite answer (the datastore did not answer), reads
   * the marker to learn whether it was applied; records it when it was. A definite failure (a
   * condition, a refusal) applied nothing.
   */
  async #appliedAnyway(step: number, err: unknown): Promise<boolean> {
    if (!uncertain(err)) return false;
    let marker: KVPair | undefined;
    try {
      marker = await this.#ds.get(this.#keys.marker);
    } catch {
      this.#unknownStep = true; // still no answer: #undo reports what may be left
      return false;
    }
    const last = step === this.#steps.length - 1;
    const applied = last ? marker === undefined : marker !== undefined && parseMarker(marker)?.step === step;
    if (!applied) return false;
    const revision = marker?.modRevision ?? (await this.#lastRevision(step));
    this.#applied.push({ writes: this.#steps[step]!, revision });
    this.#markerRevision = this.#ownerRevision = revision;
    return true;
  }

  /** The revision of the last step, applied although unanswered: the revision its writes carry. */
  async #lastRevision(step: number): Promise<number> {
    const written = this.#steps[step]!.filter((w) => w.op.op !== 'delete').slice(0, MAX_READS);
    const { results, revision } = await this.#ds.getMany(written.map((w) => ({ key: w.op.key })));
    return results.map((r) => r[0]?.modRevision).find((r) => r !== undefined) ?? revision;
  }

  /** Undoes every applied step, newest first, and returns the error to throw. */
  async #undo(cause: unknown): Promise<Error> {
    const entries = this.#applied
      .slice()
      .reverse()
      .flatMap((a) => a.writes.map((w): UndoEntry => ({ ...recordEntry(w), revision: a.revision })));
    const left: Leftover[] = await undoEntries(this.#ds, entries, this.#limits);
    const unanswered = this.#unknownStep || left.some((l) => l.unanswered);
    // Done (or only keys another writer owns now are left): the marker goes, readers go on. Else
    // the marker and the undo records stay for the next command, which may act once the lease is gone.
    if (!unanswered) await this.#cleanUp(this.#applied.length - 1, true);
    await this.#lease?.revoke().catch(() => undefined);
    const undone = entries.length - left.length;
    const base = cause instanceof Error ? cause.message : String(cause);
    const steps = `a batch of ${this.#writes.length} writes in ${this.#steps.length} transactions`;
    if (left.length === 0 && !unanswered) {
      const note = undone === 0 ? 'nothing was written' : `the ${undone} writes already made were undone`;
      if (!(cause instanceof MargayError)) return cause instanceof Error ? cause : new Error(base);
      return new MargayError(cause.code, `${base} (${steps}: ${note}; the datastore is as before)`, { cause });
    }
    const pending = this.#unknownStep ? `; transaction ${this.#applied.length + 1} got no answer and may have been applied` : '';
    const next = unanswered ? ' (the next margay command that reads or writes resources rolls the rest back once the datastore answers)' : '';
    return new MargayError(
      'MARGAY_ERR_BATCH_INCOMPLETE',
      `${base}; ${steps} could not be fully undone: ${undone} writes undone, ${left.length} left${describeLeft(left)}${pending}; batch marker ${this.#keys.marker}${next}`,
      { cause },
    );
  }

  /**
   * Removes what the chain left besides its writes: the marker (after an undo; the last step
   * deleted it otherwise), then the undo records of steps 0..`lastRecord`. A marker left (no
   * answer) is closed by the next reader; a record left is never read again once its marker is gone.
   */
  async #cleanUp(lastRecord: number, marker = false): Promise<void> {
    if (marker && this.#applied.length > 0) {
      const gone = await this.#delete([{ op: 'delete', key: this.#keys.marker, modRevision: this.#markerRevision }]);
      if (!gone) return;
    }
    const records: TxnOp[] = [];
    for (let step = 0; step < Math.min(lastRecord, this.#steps.length - 1) + (marker ? 1 : 0); step++) records.push({ op: 'delete', key: this.#keys.undo(step) });
    for (const group of pack(records, this.#limits, (op) => op)) await this.#delete(group);
  }

  /** Deletes in one transaction, else one key at a time (one may be gone already); true when all are gone. */
  async #delete(ops: TxnOp[]): Promise<boolean> {
    try {
      await this.#ds.txn(ops);
      return true;
    } catch {
      let all = true;
      for (const op of ops) {
        await this.#ds.delete(op.key, op.op === 'delete' ? op.modRevision : undefined).catch((err: unknown) => {
          if (!hasCode(err, 'MARGAY_ERR_NOT_FOUND')) all = false;
        });
      }
      return all;
    }
  }
}

function rejected(message: string): MargayError {
  return new MargayError('MARGAY_ERR_DATASTORE_REJECTED', message);
}
