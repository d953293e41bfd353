/**
 * Claiming and giving up blocks: the affinity protocol.
 *
 * Claim (two phases, as Calico):
 *   1. write `/calico/ipam/v2/host/<node>/ipvN/block/<cidr>` = pending (create; or, when an
 *      unconfirmed record is already there, take it over by compare-and-swap);
 *   2. in ONE transaction: create the block (affinity `host:<node>`) and turn the affinity we hold
 *      (at the revision we hold it) to confirmed.
 * A crash after 1 leaves only a pending affinity, which no reader treats as ownership; the same
 * host revisits the same block first next time (its block order starts from a hash of its name)
 * and completes the claim, and the controllers delete pending affinities that stay stale. A crash
 * during 2 leaves nothing or everything. When another host created the block first, the loser
 * deletes its pending affinity (compare-and-delete) and tries another block.
 *
 * Release: in ONE transaction, delete the block when empty (or, when not, drop its affinity) and
 * delete the affinity record, both at the revisions read. There is no half-released state.
 */
import type { Datastore, KVPair, TxnOp } from '../datastore/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { decodeAffinity, encodeAffinity, type AffinityRecord } from './affinity.ts';
import { affineHost, cloneBlock, decodeBlock, encodeBlock, hostAffinity, isEmptyBlock, newBlock } from './block.ts';
import { affinityKey, blockKey } from './keys.ts';
import { type Cidr, formatCidr } from '../net/mod.ts';
import { isCasFailure, unlessLostRace, wonRace } from './retry.ts';

/** What the protocol needs: the datastore, the time, retries. */
export interface AffinityDeps {
  datastore: Datastore;
  /** Wall-clock time, for the claim time and the block's first sequence number. */
  now(): Date;
  maxRetries: number;
  backoff(attempt: number): Promise<void>;
}

/** How a claim ended: a new block, a block the host already had, or another host's block. */
export type ClaimOutcome = 'claimed' | 'ours' | 'taken';

function readAffinity(kv: KVPair | undefined): AffinityRecord | undefined {
  if (!kv) return undefined;
  try {
    const rec = decodeAffinity(kv.value);
    return rec.deleted ? undefined : rec;
  } catch {
    return undefined;
  }
}

function gaveUp(what: string, deps: AffinityDeps, cause: unknown): MargayError {
  return new MargayError('MARGAY_ERR_CONFLICT', `gave up ${what} after ${deps.maxRetries} conflicting writes (maxRetries)`, { cause });
}

/** Phase 1: holds a pending (or already confirmed) affinity record; returns it as stored. */
async function holdAffinity(deps: AffinityDeps, key: string): Promise<KVPair | undefined> {
  const ds = deps.datastore;
  const current = await ds.get(key);
  const rec = readAffinity(current);
  if (!current) return unlessLostRace(() => ds.create(key, encodeAffinity('pending')));
  if (rec?.state === 'confirmed' || rec?.state === 'pending') return current;
  return unlessLostRace(() => ds.update(key, encodeAffinity('pending'), current.modRevision));
}

/** Makes sure the host's affinity to a block it owns is recorded as confirmed. */
export async function confirmAffinity(deps: AffinityDeps, node: string, cidr: Cidr): Promise<void> {
  const ds = deps.datastore;
  const key = affinityKey(node, cidr);
  for (let attempt = 0; ; attempt++) {
    const kv = await ds.get(key);
    if (readAffinity(kv)?.state === 'confirmed') return;
    try {
      if (kv) await ds.update(key, encodeAffinity('confirmed'), kv.modRevision);
      else await ds.create(key, encodeAffinity('confirmed'));
      return;
    } catch (err) {
      if (!isCasFailure(err)) throw err;
      if (attempt >= deps.maxRetries) throw gaveUp(`confirming the affinity of ${node} to ${formatCidr(cidr)}`, deps, err);
      await deps.backoff(attempt);
    }
  }
}

/**
 * Claims a block for a host (two phases). `taken` when another host owns it (or it exists with no
 * affinity): the caller tries another block.
 */
export async function claimBlock(deps: AffinityDeps, node: string, cidr: Cidr): Promise<ClaimOutcome> {
  const ds = deps.datastore;
  const aKey = affinityKey(node, cidr);
  const bKey = blockKey(cidr);
  for (let attempt = 0; ; attempt++) {
    const held = await holdAffinity(deps, aKey);
    if (held) {
      const now = deps.now();
      const block = newBlock(cidr, {
        affinity: hostAffinity(node),
        claimTime: now.toISOString(),
        sequenceNumber: BigInt(now.getTime()) * 1_000_000n,
      });
      try {
        await ds.txn([
          { op: 'create', key: bKey, value: encodeBlock(block) },
          { op: 'update', key: aKey, value: encodeAffinity('confirmed'), modRevision: held.modRevision },
        ]);
        return 'claimed';
      } catch (err) {
        if (!isCasFailure(err)) throw err;
      }
      const existing = await ds.get(bKey);
      if (existing) {
        let owner: string | undefined;
        let deleted = false;
        try {
          const b = decodeBlock(existing.value);
          owner = affineHost(b);
          deleted = b.deleted;
        } catch {
          owner = undefined;
        }
        if (owner === node && !deleted) {
          await confirmAffinity(deps, node, cidr);
          return 'ours';
        }
        // Someone else's block: withdraw our claim, unless it changed meanwhile.
        const mine = await ds.get(aKey);
        if (mine && readAffinity(mine)?.state !== 'confirmed') {
          try {
            await ds.delete(aKey, mine.modRevision);
          } catch (err) {
            if (!isCasFailure(err)) throw err;
          }
        }
        return 'taken';
      }
      // The block is still absent: our affinity record changed under us. Start again.
    }
    if (attempt >= deps.maxRetries) throw gaveUp(`claiming block ${formatCidr(cidr)} for ${node}`, deps, undefined);
    await deps.backoff(attempt);
  }
}

/** Options of {@link releaseBlockAffinity}. */
export interface ReleaseAffinityOptions {
  node: string;
  cidr: Cidr;
  /** Refuse when the block still has allocations. */
  requireEmpty?: boolean;
  /** Refuse when the block's sequence number is no longer this one (it was written since it was read). */
  requiredSequenceNumber?: bigint;
}

/** How releasing an affinity ended. */
export type AffinityReleaseOutcome = 'released' | 'not-empty' | 'changed' | 'not-affine' | 'absent';

/**
 * Gives up a host's affinity to a block, atomically: an empty block is deleted with the affinity;
 * a block still in use keeps its allocations and loses its affinity. A stale affinity record (the
 * block is gone or belongs to another host) is deleted.
 */
export async function releaseBlockAffinity(deps: AffinityDeps, options: ReleaseAffinityOptions): Promise<AffinityReleaseOutcome> {
  const ds = deps.datastore;
  const aKey = affinityKey(options.node, options.cidr);
  const bKey = blockKey(options.cidr);
  for (let attempt = 0; ; attempt++) {
    const [aff, bkv] = await Promise.all([ds.get(aKey), ds.get(bKey)]);
    const ops: TxnOp[] = [];
    let outcome: AffinityReleaseOutcome = 'released';
    if (!bkv) {
      if (!aff) return 'absent';
      outcome = 'absent';
    } else {
      const block = decodeBlock(bkv.value);
      if (options.requiredSequenceNumber !== undefined && block.sequenceNumber !== options.requiredSequenceNumber) return 'changed';
      if (affineHost(block) !== options.node) {
        if (!aff) return 'not-affine';
        outcome = 'not-affine';
      } else {
        if (options.requireEmpty && !isEmptyBlock(block)) return 'not-empty';
        if (isEmptyBlock(block)) {
          ops.push({ op: 'delete', key: bKey, modRevision: bkv.modRevision });
        } else {
          const next = cloneBlock(block);
          next.affinity = null;
          delete next.affinity_claim_time;
          next.sequenceNumber += 1n;
          ops.push({ op: 'update', key: bKey, value: encodeBlock(next), modRevision: bkv.modRevision });
        }
      }
    }
    if (aff) ops.push({ op: 'delete', key: aKey, modRevision: aff.modRevision });
    try {
      await ds.txn(ops);
      return outcome;
    } catch (err) {
      if (!isCasFailure(err)) throw err;
      if (attempt >= deps.maxRetries) throw gaveUp(`releasing the affinity of ${options.node} to ${formatCidr(options.cidr)}`, deps, err);
      await deps.backoff(attempt);
    }
  }
}

/**
 * Deletes an affinity record only if it is still exactly as read (revision `modRevision`).
 * Returns false when it changed or vanished meanwhile.
 */
export async function deleteAffinityIfUnchanged(deps: AffinityDeps, node: string, cidr: Cidr, modRevision: number): Promise<boolean> {
  return wonRace(() => deps.datastore.delete(affinityKey(node, cidr), modRevision));
}

/**
 * Deletes a block with no affinity and no allocations, only if it is unchanged since read (so
 * that a host may claim its range afresh).
 */
export async function deleteEmptyUnaffineBlock(deps: AffinityDeps, cidr: Cidr, modRevision: number): Promise<boolean> {
  return wonRace(() => deps.datastore.delete(blockKey(cidr), modRevision));
}
