// Property test: after any sequence of updates, the state built from the graph's incremental
// batches equals the state a fresh graph computes from the final resources. This exercises the
// coalescing, reference counting and dirty tracking of every node together.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../src/api/resource.ts';
import { keyOfResource, type ModelSnapshot } from '../../src/calc/mod.ts';
import { builtinTiers, gnp, Harness, np, nsProfile, resource, wep } from './helpers.ts';
import { prng } from '../selector/helpers.ts';


const NS = ['a', 'b', 'c'];
const SELECTORS = ["app == 'web'", "app == 'db'", 'all()', "has(tier)", "tier != 'fe'", "app in {'web', 'db'}", "pcns.team == 'red'"];

/** `policySelectors`: the selectors policies choose from (few: many policies share one, as at scale). */
function generator(seed: number, policySelectors: readonly string[] = SELECTORS) {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (p: number) => rnd() < p;

  const rule = (): Record<string, unknown> => {
    const r: Record<string, unknown> = { action: pick(['Allow', 'Deny', 'Pass', 'Log', 'Allow']) };
    if (chance(0.5)) r.protocol = pick(['TCP', 'UDP']);
    const side: Record<string, unknown> = {};
    if (chance(0.6)) side.selector = pick(SELECTORS);
    if (chance(0.2)) side.notSelector = pick(SELECTORS);
    if (chance(0.2)) side.namespaceSelector = pick(["team == 'red'", 'all()', "team == 'blue'"]);
    if (chance(0.2)) side.nets = [pick(['10.0.0.0/16', '192.0.2.0/24'])];
    const dst: Record<string, unknown> = {};
    if (r.protocol !== undefined && chance(0.5)) dst.ports = [pick([80, 'http', 'dns', '8000:8100'])];
    if (Object.keys(side).length > 0) r.source = side;
    if (Object.keys(dst).length > 0) r.destination = dst;
    return r;
  };

  const resourceFor = (): Resource => {
    const kind = pick(['wep', 'wep', 'wep', 'np', 'gnp', 'profile', 'netset', 'tier', 'hep', 'block', 'pool', 'felix']);
    switch (kind) {
      case 'wep': {
        const ns = pick(NS);
        const labels: Record<string, string> = {};
        if (chance(0.7)) labels.app = pick(['web', 'db', 'cache']);
        if (chance(0.5)) labels.tier = pick(['fe', 'be']);
        const ports = chance(0.5) ? [{ name: pick(['http', 'dns']), protocol: pick(['TCP', 'UDP']), port: pick([80, 53, 8080]) }] : undefined;
        return wep(ns, `w${Math.floor(rnd() * 12)}`, {
          node: pick(['node-1', 'node-1', 'node-2']),
          labels,
          ips: [`10.0.${Math.floor(rnd() * 3)}.${1 + Math.floor(rnd() * 6)}`],
          profiles: chance(0.9) ? [`kns.${ns}`] : [`kns.${ns}`, 'missing'],
          ...(ports !== undefined ? { ports } : {}),
        });
      }
      case 'np':
        return np(pick(NS), `p${Math.floor(rnd() * 4)}`, {
          tier: pick(['default', 'default', 'sec']),
          ...(chance(0.5) ? { order: pick([1, 10, 100]) } : {}),
          selector: pick(policySelectors),
          ingress: Array.from({ length: Math.floor(rnd() * 3) }, rule),
          egress: Array.from({ length: Math.floor(rnd() * 2) }, rule),
        });
      case 'gnp':
        return gnp(`g${Math.floor(rnd() * 4)}`, {
          tier: pick(['default', 'sec', 'nope']),
          selector: pick(policySelectors),
          ...(chance(0.3) ? { namespaceSelector: pick(["team == 'red'", 'all()']) } : {}),
          ingress: Array.from({ length: Math.floor(rnd() * 3) }, rule),
          egress: Array.from({ length: Math.floor(rnd() * 2) }, rule),
        });
      case 'profile':
        return nsProfile(pick(NS), chance(0.5) ? { team: pick(['red', 'blue']) } : {});
      case 'netset':
        return chance(0.5)
          ? resource('GlobalNetworkSet', `gs${Math.floor(rnd() * 3)}`, { nets: [pick(['192.0.2.0/24', '10.0.0.5', '0.0.0.0/0'])] }, { labels: { app: pick(['web', 'db']) } })
          : resource('NetworkSet', `ns${Math.floor(rnd() * 3)}`, { nets: [pick(['198.51.100.0/24', '10.0.1.1'])] }, { namespace: pick(NS), labels: { app: pick(['web', 'db']) } });
      case 'tier':
        return resource('Tier', 'sec', { order: pick([10, 2_000_000]), ...(chance(0.5) ? { defaultAction: 'Pass' } : {}) });
      case 'hep':
        return resource('HostEndpoint', `h${Math.floor(rnd() * 2)}`, { node: pick(['node-1', 'node-2']), interfaceName: 'eth0', expectedIPs: [pick(['192.0.2.1', '192.0.2.2'])] }, { labels: { app: pick(['web', 'db']) } });
      case 'pool':
        return resource('IPPool', `pool${Math.floor(rnd() * 2)}`, { cidr: pick(['10.0.0.0/16', '10.1.0.0/16']), natOutgoing: chance(0.5) });
      case 'felix':
        return resource('FelixConfiguration', pick(['default', 'node.node-1', 'node.node-2']), { logPrefix: pick(['x', 'y']) });
      default:
        // An IPAM block, carried as a pseudo-resource and fed by key below.
        return { apiVersion: 'ipam', kind: 'Block', metadata: { name: `10.0.${Math.floor(rnd() * 3)}.0-26` }, spec: { affinity: `host:${pick(['node-1', 'node-2'])}` } };
    }
  };
  return { rnd, chance, resourceFor };
}

function keyOf(r: Resource): string {
  return r.kind === 'Block' ? `/calico/ipam/v2/assignment/ipv4/block/${r.metadata.name}` : keyOfResource(r);
}

function valueOf(r: Resource): unknown {
  return r.kind === 'Block' ? { cidr: r.metadata.name.replace('-', '/'), affinity: (r.spec as { affinity: string }).affinity } : r;
}

function state(m: ModelSnapshot): unknown {
  const sorted = <V>(map: Map<string, V>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    settings: m.settings,
    ipSets: sorted(m.ipSets).map(([id, s]) => [id, s.kind, [...s.members].sort()]),
    policies: sorted(m.policies),
    workloads: sorted(m.workloads),
    hostEndpoints: sorted(m.hostEndpoints),
    routes: sorted(m.routes),
  };
}

describe('graph - incremental equals from scratch', () => {
  const cases = [
    ...[1, 2, 3, 4, 5, 6, 7, 8].map((seed) => ({ seed, name: `seed ${seed}`, selectors: SELECTORS })),
    // Policies sharing two selectors: groups of the label index gaining and losing members and
    // policies, policies moving between groups, groups dropped and made again.
    ...[11, 12, 13, 14].map((seed) => ({ seed, name: `seed ${seed}, policies sharing two selectors`, selectors: ["app == 'web'", 'all()'] })),
  ];
  for (const { seed, name, selectors } of cases) {
    it(`random updates, ${name}`, () => {
      const { rnd, chance, resourceFor } = generator(seed, selectors);
      const live = new Map<string, Resource>();
      const h = new Harness();
      const put = (r: Resource) => {
        live.set(keyOf(r), r);
        h.graph.onUpdate(keyOf(r), valueOf(r));
      };
      for (const r of builtinTiers()) put(r);
      for (let i = 0; i < 40; i++) put(resourceFor());
      h.sync();
      assert.deepEqual(h.model.checkReferences(), []);
      let richest = 0;
      for (let step = 0; step < 300; step++) {
        if (chance(0.3) && live.size > 0) {
          const keys = [...live.keys()];
          const key = keys[Math.floor(rnd() * keys.length)]!;
          live.delete(key);
          h.graph.onUpdate(key, undefined);
        } else {
          put(resourceFor());
        }
        if (chance(0.25)) {
          h.flush();
          assert.deepEqual(h.model.checkReferences(), [], `references after step ${step}`);
          richest = Math.max(richest, Math.min(h.model.workloads.size, h.model.ipSets.size, h.model.policies.size));
        }
      }
      h.flush();

      const fresh = new Harness();
      for (const [key, r] of live) fresh.graph.onUpdate(key, valueOf(r));
      fresh.sync();
      assert.deepEqual(state(h.model), state(fresh.model));
      assert.ok(richest >= 2, 'the scenario is not trivial');
    });
  }
});

describe('graph - policies sharing a selector, step by step', () => {
  it('equals a fresh graph after each step: shared groups gaining and losing endpoints and policies', () => {
    const live = new Map<string, Resource>();
    const h = new Harness();
    const put = (...rs: Resource[]) => {
      for (const r of rs) live.set(keyOf(r), r);
      h.put(...rs);
    };
    const del = (...rs: Resource[]) => {
      for (const r of rs) live.delete(keyOf(r));
      h.del(...rs);
    };
    const check = (step: string) => {
      h.flush();
      const fresh = new Harness();
      for (const [key, r] of live) fresh.graph.onUpdate(key, valueOf(r));
      fresh.sync();
      assert.deepEqual(state(h.model), state(fresh.model), step);
    };
    const web = "app == 'web'";
    const db = "app == 'db'";
    const pol = (name: string, selector: string, order: number) =>
      gnp(name, { selector, order, ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80 + order] } }] });
    put(...builtinTiers(), nsProfile('a'), pol('p1', web, 1), pol('p2', web, 2), pol('p3', db, 3), wep('a', 'w1', { labels: { app: 'web' } }));
    h.sync();
    check('start: p1 and p2 share a selector matching w1');
    put(wep('a', 'w2', { labels: { app: 'web' } }), wep('a', 'w3', { labels: { app: 'db' } }));
    check('the shared selector gains an endpoint');
    put(wep('a', 'w1', { labels: { app: 'db' } }));
    check('an endpoint moves from one shared selector to the other');
    put(pol('p2', db, 2));
    check('a policy moves from one shared selector to the other');
    put(pol('p4', web, 0), pol('p5', db, 9));
    check('policies added to shared selectors');
    put(pol('p4', web, 20));
    check('a shared policy reordered');
    del(pol('p1', web, 1));
    check('a policy removed while another shares its selector');
    del(pol('p4', web, 20));
    check('the last policy of a selector removed (its group dropped)');
    put(pol('p6', web, 6));
    check('a policy with that selector again (a new group)');
    put(wep('a', 'w2', { labels: { app: 'none' } }), wep('a', 'w1', { labels: { app: 'web' } }));
    check('endpoints leave and join the shared selectors');
    put(resource('Tier', 'default', { order: 5 }));
    check('the shared policies\' tier reordered');
    del(wep('a', 'w1', { labels: { app: 'web' } }), wep('a', 'w3', { labels: { app: 'db' } }));
    check('the last endpoints of the shared selectors deleted');
    put(wep('a', 'w3', { labels: { app: 'db' } }));
    check('an endpoint back');
  });
});
