/**
 * Differential test of the netlink rule path against nft, on the real kernel: the same dataplane
 * updates — policies of every rule shape the renderers write, policy lists with and without
 * dispatch, host endpoints, edits and deletions — applied in one throwaway namespace through the
 * `margay-netlink` helper (netlink-batch.ts, rule-parse.ts, rule-encode.ts) and in another through
 * nft only. After each step both kernels must hold the same table, rule by rule and expression by
 * expression (`nft --debug=netlink list table` shows the expressions the kernel holds).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { Dataplane, type ApplyResult } from '../../src/dataplane/mod.ts';
import { run, useTestNetns, type TestNetns } from '../harness/netns.ts';
import { IN_SYNC, hostEndpoint, ipPortSet, ipSet, policy, port, settings, tier, workload, type RuleSpec } from './updates.ts';

const TCP = 6;
const UDP = 17;

/** Rules of every shape render-rules.ts writes (each becomes one or more nft rules per family). */
const SHAPES: RuleSpec[] = [
  { action: 'allow', protocol: TCP, src: { nets: ['10.1.0.0/16', '10.2.3.4/32', 'fd00:1::/64'] }, dst: { ports: [port(80), port(443), port(8000, 8100)] } },
  { action: 'deny', src: { nets: ['10.9.0.0/20', '0.0.0.0/0'] }, dst: { nets: ['fd00:2::/65', '::/0'] } },
  { action: 'allow', protocol: UDP, src: { notNets: ['10.3.0.0/24', '192.168.0.0/17'], ports: [port(7)] }, dst: { ports: [port(9)] } },
  { action: 'pass', src: { ipSets: ['s:a'], notIpSets: ['s:b'] } },
  { action: 'allow', protocol: TCP, dst: { namedPortIpSets: ['n:web'] } },
  { action: 'allow', protocol: TCP, dst: { namedPortIpSets: ['n:web'], ports: [port(22)] } },
  { action: 'deny', protocol: TCP, dst: { notNamedPortIpSets: ['n:web'], notPorts: [port(22), port(100, 200)] } },
  { action: 'allow', src: { ports: [port(1024, 65535)] }, dst: { notPorts: [port(53)] } },
  { action: 'allow', protocol: 1, icmp: { type: 8, code: 0 } },
  { action: 'allow', protocol: 58, icmp: { type: 128 } },
  { action: 'deny', protocol: 1, notIcmp: { type: 3 }, src: { nets: ['10.4.0.0/16'] } },
  { action: 'log', logPrefix: 'margay-test', notProtocol: UDP },
  { action: 'allow', ipVersion: 6 },
  { action: 'allow', protocol: TCP, src: { notPorts: [port(1)] }, dst: { notPorts: [port(2)] } },
  { action: 'allow', protocol: UDP, src: { notNets: ['10.5.0.1/32', 'fd00:5::1/128'], notPorts: [port(3), port(4)] }, dst: { notNets: ['10.5.0.2/32', 'fd00:5::2/128'], notPorts: [port(5)] } },
  { action: 'deny' },
];

/** Shapes nft must still write (anonymous sets). */
const NFT_ONLY: RuleSpec[] = [
  { action: 'allow', protocol: 1, notIcmp: { type: 3, code: 1 } },
  { action: 'allow', protocol: TCP, dst: { ports: Array.from({ length: 20 }, (_, i) => port(1000 + 2 * i)) } },
];

/** The first lines where `a` (netlink) and `b` (nft) differ, with some context. */
function difference(a: string, b: string): string {
  const [la, lb] = [a.split('\n'), b.split('\n')];
  let i = 0;
  while (i < la.length && la[i] === lb[i]) i++;
  const around = (l: string[]) => l.slice(Math.max(0, i - 12), i + 6).join('\n');
  return `the tables differ at line ${i + 1}:\n--- netlink:\n${around(la)}\n--- nft:\n${around(lb)}`;
}

const listPolicy = (n: number, dports: number[]) =>
  policy(`gnp/d${n}`, { tier: 'default', ingress: [{ action: n % 2 ? 'allow' : 'deny', protocol: TCP, dst: { ports: dports.map((p) => port(p)) } }] });

describe('nftables rules by netlink equal nft', () => {
  const ns = useTestNetns(2, 'mgnr');
  let viaNetlink: Dataplane;
  let viaNft: Dataplane;
  const A = (): TestNetns => ns.all[0]!;
  const B = (): TestNetns => ns.all[1]!;

  before(async () => {
    for (const n of [A(), B()]) {
      for (const [i, j] of [['cali1', 'peer1'], ['cali2', 'peer2'], ['cali3', 'peer3'], ['eth9', 'peer9']]) {
        await run('ip', ['-n', n.name, 'link', 'add', i!, 'type', 'veth', 'peer', 'name', j!]);
      }
    }
    // A cold start with a load ahead (streamed by netlink) and its last transaction by netlink.
    viaNetlink = new Dataplane({ netns: A().name, loadAheadMinPolicies: 1 });
    viaNft = new Dataplane({ netns: B().name, netlinkHelper: false });
  });
  after(() => {
    viaNetlink?.close();
    viaNft?.close();
  });

  /**
   * The table as nft prints it, and the expressions the kernel holds; elements sorted (a hash
   * set lists them in an order of its own in each namespace), sets and chains by name (the kernel
   * lists them in creation order, which a load ahead changes), anonymous sets without their
   * kernel-given number.
   */
  async function tables(n: TestNetns): Promise<[string, string]> {
    const list = (await n.exec('nft', ['list', 'table', 'inet', 'margay'])).stdout;
    const exprs = (await n.exec('nft', ['--debug=netlink', 'list', 'table', 'inet', 'margay'])).stdout;
    const sortedElements = list.replace(/elements = \{([^}]*)\}/g, (_, items: string) => `elements = { ${items.split(',').map((i) => i.trim()).sort().join(', ')} }`);
    // Top-level blocks (`\tset x {` … `\t}`) sorted by their text.
    const top = sortedElements.replace(/\n}\n*$/, '').split(/\n(?=\t(?:set|map|chain) \S+ \{\n)/).map((b) => b.trimEnd());
    const sortedList = [top[0], ...top.slice(1).sort()].join('\n\n');
    // Rule handles differ once the two have made different numbers of transactions.
    const lines = exprs.replace(/^(inet margay \S+)( \d+)+$/gm, '$1').replace(/__(set|map)\d+/g, '__$1N').split('\n');
    for (let i = 0; i < lines.length; ) {
      let j = i;
      while (j < lines.length && lines[j]!.startsWith('\telement ')) j++;
      if (j > i) lines.splice(i, j - i, ...lines.slice(i, j).sort());
      i = j + 1;
    }
    // Blocks from one `inet margay …` header to the next, before nft's own listing at the end:
    // a set's by its text, a rule's by its chain (stable: the rules keep their order).
    const end = lines.findIndex((l) => l.startsWith('table inet margay'));
    const body = lines.slice(0, end < 0 ? lines.length : end);
    const blocks: string[][] = [];
    for (const l of body) {
      if (/^inet margay /.test(l) || blocks.length === 0) blocks.push([l]);
      else blocks[blocks.length - 1]!.push(l);
    }
    const key = (b: string[]): string => (b[0]!.startsWith('inet margay @') ? b.join('\n') : b[0]!);
    blocks.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return [sortedList, blocks.map((b) => b.join('\n')).join('\n')];
  }

  /** Applies `updates` to both, checks both succeeded and hold the same table; returns how A's went (and its text). */
  async function step(updates: DataplaneUpdate[]): Promise<ApplyResult & { text: string }> {
    const [a, b] = [await viaNetlink.apply(updates), await viaNft.apply(updates)];
    const text = viaNetlink.lastTransaction;
    assert.ok(a.ok, a.nft.error?.message);
    assert.ok(b.ok, b.nft.error?.message);
    // Without the helper nothing is deferred: A deletes what it left unused before comparing.
    if (viaNetlink.untidy()) assert.ok((await viaNetlink.tidy()).ok);
    const [[listA, exprsA], [listB, exprsB]] = [await tables(A()), await tables(B())];
    assert.ok(listA === listB, difference(listA, listB));
    assert.ok(exprsA === exprsB, difference(exprsA, exprsB));
    return { ...a, text };
  }

  const base: DataplaneUpdate[] = [
    settings({ ipv6Enabled: true, allPools: ['10.244.0.0/16'], natOutgoingPools: ['10.244.0.0/16'] }),
    ipSet('s:a', ['10.244.1.1/32', '10.244.1.2/32', 'fd00::1/128']),
    ipSet('s:b', ['10.244.2.0/24', 'fd00:b::/64']),
    ipPortSet('n:web', ['10.244.1.1,tcp:80', 'fd00::1,tcp:8080']),
    policy('pro/kns.x', { ingress: [{ action: 'allow' }], egress: [{ action: 'allow' }] }),
    policy('gnp/base', { tier: 'default', ingress: [{ action: 'allow', protocol: TCP, dst: { ports: [port(80)] } }] }),
    workload('default/w1', 'cali1', ['10.244.1.1/32', 'fd00::1/128'], { tiers: [tier('default', { ingress: ['gnp/base'] })], profiles: ['pro/kns.x'] }),
    workload('default/w2', 'cali2', ['10.244.1.2/32'], { profiles: ['pro/kns.x'] }),
    IN_SYNC,
  ];

  it('a fresh table (loaded ahead, switched on by netlink), then a policy of every rule shape written and used: one batch, the same table', async () => {
    // The switch-on holds the anti-spoofing concatenated interval sets, their elements and the
    // rules looking them up, NAT outgoing's masquerade and the ICMPv6 types' anonymous set.
    const first = await step(base);
    assert.ok((first.nft.ahead?.commands ?? 0) > 0 && first.nft.ahead?.error === undefined, 'loaded ahead');
    // Nothing through nft: the sets, the chains that need no map went ahead; the rest, base chains last, by netlink.
    assert.equal(first.nft.via, 'netlink', first.text);
    assert.match(first.text, /hook forward/);
    const created = await step([
      policy('gnp/shapes', { tier: 'default', ingress: SHAPES, egress: SHAPES }),
      workload('default/w1', 'cali1', ['10.244.1.1/32', 'fd00::1/128'], { tiers: [tier('default', { ingress: ['gnp/base', 'gnp/shapes'], egress: ['gnp/shapes'] })], profiles: ['pro/kns.x'] }),
    ]);
    assert.equal(created.nft.via, 'netlink', created.text);
    assert.ok(created.nft.stats!.rulesWritten > 40, 'the shapes went as rules');
  });

  it('a policy edited (its chains flushed and refilled), untracked and pre-DNAT flavours, host endpoints', async () => {
    const edited = await step([policy('gnp/shapes', { tier: 'default', ingress: [...SHAPES].reverse(), egress: SHAPES.slice(0, 5) })]);
    assert.equal(edited.nft.via, 'netlink', edited.text);
    const host = await step([
      policy('gnp/raw', { tier: 'default', doNotTrack: true, ingress: SHAPES.slice(0, 4), egress: [{ action: 'allow', protocol: UDP, dst: { ports: [port(53)] } }] }),
      hostEndpoint('host/eth9', 'eth9', { tiers: [tier('default', { ingress: ['gnp/shapes'], egress: ['gnp/shapes'] })], untrackedTiers: [tier('default', { ingress: ['gnp/raw'], egress: ['gnp/raw'] })], profiles: ['pro/kns.x'] }),
    ]);
    assert.equal(host.nft.via, 'netlink', host.text);
  });

  it('a policy whose selectors are new: its sets created in the same batch', async () => {
    const created = await step([
      ipSet('s:c', ['10.244.3.1/32', '10.244.3.2/32', 'fd00::3/128']),
      ipPortSet('n:db', ['10.244.3.1,tcp:5432', 'fd00::3,tcp:5432']),
      policy('gnp/new', {
        tier: 'default',
        ingress: [{ action: 'allow', protocol: TCP, src: { ipSets: ['s:c'] }, dst: { namedPortIpSets: ['n:db'] } }, { action: 'deny', src: { notIpSets: ['s:c'] } }],
      }),
      workload('default/w2', 'cali2', ['10.244.1.2/32'], { tiers: [tier('default', { ingress: ['gnp/new'] })], profiles: ['pro/kns.x'] }),
    ]);
    assert.equal(created.nft.via, 'netlink', created.text);
    assert.match(created.text, /add set inet margay v6p-n\.db \{ type ipv6_addr \. inet_proto \. inet_service; \}/);
  });

  it('settings that rewrite the fixed chains (failsafe ports with nets, interface prefixes, endpoint-to-host action)', async () => {
    const fixed = {
      ipv6Enabled: true,
      allPools: ['10.244.0.0/16'],
      natOutgoingPools: ['10.244.0.0/16'],
      interfacePrefixes: ['cali', 'tap'],
      failsafeInbound: [{ protocol: 'tcp' as const, port: 22 }, { protocol: 'udp' as const, port: 68, net: '10.0.0.0/8' }, { protocol: 'tcp' as const, port: 179, net: 'fd00::/8' }],
      failsafeOutbound: [{ protocol: 'tcp' as const, port: 2379, net: '192.168.1.1/32' }],
    };
    const changed = await step([settings(fixed)]);
    assert.equal(changed.nft.via, 'netlink', changed.text);
    // wl-to-host holds the ICMPv6 neighbour discovery types as an anonymous set.
    const toHost = await step([settings({ ...fixed, defaultEndpointToHostAction: 'Accept' })]);
    assert.equal(toHost.nft.via, 'netlink', toHost.text);
    assert.match(toHost.text, /icmpv6 type \{/);
  });

  it('anti-spoofing elements added to and deleted from the existing concatenated interval sets by netlink', async () => {
    const w3 = (addresses: string[], spoofed: string[]) => workload('default/w3', 'cali3', addresses, { profiles: ['pro/kns.x'], allowSpoofedSourcePrefixes: spoofed });
    const added = await step([w3(['10.244.3.3/32', 'fd00::3/128'], ['10.9.0.0/16', 'fd00:9::/64'])]);
    assert.equal(added.nft.via, 'netlink', added.text);
    assert.match(added.text, /add element inet margay wl-src-v4 \{ "cali3" \. 10\.9\.0\.0\/16, "cali3" \. 10\.244\.3\.3\/32 \}/);
    assert.match(added.text, /add element inet margay wl-src-v6 /);
    // One net replaced (delete and add in one batch), then the workload gone (its elements deleted).
    const changed = await step([w3(['10.244.3.3/32', 'fd00::3/128'], ['10.8.0.0/15'])]);
    assert.equal(changed.nft.via, 'netlink', changed.text);
    assert.match(changed.text, /delete element inet margay wl-src-v4 \{ "cali3" \. 10\.9\.0\.0\/16 \}/);
    assert.match(changed.text, /delete element inet margay wl-src-v6 \{ "cali3" \. fd00:9::\/64 \}/);
    const removed = await step([{ type: 'workload-remove', key: 'default/w3' } as DataplaneUpdate]);
    assert.equal(removed.nft.via, 'netlink', removed.text);
    assert.match(removed.text, /delete element inet margay wl-src-v4 \{ "cali3" \. 10\.\d+\.\d+\.\d+\/\d+, "cali3" \. 10\.\d+\.\d+\.\d+\/\d+ \}/);
  });

  it('elements of interval sets of addresses that exist added, replaced and deleted by netlink (network sets, NAT pools)', async () => {
    const grown = await step([ipSet('s:b', ['10.244.2.0/24', '10.250.0.0/16', 'fd00:b::/64', 'fd00:c::/64'])]);
    assert.equal(grown.nft.via, 'netlink', grown.text);
    assert.match(grown.text, /add element inet margay v4n-s\.b \{ 10\.250\.0\.0\/16 \}/);
    const replaced = await step([ipSet('s:b', ['10.244.2.0/24', '10.251.0.0/16', 'fd00:b::/64'])]);
    assert.equal(replaced.nft.via, 'netlink', replaced.text);
    assert.match(replaced.text, /delete element inet margay v4n-s\.b \{ 10\.250\.0\.0\/16 \}/);
    assert.match(replaced.text, /delete element inet margay v6n-s\.b \{ fd00:c::\/64 \}/);
    const pools = await step([settings({ ipv6Enabled: true, allPools: ['10.244.0.0/16', '10.96.0.0/12'], natOutgoingPools: ['10.244.0.0/16', '10.96.0.0/12'] })]);
    assert.equal(pools.nft.via, 'netlink', pools.text);
    assert.match(pools.text, /add element inet margay nat-pools-v4 \{ 10\.96\.0\.0\/12 \}/);
    const back = await step([settings({ ipv6Enabled: true, allPools: ['10.244.0.0/16'], natOutgoingPools: ['10.244.0.0/16'] })]);
    assert.equal(back.nft.via, 'netlink', back.text);
  });

  it('a range deleted from an interval set beside a touching one (upper, then lower): the neighbour keeps its exact bounds', async () => {
    /** Whether A's set matches the address (the kernel's lookup, not nft's listing). */
    const matches = async (set: string, address: string): Promise<boolean> =>
      (await run('ip', ['netns', 'exec', A().name, 'nft', 'get', 'element', 'inet', 'margay', set, `{ ${address} }`], { allowFail: true })).code === 0;
    await step([ipSet('s:b', ['10.244.2.0/24', '10.244.3.0/24', 'fd00:b::/64'])]); // touching: through nft
    const upper = await step([ipSet('s:b', ['10.244.2.0/24', 'fd00:b::/64'])]);
    assert.equal(upper.nft.via, 'netlink', upper.text);
    assert.match(upper.text, /delete element inet margay v4n-s\.b \{ 10\.244\.3\.0\/24 \}/);
    assert.deepEqual(
      [await matches('v4n-s.b', '10.244.2.9'), await matches('v4n-s.b', '10.244.3.9'), await matches('v4n-s.b', '10.250.0.1')],
      [true, false, false],
      'the lower range still ends where it did',
    );
    await step([ipSet('s:b', ['10.244.2.0/24', '10.244.3.0/24', 'fd00:b::/64'])]);
    const lower = await step([ipSet('s:b', ['10.244.3.0/24', 'fd00:b::/64'])]);
    assert.ok(lower.ok);
    assert.deepEqual(
      [await matches('v4n-s.b', '10.244.2.9'), await matches('v4n-s.b', '10.244.3.9'), await matches('v4n-s.b', '10.244.4.1')],
      [false, true, false],
      'the upper range keeps its start and end',
    );
    await step([ipSet('s:b', ['10.244.2.0/24', 'fd00:b::/64'])]);
  });

  it('a tier dispatched by port (anonymous verdict maps, port ranges as interval maps) by netlink; the shapes nft must write through nft, with the same result', async () => {
    const many = [listPolicy(1, [80]), listPolicy(2, [443, 8443]), listPolicy(3, [5000]), listPolicy(4, [80, 81])];
    const dispatched = await step([
      ...many,
      workload('default/w2', 'cali2', ['10.244.1.2/32'], { tiers: [tier('default', { ingress: ['gnp/d1', 'gnp/d2', 'gnp/d3', 'gnp/d4'] })], profiles: ['pro/kns.x'] }),
    ]);
    assert.equal(dispatched.nft.via, 'netlink', dispatched.text);
    assert.match(dispatched.text, /th dport vmap \{/);
    // Every guard names TCP: the protocol is a comparison, not a map.
    assert.match(dispatched.text, /meta l4proto 6 goto \S+\.p6/);
    assert.doesNotMatch(dispatched.text, /meta l4proto vmap \{/);
    // Edited: the dispatch chains flushed and refilled, their old anonymous maps freed with their
    // rules. A policy's UDP port makes two protocols: a map of them.
    const edited = await step([
      policy('gnp/d3', { tier: 'default', ingress: [{ action: 'allow', protocol: TCP, dst: { ports: [port(5000), port(6000)] } }, { action: 'allow', protocol: UDP, dst: { ports: [port(53)] } }] }),
    ]);
    assert.equal(edited.nft.via, 'netlink', edited.text);
    assert.match(edited.text, /meta l4proto vmap \{/);
    // A port range makes an interval map, by netlink too.
    const ranged = await step([policy('gnp/d4', { tier: 'default', ingress: [{ action: 'deny', protocol: TCP, dst: { ports: [port(8000, 8100)] } }] })]);
    assert.equal(ranged.nft.via, 'netlink', ranged.text);
    assert.match(ranged.text, /8000-8100 : /);
    for (const spec of NFT_ONLY) {
      const out = await step([policy('gnp/shapes', { tier: 'default', ingress: [...SHAPES, spec] })]);
      assert.equal(out.nft.via, 'nft', out.text);
    }
    // Back to rules netlink can write.
    assert.equal((await step([policy('gnp/shapes', { tier: 'default', ingress: SHAPES })])).nft.via, 'netlink');
  });

  it('deletions (deferred, then tidied) and a batch the kernel refuses (repaired through nft)', async () => {
    const removed = await step([
      { type: 'policy-remove', key: 'gnp/raw' } as DataplaneUpdate,
      hostEndpoint('host/eth9', 'eth9', { tiers: [tier('default', { ingress: ['gnp/shapes'] })], profiles: ['pro/kns.x'] }),
    ]);
    assert.equal(removed.nft.via, 'netlink', removed.text);
    const [ta, tb] = [await viaNetlink.tidy(), await viaNft.tidy()];
    assert.ok(ta.ok && tb.ok);
    assert.deepEqual(await tables(A()), await tables(B()));
    // Someone deletes w2's dispatch element behind the agent's back; the next change moves w2 to
    // a new policy list (new chains, rules, and that element replaced): the kernel refuses the
    // batch (no such element), nothing is applied, and the driver repairs everything through nft.
    await A().exec('nft', ['delete', 'element', 'inet', 'margay', 'to-wl', '{ "cali2" }']);
    const repaired = await step([
      workload('default/w2', 'cali2', ['10.244.1.2/32'], { tiers: [tier('default', { ingress: ['gnp/shapes', 'gnp/base'] })], profiles: ['pro/kns.x'] }),
    ]);
    assert.equal(repaired.nft.retried, true, 'the batch was refused');
    assert.equal(repaired.nft.via, 'nft');
    assert.match(repaired.nft.error?.message ?? '', /^$/, 'and the repair succeeded');
  });
});
