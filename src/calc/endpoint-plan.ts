/**
 * Builds the model's endpoint plans from an endpoint and its ordered tiers (Felix's
 * `tierInfoToProtoTierInfo`):
 *
 * - A workload gets its normal tiers: doNotTrack and preDNAT policies are host-endpoint only.
 * - A host endpoint's policies are split: doNotTrack ones into `untrackedTiers`, preDNAT ones
 *   (ingress only) into `preDnatTiers` (both with default action Pass, so that the normal tiers
 *   still run), the others into `tiers`, and those of them with applyOnForward also into
 *   `forwardTiers`.
 * - A policy is listed in a direction only when its types include it; a tier is kept only when
 *   it lists at least one policy.
 */
import type { EndpointData } from './endpoint-data.ts';
import { planKey, profileKey } from './ids.ts';
import type { HostEndpointPlan, TierPlan, WorkloadEndpointPlan } from './model.ts';
import type { PolicyData, TierData } from './policy-data.ts';

/** A tier with the policies of it that apply to one endpoint, in order. */
export interface ResolvedTier {
  tier: TierData;
  policies: readonly PolicyData[];
}

type PolicyFilter = (p: PolicyData) => boolean;

function plansFor(tiers: readonly ResolvedTier[], keep: PolicyFilter, egressAllowed: boolean, defaultAction?: 'Pass'): TierPlan[] {
  const out: TierPlan[] = [];
  for (const { tier, policies } of tiers) {
    const plan: TierPlan = { name: tier.name, defaultAction: defaultAction ?? tier.defaultAction, ingress: [], egress: [] };
    for (const p of policies) {
      if (!keep(p)) continue;
      if (p.ingress) plan.ingress.push(p.key);
      if (egressAllowed && p.egress) plan.egress.push(p.key);
    }
    if (plan.ingress.length > 0 || plan.egress.length > 0) out.push(plan);
  }
  return out;
}

const normal: PolicyFilter = (p) => !p.doNotTrack && !p.preDNAT;

/**
 * A workload's tier plans by the ordered tiers they come from: the policy resolver hands the
 * endpoints that have the same policies the same (never changed) tiers, so those endpoints share
 * one plan list (a cold start plans 1,000 endpoints with 100 distinct lists of 50 policies).
 * Plans are only read once made.
 */
const workloadTierPlans = new WeakMap<readonly ResolvedTier[], TierPlan[]>();

function workloadTiers(tiers: readonly ResolvedTier[]): TierPlan[] {
  let plans = workloadTierPlans.get(tiers);
  if (plans === undefined) workloadTierPlans.set(tiers, (plans = plansFor(tiers, normal, true)));
  return plans;
}

/** The plan of a local workload endpoint. */
export function workloadPlan(ep: EndpointData, tiers: readonly ResolvedTier[]): WorkloadEndpointPlan {
  const plan: WorkloadEndpointPlan = {
    key: planKey(ep.id),
    interfaceName: ep.interfaceName,
    addresses: [...ep.cidrs],
    allowSpoofedSourcePrefixes: [...ep.allowSpoofedSourcePrefixes],
    tiers: workloadTiers(tiers),
    profiles: ep.profiles.map(profileKey),
  };
  if (ep.mac !== undefined) plan.mac = ep.mac;
  if (ep.nats !== undefined) plan.nats = ep.nats.map((n) => ({ ...n }));
  return plan;
}

/** The plan of a local host endpoint. */
export function hostEndpointPlan(ep: EndpointData, tiers: readonly ResolvedTier[]): HostEndpointPlan {
  return {
    key: planKey(ep.id),
    interfaceName: ep.interfaceName,
    addresses: [...ep.cidrs],
    tiers: plansFor(tiers, normal, true),
    untrackedTiers: plansFor(tiers, (p) => p.doNotTrack, true, 'Pass'),
    preDnatTiers: plansFor(tiers, (p) => !p.doNotTrack && p.preDNAT, false, 'Pass'),
    forwardTiers: plansFor(tiers, (p) => normal(p) && p.applyOnForward, true),
    profiles: ep.profiles.map(profileKey),
  };
}
