/**
 * `margay ipam check`: every inconsistency of an IPAM snapshot against pools, nodes and
 * workloads. Pure. Problems make the check fail; warnings are worth knowing but legitimate.
 *
 * Problems:
 *   unreadable             a key under /calico/ipam/v2/ that is not valid JSON of its kind
 *   corrupt-block          a block whose allocations/unallocated/attributes disagree
 *   leaked-address         an allocation nobody uses (see ownership.ts), or whose node is gone
 *   orphaned-handle        a handle record with no address in any block
 *   handle-mismatch        a handle's count for a block differs from the block's allocations
 *                          (including allocations whose handle has no record)
 *   block-without-affinity a block claiming a host with no confirmed affinity record, or an
 *                          empty block with no affinity
 *   stale-affinity         an affinity record still pending or pendingDeletion, one whose block
 *                          is missing or belongs to another host, or one of a node that is gone
 *   duplicate-address      an address in two blocks (overlapping blocks), or listed by two
 *                          workload endpoints
 *   missing-allocation     a workload endpoint's address inside a pool that IPAM has not allocated
 * Warnings:
 *   unaffine-block         a block with allocations and no affinity (left after its host went away)
 *   block-outside-pools    a block in no current pool (its pool was deleted)
 */
import { blockProblems, handleCounts, isEmptyBlock, affineHost, attributeOf } from './block.ts';
import { handleTotal } from './handle.ts';
import { type Cidr, cidrLast, formatCidr, formatIp, nthIp, ordinalOf, parseIp } from '../net/mod.ts';
import { allocationsOf, indexWorkloads, judgeAllocation, type WorkloadRef } from './ownership.ts';
import { poolOf, poolOfBlock, type PoolInfo } from './pools.ts';
import type { IpamSnapshot } from './snapshot.ts';

/** The kinds of problem `ipam check` reports. */
export type ProblemKind =
  | 'unreadable'
  | 'corrupt-block'
  | 'leaked-address'
  | 'orphaned-handle'
  | 'handle-mismatch'
  | 'block-without-affinity'
  | 'stale-affinity'
  | 'duplicate-address'
  | 'missing-allocation'
  | 'unaffine-block'
  | 'block-outside-pools';

/** One finding. */
export interface Finding {
  kind: ProblemKind;
  message: string;
}

/** What the check read and found. */
export interface CheckReport {
  revision: number;
  blocks: number;
  affinities: number;
  handles: number;
  allocations: number;
  inUse: number;
  tunnel: number;
  cooling: number;
  assumedValid: number;
  problems: Finding[];
  warnings: Finding[];
}

/** The inputs of a check. */
export interface CheckInput {
  snapshot: IpamSnapshot;
  pools: PoolInfo[];
  nodes: ReadonlySet<string>;
  workloads: WorkloadRef[];
}

/** Runs every check. */
export function checkIpam(input: CheckInput): CheckReport {
  const { snapshot, pools, nodes } = input;
  const problems: Finding[] = [];
  const warnings: Finding[] = [];
  const add = (kind: ProblemKind, message: string): void => {
    (kind === 'unaffine-block' || kind === 'block-outside-pools' ? warnings : problems).push({ kind, message });
  };
  const report: CheckReport = {
    revision: snapshot.revision,
    blocks: snapshot.blocks.size,
    affinities: snapshot.affinities.length,
    handles: snapshot.handles.size,
    allocations: 0,
    inUse: 0,
    tunnel: 0,
    cooling: 0,
    assumedValid: 0,
    problems,
    warnings,
  };
  for (const u of snapshot.unreadable) add('unreadable', `${u.key}: ${u.reason}`);

  const workloads = indexWorkloads(input.workloads);
  const confirmed = new Map<string, string[]>(); // block → nodes with a confirmed affinity
  for (const a of snapshot.affinities) {
    const cidr = formatCidr(a.cidr);
    if (a.state === 'confirmed') confirmed.set(cidr, [...(confirmed.get(cidr) ?? []), a.node]);
  }

  // Blocks: structure, affinity, pool, allocations.
  const actualHandles = new Map<string, Map<string, number>>(); // handle → block → count
  for (const [cidr, entry] of snapshot.blocks) {
    const b = entry.block;
    for (const p of blockProblems(b, entry.cidr)) add('corrupt-block', `block ${cidr}: ${p}`);
    const host = affineHost(b);
    if (host !== undefined && !(confirmed.get(cidr) ?? []).includes(host)) {
      add('block-without-affinity', `block ${cidr} is affine to ${host}, but ${host} has no confirmed affinity record for it`);
    } else if (b.affinity === null) {
      if (isEmptyBlock(b)) add('block-without-affinity', `block ${cidr} has no affinity and no allocations`);
      else add('unaffine-block', `block ${cidr} has no affinity but still holds addresses`);
    }
    if (!poolOfBlock(pools, entry.cidr)) add('block-outside-pools', `block ${cidr} is in no IP pool`);
    for (const [h, n] of handleCounts(b)) {
      const m = actualHandles.get(h) ?? new Map<string, number>();
      m.set(cidr, n);
      actualHandles.set(h, m);
    }
    for (const a of allocationsOf(entry)) {
      if (attributeOf(b, a.ordinal) === undefined) continue;
      report.allocations++;
      const v = judgeAllocation(a, workloads, nodes);
      const who = `${a.address} (block ${cidr}, handle ${a.handle ?? '-'}${a.attrs.namespace ? `, ${a.attrs.namespace}/${a.attrs.pod ?? '?'}` : ''}${a.attrs.node ? `, node ${a.attrs.node}` : ''})`;
      switch (v.kind) {
        case 'cooldown':
          report.cooling++;
          break;
        case 'tunnel':
          report.tunnel++;
          break;
        case 'in-use':
        case 'pod-exists':
          report.inUse++;
          break;
        case 'assumed-valid':
          report.assumedValid++;
          break;
        case 'node-missing':
          add('leaked-address', `${who}: node ${v.node} does not exist`);
          break;
        case 'leak-candidate':
          add('leaked-address', `${who}: ${v.why ?? 'no workload endpoint uses it'}`);
          break;
      }
    }
  }

  // Handles against blocks.
  for (const [id, h] of snapshot.handles) {
    const actual = actualHandles.get(id);
    if (!actual || actual.size === 0) {
      add('orphaned-handle', `handle ${id} counts ${handleTotal(h.record)} address(es) but holds none`);
      continue;
    }
    for (const cidr of new Set([...Object.keys(h.record.block), ...actual.keys()])) {
      const said = h.record.block[cidr] ?? 0;
      const has = actual.get(cidr) ?? 0;
      if (said !== has) add('handle-mismatch', `handle ${id} counts ${said} address(es) in block ${cidr}, the block holds ${has}`);
    }
  }
  for (const [id, blocks] of actualHandles) {
    if (snapshot.handles.has(id)) continue;
    for (const [cidr, n] of blocks) add('handle-mismatch', `block ${cidr} holds ${n} address(es) of handle ${id}, which has no handle record`);
  }

  // Affinities.
  for (const a of snapshot.affinities) {
    const cidr = formatCidr(a.cidr);
    const entry = snapshot.blocks.get(cidr);
    if (a.state !== 'confirmed') add('stale-affinity', `affinity of ${a.node} to ${cidr} is still ${a.state}`);
    else if (!entry) add('stale-affinity', `affinity of ${a.node} to ${cidr}: the block does not exist`);
    else if (affineHost(entry.block) !== a.node) add('stale-affinity', `affinity of ${a.node} to ${cidr}: the block is affine to ${entry.block.affinity ?? 'no host'}`);
    if (!nodes.has(a.node)) add('stale-affinity', `affinity of ${a.node} to ${cidr}: node ${a.node} does not exist`);
  }

  // Overlapping blocks: the same address could be handed out twice.
  const sorted = [...snapshot.blocks.values()].sort((x, y) => (x.cidr.family - y.cidr.family) || (x.cidr.base < y.cidr.base ? -1 : x.cidr.base > y.cidr.base ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!.cidr;
    const cur = sorted[i]!.cidr;
    if (prev.family === cur.family && cur.base <= cidrLast(prev)) add('duplicate-address', `blocks ${formatCidr(prev)} and ${formatCidr(cur)} overlap: their addresses can be assigned twice`);
  }

  // Workload endpoints: one address, one workload; and IPAM knows every address in a pool.
  for (const [ip, list] of workloads.byIp) {
    if (list.length > 1) add('duplicate-address', `${ip} is used by ${list.length} workload endpoints: ${list.map((w) => `${w.namespace}/${w.name}`).join(', ')}`);
    const parsed = parseIp(ip);
    if (!parsed || !poolOf(pools, parsed)) continue;
    const block = [...snapshot.blocks.values()].find((e) => ordinalOf(e.cidr, parsed) !== undefined);
    const ord = block ? ordinalOf(block.cidr, parsed)! : undefined;
    if (!block || block.block.allocations[ord!] === null || block.block.allocations[ord!] === undefined) {
      add('missing-allocation', `${ip} is used by ${list.map((w) => `${w.namespace}/${w.name}`).join(', ')} but is not allocated in IPAM`);
    }
  }
  return report;
}

/** The address of ordinal `o` of a block (for messages). */
export function addressOf(cidr: Cidr, o: number): string {
  return formatIp(nthIp(cidr, o));
}
