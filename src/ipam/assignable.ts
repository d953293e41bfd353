/**
 * Could the allocator assign an address now? Judged from one listing of a family's blocks the way
 * {@link import('./ipam.ts').Ipam.autoAssign} looks for one, in its order: a free address in the
 * node's own blocks, a block it may still claim, or (without strictAffinity) a free address in
 * another host's block. CNI STATUS asks this through `Ipam.canAssign`.
 */
import { affineHost, freeCount, type AllocationBlock } from './block.ts';
import { blockLimit } from './config.ts';
import type { AllocContext } from './context.ts';
import { type Cidr, cidrContainsCidr, cidrSize, type Family } from '../net/mod.ts';
import { type PoolInfo, reservedOrdinals } from './pools.ts';

/** One listed block. */
export interface ListedBlock {
  cidr: Cidr;
  block: AllocationBlock;
}

/**
 * Why `node` could not get an address of `family` from `pools` (the pools selected for the
 * request), or undefined when it could.
 */
export function whyNotAssignable(ctx: AllocContext, pools: PoolInfo[], blocks: Iterable<ListedBlock>, node: string, family: Family): string | undefined {
  const inPools = [...blocks].filter((b) => b.cidr.family === family && pools.some((p) => cidrContainsCidr(p.cidr, b.cidr)));
  const free = (b: ListedBlock): boolean => freeCount(b.block, reservedOrdinals(ctx.reservations, b.cidr)) > 0;
  const mine = inPools.filter((b) => affineHost(b.block) === node);
  if (mine.some(free)) return undefined;
  if (ctx.config.autoAllocateBlocks && mine.length < blockLimit(ctx.config)) {
    const claimable = pools.some((p) => {
      const total = cidrSize(p.cidr) / cidrSize({ ...p.cidr, prefix: p.blockPrefix });
      return BigInt(inPools.filter((b) => cidrContainsCidr(p.cidr, b.cidr)).length) < total;
    });
    if (claimable) return undefined;
  }
  if (!ctx.config.strictAffinity && inPools.some(free)) return undefined;
  return `no free IPv${family} address for node "${node}" in pools ${pools.map((p) => p.name).join(', ')}`;
}
