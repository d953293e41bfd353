// Policy enforcement over real traffic: a host namespace programmed by the Dataplane, three
// workloads behind cali veths and an external peer, TCP/UDP/ICMP probes between them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { Dataplane } from '../../src/dataplane/mod.ts';
import { createLab, type TestLab, type TestWorkload } from './lab.ts';
import {
  hostEndpoint,
  IN_SYNC,
  ipPortSet,
  ipSet,
  policy,
  port,
  settings,
  tier,
  workload,
  workloadRoute,
} from './updates.ts';

const SPECS = [
  { hostIf: 'caliw1', addr4: '10.244.0.11', addr6: 'fd00:10:244::11' },
  { hostIf: 'caliw2', addr4: '10.244.0.12', addr6: 'fd00:10:244::12' },
  { hostIf: 'caliw3', addr4: '10.244.0.13', addr6: 'fd00:10:244::13' },
];
const TCP_PORTS = [80, 81, 8080, 9000, 9001, 9002];
const UDP_PORTS = [80, 81];

let lab: TestLab;
let w1: TestWorkload;
let w2: TestWorkload;
let w3: TestWorkload;

function addrs(w: TestWorkload): string[] {
  return [`${w.addr4}/32`, `${w.addr6}/128`];
}

/** Everything but the workloads' tiers: settings, the "all workloads" set, a profile, routes. */
function base(overrides: Parameters<typeof settings>[0] = {}): DataplaneUpdate[] {
  return [
    settings({ natOutgoingPools: [], allPools: ['10.244.0.0/16', 'fd00:10:244::/48'], ...overrides }),
    ipSet('s:all', lab.workloads.flatMap(addrs)),
    // The namespace profile allows all egress; ingress is left to policies.
    policy('pro/kns.default', { egress: [{ action: 'allow' }] }),
    ...lab.workloads.flatMap((w) => [workloadRoute(`${w.addr4}/32`, w.hostIf), workloadRoute(`${w.addr6}/128`, w.hostIf)]),
  ];
}

/** Workload updates giving every workload the same tiers. */
function workloadsWith(tiers: ReturnType<typeof tier>[], extra: { allowSpoofed?: Record<string, string[]> } = {}): DataplaneUpdate[] {
  return lab.workloads.map((w, i) =>
    workload(`default/w${i + 1}`, w.hostIf, addrs(w), {
      tiers,
      profiles: ['pro/kns.default'],
      allowSpoofedSourcePrefixes: extra.allowSpoofed?.[w.hostIf] ?? [],
    }),
  );
}

/** A fresh Dataplane over whatever the kernel has, converging on exactly `updates`. */
async function program(updates: DataplaneUpdate[]): Promise<Dataplane> {
  const dp = new Dataplane({ netns: lab.host.name });
  const res = await dp.apply([...updates, IN_SYNC]);
  assert.ok(res.ok, `apply failed: ${res.nft.error?.message ?? JSON.stringify(res.routes.errors)}`);
  return dp;
}

type Probe = [from: TestWorkload | 'ext' | 'host', to: string, proto: 'tcp' | 'udp', port: number, expected: boolean, bind?: string];

async function expectReach(probes: Probe[]): Promise<void> {
  const results = await Promise.all(
    probes.map(async ([from, to, proto, p, expected, bind]) => {
      const prober = from === 'ext' ? lab.external!.prober : from === 'host' ? lab.hostProber : from.prober;
      const res = await prober.probe(proto, to, p, bind ? { bind } : {});
      const name = from === 'ext' ? 'ext' : from === 'host' ? 'host' : from.hostIf;
      return { ok: res.ok === expected, text: `${name}${bind ? `(${bind})` : ''} → ${to} ${proto}/${p}: expected ${expected ? 'open' : 'blocked'}, got ${res.ok ? 'open' : res.error}` };
    }),
  );
  const bad = results.filter((r) => !r.ok).map((r) => r.text);
  assert.deepEqual(bad, [], bad.join('\n'));
}

/** The rules of one chain of the host's table, as nft lists them. */
async function nftRules(chain: string): Promise<string[]> {
  const out = await lab.host.exec('nft', ['list', 'chain', 'inet', 'margay', chain]);
  return out.stdout.split('\n').map((l) => l.trim()).filter((l) => l.includes('comment "mg:'));
}

async function ping(from: TestWorkload, to: string): Promise<boolean> {
  const res = await from.ns.exec('ping', ['-c1', '-W1', to], { allowFail: true });
  return res.code === 0;
}

describe('dataplane - policy over real traffic', () => {
  before(async () => {
    lab = await createLab({ workloads: SPECS, external: true });
    [w1, w2, w3] = lab.workloads as [TestWorkload, TestWorkload, TestWorkload];
    for (const w of lab.workloads) {
      for (const p of TCP_PORTS) await w.prober.listen('tcp', p);
      for (const p of UDP_PORTS) await w.prober.listen('udp', p);
    }
  });
  after(async () => {
    await lab?.destroy();
  });

  it('allows what a policy allows and drops the rest (TCP, UDP, IPv4, IPv6)', async () => {
    const dp = await program([
      ...base(),
      policy('np/default/web', { tier: 'default', ingress: [{ action: 'allow', protocol: 6, src: { ipSets: ['s:all'] }, dst: { ports: [port(80)] } }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/web'] })]),
    ]);
    await expectReach([
      [w1, w2.addr4, 'tcp', 80, true],
      [w1, w2.addr6, 'tcp', 80, true],
      [w2, w3.addr4, 'tcp', 80, true],
      [w1, w2.addr4, 'tcp', 81, false],
      [w1, w2.addr6, 'tcp', 81, false],
      [w1, w2.addr4, 'udp', 80, false],
    ]);
    // Update the policy in place: UDP 80 too.
    const res = await dp.apply([
      policy('np/default/web', {
        tier: 'default',
        ingress: [{ action: 'allow', protocol: 6, src: { ipSets: ['s:all'] }, dst: { ports: [port(80)] } }, { action: 'allow', protocol: 17, dst: { ports: [port(80)] } }],
      }),
    ]);
    assert.ok(res.ok);
    assert.equal(res.nft.stats?.chainsRewritten, 1, 'only the changed policy chain is rewritten');
    await expectReach([
      [w1, w2.addr4, 'udp', 80, true],
      [w1, w2.addr6, 'udp', 80, true],
      [w1, w2.addr4, 'udp', 81, false],
    ]);
  });

  it('runs tiers in order: Pass moves to the next tier, the end of a tier drops, a Pass default does not', async () => {
    const updates = (firstDefault: 'Deny' | 'Pass') => [
      ...base(),
      policy('gnp/security.pass-81', { tier: 'security', ingress: [{ action: 'pass', protocol: 6, dst: { ports: [port(81)] } }] }),
      policy('gnp/security.deny-8080', { tier: 'security', ingress: [{ action: 'deny', protocol: 6, dst: { ports: [port(8080)] } }] }),
      policy('np/default/allow-all', { tier: 'default', ingress: [{ action: 'allow' }] }),
      ...workloadsWith([
        tier('security', { ingress: ['gnp/security.pass-81', 'gnp/security.deny-8080'], defaultAction: firstDefault }),
        tier('default', { ingress: ['np/default/allow-all'] }),
      ]),
    ];
    await program(updates('Deny'));
    await expectReach([
      [w1, w2.addr4, 'tcp', 81, true], // passed to the default tier, which allows
      [w1, w2.addr4, 'tcp', 8080, false], // denied in the first tier
      [w1, w2.addr4, 'tcp', 80, false], // no policy in the first tier decided: end-of-tier drop
    ]);
    await program(updates('Pass'));
    await expectReach([
      [w1, w2.addr4, 'tcp', 81, true],
      [w1, w2.addr4, 'tcp', 8080, false],
      [w1, w2.addr4, 'tcp', 80, true], // the tier's default is Pass
    ]);
  });

  it('a Log rule logs and evaluation continues', async () => {
    await program([
      ...base(),
      policy('np/default/log-then-allow', {
        tier: 'default',
        ingress: [
          { action: 'log', protocol: 6, dst: { ports: [port(80)] }, logPrefix: 'margay-test np/default/log-then-allow 0' },
          { action: 'allow', protocol: 6, dst: { ports: [port(80)] } },
        ],
      }),
      ...workloadsWith([tier('default', { ingress: ['np/default/log-then-allow'] })]),
    ]);
    await expectReach([[w1, w2.addr4, 'tcp', 80, true]]);
    // Kernel logging from a non-initial namespace is off by default, so check the rule itself and
    // that packets went through it.
    const listing = (await lab.host.exec('nft', ['-j', 'list', 'chain', 'inet', 'margay', 'pi-np/default/log-then-allow'])).stdout;
    const rules = (JSON.parse(listing).nftables as Array<Record<string, any>>).filter((o) => o.rule).map((o) => o.rule);
    const logRule = rules.find((r) => r.expr.some((e: any) => e.log));
    assert.ok(logRule, 'a log rule exists');
    assert.equal(logRule.expr.find((e: any) => e.log).log.prefix, 'margay-test np/default/log-then-allow 0 ');
    assert.ok(logRule.expr.find((e: any) => e.counter).counter.packets > 0, 'the log rule saw packets');
  });

  it('named ports match (address, protocol, port) through an ip-port set', async () => {
    await program([
      ...base(),
      ipPortSet('n:http-alt', [`${w2.addr4},tcp:8080`, `${w2.addr6},tcp:8080`]),
      policy('np/default/named', { tier: 'default', ingress: [{ action: 'allow', protocol: 6, dst: { namedPortIpSets: ['n:http-alt'] } }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/named'] })]),
    ]);
    await expectReach([
      [w1, w2.addr4, 'tcp', 8080, true],
      [w1, w2.addr6, 'tcp', 8080, true],
      [w1, w2.addr4, 'tcp', 80, false],
      [w1, w3.addr4, 'tcp', 8080, false], // w3's port 8080 is not in the set
    ]);
    // ports OR named ports, in one rule.
    await program([
      ...base(),
      ipPortSet('n:http-alt', [`${w2.addr4},tcp:8080`]),
      policy('np/default/named', { tier: 'default', ingress: [{ action: 'allow', protocol: 6, dst: { ports: [port(81)], namedPortIpSets: ['n:http-alt'] } }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/named'] })]),
    ]);
    await expectReach([
      [w1, w2.addr4, 'tcp', 8080, true],
      [w1, w2.addr4, 'tcp', 81, true],
      [w1, w3.addr4, 'tcp', 81, true],
      [w1, w3.addr4, 'tcp', 8080, false],
      [w1, w2.addr4, 'tcp', 80, false],
    ]);
  });

  it('notNets and port ranges', async () => {
    await program([
      ...base(),
      policy('np/default/range', {
        tier: 'default',
        ingress: [{ action: 'allow', protocol: 6, src: { notNets: [`${w3.addr4}/32`, `${w3.addr6}/128`] }, dst: { ports: [port(9000, 9001)] } }],
      }),
      ...workloadsWith([tier('default', { ingress: ['np/default/range'] })]),
    ]);
    await expectReach([
      [w1, w2.addr4, 'tcp', 9000, true],
      [w1, w2.addr4, 'tcp', 9001, true],
      [w1, w2.addr6, 'tcp', 9001, true],
      [w1, w2.addr4, 'tcp', 9002, false],
      [w3, w2.addr4, 'tcp', 9000, false],
      [w3, w2.addr6, 'tcp', 9000, false],
    ]);
  });

  it('IP set deltas change what is allowed', async () => {
    const dp = await program([
      ...base(),
      ipSet('s:friends', [`${w1.addr4}/32`]),
      policy('np/default/friends', { tier: 'default', ingress: [{ action: 'allow', src: { ipSets: ['s:friends'] } }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/friends'] })]),
    ]);
    await expectReach([
      [w1, w2.addr4, 'tcp', 80, true],
      [w3, w2.addr4, 'tcp', 80, false],
    ]);
    const res = await dp.apply([{ type: 'ipset-delta', id: 's:friends', added: [`${w3.addr4}/32`], removed: [`${w1.addr4}/32`] }]);
    assert.ok(res.ok);
    assert.equal(res.nft.stats?.rulesWritten, 0, 'a set change rewrites no rule');
    assert.equal(res.nft.stats?.elementsAdded, 1);
    assert.equal(res.nft.stats?.elementsDeleted, 1);
    await expectReach([
      [w1, w2.addr4, 'tcp', 80, false],
      [w3, w2.addr4, 'tcp', 80, true],
    ]);
    // A CIDR joins: the set becomes an interval set under another name and the rule follows.
    const cidr = await dp.apply([{ type: 'ipset-delta', id: 's:friends', added: ['10.244.0.8/29'], removed: [] }]);
    assert.ok(cidr.ok, cidr.nft.error?.message);
    assert.match(dp.lastTransaction, /add set inet margay v4n-s\.friends \{ type ipv4_addr; flags interval; \}/);
    // The old set is unused now; it waits in the kernel (driver.ts, deferred deletions) until a
    // tidy (the agent asks for one once changes pause) or a full comparison.
    assert.doesNotMatch(dp.lastTransaction, /delete set/);
    await expectReach([
      [w1, w2.addr4, 'tcp', 80, true], // 10.244.0.11 is in 10.244.0.8/29
      [w3, w2.addr4, 'tcp', 80, true],
    ]);
    assert.match((await lab.host.exec('nft', ['list', 'sets', 'inet'])).stdout, /set v4-s\.friends /);
    assert.equal(dp.untidy(), true);
    const tidy = await dp.tidy();
    assert.ok(tidy.ok, tidy.nft.error?.message);
    assert.equal(tidy.nft.via, 'nft');
    assert.match(dp.lastTransaction, /delete set inet margay v4-s\.friends/);
    assert.equal(dp.untidy(), false);
    assert.doesNotMatch((await lab.host.exec('nft', ['list', 'sets', 'inet'])).stdout, /set v4-s\.friends /);
    assert.equal((await dp.resync()).nft.commands, 0, 'nothing left for a full comparison');
  });

  it('ICMP type matches', async () => {
    await program([
      ...base(),
      policy('np/default/no-ping', {
        tier: 'default',
        ingress: [{ action: 'deny', protocol: 1, icmp: { type: 8 } }, { action: 'deny', protocol: 58, icmp: { type: 128 } }, { action: 'allow' }],
      }),
      ...workloadsWith([tier('default', { ingress: ['np/default/no-ping'] })]),
    ]);
    assert.equal(await ping(w1, w2.addr4), false);
    assert.equal(await ping(w1, w2.addr6), false);
    await expectReach([[w1, w2.addr4, 'tcp', 80, true]]);
  });

  it('anti-spoofing: a workload may send only from its own addresses and allowed prefixes', async () => {
    await w1.ns.exec('ip', ['addr', 'add', '10.244.0.99/32', 'dev', 'eth0']);
    const updates = (allowSpoofed: Record<string, string[]>) => [
      ...base(),
      workloadRoute('10.244.0.99/32', w1.hostIf), // so replies could come back
      policy('np/default/allow-all', { tier: 'default', ingress: [{ action: 'allow' }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/allow-all'] })], { allowSpoofed }),
    ];
    await program(updates({}));
    await expectReach([
      [w1, w2.addr4, 'tcp', 80, true, w1.addr4],
      [w1, w2.addr4, 'tcp', 80, false, '10.244.0.99'],
      [w1, w2.addr4, 'udp', 80, false, '10.244.0.99'],
    ]);
    await program(updates({ [w1.hostIf]: ['10.244.0.99/32'] }));
    await expectReach([[w1, w2.addr4, 'tcp', 80, true, '10.244.0.99']]);
    await w1.ns.exec('ip', ['addr', 'del', '10.244.0.99/32', 'dev', 'eth0']);
  });

  it('an unknown workload interface is dropped both ways (fail closed)', async () => {
    const w4 = await lab.addWorkload({ hostIf: 'caliw4', addr4: '10.244.0.14', addr6: 'fd00:10:244::14' });
    await w4.prober.listen('tcp', 80);
    const allowAll = policy('np/default/allow-all', { tier: 'default', ingress: [{ action: 'allow' }] });
    const w4Routes = [workloadRoute(`${w4.addr4}/32`, w4.hostIf), workloadRoute(`${w4.addr6}/128`, w4.hostIf)];
    // Routed, but no workload endpoint yet: its interface matches the prefix and is unknown.
    await program([...base(), ...w4Routes, allowAll, ...workloadsWith([tier('default', { ingress: ['np/default/allow-all'] })])]);
    await expectReach([
      [w4, w2.addr4, 'tcp', 80, false],
      [w2, w4.addr4, 'tcp', 80, false],
      [w1, w2.addr4, 'tcp', 80, true],
    ]);
    const dp = await program([...base(), ...w4Routes, allowAll, ...workloadsWith([tier('default', { ingress: ['np/default/allow-all'] })])]);
    const res = await dp.apply([
      workload('default/w4', w4.hostIf, [`${w4.addr4}/32`, `${w4.addr6}/128`], { tiers: [tier('default', { ingress: ['np/default/allow-all'] })], profiles: ['pro/kns.default'] }),
    ]);
    assert.ok(res.ok);
    assert.deepEqual(res.programmedEndpoints, ['default/w4']);
    await expectReach([
      [w4, w2.addr4, 'tcp', 80, true],
      [w2, w4.addr4, 'tcp', 80, true],
    ]);
    // Taken away again: fail closed once more.
    const gone = await dp.apply([{ type: 'workload-remove', key: 'default/w4' }]);
    assert.ok(gone.ok);
    await expectReach([[w2, w4.addr4, 'tcp', 80, false]]);
  });

  it('workload to host traffic follows DefaultEndpointToHostAction after egress policy', async () => {
    await lab.hostProber.listen('tcp', 7000);
    const updates = (action: 'Drop' | 'Accept') => [
      ...base({ defaultEndpointToHostAction: action }),
      policy('np/default/allow-all', { tier: 'default', ingress: [{ action: 'allow' }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/allow-all'] })]),
    ];
    await program(updates('Drop'));
    await expectReach([[w1, lab.external!.hostAddr4, 'tcp', 7000, false]]);
    await program(updates('Accept'));
    await expectReach([[w1, lab.external!.hostAddr4, 'tcp', 7000, true]]);
    // Egress policy still applies first: a workload whose egress denies cannot reach the host.
    await program([
      ...base({ defaultEndpointToHostAction: 'Accept' }),
      policy('np/default/no-egress', { tier: 'default', egress: [{ action: 'deny', protocol: 6, dst: { ports: [port(7000)] } }] }),
      ...workloadsWith([tier('default', { egress: ['np/default/no-egress'] })]),
    ]);
    await expectReach([[w1, lab.external!.hostAddr4, 'tcp', 7000, false]]);
  });

  it('a host endpoint keeps the failsafe ports open under a deny-all policy', async () => {
    await lab.hostProber.listen('tcp', 22);
    await lab.hostProber.listen('tcp', 7001);
    const common = [
      ...base({ failsafeInbound: [{ protocol: 'tcp', port: 22 }], failsafeOutbound: [] }),
      policy('np/default/allow-all', { tier: 'default', ingress: [{ action: 'allow' }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/allow-all'] })]),
    ];
    await program(common);
    await expectReach([
      ['ext', lab.external!.hostAddr4, 'tcp', 22, true],
      ['ext', lab.external!.hostAddr4, 'tcp', 7001, true],
    ]);
    await program([
      ...common,
      policy('gnp/deny-all', { tier: 'default', ingress: [{ action: 'deny' }], egress: [{ action: 'deny' }] }),
      hostEndpoint('host1-hep0', 'hep0', { tiers: [tier('default', { ingress: ['gnp/deny-all'], egress: ['gnp/deny-all'] })] }),
    ]);
    await expectReach([
      ['ext', lab.external!.hostAddr4, 'tcp', 22, true],
      ['ext', lab.external!.hostAddr4, 'tcp', 7001, false],
    ]);
    // The all-interfaces host endpoint (`*`) behaves the same.
    await program([
      ...common,
      policy('gnp/deny-all', { tier: 'default', ingress: [{ action: 'deny' }], egress: [{ action: 'deny' }] }),
      hostEndpoint('host1-all', '*', { tiers: [tier('default', { ingress: ['gnp/deny-all'], egress: ['gnp/deny-all'] })] }),
    ]);
    await expectReach([
      ['ext', lab.external!.hostAddr4, 'tcp', 22, true],
      ['ext', lab.external!.hostAddr4, 'tcp', 7001, false],
      [w1, w2.addr4, 'tcp', 80, true], // workload traffic is not host endpoint traffic
    ]);
  });

  it('host endpoint applyOnForward, preDNAT and doNotTrack policies', async () => {
    await lab.hostProber.listen('tcp', 7003);
    const ext = lab.external!;
    const common = [
      ...base({ failsafeInbound: [], failsafeOutbound: [] }),
      policy('np/default/allow-all', { tier: 'default', ingress: [{ action: 'allow' }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/allow-all'] })]),
    ];
    await program([
      ...common,
      policy('gnp/fwd', { tier: 'default', applyOnForward: true, ingress: [{ action: 'deny', protocol: 6, dst: { ports: [port(81)] } }, { action: 'allow' }] }),
      policy('gnp/prednat', { tier: 'default', preDNAT: true, applyOnForward: true, ingress: [{ action: 'deny', protocol: 6, dst: { ports: [port(9000)] } }] }),
      policy('gnp/deny-all', { tier: 'default', ingress: [{ action: 'deny' }], egress: [{ action: 'deny' }] }),
      policy('gnp/untracked', {
        tier: 'default',
        doNotTrack: true,
        applyOnForward: true,
        ingress: [{ action: 'allow', protocol: 6, dst: { ports: [port(7003)] } }],
        egress: [{ action: 'allow', protocol: 6, src: { ports: [port(7003)] } }],
      }),
      hostEndpoint('host1-hep0', 'hep0', {
        tiers: [tier('default', { ingress: ['gnp/deny-all'], egress: ['gnp/deny-all'] })],
        forwardTiers: [tier('default', { ingress: ['gnp/fwd'] })],
        preDnatTiers: [tier('default', { ingress: ['gnp/prednat'] })],
        untrackedTiers: [tier('default', { ingress: ['gnp/untracked'], egress: ['gnp/untracked'] })],
      }),
    ]);
    await expectReach([
      ['ext', w1.addr4, 'tcp', 80, true], // forwarded, allowed by the forward policy
      ['ext', w1.addr4, 'tcp', 81, false], // forwarded, denied by the forward policy
      ['ext', w1.addr4, 'tcp', 9000, false], // denied before DNAT
      ['ext', ext.hostAddr4, 'tcp', 7003, true], // untracked allow skips the deny-all host policy
      ['ext', ext.hostAddr4, 'tcp', 7001, false], // the deny-all host policy
    ]);
    const raw = await nftRules('pi-gnp/untracked');
    assert.ok(raw.some((r) => r.startsWith('notrack ') || r.includes(' notrack ')), 'untracked policies notrack what they allow');
  });

  it('NAT outgoing masquerades traffic from a natOutgoing pool to outside all pools', async () => {
    await lab.external!.prober.listen('tcp', 7002);
    const updates = (nat: string[]) => [
      ...base({ natOutgoingPools: nat }),
      policy('np/default/allow-all', { tier: 'default', ingress: [{ action: 'allow' }] }),
      ...workloadsWith([tier('default', { ingress: ['np/default/allow-all'] })]),
    ];
    await program(updates([]));
    const plain = await w1.prober.probe('tcp', lab.external!.addr4, 7002);
    assert.deepEqual([plain.ok, plain.from], [true, w1.addr4]);
    await program(updates(['10.244.0.0/16']));
    const masq = await w1.prober.probe('tcp', lab.external!.addr4, 7002);
    assert.deepEqual([masq.ok, masq.from], [true, lab.external!.hostAddr4]);
    // Inside the pools nothing is translated.
    const inside = await w1.prober.probe('tcp', w2.addr4, 80);
    assert.deepEqual([inside.ok, inside.from], [true, w1.addr4]);
  });
});
