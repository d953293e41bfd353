/**
 * IPAM garbage collection, the decisions: given one IPAM snapshot, the nodes, the workload
 * endpoints, the time and what earlier passes saw, which allocations, affinities, blocks and
 * handles to release. Pure: no I/O, no clock (times come in), nothing changed in place.
 *
 * Rules (docs/ipam.md, "Garbage collection"):
 *   - An allocation is judged by src/ipam/ownership.ts. `node-missing` is a confirmed leak at once.
 *     A `leak-candidate` is confirmed once it has been seen in two passes at least
 *     `leakGraceMs` apart (0 turns this off, as in Calico). Anything else is valid and forgotten.
 *   - A handle is released whole or not at all: its confirmed leaks go only when every address
 *     of the handle is a confirmed leak.
 *   - Tunnel addresses live as long as their node (ownership rule 2).
 *   - A node that no longer exists loses all its affinities at once (after its allocations).
 *   - An empty block affine to an existing node loses its affinity once seen empty, unchanged,
 *     in two passes `emptyBlockGraceMs` apart; a node keeps its last block of a family
 *     (`keepLastBlock`, Calico's rule), and with it one empty block when its others are running
 *     low (the spare its agent claims ahead of need). An empty block with no affinity is deleted
 *     likewise.
 *   - Affinity records: a `pending` one whose block exists and is the node's is confirmed; one
 *     that stays stale (block missing or another host's; `pendingDeletion`; `confirmed` with no
 *     such block) across two passes is deleted, or a `pendingDeletion` of a live block reverted.
 *     A block naming a live host with no confirmed record gets its record back.
 *   - A handle record with no address (orphaned), or whose counts disagree with the blocks,
 *     unchanged across two passes, is deleted or rewritten (compare-and-swap on its revision).
 *   - Addresses whose cooldown is over are freed (the backstop for blocks nobody writes).
 */
import { affineHost, earliestRelease, freeCount, handleCounts, isEmptyBlock, runningLow } from '../../ipam/mod.ts';
import { handleTotal } from '../../ipam/mod.ts';
import { type Cidr, cidrSize, formatCidr } from '../../net/mod.ts';
import {
  type AllocationView,
  type PodLookup,
  type Verdict,
  type WorkloadRef,
  allocationsOf,
  indexWorkloads,
  judgeAllocation,
} from '../../ipam/mod.ts';
import type { IpamSnapshot } from '../../ipam/mod.ts';

/** What earlier passes saw: first-seen times (ms on the caller's monotonic clock). */
export interface GcState {
  /** `block/ordinal/sequence` → first seen as a leak candidate. */
  leaks: ReadonlyMap<string, number>;
  /** `block@sequence` → first seen empty. */
  emptyBlocks: ReadonlyMap<string, number>;
  /** `key@revision` of an affinity → first seen stale. */
  staleAffinities: ReadonlyMap<string, number>;
  /** `id@revision` of a handle → first seen orphaned or mismatched. */
  staleHandles: ReadonlyMap<string, number>;
}

/** A state with nothing seen yet. */
export function emptyGcState(): GcState {
  return { leaks: new Map(), emptyBlocks: new Map(), staleAffinities: new Map(), staleHandles: new Map() };
}

/** Tunables. */
export interface GcSettings {
  /** How long a leak candidate must persist before it is released; 0 disables (Calico). */
  leakGraceMs: number;
  /** How long a block must stay empty before it loses its affinity. */
  emptyBlockGraceMs: number;
  /** Grace for stale affinity and handle records. */
  staleRecordGraceMs: number;
  /** IPAMConfiguration ipCooldownSeconds. */
  cooldownSeconds: number;
  /** A node keeps its last block of each family even when empty (default true). */
  keepLastBlock?: boolean;
}

/** The inputs of a pass. */
export interface GcInput {
  snapshot: IpamSnapshot;
  nodes: ReadonlySet<string>;
  workloads: WorkloadRef[];
  /** Now on a monotonic clock (ms), for grace periods. */
  nowMs: number;
  /** Now on the wall clock (ms since the epoch), for cooldowns. */
  wallNowMs: number;
  settings: GcSettings;
  state: GcState;
  /** The pod oracle (kube-controllers: the Kubernetes API), ownership rule 6. */
  pods?: PodLookup;
}

/** An allocation to release, with the guards that make the release safe. */
export interface PlannedRelease {
  allocation: AllocationView;
  reason: 'node-missing' | 'leaked';
  /** Why it was judged a leak (the pod oracle's word), when known. */
  why?: string;
}

/** Everything a pass decided. */
export interface GcPlan {
  releases: PlannedRelease[];
  /** Blocks with addresses whose cooldown is over. */
  coolBlocks: string[];
  releaseAffinities: { node: string; block: string; reason: 'node-missing' | 'empty'; requireEmpty: boolean; sequenceNumber?: bigint }[];
  confirmAffinities: { node: string; block: string; reason: string }[];
  deleteAffinities: { node: string; block: string; key: string; modRevision: number; reason: string }[];
  deleteBlocks: { block: string; key: string; modRevision: number; reason: string }[];
  deleteHandles: { id: string; key: string; modRevision: number; reason: string }[];
  fixHandles: { id: string; key: string; modRevision: number; counts: Record<string, number> }[];
  /** What to remember for the next pass. */
  state: GcState;
  stats: { allocations: number; valid: number; candidates: number; confirmed: number; held: number };
}

function leakKey(a: AllocationView): string {
  return `${a.block}/${a.ordinal}/${a.sequenceNumber}`;
}

/**
 * Tracks "seen in two passes `grace` apart": returns true when `key` was already seen and long
 * enough ago, and records it for the next pass.
 */
function seenLongEnough(prev: ReadonlyMap<string, number>, next: Map<string, number>, key: string, now: number, grace: number): boolean {
  const first = prev.get(key);
  next.set(key, first ?? now);
  return first !== undefined && now - first >= grace;
}

/** Decides a pass. */
export function planGc(input: GcInput): GcPlan {
  const { snapshot, nodes, settings, state, nowMs } = input;
  const workloads = indexWorkloads(input.workloads);
  const next = { leaks: new Map<string, number>(), emptyBlocks: new Map<string, number>(), staleAffinities: new Map<string, number>(), staleHandles: new Map<string, number>() };
  const plan: GcPlan = {
    releases: [],
    coolBlocks: [],
    releaseAffinities: [],
    confirmAffinities: [],
    deleteAffinities: [],
    deleteBlocks: [],
    deleteHandles: [],
    fixHandles: [],
    state: next,
    stats: { allocations: 0, valid: 0, candidates: 0, confirmed: 0, held: 0 },
  };

  // 1. Allocations.
  const byHandle = new Map<string, { total: number; confirmed: PlannedRelease[] }>();
  const unhandled: PlannedRelease[] = [];
  for (const entry of snapshot.blocks.values()) {
    const cooled = earliestRelease(entry.block);
    if (cooled !== undefined && input.wallNowMs - cooled >= settings.cooldownSeconds * 1000) plan.coolBlocks.push(formatCidr(entry.cidr));
    for (const a of allocationsOf(entry)) {
      plan.stats.allocations++;
      const v: Verdict = judgeAllocation(a, workloads, nodes, input.pods);
      if (v.kind === 'cooldown') continue;
      let confirmed: PlannedRelease | undefined;
      if (v.kind === 'node-missing') {
        confirmed = { allocation: a, reason: 'node-missing' };
        plan.stats.candidates++;
      } else if (v.kind === 'leak-candidate') {
        plan.stats.candidates++;
        if (seenLongEnough(state.leaks, next.leaks, leakKey(a), nowMs, settings.leakGraceMs) && settings.leakGraceMs > 0) {
          confirmed = { allocation: a, reason: 'leaked', ...(v.why ? { why: v.why } : {}) };
        }
      } else {
        plan.stats.valid++;
      }
      if (a.handle === undefined) {
        if (confirmed) unhandled.push(confirmed);
        continue;
      }
      const h = byHandle.get(a.handle) ?? { total: 0, confirmed: [] };
      h.total++;
      if (confirmed) h.confirmed.push(confirmed);
      byHandle.set(a.handle, h);
    }
  }
  plan.releases.push(...unhandled);
  for (const h of byHandle.values()) {
    if (h.confirmed.length === 0) continue;
    if (h.confirmed.length === h.total) plan.releases.push(...h.confirmed);
    else plan.stats.held += h.confirmed.length; // all or none per handle
  }
  plan.stats.confirmed = plan.releases.length;

  // 2. Affinities and blocks.
  const confirmedOf = new Map<string, string[]>(); // node|family → confirmed blocks
  const confirmedBlocks = new Set<string>(); // `${node} ${block}`
  for (const a of snapshot.affinities) {
    if (a.state !== 'confirmed') continue;
    const k = `${a.node}|${a.cidr.family}`;
    confirmedOf.set(k, [...(confirmedOf.get(k) ?? []), formatCidr(a.cidr)]);
    confirmedBlocks.add(`${a.node} ${formatCidr(a.cidr)}`);
  }
  const releasing = new Set<string>();
  const releaseAffinity = (node: string, block: string, reason: 'node-missing' | 'empty', requireEmpty: boolean, sequenceNumber?: bigint): void => {
    if (releasing.has(block)) return;
    releasing.add(block);
    plan.releaseAffinities.push({ node, block, reason, requireEmpty, ...(sequenceNumber === undefined ? {} : { sequenceNumber }) });
  };
  for (const a of snapshot.affinities) {
    const block = formatCidr(a.cidr);
    if (!nodes.has(a.node)) {
      releaseAffinity(a.node, block, 'node-missing', false);
      continue;
    }
    const entry = snapshot.blocks.get(block);
    const ours = entry !== undefined && affineHost(entry.block) === a.node;
    if (a.state === 'pending' && ours) {
      plan.confirmAffinities.push({ node: a.node, block, reason: 'pending affinity of a block the node owns' });
      continue;
    }
    const stale =
      a.state === 'pending' ? 'pending affinity of a block the node does not own'
      : a.state === 'pendingDeletion' ? 'affinity left pendingDeletion'
      : !entry ? 'affinity of a block that does not exist'
      : !ours ? `affinity of a block affine to ${entry.block.affinity ?? 'no host'}`
      : undefined;
    if (!stale) continue;
    if (!seenLongEnough(state.staleAffinities, next.staleAffinities, `${a.key}@${a.modRevision}`, nowMs, settings.staleRecordGraceMs)) continue;
    if (a.state === 'pendingDeletion' && ours) plan.confirmAffinities.push({ node: a.node, block, reason: 'pendingDeletion left on a block the node still owns' });
    else plan.deleteAffinities.push({ node: a.node, block, key: a.key, modRevision: a.modRevision, reason: stale });
  }
  // A node whose other blocks are running low keeps one empty block: the spare its agent claims
  // ahead of need (ipam/allocate.ts); released, it would be claimed again at the node's next ADD.
  // With two empty blocks the first seen counts the second's room and goes; the second stays.
  const keptAsSpare = (cidr: Cidr, others: string[]): boolean => {
    let free = 0;
    for (const b of others) {
      const other = snapshot.blocks.get(b);
      if (other) free += freeCount(other.block);
    }
    return runningLow(free, Number(cidrSize(cidr)));
  };
  for (const [block, entry] of snapshot.blocks) {
    const host = affineHost(entry.block);
    if (host !== undefined && !nodes.has(host)) {
      releaseAffinity(host, block, 'node-missing', false);
      continue;
    }
    if (host !== undefined && !confirmedBlocks.has(`${host} ${block}`)) {
      if (!snapshot.affinities.some((a) => a.node === host && formatCidr(a.cidr) === block)) {
        plan.confirmAffinities.push({ node: host, block, reason: 'block affine to a node with no affinity record' });
      }
      continue;
    }
    if (!isEmptyBlock(entry.block)) continue;
    const seen = seenLongEnough(state.emptyBlocks, next.emptyBlocks, `${block}@${entry.block.sequenceNumber}`, nowMs, settings.emptyBlockGraceMs);
    if (!seen) continue;
    if (host === undefined) {
      if (entry.block.affinity === null) plan.deleteBlocks.push({ block, key: entry.key, modRevision: entry.modRevision, reason: 'empty block with no affinity' });
      continue;
    }
    const mine = confirmedOf.get(`${host}|${entry.cidr.family}`) ?? [];
    const remaining = mine.filter((b) => !releasing.has(b));
    if ((settings.keepLastBlock ?? true) && (remaining.length <= 1 || keptAsSpare(entry.cidr, remaining.filter((b) => b !== block)))) continue;
    releaseAffinity(host, block, 'empty', true, entry.block.sequenceNumber);
  }

  // 3. Handle records against the blocks.
  const actual = new Map<string, Record<string, number>>();
  for (const [block, entry] of snapshot.blocks) {
    for (const [h, n] of handleCounts(entry.block)) actual.set(h, { ...(actual.get(h) ?? {}), [block]: n });
  }
  for (const [id, h] of snapshot.handles) {
    const counts = actual.get(id) ?? {};
    const same = Object.keys(counts).length === Object.keys(h.record.block).length && Object.entries(counts).every(([b, n]) => h.record.block[b] === n);
    if (same) continue;
    if (!seenLongEnough(state.staleHandles, next.staleHandles, `${id}@${h.modRevision}`, nowMs, settings.staleRecordGraceMs)) continue;
    if (Object.keys(counts).length === 0) {
      plan.deleteHandles.push({ id, key: h.key, modRevision: h.modRevision, reason: `orphaned: counts ${handleTotal(h.record)} address(es), holds none` });
    } else {
      plan.fixHandles.push({ id, key: h.key, modRevision: h.modRevision, counts });
    }
  }
  return plan;
}
