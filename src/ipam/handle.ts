/**
 * The handle record, Calico's `model.IPAMHandle`: for one handle id, how many addresses it holds
 * in each block (`{"block":{"10.0.0.0/26":2},"deleted":false}`). It is the index that makes
 * release-by-handle cheap; Margay writes it in the same transaction as the blocks it counts.
 */

/** A decoded handle record. */
export interface HandleRecord {
  /** Block CIDR (`10.0.0.0/26`) → number of addresses the handle holds there. */
  block: Record<string, number>;
  deleted: boolean;
  /** Fields this version does not know, kept as they are. */
  extra: Record<string, unknown>;
}

/** Decodes a stored handle. @throws {SyntaxError|TypeError} when the text is not a handle. */
export function decodeHandle(text: string): HandleRecord {
  const raw = JSON.parse(text) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null) throw new TypeError('not an IPAM handle');
  const { block, deleted, ...extra } = raw;
  const counts: Record<string, number> = {};
  for (const [cidr, n] of Object.entries((block as Record<string, unknown> | null) ?? {})) {
    if (typeof n === 'number') counts[cidr] = n;
  }
  return { block: counts, deleted: deleted === true, extra };
}

/** Encodes a handle as Calico stores it. */
export function encodeHandle(record: HandleRecord): string {
  return JSON.stringify({ block: record.block, deleted: record.deleted, ...record.extra });
}

/** The total number of addresses a handle holds. */
export function handleTotal(record: HandleRecord): number {
  return Object.values(record.block).reduce((a, b) => a + b, 0);
}

/**
 * The record after adding `delta` addresses in `blockCidr` (negative to remove). A block whose
 * count reaches zero is dropped. `record` may be undefined (a new handle).
 */
export function adjustHandle(record: HandleRecord | undefined, blockCidr: string, delta: number): HandleRecord {
  const block = { ...(record?.block ?? {}) };
  const n = (block[blockCidr] ?? 0) + delta;
  if (n > 0) block[blockCidr] = n;
  else delete block[blockCidr];
  return { block, deleted: false, extra: { ...(record?.extra ?? {}) } };
}
