/**
 * NetworkPolicies from the Kubernetes API converted rule by rule: what cannot be converted is
 * dropped and reported, never widening access (the policy's isolation stays).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertNetworkPolicyRuleByRule, convertKubernetesResource, serviceAccountToProfile } from '../../src/api/k8s/mod.ts';

function np(spec: Record<string, unknown>, name = 'p'): Record<string, unknown> {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: 'ns', resourceVersion: '7', managedFields: [] }, spec };
}

const web = { podSelector: { matchLabels: { app: 'web' } } };

describe('convertNetworkPolicyRuleByRule', () => {
  it('converts a valid policy exactly as convertKubernetesResource does, dropping nothing', () => {
    const spec = { ...web, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'a' } } }], ports: [{ port: 80 }] }], policyTypes: ['Ingress'] };
    const { resource, dropped } = convertNetworkPolicyRuleByRule(np(spec));
    const strict = convertKubernetesResource({ ...np(spec), metadata: { name: 'p', namespace: 'ns' } });
    assert.deepEqual(dropped, []);
    assert.deepEqual(resource.spec, strict.spec);
  });

  it('drops a rule with a field it does not know, keeps the others and the policy types', () => {
    const spec = {
      ...web,
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ podSelector: { matchLabels: { app: 'a' } } }] },
        { from: [{ serviceAccountSelector: { matchLabels: { sa: 'x' } } }] }, // a future peer kind
        { ports: [{ port: 'http' }] },
      ],
    };
    const { resource, dropped } = convertNetworkPolicyRuleByRule(np(spec));
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.direction, 'ingress');
    assert.equal(dropped[0]!.index, 1);
    assert.match(dropped[0]!.reason, /spec\.ingress\[1\]\.from\[0\].*serviceAccountSelector/);
    const s = resource.spec as { types: string[]; ingress: { source?: { selector?: string }; destination?: { ports?: unknown[] } }[] };
    assert.deepEqual(s.types, ['Ingress']);
    assert.equal(s.ingress.length, 2);
    assert.equal(s.ingress[0]!.source?.selector, "projectcalico.org/orchestrator == 'k8s' && app == 'a'");
    assert.deepEqual(s.ingress[1]!.destination?.ports, ['http']);
  });

  it('keeps isolating when every rule is dropped: egress stays a policy type even with no egress rule left', () => {
    const spec = { ...web, egress: [{ to: [{ ipBlock: { cidr: 'not-a-cidr' } }] }] }; // no policyTypes: from the rules as written
    const { resource, dropped } = convertNetworkPolicyRuleByRule(np(spec));
    assert.equal(dropped.length, 1);
    assert.match(dropped[0]!.reason, /spec\.egress\[0\]\.to\[0\]\.ipBlock\.cidr/);
    const s = resource.spec as { types: string[]; egress?: unknown[]; selector: string };
    assert.deepEqual(s.types, ['Ingress', 'Egress'], 'the pods stay isolated for egress: nothing is allowed');
    assert.equal(s.egress, undefined);
    assert.equal(s.selector, "projectcalico.org/orchestrator == 'k8s' && app == 'web'");
  });

  it('drops a rule whose port Calico refuses', () => {
    const spec = { ...web, policyTypes: ['Ingress'], ingress: [{ ports: [{ port: 70000 }] }, { ports: [{ port: 81 }] }] };
    const { resource, dropped } = convertNetworkPolicyRuleByRule(np(spec));
    assert.deepEqual(dropped.map((d) => `${d.direction}[${d.index}]`), ['ingress[0]']);
    assert.deepEqual((resource.spec as { ingress: { destination: { ports: number[] } }[] }).ingress.map((r) => r.destination.ports), [[81]]);
  });

  it('isolates every pod of the namespace when the podSelector itself cannot be converted', () => {
    const spec = { podSelector: { matchExpressions: [{ key: 'app', operator: 'Near', values: ['x'] }] }, ingress: [{}] };
    const { resource, dropped } = convertNetworkPolicyRuleByRule(np(spec));
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.direction, 'policy');
    const s = resource.spec as { selector: string; ingress?: unknown[]; types: string[] };
    assert.equal(s.selector, "projectcalico.org/orchestrator == 'k8s'");
    assert.equal(s.ingress, undefined);
    assert.deepEqual(s.types, ['Ingress']);
    assert.equal(resource.metadata.name, 'knp.default.p');
  });

  it('refuses an object with no name', () => {
    assert.throws(() => convertNetworkPolicyRuleByRule({ metadata: {} }), /metadata\.name/);
  });
});

describe('ServiceAccount → Profile', () => {
  it('names it ksa.<ns>.<sa> and applies the labels as pcsa.*', () => {
    const p = serviceAccountToProfile({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop', labels: { tier: 'x' } } });
    assert.equal(p.metadata.name, 'ksa.shop.api');
    assert.deepEqual((p.spec as { labelsToApply: Record<string, string> }).labelsToApply, { 'pcsa.tier': 'x', 'pcsa.projectcalico.org/name': 'api' });
    const viaDecode = convertKubernetesResource({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop' } });
    assert.equal(viaDecode.kind, 'Profile');
  });
});
