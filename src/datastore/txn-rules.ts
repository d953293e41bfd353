/**
 * The conditions of transaction operations, shared by both backends so that they fail the same
 * way: which op fails, with which code and message.
 */
import { MargayError } from '../errors/mod.ts';
import type { ReadRequest, TxnOp } from './datastore.ts';

/** Most reads one getMany takes: what etcd takes in one transaction by default (--max-txn-ops). */
export const MAX_READS = 128;

/** What a condition needs to know about a key's current state; undefined when absent. */
export interface KeyState {
  modRevision: number;
}

/** Rejects malformed transactions before anything is sent (empty keys, one key named twice). */
export function validateTxnOps(ops: readonly TxnOp[]): void {
  const seen = new Set<string>();
  for (const op of ops) {
    if (op.key === '') throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', 'a datastore key cannot be empty');
    if (seen.has(op.key)) {
      throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `transaction names key ${op.key} more than once`);
    }
    seen.add(op.key);
  }
}

/** Rejects a malformed getMany before anything is sent: too many reads, an empty key. */
export function validateReads(reads: readonly ReadRequest[]): void {
  if (reads.length > MAX_READS) throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `${reads.length} reads in one getMany; at most ${MAX_READS}`);
  if (reads.some((r) => 'key' in r && r.key === '')) throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', 'a datastore key cannot be empty');
}

/** True when the op carries a condition on the key's current state (everything but `put`). */
export function hasCondition(op: TxnOp): boolean {
  return op.op !== 'put';
}

/**
 * The error an op's condition raises against the key's current state, or undefined when it holds:
 * `create` needs the key absent, `update` needs it present at `modRevision`, `delete` needs it
 * present (at `modRevision` when given), `put` has no condition.
 */
export function checkTxnOp(op: TxnOp, current: KeyState | undefined): MargayError | undefined {
  switch (op.op) {
    case 'put':
      return undefined;
    case 'create':
      return current ? alreadyExists(op.key) : undefined;
    case 'update':
      if (!current) return notFound(op.key);
      return current.modRevision === op.modRevision ? undefined : conflict(op.key, op.modRevision, current.modRevision);
    case 'delete':
      if (!current) return notFound(op.key);
      if (op.modRevision === undefined || current.modRevision === op.modRevision) return undefined;
      return conflict(op.key, op.modRevision, current.modRevision);
  }
}

export function notFound(key: string): MargayError {
  return new MargayError('MARGAY_ERR_NOT_FOUND', `key ${key} does not exist`);
}

export function alreadyExists(key: string): MargayError {
  return new MargayError('MARGAY_ERR_ALREADY_EXISTS', `key ${key} already exists`);
}

export function conflict(key: string, expected: number, found: number): MargayError {
  return new MargayError(
    'MARGAY_ERR_CONFLICT',
    `key ${key} changed: expected revision ${expected}, found revision ${found}`,
  );
}
