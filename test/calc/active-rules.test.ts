// Active-rules calculator: policies and profiles become active with local endpoints; tiers gate
// policies; missing profiles deny.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActiveRulesCalculator } from '../../src/calc/active-rules.ts';
import { workloadEndpointData } from '../../src/calc/endpoint-data.ts';
import { policyData, profileData } from '../../src/calc/policy-data.ts';
import type { SelectorGroup } from '../../src/selector/mod.ts';
import { gnp, np, nsProfile, resource, wep } from './helpers.ts';

function setup(): { arc: ActiveRulesCalculator; events: string[] } {
  const events: string[] = [];
  // Group reports told as the per-policy matches they stand for (`match <policy> <endpoint>`).
  const endpointsOf = new Map<SelectorGroup, Set<string>>();
  const filed = new Map<SelectorGroup, Set<string>>();
  const each = (g: SelectorGroup, fn: (key: string) => void) => [...g.ids].sort().forEach(fn);
  const arc = new ActiveRulesCalculator(
    {
      onPolicyActive: (p) => events.push(`active ${p.key}`),
      onPolicyInactive: (k) => events.push(`inactive ${k}`),
      onProfileActive: (p) => events.push(`profile ${p.key}${p.missing ? ' (missing)' : ''}`),
      onProfileInactive: (k) => events.push(`profile-inactive ${k}`),
    },
    {
      onGroupMatch: (g, e) => {
        endpointsOf.set(g, (endpointsOf.get(g) ?? new Set()).add(e));
        if (!filed.has(g)) filed.set(g, new Set(g.ids));
        each(g, (p) => events.push(`match ${p} ${e}`));
      },
      onGroupMatchStopped: (g, e) => {
        endpointsOf.get(g)?.delete(e);
        each(g, (p) => events.push(`unmatch ${p} ${e}`));
      },
      onGroupChanged: (g) => {
        // The policies that joined or left the group, for each endpoint it has.
        const before = filed.get(g) ?? new Set<string>();
        const eps = [...(endpointsOf.get(g) ?? [])].sort();
        for (const p of [...before].sort()) if (!g.ids.has(p)) for (const e of eps) events.push(`unmatch ${p} ${e}`);
        each(g, (p) => {
          if (!before.has(p)) for (const e of eps) events.push(`match ${p} ${e}`);
        });
        filed.set(g, new Set(g.ids));
      },
    },
  );
  return { arc, events };
}

const ep = (ns: string, name: string, labels: Record<string, string> = {}, profiles?: string[]) =>
  workloadEndpointData(ns, name, wep(ns, name, { labels, ips: ['10.0.0.1'], ...(profiles ? { profiles } : {}) }));

const pol = (r: ReturnType<typeof np>) => policyData(r.metadata.namespace, r.metadata.name, r);

describe('active rules', () => {
  it('a policy is active while it matches a local endpoint', () => {
    const { arc, events } = setup();
    arc.onTierUpdate('default', true);
    const p = pol(gnp('web', { selector: "app == 'web'", ingress: [{ action: 'Allow' }] }));
    arc.onPolicyUpdate(p.key, p);
    assert.equal(events.length, 0, 'no local endpoint matches yet');
    arc.onEndpointUpdate('wep/a/w1', ep('a', 'w1', { app: 'web' }));
    arc.onEndpointUpdate('wep/a/w2', ep('a', 'w2', { app: 'web' }));
    assert.deepEqual(events.filter((e) => !e.startsWith('profile')), ['active gnp/web', 'match gnp/web wep/a/w1', 'match gnp/web wep/a/w2']);
    events.length = 0;
    arc.onEndpointUpdate('wep/a/w1', undefined);
    arc.onEndpointUpdate('wep/a/w2', ep('a', 'w2', { app: 'db' }));
    assert.deepEqual(events.filter((e) => !e.startsWith('profile')), ['unmatch gnp/web wep/a/w1', 'unmatch gnp/web wep/a/w2', 'inactive gnp/web']);
    assert.deepEqual(arc.activePolicies(), []);
  });

  it('a NetworkPolicy only selects endpoints of its namespace', () => {
    const { arc } = setup();
    arc.onTierUpdate('default', true);
    const p = pol(np('a', 'all', { selector: 'all()' }));
    arc.onPolicyUpdate(p.key, p);
    arc.onEndpointUpdate('wep/a/w1', ep('a', 'w1'));
    arc.onEndpointUpdate('wep/b/w1', ep('b', 'w1'));
    assert.deepEqual(arc.activePolicies(), ['np/a/all']);
  });

  it('a policy whose tier does not exist does not apply until the tier appears', () => {
    const { arc, events } = setup();
    const p = pol(gnp('t1', { tier: 'security', selector: 'all()' }));
    arc.onPolicyUpdate(p.key, p);
    arc.onEndpointUpdate('wep/a/w1', ep('a', 'w1'));
    assert.deepEqual(arc.activePolicies(), []);
    arc.onTierUpdate('security', true);
    assert.deepEqual(arc.activePolicies(), ['gnp/t1']);
    arc.onTierUpdate('security', false);
    assert.deepEqual(arc.activePolicies(), []);
    assert.ok(events.includes('inactive gnp/t1'));
  });

  it('a content change of an active policy re-reports it; a selector-only change does not', () => {
    const { arc, events } = setup();
    arc.onTierUpdate('default', true);
    arc.onEndpointUpdate('wep/a/w1', ep('a', 'w1', { app: 'web', tier: 'fe' }));
    const v1 = pol(gnp('p', { selector: "app == 'web'", ingress: [{ action: 'Allow' }] }));
    arc.onPolicyUpdate(v1.key, v1);
    events.length = 0;
    const v2 = pol(gnp('p', { selector: "tier == 'fe'", ingress: [{ action: 'Allow' }] }));
    arc.onPolicyUpdate(v2.key, v2);
    // The policy left one selector's group and joined another's, both matching w1: told as such
    // (the resolver plans w1 again, to the same plan), and not re-reported active.
    assert.deepEqual(events, ['unmatch gnp/p wep/a/w1', 'match gnp/p wep/a/w1']);
    events.length = 0;
    const v3 = pol(gnp('p', { selector: "tier == 'fe'", ingress: [{ action: 'Deny' }] }));
    arc.onPolicyUpdate(v3.key, v3);
    assert.deepEqual(events, ['active gnp/p']);
  });

  it('policy selectors see profile labels', () => {
    const { arc } = setup();
    arc.onTierUpdate('default', true);
    const p = pol(gnp('blue', { selector: "pcns.team == 'blue'" }));
    arc.onPolicyUpdate(p.key, p);
    arc.onEndpointUpdate('wep/a/w1', ep('a', 'w1'));
    assert.deepEqual(arc.activePolicies(), []);
    arc.onProfileUpdate('kns.a', profileData('kns.a', nsProfile('a', { team: 'blue' })));
    assert.deepEqual(arc.activePolicies(), ['gnp/blue']);
  });

  it('profiles are active while a local endpoint lists them; missing ones deny', () => {
    const { arc, events } = setup();
    arc.onProfileUpdate('kns.a', profileData('kns.a', nsProfile('a')));
    assert.deepEqual(events, []);
    arc.onEndpointUpdate('wep/a/w1', ep('a', 'w1', {}, ['kns.a', 'ghost']));
    arc.onEndpointUpdate('wep/a/w2', ep('a', 'w2', {}, ['kns.a']));
    assert.deepEqual(events, ['profile pro/kns.a', 'profile pro/ghost (missing)']);
    events.length = 0;
    arc.onProfileUpdate('ghost', profileData('ghost', resource('Profile', 'ghost', { ingress: [{ action: 'Allow' }] })));
    arc.onProfileUpdate('kns.a', undefined);
    assert.deepEqual(events, ['profile pro/ghost', 'profile pro/kns.a (missing)']);
    events.length = 0;
    arc.onEndpointUpdate('wep/a/w1', undefined);
    assert.deepEqual(events, ['profile-inactive pro/ghost']);
    arc.onEndpointUpdate('wep/a/w2', undefined);
    assert.deepEqual(events, ['profile-inactive pro/ghost', 'profile-inactive pro/kns.a']);
    assert.deepEqual(arc.activeProfiles(), []);
  });

  it('a deleted policy reports its unmatches, then inactive', () => {
    const { arc, events } = setup();
    arc.onTierUpdate('default', true);
    arc.onEndpointUpdate('wep/a/w1', ep('a', 'w1'));
    const p = pol(gnp('p', { selector: 'all()' }));
    arc.onPolicyUpdate(p.key, p);
    events.length = 0;
    arc.onPolicyUpdate(p.key, undefined);
    assert.deepEqual(events, ['unmatch gnp/p wep/a/w1', 'inactive gnp/p']);
  });
});
