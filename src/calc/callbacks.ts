/**
 * The small callback interfaces the graph's nodes talk through (Felix's `PipelineCallbacks`).
 * Each node depends only on the interfaces it calls; the event sequencer implements the ones
 * that end at the dataplane.
 */
import type { EndpointData } from './endpoint-data.ts';
import type { EndpointId } from './ids.ts';
import type {
  CompiledPolicy,
  DataplaneSettings,
  HostEndpointPlan,
  IpSetKind,
  RouteSpec,
  VxlanPlan,
  WorkloadEndpointPlan,
} from './model.ts';
import type { PolicyData, ProfileData, TierData } from './policy-data.ts';
import type { IpSetSpec } from './rule-compiler.ts';
import type { SelectorGroup } from '../selector/mod.ts';

/** IP sets coming and going, and their members (sequencer side). */
export interface IpSetCallbacks {
  onIpSetAdded(id: string, kind: IpSetKind): void;
  onIpSetRemoved(id: string): void;
  onIpSetMemberAdded(id: string, member: string): void;
  onIpSetMemberRemoved(id: string, member: string): void;
}

/** Which IP sets the active rules need (rule scanner → member index). */
export interface ActiveIpSetCallbacks {
  onIpSetActive(spec: IpSetSpec): void;
  onIpSetInactive(id: string): void;
}

/** Compiled policies and profiles (rule scanner → sequencer). */
export interface CompiledPolicyCallbacks {
  onPolicyUpdate(policy: CompiledPolicy): void;
  onPolicyRemove(key: string): void;
}

/** Policies and profiles that local endpoints use (active-rules calculator → rule scanner). */
export interface ActiveRulesCallbacks {
  onPolicyActive(policy: PolicyData): void;
  onPolicyInactive(key: string): void;
  onProfileActive(profile: ProfileData): void;
  onProfileInactive(key: string): void;
}

/**
 * Which policies match which local endpoints (active-rules calculator → policy resolver), by
 * group: the policies whose selectors are equal share one {@link SelectorGroup} (live: its `ids`
 * are the policy keys filed with that selector now). An endpoint matches every policy of each group
 * it matches.
 */
export interface PolicyMatchCallbacks {
  /** The endpoint started matching the group's selector. */
  onGroupMatch(group: SelectorGroup, endpointId: EndpointId): void;
  /** The endpoint stopped matching the group's selector. */
  onGroupMatchStopped(group: SelectorGroup, endpointId: EndpointId): void;
  /** A policy joined or left the group: the endpoints matching it now match other policies. */
  onGroupChanged(group: SelectorGroup): void;
}

/** Endpoints, everywhere or local only (local-endpoint filter → consumers). */
export interface EndpointCallbacks {
  onEndpointUpdate(id: EndpointId, endpoint: EndpointData | undefined): void;
}

/** Policy metadata and tiers (dispatcher → policy resolver). */
export interface PolicyOrderCallbacks {
  onPolicyUpdate(key: string, policy: PolicyData | undefined): void;
  onTierUpdate(name: string, tier: TierData | undefined): void;
}

/** Per-endpoint results (policy resolver → sequencer). */
export interface EndpointPlanCallbacks {
  onWorkloadUpdate(plan: WorkloadEndpointPlan): void;
  onWorkloadRemove(key: string): void;
  onHostEndpointUpdate(plan: HostEndpointPlan): void;
  onHostEndpointRemove(key: string): void;
}

/** Routes (route resolver → sequencer). */
export interface RouteCallbacks {
  onRouteUpdate(route: RouteSpec): void;
  onRouteRemove(dst: string): void;
}

/** This host's VXLAN plan (VXLAN resolver → sequencer). */
export interface VxlanCallbacks {
  onVxlanPlan(plan: VxlanPlan): void;
}

/** Dataplane settings (settings resolver → sequencer). */
export interface SettingsCallbacks {
  onSettings(settings: DataplaneSettings): void;
}
