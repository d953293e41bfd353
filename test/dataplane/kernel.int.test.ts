// Kernel-state properties of the dataplane, in throwaway namespaces: atomic transactions, restart
// over existing state, drift repair, coexistence with other tables and other route protocols, and
// every rule feature accepted by the kernel and read back as already right.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { createRunner } from '../../src/os/mod.ts';
import { configureWorkloadInterface, readSysctl, workloadInterfaceSysctls } from '../../src/dataplane/links/links.ts';
import { Dataplane } from '../../src/dataplane/mod.ts';
import { createTestNetns, run, vethPair, type TestNetns } from '../harness/netns.ts';
import { createLab, type TestLab, type TestWorkload } from './lab.ts';
import {
  blackhole,
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

/** Chains with their rule handles, sets and maps with their elements: what "unchanged" means. */
async function snapshot(ns: TestNetns, table = 'margay', family = 'inet'): Promise<string> {
  const out = await ns.exec('nft', ['-j', 'list', 'table', family, table]);
  const items = (JSON.parse(out.stdout).nftables as Array<Record<string, any>>).filter((o) => !o.metainfo);
  // Counters change with traffic; everything else must stay byte for byte. Elements are sorted:
  // the kernel lists an interval set's elements in no fixed order.
  const sorted = (k: string, v: unknown) => (k === 'elem' && Array.isArray(v) ? [...v].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : v);
  return JSON.stringify(items, (k, v) => (k === 'counter' ? { packets: '-', bytes: '-' } : sorted(k, v)), 1);
}

async function nft(ns: TestNetns, args: string[]): Promise<string> {
  return (await ns.exec('nft', args)).stdout;
}

const OTHER_TABLE = `table inet other {
  set blocked { type ipv4_addr; elements = { 198.51.100.7 } }
  chain input { type filter hook input priority 0; policy accept; ip saddr @blocked counter drop; tcp dport 12345 drop; }
  chain forward { type filter hook forward priority -10; policy accept; }
}
table ip legacy {
  chain output { type filter hook output priority 10; policy accept; udp dport 9 drop; }
}
`;

describe('dataplane - kernel state', () => {
  let lab: TestLab;
  let w1: TestWorkload;
  let w2: TestWorkload;

  function desired(extra: DataplaneUpdate[] = []): DataplaneUpdate[] {
    const addrs = (w: TestWorkload) => [`${w.addr4}/32`, `${w.addr6}/128`];
    return [
      settings({ allPools: ['10.244.0.0/16'], natOutgoingPools: ['10.244.0.0/16'] }),
      ipSet('s:all', lab.workloads.flatMap(addrs)),
      ipPortSet('n:web', [`${w2.addr4},tcp:80`]),
      policy('np/default/web', {
        tier: 'default',
        ingress: [{ action: 'allow', protocol: 6, src: { ipSets: ['s:all'] }, dst: { ports: [port(80)] } }, { action: 'allow', protocol: 17 }],
      }),
      policy('pro/kns.default', { egress: [{ action: 'allow' }] }),
      ...lab.workloads.map((w, i) =>
        workload(`default/w${i + 1}`, w.hostIf, addrs(w), { tiers: [tier('default', { ingress: ['np/default/web'] })], profiles: ['pro/kns.default'] }),
      ),
      ...lab.workloads.flatMap((w) => [workloadRoute(`${w.addr4}/32`, w.hostIf), workloadRoute(`${w.addr6}/128`, w.hostIf)]),
      blackhole('10.244.0.0/26'),
      blackhole('fd00:10:244::/122'),
      ...extra,
      IN_SYNC,
    ];
  }

  before(async () => {
    lab = await createLab({
      workloads: [
        { hostIf: 'calik1', addr4: '10.244.0.21', addr6: 'fd00:10:244::21' },
        { hostIf: 'calik2', addr4: '10.244.0.22', addr6: 'fd00:10:244::22' },
      ],
      external: true,
    });
    [w1, w2] = lab.workloads as [TestWorkload, TestWorkload];
    await w2.prober.listen('tcp', 80);
    await w2.prober.listen('udp', 80);
    await lab.host.exec('nft', ['-f', '-'], { input: OTHER_TABLE });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('writes nothing before the first in-sync', async () => {
    const dp = new Dataplane({ netns: lab.host.name });
    const res = await dp.apply(desired().filter((u) => u.type !== 'in-sync'));
    assert.equal(res.deferred, true);
    const tables = await nft(lab.host, ['list', 'tables']);
    assert.doesNotMatch(tables, /margay/);
    const later = await dp.apply([IN_SYNC]);
    assert.ok(later.ok && later.nft.applied);
    assert.match(await nft(lab.host, ['list', 'tables']), /table inet margay/);
  });

  it('a restarted dataplane over an existing table changes nothing', async () => {
    await new Dataplane({ netns: lab.host.name }).apply(desired());
    const before = await snapshot(lab.host);
    const routesBefore = (await lab.host.exec('ip', ['route', 'show', 'table', 'main'])).stdout;
    const restarted = new Dataplane({ netns: lab.host.name });
    const res = await restarted.apply(desired());
    assert.ok(res.ok);
    assert.equal(res.nft.fullSync, true, 'the first apply compares everything');
    assert.equal(res.nft.commands, 0, `no nft command expected, got:\n${restarted.lastTransaction}`);
    assert.deepEqual([res.routes.added, res.routes.replaced, res.routes.removed], [0, 0, 0]);
    assert.equal(await snapshot(lab.host), before, 'no handle, rule, set or map changed');
    assert.equal((await lab.host.exec('ip', ['route', 'show', 'table', 'main'])).stdout, routesBefore);
    const again = await restarted.resync();
    assert.equal(again.nft.commands, 0);
  });

  it('a rejected transaction applies nothing; the next good one applies', async () => {
    const dp = new Dataplane({ netns: lab.host.name });
    assert.ok((await dp.apply(desired())).ok);
    const before = await snapshot(lab.host);
    const res = await dp.apply([
      // A valid change (a new workload)…
      workload('default/w9', 'caliw9', ['10.244.0.29/32'], { profiles: ['pro/kns.default'] }),
      // …and one the kernel refuses (there is no protocol 300).
      policy('np/default/web', { tier: 'default', ingress: [{ action: 'allow', protocol: 300 }] }),
    ]);
    assert.equal(res.ok, false);
    assert.ok(res.nft.error, 'the error is reported');
    assert.match(res.nft.error!.message, /Protocol out of range|exceeds/);
    assert.deepEqual(res.failedEndpoints, ['default/w9']);
    assert.equal(dp.stats().transactionErrors, 1);
    assert.equal(await snapshot(lab.host), before, 'the kernel kept the old ruleset, all of it');
    assert.doesNotMatch(await nft(lab.host, ['list', 'map', 'inet', 'margay', 'from-wl']), /caliw9/);
    const fixed = await dp.apply([policy('np/default/web', { tier: 'default', ingress: [{ action: 'allow', protocol: 6 }] })]);
    assert.ok(fixed.ok, fixed.nft.error?.message);
    assert.match(await nft(lab.host, ['list', 'map', 'inet', 'margay', 'from-wl']), /caliw9/);
    // Back to the common state.
    assert.ok((await new Dataplane({ netns: lab.host.name }).apply(desired())).ok);
  });

  it('element-only changes go to the kernel as netlink batches, as nft would have written them', async () => {
    const addrs = (w: TestWorkload) => [`${w.addr4}/32`, `${w.addr6}/128`];
    const dp = new Dataplane({ netns: lab.host.name });
    assert.ok((await dp.apply(desired())).ok);
    // w1 leaves the set the web policy allows: elements only.
    const without = await dp.apply([ipSet('s:all', [...addrs(w2), '10.244.9.9/32'])]);
    assert.ok(without.ok, without.nft.error?.message);
    assert.equal(without.nft.via, 'netlink');
    assert.equal(dp.stats().netlinkTransactions, 1);
    assert.equal((await w1.prober.probe('tcp', w2.addr4, 80)).ok, false, 'enforced at once');
    const members = [...lab.workloads.flatMap(addrs), '10.244.9.9/32'];
    const back = await dp.apply([ipSet('s:all', members)]);
    assert.equal(back.nft.via, 'netlink');
    assert.equal((await w1.prober.probe('tcp', w2.addr4, 80)).ok, true);
    // What the batches wrote is what nft writes: a dataplane without the helper finds nothing to do.
    const viaNft = await new Dataplane({ netns: lab.host.name, netlinkHelper: false }).apply(desired([ipSet('s:all', members)]));
    assert.equal(viaNft.nft.commands, 0, `nft would have written:\n${viaNft.nft.error ?? ''}`);
    // A batch the kernel refuses (someone deleted the element it removes) applies nothing; the
    // driver re-reads the table and repairs everything through nft.
    await nft(lab.host, ['delete', 'element', 'inet', 'margay', 'v4-s.all', `{ 10.244.9.9, ${w1.addr4} }`]);
    const repaired = await dp.apply([ipSet('s:all', lab.workloads.flatMap(addrs))]);
    assert.ok(repaired.ok, repaired.nft.error?.message);
    assert.equal(repaired.nft.retried, true);
    assert.equal(repaired.nft.via, 'nft', 'w1 put back by nft');
    assert.equal((await w1.prober.probe('tcp', w2.addr4, 80)).ok, true);
    assert.equal((await new Dataplane({ netns: lab.host.name, netlinkHelper: false }).apply(desired())).nft.commands, 0);
  });

  it('rewriting a chain under traffic leaves no gap', async () => {
    const dp = new Dataplane({ netns: lab.host.name });
    assert.ok((await dp.apply(desired())).ok);
    let stop = false;
    const failures: string[] = [];
    let probes = 0;
    const traffic = (async () => {
      while (!stop) {
        const r = await w1.prober.probe('udp', w2.addr4, 80, { timeoutMs: 1000 });
        probes++;
        if (!r.ok) failures.push(r.error ?? 'failed');
      }
    })();
    // At least 15 rewrites, and on until enough probes ran across them: an apply can take a few
    // milliseconds, less than one probe.
    for (let i = 0; (i < 15 || probes <= 10) && i < 5000; i++) {
      // Each version rewrites the policy chain that allows the probes (a different extra rule).
      const res = await dp.apply([
        policy('np/default/web', {
          tier: 'default',
          ingress: [{ action: 'deny', protocol: 6, dst: { ports: [port(20000 + i)] } }, { action: 'allow', protocol: 17 }],
        }),
      ]);
      assert.ok(res.ok);
      assert.equal(res.nft.stats?.chainsRewritten, 1);
    }
    stop = true;
    await traffic;
    assert.ok(probes > 5, `enough probes ran (${probes})`);
    assert.deepEqual(failures, []);
    assert.ok((await new Dataplane({ netns: lab.host.name }).apply(desired())).ok);
  });

  it('resync() repairs drift: deleted rules, set and map elements, foreign rules and chains', async () => {
    const dp = new Dataplane({ netns: lab.host.name });
    assert.ok((await dp.apply(desired())).ok);
    const good = await snapshot(lab.host);
    // Both workloads share their policy-list chains (the same policies and profiles).
    const shared = async (map: string) => (await nft(lab.host, ['list', 'map', 'inet', 'margay', map])).match(/"calik2" : goto (\S+)/)?.[1] as string;
    const [fw, tw] = [await shared('from-wl'), await shared('to-wl')];
    assert.match(fw, /^fwp_/);
    const handles = JSON.parse(await nft(lab.host, ['-j', 'list', 'chain', 'inet', 'margay', fw])).nftables.filter((o: any) => o.rule);
    await nft(lab.host, ['delete', 'rule', 'inet', 'margay', fw, 'handle', String(handles[2].rule.handle)]);
    await nft(lab.host, ['delete', 'element', 'inet', 'margay', 'v4-s.all', `{ ${w1.addr4} }`]);
    await nft(lab.host, ['delete', 'element', 'inet', 'margay', 'to-wl', '{ "calik2" }']);
    await nft(lab.host, ['delete', 'element', 'inet', 'margay', 'wl-src-v4', `{ "calik1" . ${w1.addr4}/32 }`]);
    await nft(lab.host, ['add', 'element', 'inet', 'margay', 'v4p-n.web', '{ 10.9.9.9 . tcp . 22 }']);
    await nft(lab.host, ['insert', 'rule', 'inet', 'margay', tw, 'accept']);
    await nft(lab.host, ['add', 'chain', 'inet', 'margay', 'rogue']);
    await nft(lab.host, ['flush', 'chain', 'inet', 'margay', 'filter-output']);
    // The running dataplane does not know yet; traffic to w2 is now dropped (no to-wl entry).
    assert.equal((await w1.prober.probe('tcp', w2.addr4, 80)).ok, false);
    const res = await dp.resync();
    assert.ok(res.ok, res.nft.error?.message);
    assert.equal(res.nft.fullSync, true);
    assert.ok(res.nft.commands > 0);
    const repaired = await new Dataplane({ netns: lab.host.name }).apply(desired());
    assert.equal(repaired.nft.commands, 0, 'nothing left to repair');
    assert.doesNotMatch(await nft(lab.host, ['list', 'chains', 'inet']).catch(() => ''), /rogue/);
    assert.equal((await w1.prober.probe('tcp', w2.addr4, 80)).ok, true);
    // Same contents as before the drift (handles of rewritten chains differ).
    const strip = (s: string) => s.replace(/"handle": \d+/g, '"handle": 0');
    assert.equal(strip(await snapshot(lab.host)), strip(good));
  });

  it('a dispatched tier decides as the list of its policies would, and follows a guard change', async () => {
    const dp = new Dataplane({ netns: lab.host.name });
    const tcp = (action: 'allow' | 'deny', first: number, last = first) => ({ action, protocol: 6, dst: { ports: [port(first, last)] } });
    const policies = (denyFirst: number, denyLast: number) => [
      policy('gnp/d.a', { tier: 'default', ingress: [tcp('allow', 8080)] }),
      policy('gnp/d.b', { tier: 'default', ingress: [tcp('deny', denyFirst, denyLast)] }),
      policy('gnp/d.c', { tier: 'default', ingress: [{ action: 'allow', protocol: 17, dst: { ports: [port(80)] } }] }),
      policy('gnp/d.d', { tier: 'default', ingress: [tcp('allow', 80)] }),
    ];
    const w2plan = (w: TestWorkload) =>
      workload('default/w2', w.hostIf, [`${w.addr4}/32`, `${w.addr6}/128`], {
        tiers: [tier('default', { ingress: ['gnp/d.a', 'gnp/d.b', 'gnp/d.c', 'gnp/d.d'] })],
        profiles: ['pro/kns.default'],
      });
    assert.ok((await dp.apply(desired([...policies(75, 85), w2plan(w2)]))).ok);
    assert.match(dp.renderRuleset(), /meta l4proto vmap \{ 6 : goto twp_\S+, 17 : goto twp_\S+ \}/);
    assert.equal((await w1.prober.probe('tcp', w2.addr4, 80)).ok, false, 'the deny comes first for TCP 80');
    assert.equal((await w1.prober.probe('udp', w2.addr4, 80)).ok, true, 'UDP 80 is allowed by its own policy');
    // The deny moves away from port 80: the dispatch is rewritten, TCP 80 reaches the allow.
    const moved = await dp.apply([policies(81, 85)[1]!]);
    assert.ok(moved.ok, moved.nft.error?.message);
    assert.equal((await w1.prober.probe('tcp', w2.addr4, 80)).ok, true);
    assert.equal((await new Dataplane({ netns: lab.host.name }).apply(desired([...policies(81, 85), w2plan(w2)]))).nft.commands, 0);
    assert.ok((await new Dataplane({ netns: lab.host.name }).apply(desired())).ok);
  });

  it('a set of the wrong type is repaired by rebuilding the table in one batch', async () => {
    const dp = new Dataplane({ netns: lab.host.name });
    assert.ok((await dp.apply(desired())).ok);
    // Replace the named-port set with one of another type (flush the rules that use it first).
    await lab.host.exec('nft', ['-f', '-'], {
      input: 'flush chain inet margay pi-np/default/web\ndelete set inet margay v4p-n.web\nadd set inet margay v4p-n.web { type ipv4_addr; }\n',
    });
    const res = await dp.resync();
    assert.ok(res.ok, res.nft.error?.message);
    assert.equal(res.nft.rebuild, true);
    assert.equal((await new Dataplane({ netns: lab.host.name }).apply(desired())).nft.commands, 0);
  });

  it('never touches other tables', async () => {
    const other = await snapshot(lab.host, 'other');
    const legacy = await snapshot(lab.host, 'legacy', 'ip');
    // Every kind of write: create, update, resync, rebuild, remove everything.
    const dp = new Dataplane({ netns: lab.host.name });
    await dp.apply(desired());
    await dp.apply([{ type: 'workload-remove', key: 'default/w1' }, { type: 'ipset-remove', id: 'n:web' }]);
    await lab.host.exec('nft', ['delete', 'table', 'inet', 'margay']);
    await dp.resync();
    assert.equal(await snapshot(lab.host, 'other'), other);
    assert.equal(await snapshot(lab.host, 'legacy', 'ip'), legacy);
    assert.ok((await new Dataplane({ netns: lab.host.name }).apply(desired())).ok);
  });

  it('touches only routes of its own protocol', async () => {
    const ip = (args: string[]) => lab.host.exec('ip', args);
    await ip(['route', 'add', '10.99.0.0/24', 'dev', 'hep0', 'proto', 'static']);
    await ip(['route', 'add', '10.98.0.0/24', 'via', '192.0.2.2', 'proto', '80']);
    await ip(['route', 'add', '10.97.0.0/24', 'via', '192.0.2.2']);
    await ip(['-6', 'route', 'add', 'fd00:99::/64', 'dev', 'hep0', 'proto', 'static']);
    await ip(['route', 'add', '10.96.0.0/24', 'dev', 'hep0', 'proto', '77']); // ours, stale
    const foreign = async () =>
      (await ip(['-j', 'route', 'show', 'table', 'all']).then((r) => JSON.parse(r.stdout) as Array<Record<string, unknown>>))
        .filter((r) => r.protocol !== '77')
        .map((r) => JSON.stringify(r))
        .sort()
        .join('\n');
    const foreignBefore = await foreign();
    const dp = new Dataplane({ netns: lab.host.name });
    // A route of another protocol for the same destination is reported, not replaced.
    const res = await dp.apply(desired([blackhole('10.99.0.0/24')]));
    assert.equal(res.ok, false);
    assert.deepEqual(res.routes.errors.map((e) => [e.dst, e.op]), [['10.99.0.0/24', 'add']]);
    assert.equal(res.routes.removed, 1, 'the stale route of ours went away');
    const ours = JSON.parse((await ip(['-j', 'route', 'show', 'table', 'main', 'proto', '77'])).stdout).map((r: any) => r.dst).sort();
    assert.deepEqual(ours, ['10.244.0.0/26', w1.addr4, w2.addr4]);
    const ours6 = JSON.parse((await ip(['-6', '-j', 'route', 'show', 'table', 'main', 'proto', '77'])).stdout).map((r: any) => r.dst).sort();
    assert.deepEqual(ours6, ['fd00:10:244::/122', w1.addr6, w2.addr6]);
    // Remove all of ours.
    await dp.apply([
      { type: 'route-remove', dst: '10.99.0.0/24' },
      { type: 'route-remove', dst: '10.244.0.0/26' },
      { type: 'route-remove', dst: 'fd00:10:244::/122' },
      ...lab.workloads.flatMap((w): DataplaneUpdate[] => [
        { type: 'route-remove', dst: `${w.addr4}/32` },
        { type: 'route-remove', dst: `${w.addr6}/128` },
      ]),
    ]);
    assert.equal((await ip(['-j', 'route', 'show', 'table', 'all', 'proto', '77'])).stdout.trim(), '[]');
    assert.equal(await foreign(), foreignBefore, 'routes of other protocols are untouched');
    // A route to an interface that does not exist yet is retried on the next apply.
    const pending = await dp.apply([workloadRoute('10.244.0.50/32', 'calinone')]);
    assert.equal(pending.routes.errors.length, 1);
    const later = await dp.apply([]);
    assert.equal(later.routes.errors.length, 1, 'retried');
    await dp.apply([{ type: 'route-remove', dst: '10.244.0.50/32' }]);
    assert.ok((await new Dataplane({ netns: lab.host.name }).apply(desired())).ok);
  });
});

describe('dataplane - every rule feature loads and reads back', () => {
  let ns: TestNetns;
  before(async () => {
    ns = await createTestNetns();
  });
  after(async () => {
    await ns?.delete();
  });

  it('a large ruleset with all match kinds, tiers and host endpoint kinds applies and then is a no-op', async () => {
    const updates: DataplaneUpdate[] = [
      settings({
        interfacePrefixes: ['cali', 'tap'],
        failsafeInbound: [{ protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 68, net: '10.0.0.0/8' }, { protocol: 'sctp', port: 9, net: 'fd00::/8' }],
        failsafeOutbound: [{ protocol: 'tcp', port: 2379, net: '192.0.2.0/24' }],
        natOutgoingPools: ['10.244.0.0/16', 'fd00:10:244::/48'],
        allPools: ['10.244.0.0/16', '10.245.0.0/16', 'fd00:10:244::/48'],
        defaultEndpointToHostAction: 'Return',
      }),
      ipPortSet('n:mixed', ['10.244.0.5,tcp:80', '10.244.0.6,udp:53', 'fd00:10:244::5,sctp:9', 'fd00:10:244::6,132:10']),
    ];
    const keys: string[] = [];
    for (let i = 0; i < 150; i++) {
      const members = [`10.244.${i}.0/24`, `10.244.${i}.7/32`, `fd00:10:244:${i.toString(16)}::/64`, '10.250.0.0/16', '10.250.1.0/24'];
      updates.push(ipSet(`s:set-${i}`, members));
      const key = i % 3 === 0 ? `gnp/tier${i % 4}.p${i}` : i % 3 === 1 ? `np/ns-${i}/p.${i}` : `pro/kns.ns-${i}`;
      keys.push(key);
      updates.push(
        policy(key, {
          tier: `tier${i % 4}`,
          ingress: [
            { action: 'allow', protocol: 6, src: { ipSets: [`s:set-${i}`], notNets: ['10.244.0.1/32', 'fd00::1/128'] }, dst: { ports: [port(80), port(8000, 8100)], namedPortIpSets: ['n:mixed'] } },
            { action: 'deny', protocol: 17, src: { notIpSets: [`s:set-${i}`], ports: [port(1, 1023)] }, dst: { notPorts: [port(53)] } },
            { action: 'pass', notProtocol: 1, ipVersion: 6, src: { nets: ['fd00::/8'] }, dst: {} },
            { action: 'log', protocol: 1, icmp: { type: 8, code: 0 }, src: {}, dst: {}, logPrefix: `p${i} "quoted" \\ prefix that is rather long `.repeat(5) },
            { action: 'allow', protocol: 58, notIcmp: { type: 128, code: 0 }, src: {}, dst: {} },
            { action: 'allow', protocol: 58, notIcmp: { type: 129 }, src: {}, dst: { notNamedPortIpSets: ['n:mixed'] } },
            { action: 'deny', src: { nets: ['10.0.0.0/8', '10.1.0.0/16', 'fd00::/8'] }, dst: { nets: ['192.168.0.0/16'] } },
          ],
          egress: [{ action: 'allow', ipVersion: 4 }, { action: 'deny', protocol: 132, dst: { ports: [port(9)] } }],
          ...(i % 10 === 0 ? { doNotTrack: true, applyOnForward: true } : {}),
          ...(i % 10 === 5 ? { preDNAT: true, applyOnForward: true } : {}),
        }),
      );
    }
    // Port-limited policies: tiers with several of them are dispatched by protocol and port.
    const portKeys = Array.from({ length: 12 }, (_, i) => `gnp/ports.p${i}`);
    portKeys.forEach((key, i) =>
      updates.push(
        policy(key, {
          tier: 'ports',
          ingress: [{ action: i % 3 ? 'allow' : 'deny', protocol: [6, 17, 132][i % 3] as number, dst: { ports: [port(1000 + i * 7, 1010 + i * 7), port(53)] } }],
          egress: [{ action: 'pass', protocol: 6, dst: { ports: [port(443)] } }, { action: 'log', protocol: 17 }],
        }),
      ),
    );
    for (let i = 0; i < 60; i++) {
      const portTier = tier('ports', { ingress: portKeys.slice(i % 5), egress: portKeys.slice(0, 4 + (i % 3)) });
      const tiers = [portTier, ...[0, 1, 2, 3].map((t) =>
        tier(`tier${t}`, {
          ingress: keys.filter((_, j) => j % 4 === t && j % 7 === i % 7).slice(0, 5),
          egress: keys.filter((_, j) => j % 4 === t && j % 5 === i % 5).slice(0, 3),
          defaultAction: t === 2 ? 'Pass' : 'Deny',
        }),
      )];
      updates.push(
        workload(`ns-${i}/wl-${i}`, `${i % 2 ? 'tap' : 'cali'}${(1000 + i).toString(16)}abc`, [`10.244.1.${i}/32`, `fd00:10:244::1:${i.toString(16)}/128`], {
          tiers,
          profiles: [`pro/kns.ns-${(i % 50) * 3 + 2}`, 'pro/missing-profile'],
          allowSpoofedSourcePrefixes: i % 4 === 0 ? ['192.168.0.0/16', 'fd00:abcd::/32'] : [],
        }),
      );
    }
    const untracked = [tier('tier0', { ingress: ['gnp/tier0.p0'], egress: ['gnp/tier0.p0'] })];
    const preDnat = [tier('tier1', { ingress: ['np/ns-25/p.25'] })];
    const forward = [tier('tier0', { ingress: ['gnp/tier0.p0'], egress: ['gnp/tier0.p0'] })];
    for (const iface of ['eth0', 'bond0.100', '*', 'weird@if']) {
      updates.push(hostEndpoint(`h-${iface}`, iface, { tiers: [tier('tier0', { ingress: ['gnp/tier0.p12'] })], untrackedTiers: untracked, preDnatTiers: preDnat, forwardTiers: forward, profiles: ['pro/kns.ns-2'] }));
    }
    updates.push(IN_SYNC);
    const warnings: string[] = [];
    const dp = new Dataplane({ netns: ns.name, warn: (m) => warnings.push(m) });
    const res = await dp.apply(updates);
    assert.ok(res.ok, `${res.nft.error?.message}`);
    assert.ok(res.nft.commands > 1000);
    assert.ok(warnings.some((w) => w.includes('pro/missing-profile')), 'a missing profile becomes an empty placeholder');
    assert.match(dp.renderRuleset(), /th dport vmap \{ 53 : goto twp_/, 'some tiers are dispatched');
    const again = new Dataplane({ netns: ns.name });
    const res2 = await again.apply(updates);
    assert.equal(res2.nft.commands, 0, `re-reading the kernel finds everything right; got:\n${again.lastTransaction.slice(0, 3000)}`);
    // And the same state rendered from scratch passes nft's own check.
    await ns.exec('nft', ['-c', '-f', '-'], { input: `delete table inet margay\n${dp.renderRuleset()}` });
    // Removing everything leaves only the fixed skeleton.
    const removals: DataplaneUpdate[] = [
      ...updates.filter((u) => u.type === 'workload-update').map((u) => ({ type: 'workload-remove', key: (u as any).endpoint.key }) as DataplaneUpdate),
      ...updates.filter((u) => u.type === 'host-endpoint-update').map((u) => ({ type: 'host-endpoint-remove', key: (u as any).endpoint.key }) as DataplaneUpdate),
      ...[...keys, ...portKeys].map((key) => ({ type: 'policy-remove', key }) as DataplaneUpdate),
      ...updates.filter((u) => u.type === 'ipset-update').map((u) => ({ type: 'ipset-remove', id: (u as any).id }) as DataplaneUpdate),
    ];
    const cleared = await again.apply(removals);
    assert.ok(cleared.ok, cleared.nft.error?.message);
    const left = JSON.parse(await nft(ns, ['-j', 'list', 'table', 'inet', 'margay'])).nftables;
    const chainNames = left.filter((o: any) => o.chain).map((o: any) => o.chain.name);
    assert.ok(chainNames.every((n: string) => !/^(fwp?|twp?|fh|th|pi|po)[-_]/.test(n)), chainNames.join(' '));
    const setNames = left.filter((o: any) => o.set).map((o: any) => o.set.name).sort();
    assert.deepEqual(setNames, ['all-pools-v4', 'all-pools-v6', 'l4-port-protocols', 'nat-pools-v4', 'nat-pools-v6', 'wl-src-v4', 'wl-src-v6']);
  });
});

describe('dataplane - links and sysctls', () => {
  let a: TestNetns;
  let b: TestNetns;
  before(async () => {
    a = await createTestNetns();
    b = await createTestNetns();
    await vethPair(a, b, { nameA: 'cali.sys1', nameB: 'eth0' });
  });
  after(async () => {
    await a?.delete();
    await b?.delete();
  });

  it('configures a workload interface inside the target namespace only', async () => {
    const runner = createRunner({ netns: a.name });
    const rootBefore = (await run('cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout;
    await configureWorkloadInterface(runner, 'cali.sys1', { ipv4: true, ipv6: true });
    for (const [path, value] of workloadInterfaceSysctls('cali.sys1', { ipv4: true, ipv6: true })) {
      assert.equal(await readSysctl(runner, path), value, path);
    }
    assert.equal((await run('cat', ['/proc/sys/net/ipv4/ip_forward'])).stdout, rootBefore);
    await assert.rejects(configureWorkloadInterface(runner, '../../x'), /not valid/);
  });
});
