/**
 * `margay ipam show`: how full each pool and block is. Pure. Reserved addresses (IPReservation)
 * count as neither in use nor free, as in Calico's GetUtilization.
 */
import { affineHost, allocatedCount } from './block.ts';
import { type Cidr, cidrLast, cidrSize, cidrsOverlap, formatCidr, parseCidr } from '../net/mod.ts';
import { reservedOrdinals, type PoolInfo, type Reservation } from './pools.ts';
import type { IpamSnapshot } from './snapshot.ts';

/** One row of the utilisation table. */
export interface UsageRow {
  cidr: string;
  total: bigint;
  inUse: bigint;
  free: bigint;
  reserved: bigint;
}

/** A pool's row and its blocks' rows. */
export interface PoolUsage extends UsageRow {
  name: string;
  blocks: (UsageRow & { node: string | undefined })[];
}

/** Utilisation of every pool, and blocks that lie in no pool. */
export interface Usage {
  pools: PoolUsage[];
  /** Blocks outside every pool (their pool was deleted). */
  strayBlocks: (UsageRow & { node: string | undefined })[];
}

/** The number of addresses of `within` that the reservations cover (overlaps counted once). */
export function reservedCount(reservations: Reservation[], within: Cidr): bigint {
  const lo = within.base;
  const hi = cidrLast(within);
  const ranges = reservations
    .filter((r) => cidrsOverlap(r.cidr, within))
    .map((r) => [r.cidr.base < lo ? lo : r.cidr.base, cidrLast(r.cidr) > hi ? hi : cidrLast(r.cidr)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let total = 0n;
  let curLo: bigint | undefined;
  let curHi = 0n;
  for (const [a, b] of ranges) {
    if (curLo === undefined) {
      curLo = a;
      curHi = b;
    } else if (a <= curHi + 1n) {
      if (b > curHi) curHi = b;
    } else {
      total += curHi - curLo + 1n;
      curLo = a;
      curHi = b;
    }
  }
  if (curLo !== undefined) total += curHi - curLo + 1n;
  return total;
}

function byAddress(a: { cidr: string }, b: { cidr: string }): number {
  const x = parseCidr(a.cidr)!;
  const y = parseCidr(b.cidr)!;
  return x.family - y.family || (x.base < y.base ? -1 : x.base > y.base ? 1 : 0);
}

/** Computes the table. */
export function computeUsage(snapshot: IpamSnapshot, pools: PoolInfo[], reservations: Reservation[]): Usage {
  const usage: Usage = { pools: [], strayBlocks: [] };
  const placed = new Set<string>();
  const sortedPools = [...pools].sort((a, b) => (a.cidr.family - b.cidr.family) || (a.cidr.base < b.cidr.base ? -1 : 1));
  for (const pool of sortedPools) {
    const row: PoolUsage = { name: pool.name, cidr: formatCidr(pool.cidr), total: cidrSize(pool.cidr), inUse: 0n, free: 0n, reserved: 0n, blocks: [] };
    let reservedInUse = 0n;
    for (const [cidr, entry] of snapshot.blocks) {
      if (!cidrsOverlap(pool.cidr, entry.cidr) || placed.has(cidr)) continue;
      placed.add(cidr);
      const used = BigInt(allocatedCount(entry.block));
      const isReserved = reservedOrdinals(reservations, entry.cidr);
      let usedReserved = 0n;
      entry.block.allocations.forEach((a, o) => {
        if (a !== null && isReserved(o)) usedReserved++;
      });
      const blockReserved = reservedCount(reservations, entry.cidr) - usedReserved;
      reservedInUse += usedReserved;
      row.inUse += used;
      row.blocks.push({ cidr, node: affineHost(entry.block), total: cidrSize(entry.cidr), inUse: used, reserved: blockReserved, free: cidrSize(entry.cidr) - used - blockReserved });
    }
    row.reserved = reservedCount(reservations, pool.cidr) - reservedInUse;
    row.free = row.total - row.inUse - row.reserved;
    row.blocks.sort(byAddress);
    usage.pools.push(row);
  }
  for (const [cidr, entry] of snapshot.blocks) {
    if (placed.has(cidr)) continue;
    const used = BigInt(allocatedCount(entry.block));
    usage.strayBlocks.push({ cidr, node: affineHost(entry.block), total: cidrSize(entry.cidr), inUse: used, reserved: 0n, free: cidrSize(entry.cidr) - used });
  }
  usage.strayBlocks.sort(byAddress);
  return usage;
}
