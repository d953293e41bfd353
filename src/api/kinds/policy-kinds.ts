/**
 * Policy-side kinds: the policies and tiers, the network sets, the endpoints and profiles.
 * Each lives in its own file; the shared rule types are in `rule.ts`, the shared value parsers
 * and field schemas in `policy-values.ts` and `policy-fields.ts`.
 */
import type { KindDefinition } from '../kind.ts';
import { hostEndpointKind } from './host-endpoint.ts';
import {
  globalNetworkPolicyKind,
  networkPolicyKind,
  stagedGlobalNetworkPolicyKind,
  stagedKubernetesNetworkPolicyKind,
  stagedNetworkPolicyKind,
} from './network-policy.ts';
import { globalNetworkSetKind, networkSetKind } from './network-set.ts';
import { profileKind } from './profile.ts';
import { tierKind } from './tier.ts';
import { workloadEndpointKind } from './workload-endpoint.ts';

export type * from './rule.ts';
export type * from './policy-values.ts';
export type {
  GlobalNetworkPolicySpec,
  K8sNetworkPolicyPeer,
  K8sNetworkPolicyPort,
  LabelSelector,
  NetworkPolicySpec,
  PerformanceHint,
  StagedAction,
  StagedGlobalNetworkPolicySpec,
  StagedKubernetesNetworkPolicySpec,
  StagedNetworkPolicySpec,
} from './network-policy.ts';
export type { TierDefaultAction, TierSpec } from './tier.ts';
export type { GlobalNetworkSetSpec, NetworkSetSpec } from './network-set.ts';
export type { EndpointPort, HostEndpointSpec } from './host-endpoint.ts';
export type { IPNAT, QoSControls, WorkloadEndpointPort, WorkloadEndpointSpec } from './workload-endpoint.ts';
export type { ProfileSpec } from './profile.ts';

/** Policy-side kinds, in the order calicoctl lists them. */
export const policyKinds: KindDefinition[] = [
  networkPolicyKind,
  globalNetworkPolicyKind,
  stagedNetworkPolicyKind,
  stagedGlobalNetworkPolicyKind,
  stagedKubernetesNetworkPolicyKind,
  tierKind,
  networkSetKind,
  globalNetworkSetKind,
  hostEndpointKind,
  workloadEndpointKind,
  profileKind,
];
