/**
 * The conditions of transaction operations, shared by both backends so that they fail the same
 * way: which op fails, with which code and message.
 */
import { MargayError } from '../errors/mod.ts';
import type { ReadRequest, TxnLimits, TxnOp } from './datastore.ts';

/** Most reads one getMany takes: what etcd takes in one transaction by default (--max-txn-ops). */
export const MAX_READS = 128;

/** etcd's default limits: `--max-txn-ops` 128 and `--max-request-bytes` 1.5 MiB. */
export const ETCD_DEFAULT_LIMITS: Readonly<TxnLimits> = Object.freeze({ maxOps: 128, maxBytes: 1536 * 1024 });

/** Room left in a request for the protobuf framing of every op (tags, lengths, compare fields). */
const OP_OVERHEAD_BYTES = 64;

/**
 * An upper estimate of the size of the etcd request that carries `ops`: each key appears up to
 * three times (the write, its compare, the failure branch's read) plus the value and framing.
 */
export function txnRequestBytes(ops: readonly TxnOp[]): number {
  let total = 0;
  for (const op of ops) total += opRequestBytes(op);
  return total;
}

/** The share of one op in {@link txnRequestBytes}. */
export function opRequestBytes(op: TxnOp): number {
  const key = Buffer.byteLength(op.key);
  return 3 * key + (op.op === 'delete' ? 0 : Buffer.byteLength(op.value)) + OP_OVERHEAD_BYTES;
}

/** Refuses a transaction beyond the limits before anything is sent. */
export function checkTxnLimits(ops: readonly TxnOp[], limits: TxnLimits): void {
  if (ops.length > limits.maxOps) {
    throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `${ops.length} operations in one transaction; the datastore takes at most ${limits.maxOps} (etcd --max-txn-ops)`);
  }
  const bytes = txnRequestBytes(ops);
  if (bytes > limits.maxBytes) {
    throw new MargayError('MARGAY_ERR_DATASTORE_REJECTED', `a transaction of about ${bytes} bytes; the datastore takes at most ${limits.maxBytes} (etcd --max-request-bytes)`);
  }
}

/** What a condition needs to know about a key's current state; undefined when absent. */
export interface KeyState {
  modRevision: number;
}

/** Rejects malformed transactions before anything is sent (too large, empty keys, one key named twice). */
export function validateTxnOps(ops: readonly TxnOp[], limits: TxnLimits = ETCD_DEFAULT_LIMITS): void {
  checkTxnLimits(ops, limits);
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
