// Policy-side kinds: conformance manifests, defaults, names, columns and aliases.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { findKind, kindByExactName } from '../../src/api/kinds/mod.ts';
import { policyKinds } from '../../src/api/kinds/policy-kinds.ts';
import { formatGoFloat, joinAndTruncate } from '../../src/api/kinds/policy-values.ts';
import type { Resource } from '../../src/api/resource.ts';
import { tableColumns } from '../../src/cli/output.ts';
import { API, accept, gnp, issuesOf, np, reject, tier, wep } from './policy-helpers.ts';

const MANIFESTS = '/work/shared/conformance/manifests';
const MY_KINDS = new Set(policyKinds.map((k) => k.kind));

function loadDocs(file: string): Array<Record<string, unknown>> {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null);
}

function isMine(doc: Record<string, unknown>): boolean {
  return doc.apiVersion === API && typeof doc.kind === 'string' && MY_KINDS.has(doc.kind);
}

describe('conformance manifests (policy-side kinds)', () => {
  const validFiles = readdirSync(`${MANIFESTS}/valid`).sort();
  let count = 0;
  for (const file of validFiles) {
    const docs = loadDocs(`${MANIFESTS}/valid/${file}`).filter(isMine);
    docs.forEach((doc, i) => {
      count++;
      it(`accepts valid/${file} document ${i + 1} (${String(doc.kind)})`, () => {
        const res = accept(doc);
        assert.equal(res.kind, doc.kind);
        // What we store must validate again unchanged (get -o yaml | apply).
        const again = accept(JSON.parse(JSON.stringify(res)));
        assert.deepEqual(again, res);
      });
    });
  }
  it('covers the expected number of valid policy-side documents', () => {
    assert.ok(count >= 20, `only ${count} valid documents of policy-side kinds found`);
  });

  const expectedPaths: Record<string, string> = {
    '13-networkpolicy-unknown-action.yaml': 'spec.ingress[0].action',
    '15-networkpolicy-port-range-reversed.yaml': 'spec.ingress[0].destination.ports[0]',
    '17-networkpolicy-numeric-port-no-protocol.yaml': 'spec.ingress[0].destination.ports',
    '19-networkpolicy-lowercase-protocol.yaml': 'spec.ingress[0].protocol',
    '21-networkpolicy-mixed-ipv4-ipv6-nets.yaml': 'spec.ingress[0].destination.nets',
    '23-networkpolicy-name-two-dots.yaml': 'metadata.name',
    '25-gnp-repeated-types.yaml': 'spec.types[1]',
    '27-gnp-prednat-without-applyonforward.yaml': 'spec.applyOnForward',
    '29-gnp-donottrack-without-applyonforward.yaml': 'spec.applyOnForward',
    '31-gnp-icmp-type-255.yaml': 'spec.ingress[0].icmp.type',
    '33-gnp-icmp-fields-no-protocol.yaml': 'spec.ingress[0].icmp',
    '35-tier-name-with-dot.yaml': 'metadata.name',
    '37-globalnetworkset-reserved-label.yaml': 'metadata.labels["projectcalico.org/namespace"]',
    '39-hostendpoint-missing-node.yaml': 'spec.node',
  };
  for (const file of readdirSync(`${MANIFESTS}/invalid`).sort()) {
    const docs = loadDocs(`${MANIFESTS}/invalid/${file}`);
    if (!docs.some(isMine)) continue;
    it(`rejects invalid/${file} at the expected field`, () => {
      const path = expectedPaths[file];
      assert.ok(path, `no expected path recorded for ${file}`);
      for (const doc of docs) reject(doc, path);
    });
  }
  it('has an expectation for every invalid policy-side manifest it knows', () => {
    for (const file of Object.keys(expectedPaths)) {
      assert.ok(readdirSync(`${MANIFESTS}/invalid`).includes(file), `${file} is missing`);
    }
  });
});

describe('policy defaults', () => {
  it('infers [Ingress] when there are no rules at all', () => {
    const res = accept(gnp({ selector: 'all()' }));
    assert.deepEqual(res.spec?.types, ['Ingress']);
  });
  it('infers [Ingress] when there are only ingress rules', () => {
    assert.deepEqual(accept(np({ ingress: [{ action: 'Allow' }] })).spec?.types, ['Ingress']);
  });
  it('infers [Egress] when there are only egress rules', () => {
    assert.deepEqual(accept(np({ egress: [{ action: 'Allow' }] })).spec?.types, ['Egress']);
  });
  it('infers [Ingress, Egress] when there are both', () => {
    assert.deepEqual(accept(gnp({ ingress: [{ action: 'Deny' }], egress: [{ action: 'Allow' }] })).spec?.types, ['Ingress', 'Egress']);
  });
  it('infers types when an empty list is given', () => {
    assert.deepEqual(accept(gnp({ types: [], egress: [{ action: 'Allow' }] })).spec?.types, ['Egress']);
  });
  it('keeps explicit types even when they disagree with the rules', () => {
    assert.deepEqual(accept(np({ types: ['Egress'], ingress: [{ action: 'Allow' }] })).spec?.types, ['Egress']);
  });
  it('defaults the tier to default and labels the policy with its tier', () => {
    const res = accept(np({ selector: 'all()' }));
    assert.equal(res.spec?.tier, 'default');
    assert.deepEqual(res.metadata.labels, { 'projectcalico.org/tier': 'default' });
  });
  it('labels a policy in another tier with that tier and keeps its own labels', () => {
    const res = accept(gnp({ tier: 'devops', selector: 'all()' }, 'devops.thing', { app: 'x', 'projectcalico.org/tier': 'wrong' }));
    assert.equal(res.spec?.tier, 'devops');
    assert.deepEqual(res.metadata.labels, { app: 'x', 'projectcalico.org/tier': 'devops' });
  });
  it('puts a namespaced policy in the default namespace when it names none', () => {
    const res = accept({ apiVersion: API, kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: {} });
    assert.equal(res.metadata.namespace, 'default');
  });
  it('does not touch the input object', () => {
    const input = gnp({ ingress: [{ action: 'Allow' }] });
    const copy = JSON.parse(JSON.stringify(input));
    accept(input);
    assert.deepEqual(input, copy);
  });
  it('stores numeric protocol strings as numbers, as Calico marshals them', () => {
    const res = accept(gnp({ ingress: [{ action: 'Allow', protocol: '6', destination: { ports: ['80', '80:80', '90:100', 'http'] } }] }));
    const rule = (res.spec?.ingress as Array<Record<string, unknown>>)[0]!;
    assert.equal(rule.protocol, 6);
    assert.deepEqual((rule.destination as Record<string, unknown>).ports, [80, 80, '90:100', 'http']);
  });
  it('treats null fields as absent (Go decoding)', () => {
    const res = accept(gnp({ selector: 'all()', types: null, ingress: [{ action: 'Allow', source: null }], egress: null }));
    assert.deepEqual(res.spec?.types, ['Ingress']);
    assert.equal('egress' in (res.spec ?? {}), false);
  });
  it('does not infer types for a staged delete and keeps its tier', () => {
    const res = accept({ apiVersion: API, kind: 'StagedNetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { stagedAction: 'Delete', types: ['Ingress'] } });
    assert.equal(res.spec?.types, undefined);
    assert.equal(res.spec?.tier, 'default');
  });
  it('defaults a staged Kubernetes policy action to Set', () => {
    const res = accept({ apiVersion: API, kind: 'StagedKubernetesNetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { podSelector: {} } });
    assert.equal(res.spec?.stagedAction, 'Set');
  });
  it('defaults a tier to defaultAction Deny and keeps Pass', () => {
    assert.equal(accept(tier('t1', { order: 10 })).spec?.defaultAction, 'Deny');
    assert.equal(accept(tier('t2', { defaultAction: 'Pass' })).spec?.defaultAction, 'Pass');
  });
  it('labels a workload endpoint with its namespace and orchestrator', () => {
    const res = accept(wep({}, 'node1-k8s-pod1-eth0', 'prod'));
    assert.equal(res.metadata.labels?.['projectcalico.org/namespace'], 'prod');
    assert.equal(res.metadata.labels?.['projectcalico.org/orchestrator'], 'k8s');
  });
});

describe('tiers', () => {
  it('accepts the built-in tiers with their fixed orders and actions', () => {
    accept(tier('default', { order: 1_000_000 }));
    accept(tier('default', { order: 1_000_000, defaultAction: 'Deny' }));
    accept(tier('kube-admin', { order: 1000, defaultAction: 'Pass' }));
    accept(tier('kube-baseline', { order: 10_000_000, defaultAction: 'Pass' }));
  });
  it('rejects a default tier with another order or action', () => {
    reject(tier('default', {}), 'spec.order');
    reject(tier('default', { order: 100 }), 'spec.order');
    reject(tier('default', { order: 1_000_000, defaultAction: 'Pass' }), 'spec.defaultAction');
    reject(tier('kube-admin', { order: 1000 }), 'spec.defaultAction');
    reject(tier('kube-baseline', { order: 5, defaultAction: 'Pass' }), 'spec.order');
  });
  it('rejects an unknown defaultAction', () => {
    reject(tier('t', { defaultAction: 'Allow' }), 'spec.defaultAction');
    reject(tier('t', { defaultAction: 'deny' }), 'spec.defaultAction');
  });
  it('rejects a string order', () => {
    reject(tier('t', { order: '10' }), 'spec.order');
  });
});

describe('kind registry', () => {
  it('registers every policy-side kind under its manifest name', () => {
    for (const kind of ['NetworkPolicy', 'GlobalNetworkPolicy', 'StagedNetworkPolicy', 'StagedGlobalNetworkPolicy',
      'StagedKubernetesNetworkPolicy', 'Tier', 'NetworkSet', 'GlobalNetworkSet', 'HostEndpoint', 'WorkloadEndpoint', 'Profile']) {
      assert.equal(kindByExactName(kind)?.kind, kind);
    }
  });
  it('accepts the calicoctl aliases', () => {
    const expect: Record<string, string> = {
      policy: 'NetworkPolicy', policies: 'NetworkPolicy', np: 'NetworkPolicy', pol: 'NetworkPolicy', pols: 'NetworkPolicy',
      networkpolicies: 'NetworkPolicy', gnp: 'GlobalNetworkPolicy', gnps: 'GlobalNetworkPolicy',
      GlobalNetworkPolicies: 'GlobalNetworkPolicy', snp: 'StagedNetworkPolicy', spol: 'StagedNetworkPolicy',
      stagedpolicies: 'StagedNetworkPolicy', sgnp: 'StagedGlobalNetworkPolicy', sknp: 'StagedKubernetesNetworkPolicy',
      skpols: 'StagedKubernetesNetworkPolicy', tiers: 'Tier', netsets: 'NetworkSet', gnetsets: 'GlobalNetworkSet',
      hep: 'HostEndpoint', heps: 'HostEndpoint', wep: 'WorkloadEndpoint', weps: 'WorkloadEndpoint', pro: 'Profile', pros: 'Profile',
    };
    for (const [alias, kind] of Object.entries(expect)) assert.equal(findKind(alias)?.kind, kind, alias);
  });
  it('marks the namespaced kinds', () => {
    const namespaced = policyKinds.filter((k) => k.namespaced).map((k) => k.kind).sort();
    assert.deepEqual(namespaced, ['NetworkPolicy', 'NetworkSet', 'StagedKubernetesNetworkPolicy', 'StagedNetworkPolicy', 'WorkloadEndpoint']);
  });
  it('rejects a namespace on a cluster-scoped kind', () => {
    reject({ apiVersion: API, kind: 'GlobalNetworkPolicy', metadata: { name: 'x', namespace: 'ns' }, spec: {} }, 'metadata.namespace');
  });
});

describe('table columns', () => {
  const cells = (kind: string, res: Resource, wide: boolean): string[] => {
    const def = kindByExactName(kind)!;
    return tableColumns(def, wide).map((c) => `${c.header}=${c.value(res)}`);
  };
  it('formats floats as Go %v does', () => {
    assert.equal(formatGoFloat(1000), '1000');
    assert.equal(formatGoFloat(255), '255');
    assert.equal(formatGoFloat(1_000_000), '1e+06');
    assert.equal(formatGoFloat(10_000_000), '1e+07');
    assert.equal(formatGoFloat(1_234_567), '1.234567e+06');
    assert.equal(formatGoFloat(123_456), '123456');
    assert.equal(formatGoFloat(0.5), '0.5');
    assert.equal(formatGoFloat(0.00001), '1e-05');
    assert.equal(formatGoFloat(0), '0');
    assert.equal(formatGoFloat(-10), '-10');
  });
  it('shows tier, order and selector for policies', () => {
    const res = accept(np({ order: 100, selector: "app == 'x'" }));
    assert.deepEqual(cells('NetworkPolicy', res, false), ['TIER=default']);
    assert.deepEqual(cells('NetworkPolicy', res, true), ['TIER=default', 'ORDER=100', "SELECTOR=app == 'x'"]);
    const unordered = accept(gnp({}));
    assert.deepEqual(cells('GlobalNetworkPolicy', unordered, true), ['TIER=default', 'ORDER=<nil>', 'SELECTOR=']);
  });
  it('shows tier order in Go float form', () => {
    assert.deepEqual(cells('Tier', accept(tier('default', { order: 1_000_000 })), false), ['ORDER=1e+06']);
  });
  it('shows host endpoint fields', () => {
    const res = accept({ apiVersion: API, kind: 'HostEndpoint', metadata: { name: 'h' },
      spec: { node: 'n1', interfaceName: 'eth0', expectedIPs: ['10.0.0.1', '10.0.0.2'], profiles: ['a', 'b'] } });
    assert.deepEqual(cells('HostEndpoint', res, false), ['NODE=n1']);
    assert.deepEqual(cells('HostEndpoint', res, true), ['NODE=n1', 'INTERFACE=eth0', 'IPS=10.0.0.1,10.0.0.2', 'PROFILES=a,b']);
  });
  it('shows workload endpoint fields', () => {
    const res = accept(wep({ ipNetworks: ['10.0.0.1/32'], profiles: ['kns.default'], ipNATs: [{ internalIP: '10.0.0.1', externalIP: '1.2.3.4' }] }));
    assert.deepEqual(cells('WorkloadEndpoint', res, false), ['WORKLOAD=pod1', 'NODE=node1', 'NETWORKS=10.0.0.1/32', 'INTERFACE=cali0123456789a']);
    assert.deepEqual(cells('WorkloadEndpoint', res, true).slice(4), ['PROFILES=kns.default', 'NATS={10.0.0.1 1.2.3.4}']);
  });
  it('truncates network set nets at 80 characters', () => {
    const nets = Array.from({ length: 12 }, (_, i) => `10.${i}.0.0/16`);
    const res = accept({ apiVersion: API, kind: 'GlobalNetworkSet', metadata: { name: 's' }, spec: { nets } });
    const cell = kindByExactName('GlobalNetworkSet')!.wideColumns[0]!.value(res);
    assert.equal(cell.length, 80);
    assert.ok(cell.endsWith('...'));
    assert.equal(joinAndTruncate(['a', 'b'], ',', 80), 'a,b');
  });
  it('shows profile labels sorted as k=v', () => {
    const res = accept({ apiVersion: API, kind: 'Profile', metadata: { name: 'p' }, spec: { labelsToApply: { z: '1', a: '2' } } });
    assert.deepEqual(cells('Profile', res, true), ['LABELS=a=2,z=1']);
  });
  it('shows a staged Kubernetes policy pod selector', () => {
    const res = accept({ apiVersion: API, kind: 'StagedKubernetesNetworkPolicy', metadata: { name: 'p', namespace: 'n' },
      spec: { podSelector: { matchLabels: { role: 'db' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] } } });
    assert.deepEqual(cells('StagedKubernetesNetworkPolicy', res, true), ['PODSELECTOR=role=db,tier in (a,b)']);
  });
});

describe('error reporting', () => {
  it('reports every rule problem with its full path', () => {
    const issues = issuesOf(gnp({
      ingress: [
        { action: 'Allow', destination: { ports: [80] } },
        { action: 'Allow', protocol: 'ICMP', ipVersion: 6, icmp: { code: 3 } },
      ],
    }));
    const paths = issues?.map((i) => i.path).sort();
    assert.deepEqual(paths, ['spec.ingress[0].destination.ports', 'spec.ingress[1].icmp.code', 'spec.ingress[1].ipVersion']);
  });
  it('rejects unknown fields at any depth', () => {
    reject(gnp({ selector: 'all()', foo: 1 }), 'spec');
    reject(gnp({ ingress: [{ action: 'Allow', sauce: {} }] }), 'spec.ingress[0]');
    reject(gnp({ ingress: [{ action: 'Allow', source: { nest: [] } }] }), 'spec.ingress[0].source');
    reject(gnp({ ingress: [{ action: 'Allow', protocol: 'ICMP', icmp: { type: 8, kode: 0 } }] }), 'spec.ingress[0].icmp');
    reject(tier('t', { ordr: 1 }), 'spec');
  });
  it('rejects fields of GlobalNetworkPolicy on a NetworkPolicy', () => {
    reject(np({ namespaceSelector: 'all()' }), 'spec');
    reject(np({ preDNAT: true }), 'spec');
  });
});
