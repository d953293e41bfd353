import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledRule, MatchCriteria, RuleAction } from '../../src/calc/model.ts';
import { ipSetName, policyChain } from '../../src/dataplane/nftables/names.ts';
import {
  renderHostEndpointChains,
  renderStaticChains,
  policyListKey,
  renderPolicyListChain,
  tierRules,
  workloadSources,
  type ChainRenderContext,
} from '../../src/dataplane/nftables/render-chains.ts';
import { portLiteral, renderRule, ruleFamilies, sanitizeLogPrefix } from '../../src/dataplane/nftables/render-rules.ts';
import { DEFAULT_MARKS, DEFAULT_SETTINGS } from '../../src/dataplane/nftables/settings.ts';
import type { ChainSpec } from '../../src/dataplane/nftables/state.ts';
import { hostEndpoint, port, tier, workload } from './updates.ts';

function ctx(families: (4 | 6)[] = [4, 6]): ChainRenderContext & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    marks: DEFAULT_MARKS,
    families,
    logPrefix: 'calico-packet',
    setName: (kind, family, id) => ipSetName(kind, family, id),
    policyChain: (direction, key) => policyChain(direction, key),
    warn: (m) => warnings.push(m),
    warnings,
  };
}

function r(action: RuleAction, match: Partial<MatchCriteria>, extra: Partial<CompiledRule> = {}): CompiledRule {
  return { match: { src: {}, dst: {}, ...match }, action, origin: { policy: 'gnp/p', direction: 'ingress', index: 0 }, ...extra };
}

function bodies(rule: CompiledRule, flavor: 'normal' | 'untracked' = 'normal', families: (4 | 6)[] = [4, 6]): string[] {
  return renderRule(rule, flavor, ctx(families)).map((x) => x.body);
}

const ALLOW = 'meta mark set meta mark | 0x00010000 return';

describe('dataplane render - one rule', () => {
  it('writes a rule without addresses once, for both families', () => {
    assert.deepEqual(bodies(r('allow', { protocol: 6, dst: { ports: [port(80)] } })), [`meta l4proto 6 th dport 80 ${ALLOW}`]);
    assert.deepEqual(bodies(r('allow', {})), [ALLOW]);
    assert.deepEqual(bodies(r('deny', { notProtocol: 17 })), ['meta l4proto != 17 counter drop']);
  });

  it('writes a rule with addresses once per family, skipping a family it cannot match', () => {
    assert.deepEqual(bodies(r('allow', { src: { nets: ['10.0.0.0/8', 'fd00::/8', '10.1.0.0/16'] } })), [
      `ip saddr 10.0.0.0/8 ${ALLOW}`,
      `ip6 saddr fd00::/8 ${ALLOW}`,
    ]);
    assert.deepEqual(bodies(r('allow', { dst: { nets: ['10.0.0.0/8', '192.168.0.0/16'] } })), [`ip daddr 10.0.0.0/8 ${ALLOW}`, `ip daddr 192.168.0.0/16 ${ALLOW}`]);
    // notNets of one family do not restrict the other family.
    assert.deepEqual(bodies(r('allow', { src: { notNets: ['10.0.0.5/32'] } })), [`ip saddr != 10.0.0.5/32 ${ALLOW}`, `meta nfproto ipv6 ${ALLOW}`]);
    assert.deepEqual(bodies(r('allow', { ipVersion: 6 })), [`meta nfproto ipv6 ${ALLOW}`]);
    assert.deepEqual(bodies(r('allow', { ipVersion: 6 }), 'normal', [4]), [], 'IPv6 disabled: nothing');
    assert.deepEqual(bodies(r('allow', { src: { nets: ['fd00::/8'] } }), 'normal', [4]), []);
  });

  it('matches IP sets of both families, positively and negatively', () => {
    assert.deepEqual(bodies(r('allow', { src: { ipSets: ['s:a', 's:b'] }, dst: { notIpSets: ['s:c'] } })), [
      `ip saddr @v4-s.a ip saddr @v4-s.b ip daddr != @v4-s.c ${ALLOW}`,
      `ip6 saddr @v6-s.a ip6 saddr @v6-s.b ip6 daddr != @v6-s.c ${ALLOW}`,
    ]);
  });

  it('matches ICMP type and code per family, and their negation', () => {
    assert.deepEqual(bodies(r('allow', { protocol: 1, icmp: { type: 8, code: 0 } })), [`meta l4proto 1 icmp type 8 icmp code 0 ${ALLOW}`]);
    assert.deepEqual(bodies(r('allow', { protocol: 58, icmp: { type: 128 } })), [`meta l4proto 58 icmpv6 type 128 ${ALLOW}`]);
    assert.deepEqual(bodies(r('deny', { protocol: 1, notIcmp: { type: 3, code: 4 } })), ['meta l4proto 1 icmp type . icmp code != { 3 . 4 } counter drop']);
    assert.deepEqual(bodies(r('deny', { protocol: 58, notIcmp: { type: 135 } })), ['meta l4proto 58 icmpv6 type != 135 counter drop']);
    assert.deepEqual(ruleFamilies({ protocol: 58, icmp: { type: 1 }, src: {}, dst: {} }, [4]), []);
  });

  it('merges port ranges and guards ports without a protocol', () => {
    assert.equal(portLiteral([port(443), port(80), port(1000, 2000), port(1500, 2500), port(2501)]), '{ 80, 443, 1000-2501 }');
    assert.equal(portLiteral([port(90, 80)]), '80-90');
    assert.deepEqual(bodies(r('allow', { src: { ports: [port(1, 1023)] }, dst: { notPorts: [port(22), port(24)] } })), [
      `meta l4proto @l4-port-protocols th dport != 22 th dport != 24 th sport 1-1023 ${ALLOW}`,
    ]);
  });

  it('keeps source and destination port negations apart (nft 1.0.6 would merge them into "not both")', () => {
    assert.deepEqual(bodies(r('deny', { protocol: 6, src: { notPorts: [port(1), port(7)] }, dst: { notPorts: [port(2), port(4)] } })), [
      'meta l4proto 6 th sport != 1-1 th sport != 7-7 th dport != 2 th dport != 4 counter drop',
    ]);
    assert.deepEqual(bodies(r('deny', { protocol: 6, src: { ports: [port(1)] }, dst: { notPorts: [port(2)] } })), ['meta l4proto 6 th dport != 2 th sport 1 counter drop']);
    assert.deepEqual(bodies(r('deny', { protocol: 6, src: { notPorts: [port(1)] }, dst: { notPorts: [port(2, 3)] } })), ['meta l4proto 6 th sport != 1 th dport != 2-3 counter drop'], 'a range is not merged');
  });

  it('writes short OR-lists as one rule per element and long ones as anonymous sets', () => {
    // Ports × nets: 2 × 2 rules.
    assert.deepEqual(bodies(r('deny', { protocol: 6, src: { nets: ['10.0.0.0/8', '192.168.0.0/16'] }, dst: { ports: [port(80), port(443)] } }), 'normal', [4]), [
      'meta l4proto 6 ip saddr 10.0.0.0/8 th dport 80 counter drop',
      'meta l4proto 6 ip saddr 10.0.0.0/8 th dport 443 counter drop',
      'meta l4proto 6 ip saddr 192.168.0.0/16 th dport 80 counter drop',
      'meta l4proto 6 ip saddr 192.168.0.0/16 th dport 443 counter drop',
    ]);
    // 20 ports: too many rules, the longest list becomes a set.
    const many = Array.from({ length: 20 }, (_, i) => port(1000 + 2 * i));
    const out = bodies(r('allow', { protocol: 17, src: { nets: ['10.0.0.0/8', '172.16.0.0/12'] }, dst: { ports: many } }), 'normal', [4]);
    assert.equal(out.length, 2);
    assert.match(out[0]!, /^meta l4proto 17 ip saddr 10\.0\.0\.0\/8 th dport \{ 1000, 1002, .*, 1038 \} /);
    // Long NOT-lists use a set too.
    const notMany = bodies(r('deny', { protocol: 6, dst: { notPorts: many } }))[0]!;
    assert.match(notMany, /^meta l4proto 6 th dport != \{ 1000, /);
  });

  it('matches named ports, alone or ORed with ports through a scratch mark', () => {
    assert.deepEqual(bodies(r('allow', { protocol: 6, dst: { namedPortIpSets: ['n:web'] } })), [
      `meta l4proto 6 ip daddr . meta l4proto . th dport @v4p-n.web ${ALLOW}`,
      `meta l4proto 6 ip6 daddr . meta l4proto . th dport @v6p-n.web ${ALLOW}`,
    ]);
    assert.deepEqual(bodies(r('allow', { protocol: 6, dst: { ports: [port(80)], namedPortIpSets: ['n:web'] } }), 'normal', [4]), [
      'meta mark set meta mark & 0xfff7ffff',
      'th dport 80 meta mark set meta mark | 0x00080000',
      'ip daddr . meta l4proto . th dport @v4p-n.web meta mark set meta mark | 0x00080000',
      `meta nfproto ipv4 meta l4proto 6 meta mark & 0x00080000 == 0x00080000 ${ALLOW}`,
    ]);
    assert.deepEqual(bodies(r('deny', { protocol: 17, src: { notNamedPortIpSets: ['n:dns'] } }), 'normal', [4]), [
      'meta l4proto 17 ip saddr . meta l4proto . th sport != @v4p-n.dns counter drop',
    ]);
    // Source side uses the other scratch bit.
    const src = bodies(r('allow', { protocol: 6, src: { ports: [port(1)], namedPortIpSets: ['n:a'] } }), 'normal', [4]);
    assert.ok(src[0]?.includes('0xfffbffff') && src.at(-1)?.includes('0x00040000 == 0x00040000'), src.join('\n'));
  });

  it('renders the four actions, notrack for untracked policies, and safe log prefixes', () => {
    assert.deepEqual(bodies(r('pass', {})), ['meta mark set meta mark | 0x00020000 return']);
    assert.deepEqual(bodies(r('deny', {})), ['counter drop']);
    assert.deepEqual(bodies(r('allow', {}), 'untracked'), [`notrack ${ALLOW}`]);
    assert.deepEqual(bodies(r('log', {})), ['log prefix "calico-packet " counter']);
    assert.deepEqual(bodies(r('log', {}, { logPrefix: 'a "b" \\c\n' })), ['log prefix "a b c " counter']);
    assert.equal(sanitizeLogPrefix('x'.repeat(300)).length, 127);
  });

  it('describes each rule with its origin in the comment and fingerprints it', () => {
    const [one] = renderRule(r('allow', {}, { origin: { policy: 'np/a/b', direction: 'egress', index: 3 }, httpNotEnforced: true }), 'normal', ctx());
    assert.equal(one?.desc, 'np/a/b egress 3 http-not-enforced');
    assert.match(one?.hash ?? '', /^[0-9a-f]{16}$/);
    const [two] = renderRule(r('allow', {}, { origin: { policy: 'np/a/b', direction: 'egress', index: 4 } }), 'normal', ctx());
    assert.notEqual(one?.hash, two?.hash, 'the description is part of the fingerprint');
  });

  it('skips invalid CIDRs with a warning', () => {
    const c = ctx();
    const out = renderRule(r('allow', { src: { nets: ['10.0.0.0/8', 'bogus'] } }), 'normal', c).map((x) => x.body);
    assert.deepEqual(out, [`ip saddr 10.0.0.0/8 ${ALLOW}`]);
    assert.ok(c.warnings.some((w) => w.includes('bogus')));
  });

  it('renders a list of nets seen before as when new: warnings at every use, lists with a line feed kept apart', () => {
    // The nets are remembered by their text (render-rules.ts): the second rule must not lose its warning.
    const c = ctx();
    for (let i = 0; i < 2; i++) {
      const out = renderRule(r('allow', { dst: { nets: ['10.9.0.0/16', 'bogus-9', '10.9.1.0/24'] } }), 'normal', c).map((x) => x.body);
      assert.deepEqual(out, [`ip daddr 10.9.0.0/16 ${ALLOW}`]);
    }
    assert.equal(c.warnings.filter((w) => w.includes('bogus-9')).length, 4, 'once per family, at each render');
    // An element holding a line feed is one invalid element, never the two lists it would join to.
    const two = bodies(r('allow', { src: { nets: ['10.8.0.0/16', '10.7.0.0/16'] } }));
    const one = ctx();
    const joined = renderRule(r('allow', { src: { nets: ['10.8.0.0/16\n10.7.0.0/16'] } }), 'normal', one).map((x) => x.body);
    assert.deepEqual(two, [`ip saddr 10.7.0.0/16 ${ALLOW}`, `ip saddr 10.8.0.0/16 ${ALLOW}`]);
    assert.deepEqual(joined, []);
    assert.equal(one.warnings.length, 2, 'one invalid element, once per family');
    // The same list as source and as destination, and as a negation: each its own conditions.
    assert.deepEqual(bodies(r('allow', { dst: { nets: ['10.8.0.0/16', '10.7.0.0/16'] } })), [`ip daddr 10.7.0.0/16 ${ALLOW}`, `ip daddr 10.8.0.0/16 ${ALLOW}`]);
    assert.deepEqual(bodies(r('allow', { src: { notNets: ['10.8.0.0/16', '10.7.0.0/16'] } }), 'normal', [4]), [
      `ip saddr != 10.7.0.0/16 ip saddr != 10.8.0.0/16 ${ALLOW}`,
    ]);
  });

  it('renders shared port lists and verdicts for each rule as for a new one', () => {
    const ports = [port(443), port(80)]; // one array for all the rules below, as the rule compiler shares them
    const a = bodies(r('allow', { protocol: 6, dst: { ports } }));
    const b = bodies(r('allow', { protocol: 6, src: { ports } }));
    assert.deepEqual(a, [`meta l4proto 6 th dport 80 ${ALLOW}`, `meta l4proto 6 th dport 443 ${ALLOW}`]);
    assert.deepEqual(b, [`meta l4proto 6 th sport 80 ${ALLOW}`, `meta l4proto 6 th sport 443 ${ALLOW}`]);
    assert.deepEqual(bodies(r('allow', { protocol: 6, dst: { ports } }), 'untracked'), [`meta l4proto 6 th dport 80 notrack ${ALLOW}`, `meta l4proto 6 th dport 443 notrack ${ALLOW}`]);
    // Other mark bits give other verdicts, also for marks seen before.
    const marks = { ...DEFAULT_MARKS, accept: 0x100, pass: 0x200 };
    const c = { ...ctx(), marks };
    assert.deepEqual(renderRule(r('pass', {}), 'normal', c).map((x) => x.body), ['meta mark set meta mark | 0x00000200 return']);
    marks.pass = 0x400;
    assert.deepEqual(renderRule(r('pass', {}), 'normal', c).map((x) => x.body), ['meta mark set meta mark | 0x00000400 return']);
  });
});

function texts(chain: ChainSpec): string[] {
  return chain.rules.map((x) => x.body);
}

describe('dataplane render - endpoint chains', () => {
  it('runs tiers in order with pass checks and end-of-tier drops', () => {
    const rules = tierRules(
      [tier('t1', { ingress: ['gnp/t1.a', 'gnp/t1.b'] }), tier('t2', { egress: ['gnp/t2.x'] }), tier('t3', { ingress: ['gnp/t3.c'], defaultAction: 'Pass' })],
      'ingress',
      true,
      ctx(),
    ).map((x) => x.body);
    assert.deepEqual(rules, [
      // The first tier does not clear pass: the endpoint chain cleared the marks just before.
      'jump pi-gnp/t1.a',
      'meta mark & 0x00010000 == 0x00010000 return',
      'meta mark & 0x00020000 == 0x00000000 jump pi-gnp/t1.b',
      'meta mark & 0x00010000 == 0x00010000 return',
      'meta mark & 0x00020000 == 0x00000000 counter drop',
      // t2 has no ingress policy: skipped. t3's default is Pass: no drop.
      'meta mark set meta mark & 0xfffdffff',
      'jump pi-gnp/t3.c',
      'meta mark & 0x00010000 == 0x00010000 return',
    ]);
    const noDrop = tierRules([tier('t1', { ingress: ['gnp/a'] })], 'ingress', false, ctx()).map((x) => x.body);
    assert.ok(!noDrop.some((b) => b.includes('drop')));
  });

  it('builds policy-list chains (conntrack, tiers, profiles, drop) and the anti-spoofing nets', () => {
    const u = workload('ns/w', 'cali1', ['10.0.0.5/32', 'fd00::5/128'], {
      tiers: [tier('default', { ingress: ['np/ns/a'], egress: ['np/ns/b'] })],
      profiles: ['pro/kns.ns'],
      allowSpoofedSourcePrefixes: ['192.168.0.0/16', '10.0.0.5/32'],
    });
    assert.equal(u.type, 'workload-update');
    const ep = (u as Extract<typeof u, { type: 'workload-update' }>).endpoint;
    const [from] = renderPolicyListChain(ep, 'egress', 'fwp_x', ctx()) as [ChainSpec];
    const [to] = renderPolicyListChain(ep, 'ingress', 'twp_x', ctx()) as [ChainSpec];
    assert.deepEqual(texts(from), [
      'ct state established,related accept',
      'ct state invalid counter drop',
      'meta mark set meta mark & 0xfffcffff',
      'jump po-np/ns/b',
      'meta mark & 0x00010000 == 0x00010000 return',
      'meta mark & 0x00020000 == 0x00000000 counter drop',
      'jump po-pro/kns.ns',
      'meta mark & 0x00010000 == 0x00010000 return',
      'counter drop',
    ]);
    assert.ok(texts(to).includes('jump pi-np/ns/a') && texts(to).includes('jump pi-pro/kns.ns'));
    assert.deepEqual(workloadSources(ep), { v4: ['10.0.0.5/32', '192.168.0.0/16'], v6: ['fd00::5/128'] });
    // The identity of a list: what shapes the chain, nothing about the workload itself.
    const other = { ...ep, key: 'ns/v', interfaceName: 'cali2', addresses: ['10.0.0.6/32'] };
    assert.equal(policyListKey(other, 'egress'), policyListKey(ep, 'egress'));
    assert.notEqual(policyListKey(ep, 'ingress'), policyListKey(ep, 'egress'));
    assert.notEqual(policyListKey({ ...ep, profiles: [] }, 'egress'), policyListKey(ep, 'egress'));
  });

  it('builds host endpoint chains only for the kinds of policy it has', () => {
    const plain = hostEndpoint('h1', 'eth0');
    const chains = renderHostEndpointChains((plain as any).endpoint, ctx());
    assert.deepEqual(chains.map((c) => c.chain.name), ['fh-eth0', 'th-eth0']);
    assert.deepEqual(texts(chains[0]!.chain), [
      'ct state established,related accept',
      'ct state invalid counter drop',
      'jump failsafe-in',
      'meta mark set meta mark & 0xfffcffff',
      'counter drop',
    ]);
    const full = hostEndpoint('h2', '*', {
      tiers: [tier('t', { ingress: ['gnp/n'] })],
      untrackedTiers: [tier('t', { ingress: ['gnp/u'], egress: ['gnp/u'] })],
      preDnatTiers: [tier('t', { ingress: ['gnp/p'] })],
      forwardTiers: [tier('t', { egress: ['gnp/f'] })],
    });
    const all = renderHostEndpointChains((full as any).endpoint, ctx());
    assert.deepEqual(all.map((c) => `${c.chain.name}@${c.map}`), [
      'fh_any@from-hep',
      'th_any@to-hep',
      'thfw_any@to-hep-fwd',
      'fhpd_any@from-hep-prednat',
      'fhu_any@from-hep-raw',
      'thu_any@to-hep-raw',
    ]);
    const pd = texts(all.find((c) => c.kind === 'fhpd')!.chain);
    assert.deepEqual(pd, ['jump failsafe-in', 'meta mark set meta mark & 0xfffcffff', 'jump pi-gnp/p', 'meta mark & 0x00010000 == 0x00010000 return']);
    assert.equal(texts(all.find((c) => c.kind === 'thu')!.chain)[0], 'jump failsafe-out-raw');
  });
});

describe('dataplane render - fixed chains', () => {
  function chainsOf(...args: Parameters<typeof renderStaticChains>): Map<string, ChainSpec> {
    return new Map(renderStaticChains(...args).map((c) => [c.name, c]));
  }

  it('attaches base chains to the right hooks and priorities', () => {
    const chains = chainsOf(DEFAULT_SETTINGS, {}, ctx());
    const bases = [...chains.values()].filter((c) => c.base).map((c) => `${c.name} ${c.base!.type} ${c.base!.hook} ${c.base!.priority}`);
    assert.deepEqual(bases.sort(), [
      'filter-forward filter forward 0',
      'filter-input filter input 0',
      'filter-output filter output 0',
      'mangle-prerouting filter prerouting -150',
      'nat-postrouting nat postrouting 100',
      'raw-output filter output -300',
      'raw-prerouting filter prerouting -300',
    ]);
    assert.ok([...chains.values()].every((c) => !c.base || c.base.policy === 'accept'), 'Margay never sets a drop policy');
  });

  it('dispatches every workload prefix and drops unknown workload interfaces', () => {
    const chains = chainsOf({ ...DEFAULT_SETTINGS, interfacePrefixes: ['cali', 'tap'] }, {}, ctx());
    assert.deepEqual(texts(chains.get('filter-forward')!), [
      'meta mark set meta mark & 0xfff1ffff',
      'meta mark & 0x00010000 == 0x00000000 jump from-hep-fwd-dispatch',
      'iifname "cali*" jump from-wl-dispatch',
      'iifname "tap*" jump from-wl-dispatch',
      'oifname "cali*" jump to-wl-dispatch',
      'oifname "tap*" jump to-wl-dispatch',
      'jump to-hep-fwd-dispatch',
      'meta mark & 0x00010000 == 0x00010000 accept',
    ]);
    assert.deepEqual(texts(chains.get('from-wl-dispatch')!), [
      'meta nfproto ipv4 iifname . ip saddr != @wl-src-v4 counter drop',
      'meta nfproto ipv6 iifname . ip6 saddr != @wl-src-v6 counter drop',
      'iifname vmap @from-wl',
      'counter drop',
    ]);
    assert.deepEqual(texts(chains.get('filter-input')!).slice(0, 2), ['iifname "cali*" goto wl-to-host', 'iifname "tap*" goto wl-to-host']);
  });

  it('ends workload-to-host with the configured action', () => {
    for (const [action, last] of [['Drop', 'counter drop'], ['Accept', 'accept'], ['Return', 'return']] as const) {
      const chains = chainsOf({ ...DEFAULT_SETTINGS, defaultEndpointToHostAction: action }, {}, ctx());
      assert.equal(texts(chains.get('wl-to-host')!).at(-1), last);
    }
    assert.equal(texts(chainsOf(DEFAULT_SETTINGS, {}, ctx([4])).get('wl-to-host')!).length, 2, 'no ICMPv6 rule without IPv6');
  });

  it('lets OpenStack VMs reach DHCP, DNS and the metadata server on their host (Felix special cases)', () => {
    const os = { ...DEFAULT_SETTINGS, interfacePrefixes: ['tap'], openstack: { metadataAddr: '192.0.2.5', metadataPort: 8775 } };
    const chains = chainsOf(os, {}, ctx());
    assert.deepEqual(texts(chains.get('wl-to-host')!).slice(1, 6), [
      'ip daddr 192.0.2.5 tcp dport 8775 accept',
      'meta nfproto ipv4 udp sport 68 udp dport 67 accept',
      'meta nfproto ipv6 udp sport 546 udp dport 547 accept',
      'udp dport 53 accept',
      'jump from-wl-dispatch',
    ]);
    assert.deepEqual(texts(chains.get('nat-prerouting')!), ['ip daddr 169.254.169.254 tcp dport 80 dnat ip to 192.0.2.5:8775']);
    assert.equal(chains.get('nat-prerouting')!.base!.priority, -100);
    const noMetadata = chainsOf({ ...os, openstack: { metadataPort: 8775 } }, {}, ctx([4]));
    assert.deepEqual(texts(noMetadata.get('wl-to-host')!).slice(0, 2), ['meta nfproto ipv4 udp sport 68 udp dport 67 accept', 'udp dport 53 accept']);
    assert.equal(noMetadata.get('nat-prerouting'), undefined);
    assert.equal(chainsOf(DEFAULT_SETTINGS, {}, ctx()).get('nat-prerouting'), undefined, 'nothing of it without OpenStack');
  });

  it('renders failsafe ports, with nets per family, and the raw variants for replies', () => {
    const s = {
      ...DEFAULT_SETTINGS,
      failsafeInbound: [{ protocol: 'tcp' as const, port: 22 }, { protocol: 'udp' as const, port: 68, net: 'fd00::/8' }],
      failsafeOutbound: [{ protocol: 'tcp' as const, port: 179, net: '192.0.2.0/24' }],
    };
    const chains = chainsOf(s, {}, ctx());
    assert.deepEqual(texts(chains.get('failsafe-in')!), ['meta l4proto 6 th dport 22 accept', 'ip6 saddr fd00::/8 meta l4proto 17 th dport 68 accept']);
    assert.deepEqual(texts(chains.get('failsafe-out')!), ['ip daddr 192.0.2.0/24 meta l4proto 6 th dport 179 accept']);
    assert.deepEqual(texts(chains.get('failsafe-in-raw')!), [
      'meta l4proto 6 th dport 22 accept',
      'ip6 saddr fd00::/8 meta l4proto 17 th dport 68 accept',
      'ip saddr 192.0.2.0/24 meta l4proto 6 th sport 179 accept',
    ]);
    assert.equal(texts(chainsOf(s, {}, ctx([4])).get('failsafe-in')!).length, 1, 'an IPv6 net is skipped without IPv6');
  });

  it('sends unmatched interfaces to the all-interfaces host endpoint, never workload ones', () => {
    const chains = chainsOf(DEFAULT_SETTINGS, { fh: true, thfw: true }, ctx());
    assert.deepEqual(texts(chains.get('from-hep-dispatch')!), ['iifname vmap @from-hep', 'goto fh_any']);
    assert.deepEqual(texts(chains.get('to-hep-fwd-dispatch')!), ['oifname "cali*" return', 'oifname vmap @to-hep-fwd', 'goto thfw_any']);
    assert.deepEqual(texts(chains.get('to-hep-dispatch')!), ['oifname "cali*" return', 'oifname vmap @to-hep']);
  });

  it('masquerades from NAT pools to outside all pools, per family', () => {
    assert.deepEqual(texts(chainsOf(DEFAULT_SETTINGS, {}, ctx()).get('nat-outgoing')!), [
      'ip saddr @nat-pools-v4 ip daddr != @all-pools-v4 masquerade fully-random',
      'ip6 saddr @nat-pools-v6 ip6 daddr != @all-pools-v6 masquerade fully-random',
    ]);
  });
});
