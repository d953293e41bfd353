/**
 * STATUS's second question: could an ADD get an address now? Answered from one IPAM snapshot and
 * the pools, the way the allocator would look: a free address in this node's blocks, a block it
 * may still claim, or (without strictAffinity) a free address in someone else's block.
 *
 * TODO(#5): move into src/ipam as `Ipam.canAssign()` once IPAM exposes it; the logic mirrors the
 * allocator's order and must stay in step with it.
 */
import type { ResourceStore } from '../datastore/resources.ts';
import { MargayError } from '../errors/mod.ts';
import { affineHost, freeCount } from '../ipam/block.ts';
import { blockLimit } from '../ipam/config.ts';
import { loadContext } from '../ipam/context.ts';
import { type Family, cidrContainsCidr, cidrSize } from '../ipam/net.ts';
import { reservedOrdinals, selectPools } from '../ipam/pools.ts';
import type { IpamSnapshot } from '../ipam/snapshot.ts';

/** What STATUS asks of IPAM. */
export interface AvailabilityRequest {
  node: string;
  families: Family[];
  pools4?: string[];
  pools6?: string[];
}

/** Undefined when every family can be served, else why not. */
export async function whyNoAddress(store: ResourceStore, snapshot: () => Promise<IpamSnapshot>, req: AvailabilityRequest): Promise<string | undefined> {
  const [ctx, snap] = await Promise.all([loadContext(store, req.node), snapshot()]);
  for (const family of req.families) {
    let pools;
    try {
      const requested = family === 4 ? req.pools4 : req.pools6;
      pools = selectPools(ctx.pools, { family, nodeLabels: ctx.nodeLabels, use: 'Workload', ...(requested ? { requested } : {}) });
    } catch (err) {
      if (err instanceof MargayError) return err.message;
      throw err;
    }
    const blocks = [...snap.blocks.values()].filter((b) => b.cidr.family === family && pools.some((p) => cidrContainsCidr(p.cidr, b.cidr)));
    const free = (b: (typeof blocks)[number]): boolean => freeCount(b.block, reservedOrdinals(ctx.reservations, b.cidr)) > 0;
    const mine = blocks.filter((b) => affineHost(b.block) === req.node);
    if (mine.some(free)) continue;
    if (ctx.config.autoAllocateBlocks && mine.length < blockLimit(ctx.config)) {
      const claimable = pools.some((p) => {
        const total = cidrSize(p.cidr) / cidrSize({ ...p.cidr, prefix: p.blockPrefix });
        return BigInt(blocks.filter((b) => cidrContainsCidr(p.cidr, b.cidr)).length) < total;
      });
      if (claimable) continue;
    }
    if (!ctx.config.strictAffinity && blocks.some(free)) continue;
    return `no free IPv${family} address for node "${req.node}" in pools ${pools.map((p) => p.name).join(', ')}`;
  }
  return undefined;
}
