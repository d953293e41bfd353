/**
 * What routing needs to know of an IPAM block (pure): its CIDR, the host it is affine to, and
 * which of its addresses workloads of other hosts use (borrowed addresses, announced or routed as
 * /32 or /128 towards the host that uses them). BGP (what to announce) and the VXLAN resolver
 * (where to route) read blocks through this one function.
 */
import { affineHost, type AllocationBlock, attributeOf, decodeBlock, isCoolingDown } from './block.ts';
import { formatCidr, formatIp, nthIp, parseCidr } from '../net/mod.ts';

/** One IPAM block as routing sees it. */
export interface BlockRouting {
  /** Normalised CIDR (`10.244.1.0/26`). */
  cidr: string;
  family: 4 | 6;
  /** The host it is affine to (`host:<name>` affinity), if any. */
  host?: string;
  /** Addresses in use by workloads of hosts other than `host`: node → addresses. */
  borrowedBy: Map<string, string[]>;
}

/**
 * Reads a stored block (its JSON text, or the value parsed from it). Undefined for a deleted
 * block, or a value that is not a block.
 */
export function blockRouting(value: unknown): BlockRouting | undefined {
  if (value === undefined || value === null) return undefined;
  let block: AllocationBlock;
  try {
    block = decodeBlock(typeof value === 'string' ? value : JSON.stringify(value));
  } catch {
    return undefined;
  }
  const cidr = parseCidr(block.cidr);
  if (block.deleted || cidr === undefined) return undefined;
  const host = affineHost(block);
  const borrowedBy = new Map<string, string[]>();
  block.allocations.forEach((a, ordinal) => {
    if (a === null) return;
    const attr = attributeOf(block, ordinal);
    if (!attr || isCoolingDown(attr) || !attr.handle_id) return;
    const node = attr.secondary?.node;
    if (!node || node === host) return;
    const list = borrowedBy.get(node) ?? [];
    list.push(formatIp(nthIp(cidr, ordinal)));
    borrowedBy.set(node, list);
  });
  return { cidr: formatCidr(cidr), family: cidr.family, ...(host !== undefined ? { host } : {}), borrowedBy };
}
