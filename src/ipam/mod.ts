/**
 * Block IPAM (Calico-compatible): the `Ipam` client, the stored records and their key layout,
 * and the pure pieces `ipam check`/`show` and the controllers build on.
 */
export {
  Ipam,
  type IpamOptions,
  type AutoAssignRequest,
  type AutoAssignResult,
  type AssignedAddress,
  type AssignIpRequest,
  type ReleaseRequest,
  type ReleaseIpsResult,
  type AssignmentInfo,
  type CanAssignRequest,
} from './ipam.ts';
export type { AffinityReleaseOutcome } from './affinity-ops.ts';
export { type IpamConfig, DEFAULT_IPAM_CONFIG, DEFAULT_MAX_BLOCKS_PER_HOST } from './config.ts';
export type { IpUse, PoolInfo, Reservation } from './pools.ts';
export type { Attributes, AllocationBlock, AllocationAttribute } from './block.ts';
export { readSnapshot, type IpamSnapshot, type BlockEntry, type AffinityEntry, type HandleEntry } from './snapshot.ts';
export { checkIpam, type CheckReport, type CheckInput, type Finding, type ProblemKind } from './check.ts';
export { computeUsage, type Usage, type PoolUsage, type UsageRow } from './usage.ts';
export { renderUsage, renderCheck, renderAssignment } from './format.ts';
export { judgeAllocation, workloadFromResource, indexWorkloads, type PodFacts, type PodLookup, type Verdict, type WorkloadRef } from './ownership.ts';
export { blockKey, affinityKey, handleKey } from './keys.ts';

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export { decodeAffinity, encodeAffinity } from './affinity.ts';
export { blockRouting } from './block-routing.ts';
export type { BlockRouting } from './block-routing.ts';
export { affineHost, earliestRelease, freeCount, handleCounts, isEmptyBlock, runningLow } from './block.ts';
export { encodeHandle, handleTotal } from './handle.ts';
export { parseBlockKey } from './keys.ts';
export { allocationsOf, isLeakVerdict } from './ownership.ts';
export type { AllocationView } from './ownership.ts';
export { poolFromResource, poolOf, reservationsFromResources } from './pools.ts';
export { wonRace } from './retry.ts';
