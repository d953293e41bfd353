/**
 * The Kubernetes kinds Margay accepts and their conversion into projectcalico.org/v3 resources,
 * the way Calico's Kubernetes integration converts them:
 *
 * - `networking.k8s.io/v1` NetworkPolicy → NetworkPolicy `knp.default.<name>` (tier default, order 1000)
 * - `v1` Namespace → Profile `kns.<ns>`
 * - `v1` ServiceAccount → Profile `ksa.<ns>.<sa>`
 * - `v1` Pod → WorkloadEndpoint `<node>-k8s-<pod>-eth0`
 *
 * Input is decoded with the Kubernetes types' own field rules (errors name the Kubernetes field
 * path), and the result goes through the normal v3 validation pipeline.
 */
import type { z } from 'zod';
import type { FieldIssue, Resource, SourceRef } from '../resource.ts';
import { ResourceValidationError, validateResource, zodIssues } from '../validate.ts';
import { ConversionIssues, namespaceToProfile, podToWorkloadEndpoint, serviceAccountToProfile } from './namespace-pod.ts';
import { networkPolicyToCalico } from './network-policy.ts';
import { namespaceSchema, networkPolicySchema, podSchema, serviceAccountSchema } from './schemas.ts';

export {
  parseWorkloadEndpointName,
  vethNameForPod,
  workloadEndpointName,
  workloadEndpointNameMatches,
  workloadEndpointNamePrefix,
  WorkloadEndpointNameError,
} from './names.ts';
export type { WorkloadEndpointIdentifiers } from './names.ts';
export {
  K8S_NETWORK_POLICY_NAME_PREFIX,
  K8S_NETWORK_POLICY_ORDER,
  k8sRuleToCalico,
  k8sSelectorToCalico,
  networkPolicyToCalico,
  simplifyPorts,
} from './network-policy.ts';
export {
  ANNOTATION_CONTAINER_ID,
  ANNOTATION_POD_IP,
  ANNOTATION_POD_IPS,
  LABEL_NAMESPACE,
  LABEL_SERVICE_ACCOUNT,
  NAMESPACE_PROFILE_PREFIX,
  namespaceProfileName,
  namespaceToProfile,
  ORCHESTRATOR_KUBERNETES,
  podEndpointLabels,
  podEndpointPorts,
  podEndpointProfiles,
  podIsFinished,
  podToWorkloadEndpoint,
  SERVICE_ACCOUNT_PROFILE_PREFIX,
  serviceAccountProfileName,
  serviceAccountToProfile,
} from './namespace-pod.ts';
export { convertNetworkPolicyRuleByRule, type DroppedRule, type RuleByRuleConversion } from './policy-rules.ts';
export { labelSelectorSchema, namespaceSchema, networkPolicySchema, podSchema, serviceAccountSchema } from './schemas.ts';
export type { KubernetesNamespace, KubernetesNetworkPolicy, KubernetesPod, KubernetesServiceAccount } from './schemas.ts';

interface KubernetesKind {
  apiVersion: string;
  kind: string;
  schema: z.ZodType;
  convert: (obj: never, options: ConvertOptions) => Resource;
}

const KINDS: KubernetesKind[] = [
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', schema: networkPolicySchema, convert: networkPolicyToCalico },
  { apiVersion: 'v1', kind: 'Namespace', schema: namespaceSchema, convert: namespaceToProfile },
  { apiVersion: 'v1', kind: 'ServiceAccount', schema: serviceAccountSchema, convert: serviceAccountToProfile },
  { apiVersion: 'v1', kind: 'Pod', schema: podSchema, convert: podToWorkloadEndpoint },
];

function lookup(obj: unknown): KubernetesKind | undefined {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
  const { apiVersion, kind } = obj as { apiVersion?: unknown; kind?: unknown };
  return KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
}

/** True for a `networking.k8s.io/v1` NetworkPolicy, a `v1` Namespace, ServiceAccount or Pod. */
export function isKubernetesKind(obj: unknown): boolean {
  return lookup(obj) !== undefined;
}

/** Options of convertKubernetesResource. */
export interface ConvertOptions {
  /** Where the object came from, for error messages. */
  source?: SourceRef;
  /** The workload interface prefix (FelixConfiguration interfacePrefix); `cali` by default. */
  interfacePrefix?: string;
}

/**
 * Converts a Kubernetes NetworkPolicy, Namespace, ServiceAccount or Pod into the projectcalico.org/v3 resource
 * Calico derives from it, validated and defaulted like any other resource.
 * @throws {ResourceValidationError} (MARGAY_ERR_VALIDATION) naming the Kubernetes field path
 *   when the object is not valid, or cannot be converted.
 */
export function convertKubernetesResource(obj: unknown, options: ConvertOptions = {}): Resource {
  const def = lookup(obj);
  const metadata = (obj as { metadata?: { name?: unknown } } | null)?.metadata;
  const name = typeof metadata?.name === 'string' ? metadata.name : undefined;
  const context = { source: options.source, kind: def?.kind ?? String((obj as { kind?: unknown } | null)?.kind ?? ''), name };
  if (!def) {
    throw new ResourceValidationError([{ path: 'kind', message: 'not a Kubernetes kind Margay converts (networking.k8s.io/v1 NetworkPolicy, v1 Namespace, v1 ServiceAccount, v1 Pod)' }], context);
  }
  const parsed = def.schema.safeParse(obj);
  if (!parsed.success) throw new ResourceValidationError(zodIssues(parsed.error, []), context);
  let converted: Resource;
  try {
    converted = def.convert(parsed.data as never, options);
  } catch (err) {
    if (err instanceof ConversionIssues) throw new ResourceValidationError(err.issues, context);
    throw err;
  }
  try {
    return validateResource(converted, { source: options.source });
  } catch (err) {
    if (err instanceof ResourceValidationError) {
      const issues: FieldIssue[] = err.issues.map((i) => ({
        path: i.path,
        message: `${i.message} (in the ${converted.kind} "${converted.metadata.name}" converted from this ${def.kind})`,
      }));
      throw new ResourceValidationError(issues, context);
    }
    throw err;
  }
}
