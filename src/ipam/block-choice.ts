/**
 * Which blocks an allocation turns to when the node's own blocks are full: a new block to claim
 * (an absent one, or an empty one another host left idle), or other hosts' blocks to borrow from.
 */
import { claimBlock, confirmAffinity, deleteEmptyUnaffineBlock, releaseBlockAffinity } from './affinity-ops.ts';
import { affineHost, freeCount, isEmptyBlock } from './block.ts';
import type { AllocContext } from './context.ts';
import { type Cidr, type Family, formatCidr } from '../net/mod.ts';
import { type PoolInfo, candidateBlocks, fnv32, poolOfBlock, reservedOrdinals, wholeBlockReserved } from './pools.ts';
import type { IpamRuntime, ListedBlock } from './runtime.ts';

/**
 * Finds a block to claim for `node`: the first absent block in the host's order through the
 * pools; failing that, an empty block another host claimed more than a minute ago (Calico's
 * EmptyBlockMinReclaimAge), taken over with a sequence-number guard. Returns the claimed CIDR.
 * A block of the node's own with room is returned as it is (its affinity confirmed), unless it is
 * in `options.passOver` (a claim ahead of need: the node's blocks it has, running low); with
 * `options.absentOnly` no other host's empty block is taken over (a claim ahead leaves that to an
 * allocation that needs the block: two hosts running low would otherwise pass a spare to and fro).
 */
export async function claimNewBlock(
  rt: IpamRuntime,
  node: string,
  family: Family,
  pools: PoolInfo[],
  ctx: AllocContext,
  options: { passOver?: readonly Cidr[]; absentOnly?: boolean } = {},
): Promise<Cidr | undefined> {
  const existing = await rt.listBlocks(family);
  const passOver = new Set((options.passOver ?? []).map(formatCidr));
  const deps = rt.affinityDeps();
  const empties: ListedBlock[] = [];
  for (const pool of pools) {
    for (const cidr of candidateBlocks(pool, node, existing.size + 1025)) {
      if (wholeBlockReserved(ctx.reservations, cidr)) continue;
      const key = formatCidr(cidr);
      const e = existing.get(key);
      if (!e) {
        const outcome = await claimBlock(deps, node, cidr);
        rt.writer(cidr).invalidate();
        if (outcome !== 'taken') return cidr;
        continue;
      }
      const free = freeCount(e.block, reservedOrdinals(ctx.reservations, cidr));
      if (affineHost(e.block) === node && free > 0 && !passOver.has(key)) {
        await confirmAffinity(deps, node, cidr); // ours, but the affinity record was missing or unconfirmed
        return cidr;
      }
      if (isEmptyBlock(e.block) && free > 0) empties.push(e);
    }
  }
  if (options.absentOnly) return undefined;
  const nowMs = rt.now().getTime();
  for (const e of empties) {
    const claimedAt = e.block.affinity_claim_time ? Date.parse(e.block.affinity_claim_time) : Number.NaN;
    if (!Number.isNaN(claimedAt) && nowMs - claimedAt < 60_000) continue;
    const owner = affineHost(e.block);
    const freed = owner === undefined
      ? e.block.affinity === null && (await deleteEmptyUnaffineBlock(deps, e.cidr, e.modRevision))
      : (await releaseBlockAffinity(deps, { node: owner, cidr: e.cidr, requireEmpty: true, requiredSequenceNumber: e.block.sequenceNumber })) === 'released';
    rt.writer(e.cidr).invalidate();
    if (!freed) continue;
    if ((await claimBlock(deps, node, e.cidr)) !== 'taken') return e.cidr;
  }
  return undefined;
}

/** Other hosts' blocks with free addresses in the given pools, in an order spread by host name. */
export async function borrowable(rt: IpamRuntime, node: string, family: Family, pools: PoolInfo[], ctx: AllocContext): Promise<Cidr[]> {
  const existing = [...(await rt.listBlocks(family)).values()].filter(
    (e) => affineHost(e.block) !== node && poolOfBlock(pools, e.cidr) !== undefined && freeCount(e.block, reservedOrdinals(ctx.reservations, e.cidr)) > 0,
  );
  if (existing.length === 0) return [];
  const start = fnv32(node) % existing.length;
  return [...existing.slice(start), ...existing.slice(0, start)].map((e) => e.cidr);
}
