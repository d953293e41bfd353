/**
 * The cases of Kubernetes' NetworkPolicy test model, each a set of policies and the reachability
 * Kubernetes defines for it, shared by the single-host suite (test/e2e/policy-k8s-model) and the
 * lab suite (test/e2e/lab-k8s-model). Cases that depend on the single-host suite's fixed pod
 * addresses (ipBlock) or on named container ports are marked `anywhere: false`.
 */
import { anyPod, inNs, named, networkPolicy, not, podIp, pods, ports, tcp, Truth } from './k8s-model.ts';

/** One case: the whole set of NetworkPolicies and the expected reachability. */
export interface ModelCase {
  name: string;
  policies: object[];
  truth: () => Truth;
  /** False when the case needs the single-host suite's fixed addresses or named ports. */
  anywhere: boolean;
}

const xa = pods('x/a');
const nsLabel = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });
const onlyA = { matchLabels: { pod: 'a' } };

/** The model's cases, in the order the suites run them (each replaces the previous policies). */
export const MODEL_CASES: ModelCase[] = [
  { name: 'no policy: everything is allowed', anywhere: true, policies: [], truth: () => new Truth() },
  {
    name: 'default deny ingress in x',
    anywhere: true,
    policies: [networkPolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })],
    truth: () => new Truth().denyIngress(inNs('x')),
  },
  {
    name: 'default deny egress in x',
    anywhere: true,
    policies: [networkPolicy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })],
    truth: () => new Truth().denyEgress(inNs('x')),
  },
  {
    name: 'default deny both ways in x',
    anywhere: true,
    policies: [networkPolicy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    truth: () => new Truth().denyIngress(inNs('x')).denyEgress(inNs('x')),
  },
  {
    name: 'allow into x/a from namespace y only',
    anywhere: true,
    policies: [networkPolicy('x', 'allow-from-y', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }] }] })],
    truth: () => new Truth().denyIngress(xa).set(inNs('y'), xa, true),
  },
  {
    name: 'update: the same policy now allows namespace z',
    anywhere: true,
    policies: [networkPolicy('x', 'allow-from-y', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('z') }] }] })],
    truth: () => new Truth().denyIngress(xa).set(inNs('z'), xa, true),
  },
  {
    name: 'pod and namespace selectors in one peer (AND)',
    anywhere: true,
    policies: [
      networkPolicy('x', 'and-peer', {
        podSelector: onlyA,
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['y', 'z'] }] }, podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ],
    truth: () => new Truth().denyIngress(xa).set(pods('y/b', 'z/b'), xa, true),
  },
  {
    name: 'pod and namespace selectors in two peers (OR); a bare podSelector means the policy namespace',
    anywhere: true,
    policies: [networkPolicy('x', 'or-peers', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }, { podSelector: { matchLabels: { pod: 'b' } } }] }] })],
    truth: () => new Truth().denyIngress(xa).set(inNs('y'), xa, true).set(pods('x/b'), xa, true),
  },
  {
    name: 'an empty namespaceSelector with a podSelector: those pods in every namespace',
    anywhere: true,
    policies: [networkPolicy('x', 'all-ns-c', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'c' } } }] }] })],
    truth: () => new Truth().denyIngress(xa).set(named('c'), xa, true),
  },
  {
    name: 'ipBlock with except',
    anywhere: false,
    policies: [networkPolicy('x', 'ipblock', { podSelector: onlyA, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: [`${podIp('y/b')}/32`, '10.244.3.0/24'] } }] }] })],
    truth: () => new Truth().denyIngress(xa).set(not(pods('y/b')), xa, true).set(inNs('z'), xa, false),
  },
  {
    name: 'egress to an ipBlock only',
    anywhere: false,
    policies: [networkPolicy('x', 'egress-ipblock', { podSelector: onlyA, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.2.0/24' } }] }] })],
    truth: () => new Truth().denyEgress(xa).set(xa, inNs('y'), true),
  },
  {
    name: 'named port in ingress',
    anywhere: false,
    policies: [networkPolicy('x', 'named-81-tcp', { podSelector: onlyA, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
    truth: () => new Truth().denyIngress(xa).set(anyPod, xa, true, ports('81/TCP')),
  },
  {
    name: 'named UDP port in egress, resolved at every destination',
    anywhere: false,
    policies: [networkPolicy('x', 'egress-named-udp', { podSelector: onlyA, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 'serve-81-udp' }] }] })],
    truth: () => new Truth().denyEgress(xa).set(xa, anyPod, true, ports('81/UDP')),
  },
  {
    name: 'port range with endPort',
    anywhere: true,
    policies: [networkPolicy('x', 'range', { podSelector: onlyA, ingress: [{ ports: [{ protocol: 'TCP', port: 80, endPort: 81 }] }] })],
    truth: () => new Truth().denyIngress(xa).set(anyPod, xa, true, tcp),
  },
  {
    name: 'a port without protocol is TCP; a UDP port is UDP only',
    anywhere: true,
    policies: [
      networkPolicy('x', 'tcp-81', { podSelector: onlyA, ingress: [{ ports: [{ port: 81 }] }] }),
      networkPolicy('x', 'udp-80-b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 80 }] }] }),
    ],
    truth: () => new Truth().denyIngress(xa).set(anyPod, xa, true, ports('81/TCP')).denyIngress(pods('x/b')).set(anyPod, pods('x/b'), true, ports('80/UDP')),
  },
  {
    name: 'policies are additive',
    anywhere: true,
    policies: [
      networkPolicy('x', 'from-y', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }] }] }),
      networkPolicy('x', 'from-z-udp', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('z') }], ports: [{ protocol: 'UDP', port: 81 }] }] }),
    ],
    truth: () => new Truth().denyIngress(xa).set(inNs('y'), xa, true).set(inNs('z'), xa, true, ports('81/UDP')),
  },
  {
    name: 'an allow-all policy overrides a default deny',
    anywhere: true,
    policies: [networkPolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }), networkPolicy('x', 'allow-all', { podSelector: {}, ingress: [{}] })],
    truth: () => new Truth(),
  },
  {
    name: 'egress to a namespace on one port, from every pod of x',
    anywhere: true,
    policies: [networkPolicy('x', 'egress-to-y-80', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsLabel('y') }], ports: [{ protocol: 'TCP', port: 80 }] }] })],
    truth: () => new Truth().denyEgress(inNs('x')).set(inNs('x'), inNs('y'), true, ports('80/TCP')),
  },
  {
    name: 'egress and ingress policies both apply to one connection',
    anywhere: true,
    policies: [
      networkPolicy('y', 'egress-only-to-xa', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsLabel('x'), podSelector: onlyA }] }] }),
      networkPolicy('x', 'ingress-only-from-yb', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y'), podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ],
    truth: () => new Truth().denyEgress(inNs('y')).set(inNs('y'), xa, true).denyIngress(xa).set(pods('y/b'), xa, true),
  },
  {
    name: 'matchExpressions: NotIn and Exists',
    anywhere: true,
    policies: [
      networkPolicy('x', 'not-a', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, policyTypes: ['Ingress'] }),
      networkPolicy('z', 'exists', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, namespaceSelector: {} }] }],
      }),
    ],
    truth: () => new Truth().denyIngress(pods('x/b', 'x/c')).denyIngress(inNs('z')).set(named('a', 'b'), inNs('z'), true),
  },
];
