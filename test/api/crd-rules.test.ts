/**
 * Every CEL rule (x-kubernetes-validations) of Calico 3.32's CRDs, by its message, with a manifest
 * that breaks it: Margay refuses each with MARGAY_ERR_VALIDATION naming a field path under the one
 * the rule sits on. The rule list comes from fixtures/calico-v3.32-crd-fields.json, so a rule
 * without a case here fails the test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { findKind } from '../../src/api/kinds/mod.ts';
import { ResourceValidationError, checkImmutableFields, validateResource } from '../../src/api/validate.ts';

const crd = JSON.parse(readFileSync(new URL('./fixtures/calico-v3.32-crd-fields.json', import.meta.url), 'utf8')) as {
  kinds: Record<string, { rules: { path: string; message: string }[] }>;
};

type Obj = Record<string, unknown>;
const v3 = 'projectcalico.org/v3';
const NAMESPACED = new Set(['NetworkPolicy', 'StagedNetworkPolicy']);

/** A resource of `kind` with `spec` (policies get a namespace when they need one). */
function of(kind: string, spec: Obj, name = 'x'): Obj {
  return { apiVersion: v3, kind, metadata: NAMESPACED.has(kind) ? { name, namespace: 'ns' } : { name }, spec };
}

/** Per CEL message: a breaking manifest for the given kind, and the path the error must name. */
const CASES: Record<string, (kind: string) => { object: Obj; path: string }> = {
  'nodeMeshPassword cannot be set when nodeToNodeMeshEnabled is false': (k) => ({ object: of(k, { nodeToNodeMeshEnabled: false, nodeMeshPassword: { secretKeyRef: { name: 's', key: 'k' } } }, 'default'), path: 'spec.nodeMeshPassword' }),
  'nodeMeshMaxRestartTime cannot be set when nodeToNodeMeshEnabled is false': (k) => ({ object: of(k, { nodeToNodeMeshEnabled: false, nodeMeshMaxRestartTime: '2m' }, 'default'), path: 'spec.nodeMeshMaxRestartTime' }),
  'cidr and matchOperator must both be set or both be empty': (k) => ({ object: of(k, { exportV4: [{ action: 'Accept', matchOperator: 'In' }] }), path: 'spec.exportV4[0]' }),
  'cidr is required when prefixLength is set': (k) => ({ object: of(k, { importV6: [{ action: 'Accept', prefixLength: { min: 64 } }] }), path: 'spec.importV6[0]' }),
  'operations may only be used with action Accept': (k) => ({ object: of(k, { importV4: [{ action: 'Reject', operations: [{ addCommunity: { value: '1:2' } }] }] }), path: 'spec.importV4[0]' }),
  'node and nodeSelector cannot both be set': (k) => ({ object: of(k, { node: 'n1', nodeSelector: 'all()', peerIP: '10.0.0.1', asNumber: 65000 }), path: 'spec' }),
  'peerIP and peerSelector cannot both be set': (k) => ({ object: of(k, { peerIP: '10.0.0.1', peerSelector: 'all()' }), path: 'spec' }),
  'asNumber must be empty when peerSelector is set': (k) => ({ object: of(k, { peerSelector: 'all()', asNumber: 65000 }), path: 'spec' }),
  'peerIP must be empty when localWorkloadSelector is set': (k) => ({ object: of(k, { localWorkloadSelector: 'all()', asNumber: 65000, peerIP: '10.0.0.1' }), path: 'spec' }),
  'peerSelector must be empty when localWorkloadSelector is set': (k) => ({ object: of(k, { localWorkloadSelector: 'all()', asNumber: 65000, peerSelector: 'all()' }), path: 'spec' }),
  'asNumber is required when localWorkloadSelector is set': (k) => ({ object: of(k, { localWorkloadSelector: 'all()' }), path: 'spec' }),
  "nodeSelector must not be set on the 'default' or per-node ('node.*') FelixConfiguration": (k) => ({ object: of(k, { nodeSelector: 'all()' }, 'node.n1'), path: 'spec.nodeSelector' }),
  'routeTableRange and routeTableRanges cannot both be set': (k) => ({ object: of(k, { routeTableRange: { min: 1, max: 2 }, routeTableRanges: [{ min: 3, max: 4 }] }, 'default'), path: 'spec' }),
  'preDNAT and doNotTrack cannot both be true': (k) => ({ object: of(k, { preDNAT: true, doNotTrack: true, applyOnForward: true }), path: 'spec' }),
  'preDNAT policy cannot have any egress rules': (k) => ({ object: of(k, { preDNAT: true, applyOnForward: true, egress: [{ action: 'Allow' }] }), path: 'spec' }),
  "preDNAT policy cannot have 'Egress' type": (k) => ({ object: of(k, { preDNAT: true, applyOnForward: true, types: ['Egress'] }), path: 'spec' }),
  'applyOnForward must be true if either preDNAT or doNotTrack is true': (k) => ({ object: of(k, { doNotTrack: true }), path: 'spec' }),
  'rules with HTTP match must have protocol TCP or unset': (k) => ({ object: of(k, { ingress: [{ action: 'Allow', protocol: 'UDP', http: { methods: ['GET'] } }] }), path: 'spec.ingress[0]' }),
  'HTTP match is only valid on Allow rules': (k) => ({ object: of(k, { ingress: [{ action: 'Deny', http: { methods: ['GET'] } }] }), path: 'spec.ingress[0]' }),
  'ports and notPorts cannot be specified with services': (k) => ({ object: of(k, { egress: [{ action: 'Allow', protocol: 'TCP', destination: { services: { name: 'api', namespace: 'ns' }, notPorts: [80] } }] }), path: 'spec.egress[0]' }),
  'ICMP code specified without an ICMP type': (k) => ({ object: of(k, { egress: [{ action: 'Allow', protocol: 'ICMP', notICMP: { code: 3 } }] }), path: 'spec.egress[0].notICMP' }),
  'at least one of interfaceName or expectedIPs must be specified': (k) => ({ object: of(k, { node: 'n1' }), path: 'spec' }),
  'node must be specified': (k) => ({ object: of(k, { interfaceName: 'eth0' }), path: 'spec' }),
  'ipipMode and vxlanMode cannot both be enabled': (k) => ({ object: of(k, { cidr: '10.0.0.0/16', ipipMode: 'CrossSubnet', vxlanMode: 'Always' }), path: 'spec' }),
  'LoadBalancer IP pool cannot have IPIP or VXLAN enabled': (k) => ({ object: of(k, { cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'], ipipMode: 'Always' }), path: 'spec' }),
  'LoadBalancer cannot be combined with Workload or Tunnel allowed uses': (k) => ({ object: of(k, { cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer', 'Tunnel'] }), path: 'spec' }),
  'IPIP is not supported on IPv6 pools': (k) => ({ object: of(k, { cidr: 'fd00::/64', ipipMode: 'Always' }), path: 'spec' }),
  "The 'kube-admin' tier must have default action 'Pass'": (k) => ({ object: of(k, { order: 1000, defaultAction: 'Deny' }, 'kube-admin'), path: 'spec' }),
  "The 'kube-baseline' tier must have default action 'Pass'": (k) => ({ object: of(k, { order: 10000000, defaultAction: 'Deny' }, 'kube-baseline'), path: 'spec' }),
  "The 'default' tier must have default action 'Deny'": (k) => ({ object: of(k, { order: 1000000, defaultAction: 'Pass' }, 'default'), path: 'spec' }),
};

/** Rules on updates (`self == oldSelf`): the field that may not change. */
const IMMUTABLE: Record<string, { field: string; before: Obj; after: Obj }> = {
  'Block size cannot be changed; follow IP pool migration guide to avoid corruption.': { field: 'spec.blockSize', before: { cidr: '10.0.0.0/16', blockSize: 26 }, after: { cidr: '10.0.0.0/16', blockSize: 24 } },
  'CIDR cannot be changed; follow IP pool migration guide to avoid corruption.': { field: 'spec.cidr', before: { cidr: '10.0.0.0/16' }, after: { cidr: '10.1.0.0/16' } },
};

describe('Calico 3.32 CRD (CEL) rules', () => {
  const all = Object.entries(crd.kinds).flatMap(([kind, { rules }]) => rules.map((r) => ({ kind, ...r })));
  const seen = new Set<string>();
  for (const rule of all) {
    const key = `${rule.kind} | ${rule.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    it(`${key}`, () => {
      const immutable = IMMUTABLE[rule.message];
      if (immutable) {
        const def = findKind(rule.kind)!;
        const before = validateResource(of(rule.kind, immutable.before));
        const after = validateResource(of(rule.kind, immutable.after));
        assert.deepEqual(checkImmutableFields(def, before, after).map((i) => i.path), [immutable.field]);
        return;
      }
      const make = CASES[rule.message];
      assert.ok(make, `no case for this CRD rule: ${rule.message}`);
      const { object, path } = make(rule.kind);
      assert.throws(
        () => validateResource(object),
        (err: unknown) => {
          assert.ok(err instanceof ResourceValidationError, String(err));
          assert.ok(err.issues.some((i) => i.path === path || i.path.startsWith(`${path}.`) || i.path.startsWith(`${path}[`)), `wanted a path under ${path}: ${err.message}`);
          return true;
        },
      );
    });
  }

  it('has found the rules', () => {
    assert.ok(seen.size >= 48, `${seen.size} rules`);
  });
});
