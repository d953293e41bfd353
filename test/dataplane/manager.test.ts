import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { ipPortElement, setElements } from '../../src/dataplane/nftables/ipsets-manager.ts';
import { renderTable } from '../../src/dataplane/nftables/diff.ts';
import { NftablesManager } from '../../src/dataplane/nftables/manager.ts';
import { PORT_PROTOCOLS_SET } from '../../src/dataplane/nftables/render-rules.ts';
import { hostEndpoint, ipPortSet, ipSet, policy, settings, tier, workload } from './updates.ts';

function manager(): NftablesManager & { warnings: string[] } {
  const warnings: string[] = [];
  const m = new NftablesManager({ warn: (w) => warnings.push(w) }) as NftablesManager & { warnings: string[] };
  m.warnings = warnings;
  return m;
}

function feed(m: NftablesManager, updates: DataplaneUpdate[]): ReturnType<NftablesManager['flush']> {
  for (const u of updates) m.onUpdate(u);
  return m.flush();
}

/** The shared chain a workload interface is dispatched to in `map`. */
function listChain(m: NftablesManager, map: 'from-wl' | 'to-wl', iface: string): string {
  const verdict = m.desired.maps.get(map)?.elements.get(iface);
  assert.ok(verdict?.startsWith('goto '), `${iface} has an element in ${map}`);
  return (verdict ?? '').slice('goto '.length);
}

/** The policy-list chains in the desired table. */
function listChains(m: NftablesManager): string[] {
  return [...m.desired.chains.keys()].filter((n) => /^(fw|tw)p_/.test(n)).sort();
}

const WEB = policy('np/a/web', { tier: 'default', ingress: [{ action: 'allow', src: { ipSets: ['s:all'] } }] });
const W1 = workload('a/w1', 'cali1', ['10.0.0.1/32'], { tiers: [tier('default', { ingress: ['np/a/web'] })] });

describe('dataplane manager - desired state', () => {
  it('renders the fixed skeleton on the first flush, then only what changes', () => {
    const m = manager();
    const first = feed(m, [settings(), ipSet('s:all', ['10.0.0.1/32', 'fd00::1/128']), WEB, W1]);
    assert.ok(first.chains.has('filter-forward') && first.chains.has('pi-np/a/web') && first.chains.has(listChain(m, 'from-wl', 'cali1')));
    assert.ok(first.sets.has('v4-s.all') && first.sets.has('v6-s.all') && first.sets.has('nat-pools-v4'));
    assert.equal(first.maps.get('from-wl'), 'all');
    // Same policy again: nothing.
    assert.equal(feed(m, [WEB]).chains.size, 0);
    // A changed policy: its two chains at most, nothing else.
    const changed = feed(m, [policy('np/a/web', { tier: 'default', ingress: [{ action: 'deny' }] })]);
    assert.deepEqual([...changed.chains], ['pi-np/a/web']);
    assert.equal(changed.sets.size + changed.maps.size, 0);
    // A set delta: only that set.
    const delta = feed(m, [{ type: 'ipset-delta', id: 's:all', added: ['10.0.0.2/32'], removed: [] }]);
    assert.deepEqual([...delta.sets], ['v4-s.all']);
    assert.deepEqual([...m.desired.sets.get('v4-s.all')!.elements], ['10.0.0.1/32', '10.0.0.2/32'], 'kept as host CIDRs');
    assert.deepEqual(m.desired.sets.get('v4-s.all')!.flags, [], 'single addresses: a plain set');
    assert.match(renderTable(m.desired, { family: 'inet', name: 'margay' }), /add element inet margay v4-s\.all \{ 10\.0\.0\.1, 10\.0\.0\.2 \}/, 'written as addresses');
    // The set the desired state holds never changes: the next delta gives it a new one.
    const held = m.desired.sets.get('v4-s.all')!.elements;
    feed(m, [{ type: 'ipset-delta', id: 's:all', added: ['10.0.0.3/32'], removed: ['10.0.0.1/32'] }]);
    assert.deepEqual([...held], ['10.0.0.1/32', '10.0.0.2/32']);
    assert.deepEqual([...m.desired.sets.get('v4-s.all')!.elements], ['10.0.0.2/32', '10.0.0.3/32']);
  });

  it('switches to an interval set (another name) when a CIDR joins, rewriting the rules', () => {
    const m = manager();
    feed(m, [ipSet('s:all', ['10.0.0.1/32']), WEB]);
    const d = feed(m, [{ type: 'ipset-delta', id: 's:all', added: ['10.1.0.0/16'], removed: [] }]);
    assert.ok(d.sets.has('v4-s.all') && d.sets.has('v4n-s.all') && d.chains.has('pi-np/a/web'));
    assert.ok(!m.desired.sets.has('v4-s.all'));
    assert.deepEqual(m.desired.sets.get('v4n-s.all')!.flags, ['interval']);
    assert.deepEqual([...m.desired.sets.get('v4n-s.all')!.elements], ['10.0.0.1/32', '10.1.0.0/16']);
    assert.match(m.desired.chains.get('pi-np/a/web')!.rules[0]!.body, /@v4n-s\.all/);
  });

  it('creates a family\'s set only while it has members, and rewrites the rules that use it', () => {
    const m = manager();
    feed(m, [ipSet('s:all', ['10.0.0.1/32']), WEB]);
    assert.ok(m.desired.sets.has('v4-s.all') && !m.desired.sets.has('v6-s.all'));
    const rules = () => m.desired.chains.get('pi-np/a/web')!.rules.map((r) => r.body);
    assert.deepEqual(rules(), ['ip saddr @v4-s.all meta mark set meta mark | 0x00010000 return']);
    // The first IPv6 member: the set appears and the policy gains its IPv6 rule, in one flush.
    const d = feed(m, [{ type: 'ipset-delta', id: 's:all', added: ['fd00::1/128'], removed: [] }]);
    assert.ok(d.sets.has('v6-s.all') && d.chains.has('pi-np/a/web'));
    assert.equal(rules().length, 2);
    // An IPv4 member more: only the set changes.
    const d2 = feed(m, [{ type: 'ipset-delta', id: 's:all', added: ['10.0.0.2/32'], removed: [] }]);
    assert.deepEqual([...d2.chains], []);
    // Emptied: the rule goes (it could never match) and the set with it.
    feed(m, [{ type: 'ipset-delta', id: 's:all', added: [], removed: ['10.0.0.1/32', '10.0.0.2/32'] }]);
    assert.ok(!m.desired.sets.has('v4-s.all'));
    assert.deepEqual(rules(), ['ip6 saddr @v6-s.all meta mark set meta mark | 0x00010000 return']);
    // A `not in` an absent set always holds: the condition is left out.
    feed(m, [policy('np/a/web', { tier: 'default', ingress: [{ action: 'deny', protocol: 6, src: { notIpSets: ['s:none'] } }] })]);
    assert.deepEqual(rules(), ['meta nfproto ipv4 meta l4proto 6 counter drop', 'meta nfproto ipv6 meta l4proto 6 counter drop']);
  });

  it('creates an empty placeholder for a policy that is referenced but missing, and drops it when unreferenced', () => {
    const m = manager();
    feed(m, [W1]); // references np/a/web, not sent yet
    assert.deepEqual(m.desired.chains.get('pi-np/a/web')?.rules, []);
    assert.ok(m.warnings.some((w) => w.includes('pi-np/a/web')));
    feed(m, [WEB]); // references s:all, not sent: its rule can never match
    assert.deepEqual(m.desired.chains.get('pi-np/a/web')?.rules, []);
    assert.ok(!m.desired.sets.has('v4-s.all'));
    feed(m, [ipSet('s:all', ['10.0.0.9/32'])]);
    assert.equal(m.desired.chains.get('pi-np/a/web')!.rules.length, 1);
    assert.equal(m.desired.sets.get('v4-s.all')?.elements.size, 1);
    // Removing the set while the policy uses it: the rule goes, never a dangling reference.
    feed(m, [{ type: 'ipset-remove', id: 's:all' }]);
    assert.ok(!m.desired.sets.has('v4-s.all'));
    assert.deepEqual(m.desired.chains.get('pi-np/a/web')?.rules, []);
    // Removing the policy while the workload still jumps to it: an empty chain stays.
    feed(m, [{ type: 'policy-remove', key: 'np/a/web' }]);
    assert.deepEqual(m.desired.chains.get('pi-np/a/web')?.rules, []);
    feed(m, [{ type: 'workload-remove', key: 'a/w1' }]);
    assert.ok(!m.desired.chains.has('pi-np/a/web') && !m.desired.chains.has('po-np/a/web'));
    assert.deepEqual(listChains(m), []);
    assert.equal(m.desired.maps.get('from-wl')?.elements.size, 0);
    assert.equal(m.desired.sets.get('wl-src-v4')?.elements.size, 0);
  });

  it('moves a workload to its new interface and drops the old chains and map entries', () => {
    const m = manager();
    feed(m, [WEB, ipSet('s:all', []), W1]);
    const to = listChain(m, 'to-wl', 'cali1');
    const d = feed(m, [workload('a/w1', 'cali2', ['10.0.0.1/32'], { tiers: [tier('default', { ingress: ['np/a/web'] })] })]);
    assert.deepEqual([...d.chains], [], 'same policy list: the shared chains stay as they are');
    assert.deepEqual([...(d.maps.get('to-wl') as Set<string>)].sort(), ['cali1', 'cali2']);
    assert.deepEqual([...m.desired.maps.get('to-wl')!.elements], [['cali2', `goto ${to}`]]);
    assert.deepEqual([...m.desired.sets.get('wl-src-v4')!.elements], ['"cali2" . 10.0.0.1/32']);
  });

  it('shares one chain per policy list and direction; a workload with a list in use costs map elements only', () => {
    const m = manager();
    const other = policy('np/a/other', { tier: 'default', egress: [{ action: 'allow' }] });
    const web = (key: string, iface: string, ip: string) => workload(key, iface, [ip], { tiers: [tier('default', { ingress: ['np/a/web'] })] });
    feed(m, [WEB, other, ipSet('s:all', []), web('a/w1', 'cali1', '10.0.0.1/32'), web('a/w2', 'cali2', '10.0.0.2/32')]);
    assert.equal(listChains(m).length, 2, 'one from-workload and one to-workload chain for both');
    assert.equal(listChain(m, 'to-wl', 'cali1'), listChain(m, 'to-wl', 'cali2'));
    assert.ok(m.desired.chains.get(listChain(m, 'to-wl', 'cali1'))!.rules.some((r) => r.body === 'jump pi-np/a/web'));
    // A third workload with the same list: map and set elements, no chain.
    const d = feed(m, [web('a/w3', 'cali3', '10.0.0.3/32')]);
    assert.deepEqual([...d.chains], []);
    assert.deepEqual([...d.sets], ['wl-src-v4']);
    assert.deepEqual([...(d.maps.get('from-wl') as Set<string>)], ['cali3']);
    // Another list: its own chains; when it is given up they go.
    feed(m, [workload('a/w2', 'cali2', ['10.0.0.2/32'], { tiers: [tier('default', { egress: ['np/a/other'] })] })]);
    assert.equal(listChains(m).length, 4);
    assert.notEqual(listChain(m, 'from-wl', 'cali2'), listChain(m, 'from-wl', 'cali1'));
    feed(m, [{ type: 'workload-remove', key: 'a/w2' }]);
    assert.equal(listChains(m).length, 2);
    feed(m, [{ type: 'workload-remove', key: 'a/w1' }, { type: 'workload-remove', key: 'a/w3' }]);
    assert.deepEqual(listChains(m), []);
  });

  it('names the list chain of workloads that share a tier plan list by their profiles too', () => {
    // The endpoint manager remembers list names by tier plan list (the graph shares one among the
    // workloads with the same policies): the profiles still tell the lists apart.
    const m = manager();
    const tiers = [tier('default', { ingress: ['np/a/web'] })];
    const w = (key: string, iface: string, ip: string, profiles: string[]) => workload(key, iface, [ip], { tiers, profiles });
    feed(m, [WEB, ipSet('s:all', []), w('a/w1', 'cali1', '10.0.0.1/32', ['pro/kns.a']), w('a/w2', 'cali2', '10.0.0.2/32', ['pro/kns.a']), w('a/w3', 'cali3', '10.0.0.3/32', ['pro/kns.b'])]);
    assert.equal(listChain(m, 'to-wl', 'cali1'), listChain(m, 'to-wl', 'cali2'));
    assert.notEqual(listChain(m, 'to-wl', 'cali1'), listChain(m, 'to-wl', 'cali3'));
    assert.notEqual(listChain(m, 'to-wl', 'cali1'), listChain(m, 'from-wl', 'cali1'));
    // Profile names with a line feed are not remembered by a joined text: ['x\ny'] is not ['x', 'y'].
    feed(m, [w('a/w4', 'cali4', '10.0.0.4/32', ['pro/x\npro/y']), w('a/w5', 'cali5', '10.0.0.5/32', ['pro/x', 'pro/y'])]);
    assert.notEqual(listChain(m, 'to-wl', 'cali4'), listChain(m, 'to-wl', 'cali5'));
    // The same names as a manager that remembers nothing yet gives them.
    const fresh = manager();
    feed(fresh, [WEB, ipSet('s:all', []), w('a/w3', 'cali3', '10.0.0.3/32', ['pro/kns.b']), w('a/w5', 'cali5', '10.0.0.5/32', ['pro/x', 'pro/y'])]);
    assert.equal(listChain(fresh, 'to-wl', 'cali3'), listChain(m, 'to-wl', 'cali3'));
    assert.equal(listChain(fresh, 'to-wl', 'cali5'), listChain(m, 'to-wl', 'cali5'));
  });

  it('lets one workload own an interface; the other takes over when it goes', () => {
    const m = manager();
    feed(m, [workload('a/w1', 'cali1', ['10.0.0.1/32']), workload('a/w2', 'cali1', ['10.0.0.2/32'])]);
    assert.ok(m.warnings.some((w) => w.includes('already used by a/w1')));
    assert.deepEqual([...m.desired.sets.get('wl-src-v4')!.elements], ['"cali1" . 10.0.0.1/32']);
    feed(m, [{ type: 'workload-remove', key: 'a/w1' }]);
    assert.deepEqual([...m.desired.sets.get('wl-src-v4')!.elements], ['"cali1" . 10.0.0.2/32']);
  });

  it('follows settings: IPv6 off removes IPv6 sets and rules', () => {
    const m = manager();
    feed(m, [ipSet('s:all', ['10.0.0.1/32', 'fd00::1/128']), WEB, W1]);
    assert.ok(m.desired.sets.has('v6-s.all'));
    assert.equal(m.desired.chains.get('pi-np/a/web')!.rules.length, 2);
    feed(m, [settings({ ipv6Enabled: false })]);
    assert.ok(!m.desired.sets.has('v6-s.all') && !m.desired.sets.has('nat-pools-v6'));
    assert.equal(m.desired.chains.get('pi-np/a/web')!.rules.length, 1);
    assert.ok(!m.desired.chains.get('wl-to-host')!.rules.some((r) => r.body.includes('icmpv6')));
  });

  it('dispatches host endpoints by interface, the all-interfaces one by goto', () => {
    const m = manager();
    feed(m, [hostEndpoint('h/eth0', 'eth0'), hostEndpoint('h/all', '*')]);
    assert.deepEqual([...m.desired.maps.get('from-hep')!.elements], [['eth0', 'goto fh-eth0']]);
    assert.equal(m.desired.chains.get('from-hep-dispatch')!.rules.at(-1)!.body, 'goto fh_any');
    assert.ok(m.desired.chains.has('fh_any'));
    feed(m, [{ type: 'host-endpoint-remove', key: 'h/all' }, { type: 'host-endpoint-remove', key: 'h/eth0' }]);
    assert.ok(!m.desired.chains.has('fh_any') && !m.desired.chains.has('fh-eth0'));
    assert.equal(m.desired.chains.get('from-hep-dispatch')!.rules.length, 1);
    assert.equal(m.desired.maps.get('from-hep')!.elements.size, 0);
  });

  it('renders the fixed chains again when a wildcard host endpoint comes or goes, the fixed sets not', () => {
    const m = manager();
    feed(m, [settings(), hostEndpoint('h/eth0', 'eth0')]);
    const rendered: string[] = [];
    const setSet = m.desired.setSet.bind(m.desired);
    m.desired.setSet = (spec) => {
      rendered.push(spec.name);
      setSet(spec);
    };
    feed(m, [hostEndpoint('h/all', '*')]);
    assert.equal(m.desired.chains.get('from-hep-dispatch')!.rules.at(-1)!.body, 'goto fh_any', 'the dispatch chain rendered again');
    feed(m, [{ type: 'host-endpoint-remove', key: 'h/all' }]);
    assert.notEqual(m.desired.chains.get('from-hep-dispatch')!.rules.at(-1)!.body, 'goto fh_any');
    assert.deepEqual(rendered.filter((n) => /^(nat|all)-pools-/.test(n) || n === PORT_PROTOCOLS_SET), [], 'no fixed set rendered again');
    // Settings do render them again.
    feed(m, [settings({ natOutgoingPools: ['10.9.0.0/16'] })]);
    assert.ok(rendered.includes('nat-pools-v4'));
  });

  it('turns IP set members into set elements per family and kind', () => {
    assert.deepEqual(setElements('net', ['10.0.0.0/8', '10.1.2.3/32', 'fd00::/8', 'x'], 4), { elements: new Set(['10.0.0.0/8']), interval: true });
    assert.deepEqual(setElements('net', ['10.1.2.3/32', 'fd00::1', 'fd00::2/128'], 6), { elements: new Set(['fd00::1/128', 'fd00::2/128']), interval: false });
    assert.deepEqual(setElements('net', ['10.1.2.3/32'], 4, { interval: true }), { elements: new Set(['10.1.2.3/32']), interval: true });
    assert.deepEqual(ipPortElement('10.0.0.5,tcp:80'), { family: 4, element: '10.0.0.5 . 6 . 80' });
    assert.deepEqual(ipPortElement('FD00::5,sctp:9'), { family: 6, element: 'fd00::5 . 132 . 9' });
    assert.deepEqual(ipPortElement('fd00::5,17:53'), { family: 6, element: 'fd00::5 . 17 . 53' });
    for (const bad of ['10.0.0.5', '10.0.0.5,tcp', '10.0.0.5,bogus:1', '10.0.0.5,tcp:70000', 'x,tcp:1']) assert.equal(ipPortElement(bad), undefined, bad);
    const m = manager();
    feed(m, [ipPortSet('n:web', ['10.0.0.5,tcp:80', 'fd00::5,tcp:80', 'garbage'])]);
    assert.deepEqual([...m.desired.sets.get('v4p-n.web')!.elements], ['10.0.0.5 . 6 . 80']);
    assert.equal(m.desired.sets.get('v4p-n.web')!.type, 'ipv4_addr . inet_proto . inet_service');
    assert.ok(m.warnings.some((w) => w.includes('garbage')));
  });

  it('accepts a delta for an unknown set with a warning', () => {
    const m = manager();
    feed(m, [{ type: 'ipset-delta', id: 'n:x', added: ['10.0.0.5,tcp:80'], removed: [] }]);
    assert.ok(m.desired.sets.has('v4p-n.x'));
    assert.ok(m.warnings.some((w) => w.includes('unknown IP set n:x')));
  });

  it('rejects mark bits that are not single distinct bits', () => {
    assert.throws(() => new NftablesManager({ marks: { accept: 3, pass: 4, scratch0: 8, scratch1: 16 } }), /single bit/);
    assert.throws(() => new NftablesManager({ marks: { accept: 4, pass: 4, scratch0: 8, scratch1: 16 } }), /distinct/);
  });
});
