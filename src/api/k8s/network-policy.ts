/**
 * Kubernetes NetworkPolicy → projectcalico.org/v3 NetworkPolicy, as Calico's Kubernetes
 * integration converts it (libcalico-go `k8s/conversion`): named `knp.default.<name>`, in tier
 * `default` at order 1000, with pod selectors prefixed by `projectcalico.org/orchestrator == 'k8s'`,
 * one rule per protocol and peer, ports merged into ranges, `ipBlock.except` as `notNets`.
 * Missing `policyTypes` are first defaulted the way the Kubernetes API server does.
 */
import { API_VERSION, type Resource } from '../resource.ts';
import { formatCidr, parseCidr } from '../../net/mod.ts';
import type { KubernetesNetworkPolicy, LabelSelector, NetworkPolicyPeer, NetworkPolicyPort } from './schemas.ts';

/** The name prefix of converted Kubernetes policies. */
export const K8S_NETWORK_POLICY_NAME_PREFIX = 'knp.default.';
/** The order converted Kubernetes policies get. */
export const K8S_NETWORK_POLICY_ORDER = 1000;
/** The label every Kubernetes WorkloadEndpoint carries, which k8s pod selectors are scoped by. */
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';

type SelectorType = 'pod' | 'namespace';

/**
 * Calico's translation of a Kubernetes label selector. Pod selectors are prefixed with
 * `projectcalico.org/orchestrator == 'k8s'`; an empty namespace selector is `all()`; an absent
 * namespace selector is the empty string.
 */
export function k8sSelectorToCalico(selector: LabelSelector | null | undefined, type: SelectorType): string {
  const parts: string[] = [];
  if (type === 'pod') parts.push(`${LABEL_ORCHESTRATOR} == 'k8s'`);
  if (selector == null) return parts.join(' && ');
  const labels = selector.matchLabels ?? {};
  const expressions = selector.matchExpressions ?? [];
  if (type === 'namespace' && Object.keys(labels).length === 0 && expressions.length === 0) return 'all()';
  for (const key of Object.keys(labels).sort()) parts.push(`${key} == '${labels[key]}'`);
  for (const e of expressions) {
    const values = (e.values ?? []).join("', '");
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in { '${values}' }`);
        break;
      case 'NotIn':
        parts.push(`${e.key} not in { '${values}' }`);
        break;
      case 'Exists':
        parts.push(`has(${e.key})`);
        break;
      case 'DoesNotExist':
        parts.push(`! has(${e.key})`);
        break;
    }
  }
  return parts.join(' && ');
}

/** A Calico port: a number, `"lo:hi"`, or a name. */
export type CalicoPort = number | string;

interface NumericRange {
  min: number;
  max: number;
}

function asRange(p: CalicoPort): NumericRange | undefined {
  if (typeof p === 'number') return { min: p, max: p };
  const m = /^(\d+):(\d+)$/.exec(p);
  return m ? { min: Number(m[1]), max: Number(m[2]) } : undefined;
}

function formatRange(min: number, max: number): CalicoPort {
  return min === max ? min : `${min}:${max}`;
}

/**
 * Calico's `SimplifyPorts`: named ports first (in order), then the numeric ports merged into the
 * fewest ascending ranges. Lists whose numeric ports cover at most one port are returned as given.
 */
export function simplifyPorts(ports: CalicoPort[]): CalicoPort[] {
  if (ports.length <= 1) return ports;
  const named: CalicoPort[] = [];
  const numbers: number[] = [];
  for (const p of ports) {
    const range = asRange(p);
    if (!range) named.push(p);
    else for (let i = range.min; i <= range.max; i++) numbers.push(i);
  }
  if (numbers.length <= 1) return ports;
  numbers.sort((a, b) => a - b);
  const out = [...named];
  let i = 0;
  while (i < numbers.length) {
    const first = numbers[i]!;
    let last = first;
    i++;
    while (i < numbers.length && numbers[i]! <= last + 1) {
      last = numbers[i]!;
      i++;
    }
    out.push(formatRange(first, last));
  }
  return out;
}

interface EntityRule {
  selector?: string;
  namespaceSelector?: string;
  nets?: string[];
  notNets?: string[];
  ports?: CalicoPort[];
}

/** A converted rule, in Calico's v3 JSON layout. */
export interface ConvertedRule {
  action: 'Allow';
  protocol?: string;
  source?: EntityRule;
  destination?: EntityRule;
}

function peerFields(peer: NetworkPolicyPeer | null): EntityRule {
  if (peer == null) return {};
  if (peer.ipBlock != null) {
    const out: EntityRule = { nets: [formatCidr(parseCidr(peer.ipBlock.cidr)!)] };
    const except = (peer.ipBlock.except ?? []).map((e) => formatCidr(parseCidr(e)!));
    if (except.length > 0) out.notNets = except;
    return out;
  }
  const out: EntityRule = {};
  const selector = k8sSelectorToCalico(peer.podSelector, 'pod');
  const nsSelector = k8sSelectorToCalico(peer.namespaceSelector, 'namespace');
  if (selector !== '') out.selector = selector;
  if (nsSelector !== '') out.namespaceSelector = nsSelector;
  return out;
}

function portOf(p: NetworkPolicyPort): CalicoPort[] | undefined {
  if (p.port == null) return undefined;
  if (typeof p.port === 'string') return [p.port];
  return [p.endPort != null ? formatRange(p.port, p.endPort) : p.port];
}

/**
 * Converts one Kubernetes rule (its peers and ports) into Calico rules: one rule per protocol
 * (sorted) and per peer, carrying all the ports of that protocol.
 */
export function k8sRuleToCalico(
  peers: readonly NetworkPolicyPeer[] | null | undefined,
  ports: readonly NetworkPolicyPort[] | null | undefined,
  ingress: boolean,
): ConvertedRule[] {
  const peerList: (NetworkPolicyPeer | null)[] = peers && peers.length > 0 ? [...peers] : [null];
  // protocol ('' = any) → ports (undefined = all ports of that protocol)
  let protocolPorts = new Map<string, CalicoPort[] | undefined>();
  if (!ports || ports.length === 0) {
    protocolPorts.set('', undefined);
  } else {
    for (const p of ports) {
      const protocol = p.protocol ?? 'TCP';
      const calicoPorts = portOf(p);
      if (calicoPorts === undefined) {
        protocolPorts.set(protocol, undefined);
      } else if (!protocolPorts.has(protocol) || (protocolPorts.get(protocol)?.length ?? 0) > 0) {
        protocolPorts.set(protocol, [...(protocolPorts.get(protocol) ?? []), ...calicoPorts]);
      }
    }
  }
  protocolPorts = new Map([...protocolPorts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

  const rules: ConvertedRule[] = [];
  for (const [protocol, rawPorts] of protocolPorts) {
    const calicoPorts = rawPorts === undefined ? undefined : simplifyPorts(rawPorts);
    for (const peer of peerList) {
      const fields = peerFields(peer);
      const rule: ConvertedRule = { action: 'Allow' };
      if (protocol !== '') rule.protocol = protocol;
      if (ingress) {
        if (Object.keys(fields).length > 0) rule.source = fields;
        if (calicoPorts && calicoPorts.length > 0) rule.destination = { ports: calicoPorts };
      } else {
        const dest: EntityRule = { ...(calicoPorts && calicoPorts.length > 0 ? { ports: calicoPorts } : {}), ...fields };
        if (Object.keys(dest).length > 0) rule.destination = dest;
      }
      rules.push(rule);
    }
  }
  return rules;
}

/** Converts a decoded Kubernetes NetworkPolicy into a (not yet validated) Calico NetworkPolicy. */
export function networkPolicyToCalico(np: KubernetesNetworkPolicy): Resource {
  const spec = np.spec ?? {};
  const ingress = (spec.ingress ?? []).flatMap((r) => k8sRuleToCalico(r.from, r.ports, true));
  const egress = (spec.egress ?? []).flatMap((r) => k8sRuleToCalico(r.to, r.ports, false));
  // The Kubernetes API server defaults policyTypes before Calico sees a policy: Ingress, plus
  // Egress when the policy has egress rules. Margay stands in for the API server here.
  let policyTypes: string[] = spec.policyTypes ?? [];
  if (policyTypes.length === 0) policyTypes = (spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
  const types: string[] = [];
  if (policyTypes.includes('Ingress')) types.push('Ingress');
  if (policyTypes.includes('Egress')) types.push('Egress');
  if (types.length === 0) types.push('Ingress');

  const calicoSpec: Record<string, unknown> = {
    tier: 'default',
    order: K8S_NETWORK_POLICY_ORDER,
    selector: k8sSelectorToCalico(spec.podSelector ?? {}, 'pod'),
    types,
  };
  if (ingress.length > 0) calicoSpec.ingress = ingress;
  if (egress.length > 0) calicoSpec.egress = egress;

  const metadata: Resource['metadata'] = {
    name: `${K8S_NETWORK_POLICY_NAME_PREFIX}${np.metadata.name}`,
    namespace: np.metadata.namespace ?? 'default',
  };
  if (np.metadata.uid) metadata.uid = np.metadata.uid;
  if (np.metadata.creationTimestamp) metadata.creationTimestamp = np.metadata.creationTimestamp;
  return { apiVersion: API_VERSION, kind: 'NetworkPolicy', metadata, spec: calicoSpec };
}
