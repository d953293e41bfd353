/**
 * The three mirrors, with Calico's names and conversions (the conversions are src/api/k8s/'s, the
 * same `margay apply` uses):
 *
 * - `namespace`: Namespace → Profile `kns.<ns>` (allow all; labels as `pcns.*`). Updates of a
 *   Terminating namespace are ignored (its deletion follows), as Calico does.
 * - `serviceAccount`: ServiceAccount → Profile `ksa.<ns>.<sa>` (labels as `pcsa.*`).
 * - `policy`: NetworkPolicy → NetworkPolicy `knp.default.<name>` in the same namespace, converted
 *   rule by rule: a rule that cannot be converted is dropped and reported once per version of the
 *   policy (a warning naming the policy, the rule and why, in the log and as a Kubernetes Warning
 *   event `RuleNotConverted` on the NetworkPolicy); the policy's isolation stays.
 *
 * The controllers keep only the name (and namespace) of the metadata they write, as Calico's do.
 */
import { convertKubernetesResource, convertNetworkPolicyRuleByRule, NAMESPACE_PROFILE_PREFIX, SERVICE_ACCOUNT_PROFILE_PREFIX } from '../../api/mod.ts';
import { K8S_NETWORK_POLICY_NAME_PREFIX } from '../../api/mod.ts';
import { networkPolicyKind } from '../../api/mod.ts';
import { profileKind } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import type { KubeObject } from '../client/informer.ts';
import { NAMESPACES, NETWORK_POLICIES, SERVICE_ACCOUNTS } from '../client/kinds.ts';
import type { MirrorSpec } from './mirror.ts';

/** Keeps only what a controller decides: name, namespace, labels. */
function bare(res: Resource): Resource {
  const metadata: Resource['metadata'] = { name: res.metadata.name };
  if (res.metadata.namespace) metadata.namespace = res.metadata.namespace;
  if (res.metadata.labels && Object.keys(res.metadata.labels).length > 0) metadata.labels = res.metadata.labels;
  return { ...res, metadata };
}

function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Namespaces → `kns.<ns>`. */
export const namespaceMirror: MirrorSpec<KubeObject> = {
  name: 'namespace',
  kind: NAMESPACES,
  owned: { kind: profileKind, owns: (res) => res.metadata.name.startsWith(NAMESPACE_PROFILE_PREFIX) },
  target: (key) => ({ name: `${NAMESPACE_PROFILE_PREFIX}${key}` }),
  convert: (ns) => bare(convertKubernetesResource({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.metadata.name, labels: ns.metadata.labels ?? {} } })),
  ignore: (ns, type) => type === 'modified' && (ns.status as { phase?: string } | undefined)?.phase === 'Terminating',
};

/** ServiceAccounts → `ksa.<ns>.<sa>`. */
export const serviceAccountMirror: MirrorSpec<KubeObject> = {
  name: 'serviceAccount',
  kind: SERVICE_ACCOUNTS,
  owned: { kind: profileKind, owns: (res) => res.metadata.name.startsWith(SERVICE_ACCOUNT_PROFILE_PREFIX) },
  target: (key) => {
    const { namespace, name } = splitKey(key);
    return { name: `${SERVICE_ACCOUNT_PROFILE_PREFIX}${namespace}.${name}` };
  },
  convert: (sa) =>
    bare(
      convertKubernetesResource({
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: sa.metadata.name, namespace: sa.metadata.namespace, labels: sa.metadata.labels ?? {} },
      }),
    ),
};

/** Which policy versions' dropped rules were reported already (`ns/name` → resourceVersion). */
const reported = new Map<string, string>();

/** NetworkPolicies → `knp.default.<name>`, rule by rule. */
export const policyMirror: MirrorSpec<KubeObject> = {
  name: 'policy',
  kind: NETWORK_POLICIES,
  owned: { kind: networkPolicyKind, owns: (res) => res.metadata.name.startsWith(K8S_NETWORK_POLICY_NAME_PREFIX) },
  target: (key) => {
    const { namespace, name } = splitKey(key);
    return { name: `${K8S_NETWORK_POLICY_NAME_PREFIX}${name}`, namespace };
  },
  convert: (np, report) => {
    const { resource, dropped } = convertNetworkPolicyRuleByRule(np);
    const key = `${np.metadata.namespace ?? 'default'}/${np.metadata.name}`;
    const version = np.metadata.resourceVersion ?? '';
    if (dropped.length > 0 && reported.get(key) !== version) {
      reported.set(key, version);
      for (const d of dropped) {
        const rule = d.direction === 'policy' ? 'the whole policy' : `${d.direction}[${d.index}]`;
        report({ policy: key, rule, reason: d.reason }, 'NetworkPolicy rule cannot be converted: dropped (the policy still isolates the pods it selects)', {
          reason: 'RuleNotConverted',
          message: `${rule} cannot be converted and is not enforced (${d.reason}); the policy still isolates the pods it selects`,
        });
      }
    }
    if (dropped.length === 0) reported.delete(key);
    return bare(resource);
  },
};
