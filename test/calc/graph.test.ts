// The whole graph: datastore updates in, ordered and coalesced dataplane updates out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildCalcGraph, keyOfResource, ModelSnapshot } from '../../src/calc/mod.ts';
import { parseSelector } from '../../src/selector/mod.ts';
import { builtinTiers, gnp, Harness, np, nsProfile, resource, summary, types, wep } from './helpers.ts';

const sel = (text: string) => parseSelector(text).id;

describe('graph - snapshot and in-sync', () => {
  it('sends nothing before in-sync, then the whole consistent state, then in-sync', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w1', { labels: { app: 'web' }, ips: ['10.0.0.1'] }));
    h.put(gnp('allow-web', { selector: "app == 'web'", ingress: [{ action: 'Allow', source: { selector: "app == 'web'" } }] }));
    assert.deepEqual(h.flush(), []);
    const batch = h.sync();
    assert.deepEqual(summary(batch), [
      'settings',
      `ipset-update ${sel('app == "web"')} [10.0.0.1/32]`,
      'policy-update gnp/allow-web',
      'policy-update pro/kns.a',
      'workload-update a/w1',
      'route-update workload 10.0.0.1/32',
      'in-sync',
    ]);
    assert.deepEqual(h.model.checkReferences(), []);
    assert.deepEqual(h.flush(), []);
  });

  it('feeds syncer events: JSON values, deletes, in-sync; bad JSON is a warning', () => {
    const warnings: string[] = [];
    const graph = buildCalcGraph({ hostname: 'node-1', onWarning: (m) => warnings.push(m) });
    const w = wep('a', 'w1', { ips: ['10.0.0.1'] });
    const kv = (key: string, value: string) => ({ type: 'update' as const, kv: { key, value, modRevision: 1, createRevision: 1 } });
    graph.onSyncerEvents([
      { type: 'status', state: 'resyncing' },
      kv(keyOfResource(w), JSON.stringify(w)),
      kv(keyOfResource(nsProfile('a')), '{not json'),
      { type: 'in-sync' },
    ]);
    assert.equal(graph.inSync, true);
    assert.equal(warnings.length, 1);
    const model = new ModelSnapshot().applyAll(graph.flush());
    assert.deepEqual([...model.workloads.keys()], ['a/w1']);
    graph.onSyncerEvents([{ type: 'delete', key: keyOfResource(w), revision: 2 }]);
    assert.deepEqual(summary(graph.flush()), ['route-remove 10.0.0.1/32', 'workload-remove a/w1', 'policy-remove pro/kns.a']);
  });
});

describe('graph - local endpoints', () => {
  it('plans only this host’s endpoints; remote endpoints still fill IP sets', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'));
    h.put(wep('a', 'local', { labels: { app: 'web' }, ips: ['10.0.0.1'] }));
    h.put(wep('a', 'remote', { node: 'node-2', labels: { app: 'web' }, ips: ['10.0.1.1'] }));
    h.put(gnp('p', { selector: "app == 'web'", ingress: [{ action: 'Allow', source: { selector: "app == 'web'" } }] }));
    h.sync();
    assert.deepEqual([...h.model.workloads.keys()], ['a/local']);
    assert.deepEqual([...h.model.ipSets.get(sel('app == "web"'))!.members].sort(), ['10.0.0.1/32', '10.0.1.1/32']);
    assert.deepEqual([...h.model.routes.keys()], ['10.0.0.1/32']);
  });

  it('a policy that matches only remote endpoints is not sent', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'));
    h.put(wep('a', 'remote', { node: 'node-2', labels: { app: 'db' }, ips: ['10.0.1.1'] }));
    h.put(gnp('db', { selector: "app == 'db'", ingress: [{ action: 'Allow', source: { selector: "app == 'x'" } }] }));
    h.sync();
    assert.deepEqual([...h.model.policies.keys()], []);
    assert.deepEqual([...h.model.ipSets.keys()], []);
    h.put(wep('a', 'local', { labels: { app: 'db' }, ips: ['10.0.0.1'] }));
    assert.deepEqual(summary(h.flush()), [
      `ipset-update ${sel('app == "x"')} []`,
      'policy-update gnp/db',
      'policy-update pro/kns.a',
      'workload-update a/local',
      'route-update workload 10.0.0.1/32',
    ]);
  });

  it('an endpoint moving to another host is removed here', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w', { ips: ['10.0.0.1'] }));
    h.sync();
    h.put(wep('a', 'w', { node: 'node-2', ips: ['10.0.0.1'] }));
    assert.deepEqual(summary(h.flush()), ['route-remove 10.0.0.1/32', 'workload-remove a/w', 'policy-remove pro/kns.a']);
  });

  it("mode 'all' plans every endpoint and computes no routes", () => {
    const h = new Harness({ mode: 'all' });
    h.put(...builtinTiers(), nsProfile('a'));
    h.put(wep('a', 'w1', { ips: ['10.0.0.1'] }), wep('a', 'w2', { node: 'node-9', ips: ['10.0.0.2'] }));
    h.graph.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26', { cidr: '10.0.0.0/26', affinity: 'host:node-1' });
    h.sync();
    assert.deepEqual([...h.model.workloads.keys()].sort(), ['a/w1', 'a/w2']);
    assert.equal(h.model.routes.size, 0);
  });

  it('host endpoints on this host are planned with their tiers', () => {
    const h = new Harness();
    h.put(...builtinTiers());
    h.put(resource('HostEndpoint', 'h1', { node: 'node-1', interfaceName: 'eth0', expectedIPs: ['192.0.2.1'] }, { labels: { role: 'gw' } }));
    h.put(resource('HostEndpoint', 'h2', { node: 'node-2', interfaceName: 'eth0', expectedIPs: ['192.0.2.2'] }, { labels: { role: 'gw' } }));
    h.put(gnp('hep', { selector: "role == 'gw'", ingress: [{ action: 'Allow' }] }));
    h.sync();
    assert.deepEqual([...h.model.hostEndpoints.keys()], ['h1']);
    assert.deepEqual(h.model.hostEndpoints.get('h1')!.tiers, [{ name: 'default', defaultAction: 'Deny', ingress: ['gnp/hep'], egress: [] }]);
  });
});

describe('graph - changes', () => {
  it('ignores staged policies and unknown keys', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w', { ips: ['10.0.0.1'] }));
    h.sync();
    h.put(resource('StagedGlobalNetworkPolicy', 'st', { selector: 'all()', ingress: [{ action: 'Deny' }] }));
    h.put(resource('StagedNetworkPolicy', 'st', { selector: 'all()', ingress: [{ action: 'Deny' }] }, { namespace: 'a' }));
    h.graph.onUpdate('/calico/something/else', { x: 1 });
    assert.deepEqual(h.flush(), []);
  });

  it('a policy deleted: endpoint updated before policy and set removals', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w', { labels: { app: 'web' }, ips: ['10.0.0.1'] }));
    const p = np('a', 'p', { selector: "app == 'web'", ingress: [{ action: 'Allow', source: { selector: "app == 'web'" } }] });
    h.put(p);
    h.sync();
    h.del(p);
    const id = sel(`(projectcalico.org/namespace == 'a') && (app == 'web')`);
    assert.deepEqual(summary(h.flush()), ['workload-update a/w', 'policy-remove np/a/p', `ipset-remove ${id}`]);
    assert.deepEqual(h.model.workloads.get('a/w')!.tiers, []);
  });

  it('a policy added and removed between flushes sends nothing', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w', { ips: ['10.0.0.1'] }));
    h.sync();
    const p = gnp('p', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: "x == 'y'" } }] });
    h.put(p).del(p);
    assert.deepEqual(h.flush(), []);
  });

  it('an invalid selector is a warning and the policy is ignored', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w', { ips: ['10.0.0.1'] }));
    h.put(gnp('bad', { selector: 'app ==' }));
    h.sync();
    assert.equal(h.warnings.length, 1);
    assert.match(h.warnings[0]!, /globalnetworkpolicies bad/);
    assert.equal(h.model.policies.has('gnp/bad'), false);
  });

  it('a namespace label change moves members of pcns.* sets', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a', { team: 'red' }), nsProfile('b', { team: 'blue' }));
    h.put(wep('a', 'w', { labels: { app: 'web' }, ips: ['10.0.0.1'] }), wep('b', 'v', { ips: ['10.0.0.2'] }));
    h.put(np('a', 'from-blue', { selector: 'all()', ingress: [{ action: 'Allow', source: { namespaceSelector: "team == 'blue'" } }] }));
    h.sync();
    const id = sel('pcns.team == "blue"');
    assert.deepEqual([...h.model.ipSets.get(id)!.members], ['10.0.0.2/32']);
    h.put(nsProfile('a', { team: 'blue' }));
    assert.deepEqual(summary(h.flush()), [`ipset-delta ${id} +[10.0.0.1/32] -[]`]);
  });

  it('a Log prefix change recompiles only policies with Log rules', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w', { ips: ['10.0.0.1'] }));
    h.put(gnp('logs', { selector: 'all()', ingress: [{ action: 'Log' }, { action: 'Allow' }] }));
    h.put(gnp('plain', { selector: 'all()', ingress: [{ action: 'Allow' }] }));
    h.sync();
    h.put(resource('FelixConfiguration', 'default', { logPrefix: 'margay-drop' }));
    const batch = h.flush();
    assert.deepEqual(summary(batch), ['settings', 'policy-update gnp/logs']);
    assert.equal(h.model.policies.get('gnp/logs')!.ingress[0]!.logPrefix, 'margay-drop gnp/logs ingress 0');
  });

  it('a tier created later brings its policies in; deleting it takes them out', () => {
    const h = new Harness();
    h.put(...builtinTiers(), nsProfile('a'), wep('a', 'w', { ips: ['10.0.0.1'] }));
    h.put(gnp('sec', { tier: 'security', selector: 'all()', ingress: [{ action: 'Deny' }] }));
    h.sync();
    assert.equal(h.model.policies.has('gnp/sec'), false);
    h.put(resource('Tier', 'security', { order: 100 }));
    assert.deepEqual(summary(h.flush()), ['policy-update gnp/sec', 'workload-update a/w']);
    assert.deepEqual(h.model.workloads.get('a/w')!.tiers.map((t) => t.name), ['security']);
    h.del(resource('Tier', 'security', {}));
    assert.deepEqual(summary(h.flush()), ['workload-update a/w', 'policy-remove gnp/sec']);
  });

  it('IPAM blocks affine to this host become blackholes', () => {
    const h = new Harness();
    h.graph.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', {
      cidr: '10.244.1.0/26',
      affinity: 'host:node-1',
      allocations: [null],
      unallocated: [0],
      attributes: [],
    });
    h.graph.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.2.0-26', { cidr: '10.244.2.0/26', affinity: 'host:node-2' });
    assert.deepEqual(summary(h.sync()), ['settings', 'route-update blackhole 10.244.1.0/26', 'in-sync']);
  });

  it('IP pools feed the settings', () => {
    const h = new Harness();
    h.put(resource('IPPool', 'p', { cidr: '10.244.0.0/16', natOutgoing: true }));
    h.sync();
    assert.deepEqual(h.model.settings!.natOutgoingPools, ['10.244.0.0/16']);
    assert.deepEqual(h.model.settings!.allPools, ['10.244.0.0/16']);
  });
});

describe('graph - work proportional to the change', () => {
  it('one label change among thousands of endpoints emits only the small delta', () => {
    const h = new Harness();
    const APPS = 20;
    const LOCAL = 2000;
    const REMOTE = 2000;
    h.put(...builtinTiers(), nsProfile('a'));
    const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < LOCAL + REMOTE; i++) {
      h.put(wep('a', `w${i}`, { node: i < LOCAL ? 'node-1' : 'node-2', labels: { app: `app${i % APPS}` }, ips: [ip(i + 1)] }));
    }
    for (let a = 0; a < APPS; a++) {
      h.put(np('a', `allow-app${a}`, { selector: `app == 'app${a}'`, ingress: [{ action: 'Allow', source: { selector: `app == 'app${(a + 1) % APPS}'` } }] }));
    }
    const initial = h.sync();
    assert.equal(initial.filter((u) => u.type === 'workload-update').length, LOCAL);
    assert.equal(initial.filter((u) => u.type === 'ipset-update').length, APPS);

    // w0 moves from app0 to app1: it leaves one source set, joins another, and its policy changes.
    h.put(wep('a', 'w0', { labels: { app: 'app1' }, ips: [ip(1)] }));
    const batch = h.flush();
    const set = (a: number) => sel(`(projectcalico.org/namespace == 'a') && (app == 'app${a}')`);
    assert.deepEqual(
      summary(batch).sort(),
      [`ipset-delta ${set(0)} +[] -[10.0.0.1/32]`, `ipset-delta ${set(1)} +[10.0.0.1/32] -[]`, 'workload-update a/w0'].sort(),
    );
    assert.deepEqual(h.model.workloads.get('a/w0')!.tiers[0]!.ingress, ['np/a/allow-app1']);

    // A remote endpoint's label change touches only IP sets.
    h.put(wep('a', `w${LOCAL}`, { node: 'node-2', labels: { app: 'app5' }, ips: [ip(LOCAL + 1)] }));
    assert.deepEqual(types(h.flush()), ['ipset-delta', 'ipset-delta']);

    // Re-sending an unchanged endpoint costs nothing.
    h.put(wep('a', 'w1', { labels: { app: 'app1' }, ips: [ip(2)] }));
    assert.deepEqual(h.flush(), []);
    assert.deepEqual(h.model.checkReferences(), []);
  });
});

describe('graph - built-in tiers', () => {
  // The OpenStack driver writes policies straight into etcd and never creates the `default` Tier
  // (Calico's API server would): the agent must still apply them, as `policy matrix` does (issue 16).
  const policy = () => np('openstack', 'ossg.default.web', { selector: 'has(sg)', egress: [{ action: 'Allow' }], ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] }, source: { selector: 'has(sg)' } }] });
  const endpoint = () => wep('openstack', 'a', { labels: { sg: '' }, ips: ['10.0.0.1'] });

  it('a policy in the default tier applies without a Tier resource', () => {
    const h = new Harness();
    h.put(nsProfile('openstack'), policy(), endpoint());
    h.sync();
    const plan = h.model.workloads.get('openstack/a')!;
    assert.deepEqual(plan.tiers.map((t) => [t.name, t.ingress, t.egress]), [['default', ['np/openstack/ossg.default.web'], ['np/openstack/ossg.default.web']]]);
  });

  it('a Tier resource overrides the built-in; deleting it brings the built-in back; builtinTiers: false has none', () => {
    const h = new Harness();
    const tier = resource('Tier', 'default', { order: 1000, defaultAction: 'Pass' });
    h.put(nsProfile('openstack'), policy(), endpoint(), tier);
    h.sync();
    assert.equal(h.model.workloads.get('openstack/a')!.tiers[0]!.defaultAction, 'Pass');
    h.del(tier);
    h.flush();
    assert.equal(h.model.workloads.get('openstack/a')!.tiers[0]!.defaultAction, 'Deny');
    const none = new Harness({ builtinTiers: false });
    none.put(nsProfile('openstack'), policy(), endpoint());
    none.sync();
    assert.deepEqual(none.model.workloads.get('openstack/a')!.tiers, []);
  });
});
