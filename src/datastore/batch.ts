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
 *    one transaction (the usual case) they form the last one, and a failure anywhere needs only
 *    the creates undone: every key that existed before keeps its value *and* its revisions.
 * 3. Each transaction also moves a marker key (`/calico/margay/batches/<id>`, created by the
 *    first, updated at the revision of the previous one, deleted by the last). When a
 *    transaction's outcome is unknown (etcd did not answer in time), the marker tells whether it
 *    was applied, and at which revision.
 * 4. On failure, every transaction already applied is undone in reverse order: a created key is
 *    deleted, an updated key gets its pre-image back, a deleted key is created again — each only
 *    if the key is still exactly as the batch left it (compare-and-swap on the revision the batch
 *    wrote). A key another writer changed since is left as that writer made it, and reported.
 *
 * What the datastore then holds is what it held before, with two traces no protocol on etcd can
 * avoid: the store's revision counter has moved on, and a key restored by an undo (only possible
 * when the updates and deletes needed more than one transaction) has a new modification revision
 * (a re-created key also a new creation revision). Readers that watch during the batch may see
 * its creates before its updates and deletes. A writer killed between two transactions leaves
 * the transactions it made and its marker key; running the same `apply` again completes it.
 */
import { randomUUID } from 'node:crypto';
import { MAX_BATCH_WRITES } from '../api/mod.ts';
import { MargayError, type ErrorCode } from '../errors/mod.ts';
import type { Datastore, KVPair, TxnLimits, TxnOp } from './datastore.ts';
import { BATCHES_PREFIX } from './keys.ts';
import { checkTxnOp, ETCD_DEFAULT_LIMITS, MAX_READS, opRequestBytes, txnRequestBytes } from './txn-rules.ts';

export { MAX_BATCH_WRITES };

/** Most bytes (keys and values) one batch may write. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/** Attempts of one undo transaction while the datastore does not answer. */
const UNDO_ATTEMPTS = 3;

/** How many keys an error message lists before it says "and N more". */
const LISTED_KEYS = 5;

/**
 * One write of a batch: a conditioned operation (`create`, `update`, `delete`; no `put`, no
 * lease) and, for an update or a delete, the pair its `modRevision` names — the value an undo
 * puts back.
 */
export interface BatchWrite {
  op: TxnOp;
  before?: KVPair;
}

/** A transaction of the chain once applied. */
interface Applied {
  writes: readonly BatchWrite[];
  revision: number;
}

/** A key an undo could not restore, and why. */
interface Leftover {
  key: string;
  reason: string;
}

/**
 * Applies `writes` all or nothing and returns, per write (same order), the revision of the
 * transaction that made it. On failure the datastore is as before (see the module comment) and
 * the error is the failing transaction's, saying so; when an undo could not complete, the error
 * is MARGAY_ERR_BATCH_INCOMPLETE naming the keys left.
 */
export async function writeBatch(ds: Datastore, writes: readonly BatchWrite[]): Promise<number[]> {
  const limits = ds.limits ?? ETCD_DEFAULT_LIMITS;
  checkBatch(writes, limits);
  if (writes.length === 0) return [];
  if (writes.length <= limits.maxOps && txnRequestBytes(writes.map((w) => w.op)) <= limits.maxBytes) {
    const revision = await ds.txn(writes.map((w) => w.op));
    return writes.map(() => revision);
  }
  return new Chain(ds, limits, writes).run();
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
  const room = limits.maxBytes - opRequestBytes(markerOp('create', '', 0, 0));
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

/** A batch larger than one transaction, run as a chain of transactions (see the module comment). */
class Chain {
  readonly #ds: Datastore;
  readonly #limits: TxnLimits;
  readonly #writes: readonly BatchWrite[];
  readonly #steps: BatchWrite[][];
  readonly #marker = `${BATCHES_PREFIX}${randomUUID()}`;
  readonly #applied: Applied[] = [];
  /** The marker's revision after the last applied step. */
  #markerRevision = 0;
  /** True when a step got no answer and the marker could not be read either. */
  #unknownStep = false;

  constructor(ds: Datastore, limits: TxnLimits, writes: readonly BatchWrite[]) {
    this.#ds = ds;
    this.#limits = limits;
    this.#writes = writes;
    // One op and its bytes of every transaction are the marker's.
    const room: TxnLimits = { maxOps: limits.maxOps - 1, maxBytes: limits.maxBytes - opRequestBytes(markerOp('create', '', 0, 0)) };
    const creates = writes.filter((w) => w.op.op === 'create');
    const others = writes.filter((w) => w.op.op !== 'create');
    this.#steps = [...pack(creates, room, (w) => w.op), ...pack(others, room, (w) => w.op)];
  }

  async run(): Promise<number[]> {
    for (let step = 0; step < this.#steps.length; step++) {
      try {
        await this.#apply(step);
      } catch (err) {
        if (await this.#appliedAnyway(step, err)) continue;
        throw await this.#undo(err);
      }
    }
    const revisionOf = new Map<BatchWrite, number>();
    for (const a of this.#applied) for (const w of a.writes) revisionOf.set(w, a.revision);
    return this.#writes.map((w) => revisionOf.get(w)!);
  }

  async #apply(step: number): Promise<void> {
    const writes = this.#steps[step]!;
    const kind = step === 0 ? 'create' : step === this.#steps.length - 1 ? 'delete' : 'update';
    const revision = await this.#ds.txn([...writes.map((w) => w.op), markerOp(kind, this.#marker, step, this.#markerRevision, this.#steps.length)]);
    this.#applied.push({ writes, revision });
    this.#markerRevision = revision;
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
      marker = await this.#ds.get(this.#marker);
    } catch {
      this.#unknownStep = true; // still no answer: #undo reports what may be left
      return false;
    }
    const last = step === this.#steps.length - 1;
    const applied = last ? marker === undefined : marker !== undefined && markerStep(marker) === step;
    if (!applied) return false;
    const revision = marker?.modRevision ?? (await this.#lastRevision(step));
    this.#applied.push({ writes: this.#steps[step]!, revision });
    this.#markerRevision = revision;
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
    const inverse = this.#applied.slice().reverse().flatMap((a) => a.writes.map((w) => undoOp(w, a.revision)));
    const left: Leftover[] = [];
    for (const group of pack(inverse, this.#limits, (op) => op)) left.push(...(await this.#undoGroup(group)));
    const unanswered = this.#unknownStep;
    await this.#dropMarker();
    const undone = inverse.length - left.length;
    const base = cause instanceof Error ? cause.message : String(cause);
    const steps = `a batch of ${this.#writes.length} writes in ${this.#steps.length} transactions`;
    if (left.length === 0 && !unanswered) {
      const note = undone === 0 ? 'nothing was written' : `the ${undone} writes already made were undone`;
      if (!(cause instanceof MargayError)) return cause instanceof Error ? cause : new Error(base);
      return new MargayError(cause.code, `${base} (${steps}: ${note}; the datastore is as before)`, { cause });
    }
    const pending = unanswered ? `; transaction ${this.#applied.length + 1} got no answer and may have been applied` : '';
    return new MargayError(
      'MARGAY_ERR_BATCH_INCOMPLETE',
      `${base}; ${steps} could not be fully undone: ${undone} writes undone, ${left.length} left${describeLeft(left)}${pending}; batch marker ${this.#marker} (run the same command again once the datastore answers)`,
      { cause },
    );
  }

  /**
   * Applies one transaction of undo writes; when some fail their condition (another writer
   * changed the key since), leaves those and retries the rest. Returns the keys left.
   */
  async #undoGroup(initial: TxnOp[]): Promise<Leftover[]> {
    let ops = initial;
    const left: Leftover[] = [];
    let attempts = 0;
    while (ops.length > 0) {
      try {
        await this.#ds.txn(ops);
        return left;
      } catch (err) {
        const code = (err as MargayError).code as ErrorCode | undefined;
        if (code === 'MARGAY_ERR_CONFLICT' || code === 'MARGAY_ERR_NOT_FOUND' || code === 'MARGAY_ERR_ALREADY_EXISTS') {
          const settled = await this.#settled(ops).then((m) => m, () => undefined);
          if (settled && settled.size > 0) {
            for (const [op, state] of settled) if (state === 'stale') left.push({ key: op.key, reason: 'changed by another writer since; left as it is' });
            ops = ops.filter((op) => !settled.has(op));
            continue;
          }
        }
        if (uncertain(err) && ++attempts < UNDO_ATTEMPTS) continue;
        const reason = err instanceof Error ? err.message : String(err);
        return [...left, ...ops.map((op) => ({ key: op.key, reason: uncertain(err) ? 'the datastore did not answer' : reason }))];
      }
    }
    return left;
  }

  /**
   * The undo ops that can no longer run: `done` when the key already is as the undo would make it
   * (an earlier unanswered attempt was applied), `stale` when another writer changed it since.
   */
  async #settled(ops: readonly TxnOp[]): Promise<Map<TxnOp, 'done' | 'stale'>> {
    const settled = new Map<TxnOp, 'done' | 'stale'>();
    for (let i = 0; i < ops.length; i += MAX_READS) {
      const part = ops.slice(i, i + MAX_READS);
      const { results } = await this.#ds.getMany(part.map((op) => ({ key: op.key })));
      part.forEach((op, j) => {
        const kv = results[j]?.[0];
        if (!checkTxnOp(op, kv ? { modRevision: kv.modRevision } : undefined)) return;
        const done = op.op === 'delete' ? kv === undefined : kv?.value === op.value;
        settled.set(op, done ? 'done' : 'stale');
      });
    }
    return settled;
  }

  /** Removes the marker once the undo is over (it names an interrupted batch only while one is). */
  async #dropMarker(): Promise<void> {
    if (this.#applied.length === 0 || this.#applied.length === this.#steps.length) return;
    try {
      await this.#ds.delete(this.#marker, this.#markerRevision);
    } catch {
      // gone already, or no answer: the error names the marker
    }
  }
}

/** `: k1, k2 (why); k3 (why) and 2 more`, the first keys left grouped by reason. */
function describeLeft(left: readonly Leftover[]): string {
  if (left.length === 0) return '';
  const byReason = new Map<string, string[]>();
  for (const l of left.slice(0, LISTED_KEYS)) byReason.set(l.reason, [...(byReason.get(l.reason) ?? []), l.key]);
  const parts = [...byReason].map(([reason, keys]) => `${keys.join(', ')} (${reason})`);
  return `: ${parts.join('; ')}${left.length > LISTED_KEYS ? ` and ${left.length - LISTED_KEYS} more` : ''}`;
}

/** The marker's write in a step: created by the first, updated by the middle ones, deleted by the last. */
function markerOp(kind: 'create' | 'update' | 'delete', key: string, step: number, revision: number, steps = 0): TxnOp {
  if (kind === 'delete') return { op: 'delete', key, modRevision: revision };
  const value = JSON.stringify({ step, steps });
  return kind === 'create' ? { op: 'create', key, value } : { op: 'update', key, value, modRevision: revision };
}

function markerStep(kv: KVPair): number | undefined {
  try {
    return (JSON.parse(kv.value) as { step?: number }).step;
  } catch {
    return undefined;
  }
}

/** The write that undoes `w`, applied at `revision`, only if its key is still as `w` left it. */
function undoOp(w: BatchWrite, revision: number): TxnOp {
  switch (w.op.op) {
    case 'create':
      return { op: 'delete', key: w.op.key, modRevision: revision };
    case 'update':
      return { op: 'update', key: w.op.key, value: w.before!.value, modRevision: revision };
    default:
      return { op: 'create', key: w.op.key, value: w.before!.value };
  }
}

/** Greedy packing into transactions within the limits, keeping the order. */
function pack<T>(items: readonly T[], limits: TxnLimits, opOf: (item: T) => TxnOp): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = opRequestBytes(opOf(item));
    if (current.length > 0 && (current.length >= limits.maxOps || bytes + size > limits.maxBytes)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** True when a failed request may nevertheless have been applied (no answer came back). */
function uncertain(err: unknown): boolean {
  return !(err instanceof MargayError) || err.code === 'MARGAY_ERR_DATASTORE_UNAVAILABLE';
}

function rejected(message: string): MargayError {
  return new MargayError('MARGAY_ERR_DATASTORE_REJECTED', message);
}
