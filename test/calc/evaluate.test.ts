// The evaluator: Calico's endpoint-chain semantics on the model the graph computes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../src/api/resource.ts';
import { matrixVerdict, ModelSnapshot, modelFromResources, policyMatrix, tracePacket, type Packet } from '../../src/calc/mod.ts';
import { gnp, np, nsProfile, resource, wep } from './helpers.ts';

const A = 'a/wa';
const B = 'a/wb';
const C = 'b/wc';

/** Three workloads: a/wa 10.0.0.1 (app=client), a/wb 10.0.0.2 (app=server, named port http=8080), b/wc 10.0.1.3. */
function model(...extra: Resource[]): ModelSnapshot {
  return modelFromResources([
    nsProfile('a', { team: 'red' }),
    nsProfile('b', { team: 'blue' }),
    wep('a', 'wa', { labels: { app: 'client' }, ips: ['10.0.0.1', 'fd00::1'] }),
    wep('a', 'wb', { labels: { app: 'server' }, ips: ['10.0.0.2', 'fd00::2'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }),
    wep('b', 'wc', { labels: { app: 'server' }, ips: ['10.0.1.3'] }),
    ...extra,
  ]);
}

const tcp = (src: string, dst: string, dstPort: number, srcPort = 40000): Packet => ({ srcIp: src, dstIp: dst, protocol: 'tcp', srcPort, dstPort });

describe('evaluate - profiles and default deny', () => {
  it('with no policy, namespace profiles allow everything', () => {
    const r = tracePacket(model(), tcp('10.0.0.1', '10.0.0.2', 80));
    assert.equal(r.verdict, 'allow');
    assert.equal(r.from, A);
    assert.equal(r.to, B);
    assert.deepEqual(r.steps.map((s) => [s.endpoint, s.direction, s.policy, s.reason, s.action]), [
      [A, 'egress', 'pro/kns.a', 'profile', 'allow'],
      [B, 'ingress', 'pro/kns.a', 'profile', 'allow'],
    ]);
  });

  it('an endpoint without profiles drops at the end of its chain', () => {
    const m = modelFromResources([wep('a', 'lonely', { ips: ['10.0.0.9'], profiles: [] }), nsProfile('a'), wep('a', 'wa', { ips: ['10.0.0.1'] })]);
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.9', 80));
    assert.equal(r.verdict, 'deny');
    assert.deepEqual(r.steps.at(-1), { endpoint: 'a/lonely', endpointKind: 'workload', direction: 'ingress', action: 'deny', reason: 'no-profile-default-deny' });
  });

  it('a profile that exists nowhere denies (as in Calico)', () => {
    const m = modelFromResources([nsProfile('a'), wep('a', 'wa', { ips: ['10.0.0.1'] }), wep('a', 'x', { ips: ['10.0.0.9'], profiles: ['ghost', 'kns.a'] })]);
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.9', 80));
    assert.equal(r.verdict, 'deny');
    assert.deepEqual(r.steps.at(-1)!.policy, 'pro/ghost');
  });

  it('one ingress policy makes the endpoint default-deny at the end of the tier', () => {
    const m = model(np('a', 'only-80', { selector: "app == 'server'", ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }] }));
    assert.equal(tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80)).verdict, 'allow');
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 81));
    assert.equal(r.verdict, 'deny');
    assert.deepEqual(r.steps.at(-1), { endpoint: B, endpointKind: 'workload', direction: 'ingress', tier: 'default', action: 'deny', reason: 'end-of-tier' });
    // Egress of the client is not governed by it.
    assert.equal(tracePacket(m, tcp('10.0.0.2', '10.0.1.3', 81)).verdict, 'allow');
  });

  it('the sender sending to itself is always allowed', () => {
    const m = model(gnp('deny-all', { selector: 'all()', ingress: [{ action: 'Deny' }], egress: [{ action: 'Deny' }] }));
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.1', 80));
    assert.equal(r.verdict, 'allow');
    assert.equal(r.steps[0]!.reason, 'same-endpoint');
  });

  it('addresses outside the model have no policy on their side', () => {
    const m = model(np('a', 'in', { selector: 'all()', ingress: [{ action: 'Allow', source: { nets: ['192.0.2.0/24'] } }] }));
    assert.equal(tracePacket(m, tcp('192.0.2.7', '10.0.0.2', 80)).verdict, 'allow');
    assert.equal(tracePacket(m, tcp('198.51.100.7', '10.0.0.2', 80)).verdict, 'deny');
    const out = tracePacket(m, tcp('10.0.0.1', '198.51.100.7', 80));
    assert.equal(out.verdict, 'allow');
    assert.equal(out.to, undefined);
  });
});

describe('evaluate - tiers, order, Pass, Log', () => {
  const tiers = [resource('Tier', 'security', { order: 100 }), resource('Tier', 'soft', { order: 200, defaultAction: 'Pass' })];

  it('tiers run in order; Deny in an earlier tier wins over Allow in a later one', () => {
    const m = model(...tiers, gnp('sec', { tier: 'security', selector: "app == 'server'", ingress: [{ action: 'Deny', source: { selector: "app == 'client'" } }, { action: 'Pass' }] }), gnp('allow-all', { selector: 'all()', ingress: [{ action: 'Allow' }] }));
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80));
    assert.equal(r.verdict, 'deny');
    assert.deepEqual(r.steps.at(-1), { endpoint: B, endpointKind: 'workload', direction: 'ingress', tier: 'security', policy: 'gnp/sec', ruleIndex: 0, action: 'deny', reason: 'rule' });
    const passed = tracePacket(m, tcp('10.0.1.3', '10.0.0.2', 80));
    assert.equal(passed.verdict, 'allow');
    assert.deepEqual(passed.steps.slice(-2).map((s) => [s.tier, s.policy, s.action]), [
      ['security', 'gnp/sec', 'pass'],
      ['default', 'gnp/allow-all', 'allow'],
    ]);
  });

  it('Pass out of the last tier goes to the profiles', () => {
    const m = model(...tiers, gnp('p', { tier: 'security', selector: 'all()', ingress: [{ action: 'Pass' }] }));
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80));
    assert.equal(r.verdict, 'allow');
    assert.equal(r.steps.at(-1)!.reason, 'profile');
  });

  it('a tier with defaultAction Pass passes when none of its policies decides', () => {
    const m = model(...tiers, gnp('nomatch', { tier: 'soft', selector: 'all()', ingress: [{ action: 'Deny', source: { nets: ['192.0.2.0/24'] } }] }));
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80));
    assert.equal(r.verdict, 'allow');
    assert.deepEqual(r.steps.map((s) => [s.tier, s.action, s.reason]).slice(1), [
      ['soft', 'pass', 'end-of-tier'],
      [undefined, 'allow', 'profile'],
    ]);
  });

  it('within a tier, policies run by order; the first matching rule of a policy decides', () => {
    const m = model(
      gnp('second', { order: 20, selector: 'all()', ingress: [{ action: 'Allow' }] }),
      gnp('first', { order: 10, selector: 'all()', ingress: [{ action: 'Deny', protocol: 'UDP' }, { action: 'Allow', protocol: 'UDP' }] }),
    );
    const udp = tracePacket(m, { srcIp: '10.0.0.1', dstIp: '10.0.0.2', protocol: 'udp', dstPort: 53 });
    assert.equal(udp.verdict, 'deny');
    assert.equal(udp.steps.at(-1)!.policy, 'gnp/first');
    const t = tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80));
    assert.equal(t.verdict, 'allow');
    assert.equal(t.steps.at(-1)!.policy, 'gnp/second');
  });

  it('Log logs and continues', () => {
    const m = model(gnp('log', { selector: 'all()', ingress: [{ action: 'Log' }, { action: 'Allow' }] }));
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80));
    assert.equal(r.verdict, 'allow');
    const log = r.steps.find((s) => s.action === 'log')!;
    assert.equal(log.logPrefix, 'calico-packet gnp/log ingress 0');
    assert.equal(log.ruleIndex, 0);
  });

  it('egress is checked before ingress', () => {
    const m = model(gnp('no-egress', { selector: "app == 'client'", egress: [{ action: 'Deny' }] }));
    const r = tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80));
    assert.equal(r.verdict, 'deny');
    assert.equal(r.steps.length, 1);
    assert.equal(r.steps[0]!.direction, 'egress');
  });
});

describe('evaluate - match fields', () => {
  const verdict = (m: ModelSnapshot, p: Packet) => tracePacket(m, p).verdict;

  it('protocol, notProtocol, ICMP type/code, notICMP', () => {
    const m = model(
      gnp('icmp', {
        selector: "app == 'server'",
        ingress: [
          { action: 'Deny', protocol: 'ICMP', icmp: { type: 8, code: 1 } },
          { action: 'Allow', protocol: 'ICMP', notICMP: { type: 13 } },
          { action: 'Allow', notProtocol: 'ICMP' },
        ],
      }),
    );
    const icmp = (type: number, code = 0): Packet => ({ srcIp: '10.0.0.1', dstIp: '10.0.0.2', protocol: 'icmp', icmpType: type, icmpCode: code });
    assert.equal(verdict(m, icmp(8, 0)), 'allow');
    assert.equal(verdict(m, icmp(8, 1)), 'deny');
    assert.equal(verdict(m, icmp(13)), 'deny');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 1)), 'allow');
  });

  it('ipVersion', () => {
    const m = model(gnp('v6', { selector: "app == 'server'", ingress: [{ action: 'Allow', ipVersion: 6 }] }));
    assert.equal(verdict(m, tcp('fd00::1', 'fd00::2', 80)), 'allow');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 80)), 'deny');
  });

  it('source ports, port ranges and notPorts', () => {
    const m = model(gnp('ports', { selector: "app == 'server'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { ports: ['1024:65535'] }, destination: { ports: ['8000:8100'], notPorts: [8080] } }] }));
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 8000)), 'allow');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 8100)), 'allow');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 8080)), 'deny');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 8101)), 'deny');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 8000, 80)), 'deny');
  });

  it('nets and notNets', () => {
    const m = model(gnp('nets', { selector: "app == 'server'", ingress: [{ action: 'Allow', source: { nets: ['10.0.0.0/16'], notNets: ['10.0.1.0/24'] } }] }));
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 80)), 'allow');
    assert.equal(verdict(m, tcp('10.0.1.3', '10.0.0.2', 80)), 'deny');
  });

  it('selector, notSelector and namespaceSelector through IP sets', () => {
    const m = model(
      np('a', 'sel', { selector: "app == 'server'", ingress: [{ action: 'Allow', source: { selector: "app == 'client'" } }] }),
      np('b', 'ns', { selector: 'all()', ingress: [{ action: 'Allow', source: { namespaceSelector: "team == 'red'", notSelector: "app == 'server'" } }] }),
    );
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 80)), 'allow', 'a/client → a/server');
    assert.equal(verdict(m, tcp('10.0.1.3', '10.0.0.2', 80)), 'deny', 'b/server is not a client of namespace a');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.1.3', 80)), 'allow', 'red namespace, not a server');
    assert.equal(verdict(m, tcp('10.0.0.2', '10.0.1.3', 80)), 'deny', 'red namespace but a server');
  });

  it('named ports resolve to the declaring endpoint’s port', () => {
    const m = model(gnp('http', { selector: "app == 'server'", ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: ['http'] } }] }));
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 8080)), 'allow');
    assert.throws(() => verdict(m, tcp('10.0.0.1', 'fd00::2', 8080)), /different IP families/);
    assert.equal(verdict(m, tcp('fd00::1', 'fd00::2', 8080)), 'allow');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.2', 80)), 'deny');
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.1.3', 8080)), 'deny', 'wc declares no http port');
  });

  it('GlobalNetworkSets and NetworkSets are matched by label', () => {
    const m = model(
      resource('GlobalNetworkSet', 'partners', { nets: ['192.0.2.0/24'] }, { labels: { kind: 'partner' } }),
      resource('NetworkSet', 'office', { nets: ['198.51.100.0/24'] }, { namespace: 'a', labels: { kind: 'office' } }),
      np('a', 'ext', { selector: 'all()', ingress: [{ action: 'Allow', source: { selector: "kind == 'office'" } }, { action: 'Allow', source: { selector: "kind == 'partner'", namespaceSelector: 'global()' } }] }),
    );
    assert.equal(verdict(m, tcp('198.51.100.9', '10.0.0.2', 80)), 'allow');
    assert.equal(verdict(m, tcp('192.0.2.9', '10.0.0.2', 80)), 'allow');
    assert.equal(verdict(m, tcp('203.0.113.9', '10.0.0.2', 80)), 'deny');
  });

  it('serviceAccounts', () => {
    const m = modelFromResources([
      nsProfile('a'),
      wep('a', 'api', { ips: ['10.0.0.1'], serviceAccount: 'api' }),
      wep('a', 'web', { ips: ['10.0.0.2'], serviceAccount: 'web' }),
      wep('a', 'db', { ips: ['10.0.0.3'] }),
      np('a', 'db', { selector: "projectcalico.org/serviceaccount == 'db' || !has(projectcalico.org/serviceaccount)", ingress: [{ action: 'Allow', source: { serviceAccounts: { names: ['api'] } } }] }),
    ]);
    assert.equal(verdict(m, tcp('10.0.0.1', '10.0.0.3', 5432)), 'allow');
    assert.equal(verdict(m, tcp('10.0.0.2', '10.0.0.3', 5432)), 'deny');
  });
});

describe('evaluate - anti-spoofing and host endpoints', () => {
  it('a workload may only send from its own addresses or allowed prefixes', () => {
    const m = modelFromResources([nsProfile('a'), wep('a', 'x', { ips: ['10.0.0.1'], allowSpoofedSourcePrefixes: ['192.0.2.0/24'] }), wep('a', 'y', { ips: ['10.0.0.2'] })]);
    const spoofed = tracePacket(m, tcp('10.9.9.9', '10.0.0.2', 80), { from: 'a/x' });
    assert.equal(spoofed.verdict, 'deny');
    assert.equal(spoofed.steps[0]!.reason, 'anti-spoofing');
    assert.equal(tracePacket(m, tcp('192.0.2.5', '10.0.0.2', 80), { from: 'a/x' }).verdict, 'allow');
    assert.equal(tracePacket(m, tcp('10.0.0.1', '10.0.0.2', 80), { from: 'a/x' }).verdict, 'allow');
  });

  it('host endpoints: failsafe ports stay open; otherwise policy, then profiles, then drop', () => {
    const m = modelFromResources([
      nsProfile('a'),
      wep('a', 'x', { ips: ['10.0.0.1'] }),
      resource('HostEndpoint', 'h1', { node: 'node-1', interfaceName: 'eth0', expectedIPs: ['192.0.2.1'] }, { labels: { role: 'gw' } }),
      gnp('hep', { selector: "role == 'gw'", ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [443] } }] }),
    ]);
    const ssh = tracePacket(m, tcp('10.0.0.1', '192.0.2.1', 22));
    assert.equal(ssh.verdict, 'allow');
    assert.equal(ssh.steps.at(-1)!.reason, 'failsafe');
    assert.equal(tracePacket(m, tcp('10.0.0.1', '192.0.2.1', 443)).verdict, 'allow');
    assert.equal(tracePacket(m, tcp('10.0.0.1', '192.0.2.1', 444)).verdict, 'deny');
    // Egress from the host endpoint: no egress policy, no profile: dropped, except failsafe outbound.
    assert.equal(tracePacket(m, tcp('192.0.2.1', '10.0.0.1', 80)).verdict, 'deny');
    assert.equal(tracePacket(m, { srcIp: '192.0.2.1', dstIp: '10.0.0.1', protocol: 'udp', dstPort: 53 }).verdict, 'allow');
  });
});

describe('evaluate - matrix', () => {
  it('gives every ordered pair per port', () => {
    const m = model(np('a', 'p', { selector: "app == 'server'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "app == 'client'" }, destination: { ports: [80] } }] }));
    const mx = policyMatrix(m, undefined, [{ protocol: 'tcp', port: 80 }, { protocol: 'udp', port: 80 }]);
    assert.deepEqual(mx.endpoints, [A, B, C]);
    assert.deepEqual(mx.verdicts, [
      [
        ['allow', 'allow', 'allow'],
        ['allow', 'allow', 'allow'],
        ['allow', 'deny', 'allow'],
      ],
      [
        ['allow', 'deny', 'allow'],
        ['allow', 'allow', 'allow'],
        ['allow', 'deny', 'allow'],
      ],
    ]);
    assert.equal(matrixVerdict(mx, C, B, { protocol: 'tcp', port: 80 }), 'deny');
    assert.throws(() => matrixVerdict(mx, C, 'nope', { protocol: 'tcp', port: 80 }));
  });
});
