/**
 * Undoing the transactions a batch already applied (datastore/batch.ts): by the writer itself when
 * a later transaction fails, or by any later command from the undo records a killed writer left
 * (datastore/batch-recovery.ts). Every undo write is a compare-and-swap on the revision the batch
 * wrote, so that two undoers, or an undoer and another writer, never overwrite each other.
 */
import { MargayError, type ErrorCode } from '../errors/mod.ts';
import type { Datastore, TxnLimits, TxnOp } from './datastore.ts';
import { checkTxnOp, MAX_READS, opRequestBytes } from './txn-rules.ts';

/** Attempts of one undo transaction while the datastore does not answer. */
const UNDO_ATTEMPTS = 3;

/** How many keys an error message lists before it says "and N more". */
const LISTED_KEYS = 5;

/** One applied write as an undo sees it: the key, what the batch did, the pre-image, the revision it wrote at. */
export interface UndoEntry {
  key: string;
  op: 'create' | 'update' | 'delete';
  /** The value before the batch (updates and deletes). */
  before?: string;
  /** The revision of the transaction that made the write. */
  revision: number;
}

/** A key an undo could not restore, and why. */
export interface Leftover {
  key: string;
  reason: string;
  /** True when the datastore did not answer (a later undo can still do it). */
  unanswered: boolean;
}

/** The write that undoes `e`, only if its key is still as the batch left it. */
export function undoOp(e: UndoEntry): TxnOp {
  switch (e.op) {
    case 'create':
      return { op: 'delete', key: e.key, modRevision: e.revision };
    case 'update':
      return { op: 'update', key: e.key, value: e.before!, modRevision: e.revision };
    default:
      return { op: 'create', key: e.key, value: e.before! };
  }
}

/**
 * Applies the undo of `entries` (given newest first) in transactions within `limits`. A key
 * another writer changed since is left as it is; a key already restored (by an earlier,
 * unanswered attempt or by another undoer) counts as done. Returns the keys left.
 */
export async function undoEntries(ds: Datastore, entries: readonly UndoEntry[], limits: TxnLimits): Promise<Leftover[]> {
  const left: Leftover[] = [];
  for (const group of pack(entries.map(undoOp), limits, (op) => op)) left.push(...(await undoGroup(ds, group)));
  return left;
}

/** One transaction of undo writes; on a failed condition, settles those ops and retries the rest. */
async function undoGroup(ds: Datastore, initial: TxnOp[]): Promise<Leftover[]> {
  let ops = initial;
  const left: Leftover[] = [];
  let attempts = 0;
  while (ops.length > 0) {
    try {
      await ds.txn(ops);
      return left;
    } catch (err) {
      const code = (err as MargayError).code as ErrorCode | undefined;
      if (code === 'MARGAY_ERR_CONFLICT' || code === 'MARGAY_ERR_NOT_FOUND' || code === 'MARGAY_ERR_ALREADY_EXISTS') {
        const found = await settled(ds, ops).then((m) => m, () => undefined);
        if (found && found.size > 0) {
          for (const [op, state] of found) if (state === 'stale') left.push({ key: op.key, reason: 'changed by another writer since; left as it is', unanswered: false });
          ops = ops.filter((op) => !found.has(op));
          continue;
        }
      }
      if (uncertain(err) && ++attempts < UNDO_ATTEMPTS) continue;
      const reason = uncertain(err) ? 'the datastore did not answer' : err instanceof Error ? err.message : String(err);
      return [...left, ...ops.map((op) => ({ key: op.key, reason, unanswered: uncertain(err) }))];
    }
  }
  return left;
}

/**
 * The undo ops that can no longer run: `done` when the key already is as the undo would make it,
 * `stale` when another writer changed it since.
 */
async function settled(ds: Datastore, ops: readonly TxnOp[]): Promise<Map<TxnOp, 'done' | 'stale'>> {
  const out = new Map<TxnOp, 'done' | 'stale'>();
  for (let i = 0; i < ops.length; i += MAX_READS) {
    const part = ops.slice(i, i + MAX_READS);
    const { results } = await ds.getMany(part.map((op) => ({ key: op.key })));
    part.forEach((op, j) => {
      const kv = results[j]?.[0];
      if (!checkTxnOp(op, kv ? { modRevision: kv.modRevision } : undefined)) return;
      const done = op.op === 'delete' ? kv === undefined : kv?.value === op.value;
      out.set(op, done ? 'done' : 'stale');
    });
  }
  return out;
}

/** `: k1, k2 (why); k3 (why) and 2 more`, the first keys left grouped by reason. */
export function describeLeft(left: readonly Leftover[]): string {
  if (left.length === 0) return '';
  const byReason = new Map<string, string[]>();
  for (const l of left.slice(0, LISTED_KEYS)) byReason.set(l.reason, [...(byReason.get(l.reason) ?? []), l.key]);
  const parts = [...byReason].map(([reason, keys]) => `${keys.join(', ')} (${reason})`);
  return `: ${parts.join('; ')}${left.length > LISTED_KEYS ? ` and ${left.length - LISTED_KEYS} more` : ''}`;
}

/** Greedy packing into transactions within the limits, keeping the order; `size` defaults to the op's request bytes. */
export function pack<T>(items: readonly T[], limits: TxnLimits, opOf: (item: T) => TxnOp, size: (item: T) => number = (i) => opRequestBytes(opOf(i))): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const n = size(item);
    if (current.length > 0 && (current.length >= limits.maxOps || bytes + n > limits.maxBytes)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += n;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** True when a failed request may nevertheless have been applied (no answer came back). */
export function uncertain(err: unknown): boolean {
  return !(err instanceof MargayError) || err.code === 'MARGAY_ERR_DATASTORE_UNAVAILABLE';
}
