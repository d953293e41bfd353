/** The api folder's public surface: what other folders of src/ may import. */

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export { checkLabelKey, checkLabelName, checkLabelValue, checkSubdomainName, parseAsNumber } from './common.ts';
export { decodeDocuments, decodeResources, toResource } from './decode.ts';
export type { DecodedDocument, DecodedResource } from './decode.ts';
export { PARAMS, PARAM_NAMES, convertValue, defaultConfig, expectedValue, firstInterfacePrefix, interfacePrefixes, paramNamed } from './felix-params.ts';
export type { AgentConfig, FailsafePort, ParamName } from './felix-params.ts';
export { ANNOTATION_CONTAINER_ID, ANNOTATION_POD_IP, ANNOTATION_POD_IPS, NAMESPACE_PROFILE_PREFIX, SERVICE_ACCOUNT_PROFILE_PREFIX, convertKubernetesResource, convertNetworkPolicyRuleByRule, isKubernetesKind, parseWorkloadEndpointName, podEndpointLabels, podEndpointPorts, podEndpointProfiles, workloadEndpointNamePrefix } from './k8s/mod.ts';
export { WorkloadEndpointNameError, vethNameForPod, workloadEndpointName } from './k8s/names.ts';
export { K8S_NETWORK_POLICY_NAME_PREFIX } from './k8s/network-policy.ts';
export type { Column, KindDefinition } from './kind.ts';
export { FELIX_CONFIG_FIELDS } from './kinds/felix-configuration.ts';
export { parseGoDuration } from './kinds/infra-common.ts';
export { ipPoolKind } from './kinds/ip-pool.ts';
export type { IPPoolSpec } from './kinds/ip-pool.ts';
export { ipReservationKind } from './kinds/ip-reservation.ts';
export { ipamConfigurationKind } from './kinds/ipam-configuration.ts';
export { kubeControllersConfigurationKind } from './kinds/kube-controllers-configuration.ts';
export { allKinds, findKind } from './kinds/mod.ts';
export { globalNetworkPolicyKind, networkPolicyKind } from './kinds/network-policy.ts';
export { nodeKind } from './kinds/node.ts';
export type { GlobalNetworkPolicySpec, HostEndpointSpec, NetworkPolicySpec, NetworkSetSpec, ProfileSpec, Rule, TierSpec, WorkloadEndpointSpec } from './kinds/policy-kinds.ts';
export { parsePort, protocolNumber } from './kinds/policy-values.ts';
export { profileKind } from './kinds/profile.ts';
export type { Action, EntityRule, Port, ServiceAccountMatch } from './kinds/rule.ts';
export { BUILTIN_TIERS } from './kinds/tier.ts';
export { workloadEndpointKind } from './kinds/workload-endpoint.ts';
export { MAX_BATCH_WRITES, MAX_DURATION_SECONDS, MAX_DURATION_TEXT, MAX_INPUT_BYTES, checkBatchCount, tooDeep } from './limits.ts';
export { API_VERSION } from './resource.ts';
export type { FieldIssue, Resource, SourceRef } from './resource.ts';
export { ResourceValidationError, checkImmutableFields, formatPath, validateResource } from './validate.ts';
