/**
 * IPAM garbage collection, the actions: carries out a plan from decide.ts. Every change is
 * conditional (a release names the handle and sequence number it judged; a record is deleted only
 * at the revision it was seen at), so a pass that races allocators, another controller or an
 * operator never undoes their work; what it could not do is left for the next pass.
 *
 * Before releasing, the allocations are judged once more against a fresh read of nodes and
 * workload endpoints (a pod that came back between the snapshot and now keeps its address), and
 * the all-or-none rule per handle is applied again.
 */
import type { Datastore } from '../../datastore/mod.ts';
import { encodeAffinity, decodeAffinity } from '../../ipam/mod.ts';
import { encodeHandle } from '../../ipam/mod.ts';
import type { Ipam } from '../../ipam/mod.ts';
import { affinityKey } from '../../ipam/mod.ts';
import { parseCidr } from '../../net/mod.ts';
import { indexWorkloads, isLeakVerdict, judgeAllocation, type PodLookup, type WorkloadRef } from '../../ipam/mod.ts';
import { wonRace } from '../../ipam/mod.ts';
import type { GcPlan, PlannedRelease } from './decide.ts';
import type { Logger } from '../../log/mod.ts';

/** What executing a plan needs. */
export interface GcExecutorDeps {
  ipam: Ipam;
  datastore: Datastore;
  /**
   * Fresh nodes and workload endpoints (and, with a pod oracle, fresh answers about the pods of
   * `releases`), for the last check before releasing.
   */
  revalidate(releases: readonly PlannedRelease[]): Promise<{ nodes: ReadonlySet<string>; workloads: WorkloadRef[]; pods?: PodLookup }>;
  logger: Logger;
  /** Aborted when this controller stops being the leader: stop between steps. */
  signal?: AbortSignal;
}

/** What a pass did. */
export interface GcOutcome {
  released: string[];
  /** Confirmed leaks that re-validated as in use, or whose handle/sequence changed meanwhile. */
  spared: string[];
  cooled: number;
  affinitiesReleased: string[];
  affinitiesConfirmed: string[];
  affinitiesDeleted: string[];
  blocksDeleted: string[];
  handlesDeleted: string[];
  handlesFixed: string[];
}

/** Applies a plan. Throws only on datastore errors other than lost races. */
export async function executeGc(plan: GcPlan, deps: GcExecutorDeps): Promise<GcOutcome> {
  const out: GcOutcome = {
    released: [], spared: [], cooled: 0, affinitiesReleased: [], affinitiesConfirmed: [], affinitiesDeleted: [], blocksDeleted: [], handlesDeleted: [], handlesFixed: [],
  };
  const { ipam, datastore: ds, logger } = deps;
  const stopped = (): boolean => deps.signal?.aborted === true;

  // 1. Leaked allocations, re-judged on fresh data, all or none per handle.
  if (plan.releases.length > 0 && !stopped()) {
    const fresh = await deps.revalidate(plan.releases);
    const index = indexWorkloads(fresh.workloads);
    const stillLeaked = (r: PlannedRelease): boolean => isLeakVerdict(judgeAllocation(r.allocation, index, fresh.nodes, fresh.pods));
    const spoiled = new Set(plan.releases.filter((r) => !stillLeaked(r)).map((r) => r.allocation.handle ?? `#${r.allocation.address}`));
    const go = plan.releases.filter((r) => !spoiled.has(r.allocation.handle ?? `#${r.allocation.address}`));
    out.spared.push(...plan.releases.filter((r) => !go.includes(r)).map((r) => r.allocation.address));
    if (go.length > 0) {
      const res = await ipam.releaseIps(
        go.map((r) => ({
          ip: r.allocation.address,
          sequenceNumber: r.allocation.sequenceNumber,
          ...(r.allocation.handle === undefined ? {} : { handle: r.allocation.handle }),
        })),
      );
      out.released.push(...res.released);
      out.spared.push(...res.mismatched);
      for (const r of go) {
        if (res.released.includes(r.allocation.address)) {
          logger.info({ ip: r.allocation.address, handle: r.allocation.handle, reason: r.reason, why: r.why, node: r.allocation.attrs.node, pod: r.allocation.attrs.pod, namespace: r.allocation.attrs.namespace }, 'released leaked address');
        }
      }
    }
  }

  // 2. Addresses whose cooldown is over, in blocks nobody else writes.
  for (const block of plan.coolBlocks) {
    if (stopped()) return out;
    out.cooled += await ipam.deallocateCooled(block);
  }

  // 3. Affinities: repairs, node clean-up, empty blocks.
  for (const c of plan.confirmAffinities) {
    if (stopped()) return out;
    const cidr = parseCidr(c.block)!;
    const key = affinityKey(c.node, cidr);
    const kv = await ds.get(key);
    let state: string | undefined;
    try {
      state = kv ? decodeAffinity(kv.value).state : undefined;
    } catch {
      state = undefined;
    }
    if (state === 'confirmed') continue;
    const ok = await wonRace(() => (kv ? ds.update(key, encodeAffinity('confirmed'), kv.modRevision) : ds.create(key, encodeAffinity('confirmed'))));
    if (ok) {
      out.affinitiesConfirmed.push(`${c.node} ${c.block}`);
      logger.info({ node: c.node, block: c.block, reason: c.reason }, 'confirmed block affinity');
    }
  }
  for (const r of plan.releaseAffinities) {
    if (stopped()) return out;
    const outcome = await ipam.releaseAffinity({
      cidr: r.block,
      node: r.node,
      requireEmpty: r.requireEmpty,
      ...(r.sequenceNumber === undefined ? {} : { requiredSequenceNumber: r.sequenceNumber }),
    });
    if (outcome === 'released' || outcome === 'absent' || outcome === 'not-affine') {
      out.affinitiesReleased.push(`${r.node} ${r.block}`);
      logger.info({ node: r.node, block: r.block, reason: r.reason, outcome }, 'released block affinity');
    }
  }
  for (const d of plan.deleteAffinities) {
    if (stopped()) return out;
    if (await wonRace(() => ds.delete(d.key, d.modRevision))) {
      out.affinitiesDeleted.push(`${d.node} ${d.block}`);
      logger.info({ node: d.node, block: d.block, reason: d.reason }, 'deleted stale block affinity');
    }
  }
  for (const b of plan.deleteBlocks) {
    if (stopped()) return out;
    if (await wonRace(() => ds.delete(b.key, b.modRevision))) {
      out.blocksDeleted.push(b.block);
      logger.info({ block: b.block, reason: b.reason }, 'deleted empty block');
    }
  }

  // 4. Handle records.
  for (const h of plan.deleteHandles) {
    if (stopped()) return out;
    if (await wonRace(() => ds.delete(h.key, h.modRevision))) {
      out.handlesDeleted.push(h.id);
      logger.info({ handle: h.id, reason: h.reason }, 'deleted orphaned handle');
    }
  }
  for (const h of plan.fixHandles) {
    if (stopped()) return out;
    if (await wonRace(() => ds.update(h.key, encodeHandle({ block: h.counts, deleted: false, extra: {} }), h.modRevision))) {
      out.handlesFixed.push(h.id);
      logger.info({ handle: h.id, counts: h.counts }, 'rewrote handle counts to match the blocks');
    }
  }
  return out;
}
