// Policy resolver and endpoint plans: tier and policy ordering, types, host-endpoint splits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostEndpointData, workloadEndpointData } from '../../src/calc/endpoint-data.ts';
import type { HostEndpointPlan, WorkloadEndpointPlan } from '../../src/calc/model.ts';
import { policyData, tierData } from '../../src/calc/policy-data.ts';
import { PolicyResolver } from '../../src/calc/policy-resolver.ts';
import { gnp, np, resource, wep } from './helpers.ts';

function setup() {
  const workloads = new Map<string, WorkloadEndpointPlan>();
  const heps = new Map<string, HostEndpointPlan>();
  const removed: string[] = [];
  const resolver = new PolicyResolver({
    onWorkloadUpdate: (p) => workloads.set(p.key, p),
    onWorkloadRemove: (k) => removed.push(k),
    onHostEndpointUpdate: (p) => heps.set(p.key, p),
    onHostEndpointRemove: (k) => removed.push(k),
  });
  const tier = (name: string, order?: number, defaultAction?: 'Pass') => {
    const spec: Record<string, unknown> = {};
    if (order !== undefined) spec.order = order;
    if (defaultAction !== undefined) spec.defaultAction = defaultAction;
    resolver.onTierUpdate(name, tierData(name, resource('Tier', name, spec)));
  };
  const policy = (r: ReturnType<typeof gnp>, ...endpoints: string[]) => {
    const data = policyData(r.metadata.namespace, r.metadata.name, r);
    resolver.onPolicyUpdate(data.key, data);
    // Each policy a group of its own here (the label index groups policies with equal selectors).
    const group = { ids: new Set([data.key]), members: { size: 0 } };
    for (const e of endpoints) {
      group.members.size++;
      resolver.onGroupMatch(group, e);
    }
    return data.key;
  };
  return { resolver, workloads, heps, removed, tier, policy };
}

const W = 'wep/a/w1';
const wepData = () => workloadEndpointData('a', 'w1', wep('a', 'w1', { ips: ['10.0.0.1'] }));

describe('policy resolver - ordering', () => {
  it('orders tiers by (order, name) and policies by (order, name), unset order last', () => {
    const { resolver, workloads, tier, policy } = setup();
    tier('default', 1_000_000);
    tier('security', 100);
    tier('audit', 100);
    tier('late');
    resolver.onEndpointUpdate(W, wepData());
    policy(gnp('z-late', { tier: 'late', selector: 'all()' }), W);
    policy(gnp('d-none', { selector: 'all()' }), W);
    policy(gnp('d-10', { order: 10, selector: 'all()' }), W);
    policy(np('a', 'd-10', { order: 10, selector: 'all()' }), W);
    policy(gnp('d-5', { order: 5, selector: 'all()' }), W);
    policy(gnp('s-1', { tier: 'security', order: 1, selector: 'all()' }), W);
    policy(gnp('a-1', { tier: 'audit', order: 1, selector: 'all()' }), W);
    resolver.flush();
    const plan = workloads.get('a/w1')!;
    assert.deepEqual(
      plan.tiers.map((t) => [t.name, t.ingress]),
      [
        ['audit', ['gnp/a-1']],
        ['security', ['gnp/s-1']],
        // Name tie-break on Felix's name: "a/d-10" (namespace/name) sorts before "d-10".
        ['default', ['gnp/d-5', 'np/a/d-10', 'gnp/d-10', 'gnp/d-none']],
        ['late', ['gnp/z-late']],
      ],
    );
  });

  it('lists a policy per direction by its types (explicit or inferred)', () => {
    const { resolver, workloads, tier, policy } = setup();
    tier('default', 1_000_000);
    resolver.onEndpointUpdate(W, wepData());
    policy(gnp('in-only', { order: 1, ingress: [{ action: 'Allow' }] }), W);
    policy(gnp('out-only', { order: 2, egress: [{ action: 'Allow' }] }), W);
    policy(gnp('both', { order: 3, ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }), W);
    policy(gnp('typed', { order: 4, types: ['Egress'] }), W);
    resolver.flush();
    const t = workloads.get('a/w1')!.tiers[0]!;
    assert.deepEqual(t.ingress, ['gnp/in-only', 'gnp/both']);
    assert.deepEqual(t.egress, ['gnp/out-only', 'gnp/both', 'gnp/typed']);
  });

  it('carries the tier default action; a reorder re-plans matching endpoints only', () => {
    const { resolver, workloads, tier, policy } = setup();
    tier('default', 1_000_000);
    tier('pass', 10, 'Pass');
    resolver.onEndpointUpdate(W, wepData());
    resolver.onEndpointUpdate('wep/a/other', workloadEndpointData('a', 'other', wep('a', 'other', { ips: ['10.0.0.2'] })));
    policy(gnp('p', { tier: 'pass', selector: 'all()' }), W);
    assert.equal(resolver.flush(), 2);
    assert.deepEqual(workloads.get('a/w1')!.tiers.map((t) => [t.name, t.defaultAction]), [['pass', 'Pass']]);
    tier('pass', 2_000_000, 'Pass');
    assert.equal(resolver.flush(), 1, 'only the endpoint the tier’s policy matches');
    policy(gnp('p', { tier: 'pass', order: 3, selector: 'all()' }));
    assert.equal(resolver.flush(), 1);
    policy(gnp('p', { tier: 'pass', order: 3, selector: "x == 'y'" }));
    assert.equal(resolver.flush(), 0, 'a selector change alone does not reorder');
  });

  it('reports removal of deleted endpoints', () => {
    const { resolver, removed } = setup();
    resolver.onEndpointUpdate(W, wepData());
    resolver.flush();
    resolver.onEndpointUpdate(W, undefined);
    resolver.flush();
    assert.deepEqual(removed, ['a/w1']);
  });
});

describe('endpoint plans', () => {
  it('a workload plan carries addresses, profiles, MAC and spoofing exceptions', () => {
    const { resolver, workloads } = setup();
    const r = wep('a', 'w1', { ips: ['10.0.0.1', 'fd00::1'], profiles: ['kns.a', 'ksa.a.default'], allowSpoofedSourcePrefixes: ['192.0.2.0/24'], iface: 'cali123' });
    (r.spec as Record<string, unknown>).mac = 'aa:bb:cc:dd:ee:ff';
    resolver.onEndpointUpdate(W, workloadEndpointData('a', 'w1', r));
    resolver.flush();
    assert.deepEqual(workloads.get('a/w1'), {
      key: 'a/w1',
      interfaceName: 'cali123',
      addresses: ['10.0.0.1/32', 'fd00::1/128'],
      allowSpoofedSourcePrefixes: ['192.0.2.0/24'],
      tiers: [],
      profiles: ['pro/kns.a', 'pro/ksa.a.default'],
      mac: 'aa:bb:cc:dd:ee:ff',
    });
  });

  it('workloads skip doNotTrack and preDNAT policies; host endpoints split them', () => {
    const { resolver, workloads, heps, tier, policy } = setup();
    tier('default', 1_000_000);
    const H = 'hep/h1';
    resolver.onEndpointUpdate(W, wepData());
    resolver.onEndpointUpdate(H, hostEndpointData('h1', resource('HostEndpoint', 'h1', { node: 'node-1', interfaceName: 'eth0', expectedIPs: ['192.0.2.1'], profiles: ['p'] })));
    policy(gnp('normal', { order: 1, ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }), W, H);
    policy(gnp('fwd', { order: 2, applyOnForward: true, ingress: [{ action: 'Allow' }] }), W, H);
    policy(gnp('untracked', { order: 3, applyOnForward: true, doNotTrack: true, ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] }), W, H);
    policy(gnp('prednat', { order: 4, applyOnForward: true, preDNAT: true, ingress: [{ action: 'Allow' }] }), W, H);
    resolver.flush();
    assert.deepEqual(workloads.get('a/w1')!.tiers, [{ name: 'default', defaultAction: 'Deny', ingress: ['gnp/normal', 'gnp/fwd'], egress: ['gnp/normal'] }]);
    const h = heps.get('h1')!;
    assert.deepEqual(h.tiers, [{ name: 'default', defaultAction: 'Deny', ingress: ['gnp/normal', 'gnp/fwd'], egress: ['gnp/normal'] }]);
    assert.deepEqual(h.forwardTiers, [{ name: 'default', defaultAction: 'Deny', ingress: ['gnp/fwd'], egress: [] }]);
    assert.deepEqual(h.untrackedTiers, [{ name: 'default', defaultAction: 'Pass', ingress: ['gnp/untracked'], egress: ['gnp/untracked'] }]);
    assert.deepEqual(h.preDnatTiers, [{ name: 'default', defaultAction: 'Pass', ingress: ['gnp/prednat'], egress: [] }]);
    assert.deepEqual(h.addresses, ['192.0.2.1/32']);
    assert.deepEqual(h.profiles, ['pro/p']);
    assert.equal(h.interfaceName, 'eth0');
  });
});
