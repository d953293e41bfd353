// Floating IPs (ipNATs, OpenStack) on the real kernel, in throwaway namespaces: a client outside
// reaches the workload through its external address, policy applies to the internal address,
// the workload reaching its own floating IP (hairpin) sees it from the external address, its own
// outbound traffic keeps its internal address (as in Felix), and removing the NAT removes the
// chains and the route.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { Dataplane } from '../../src/dataplane/mod.ts';
import { createLab, type TestLab, type TestWorkload } from './lab.ts';
import { IN_SYNC, policy, port, settings, tier, workload, workloadRoute } from './updates.ts';

const FIP = '10.244.9.99';

describe('dataplane - floating IPs (ipNATs)', () => {
  let lab: TestLab;
  let w1: TestWorkload;
  let w2: TestWorkload;
  let dp: Dataplane;

  /** w1 with or without its floating IP; ingress to w1 allows TCP 80 to its internal address only. */
  function updates(withFip: boolean): DataplaneUpdate[] {
    const addrs = (w: TestWorkload) => [`${w.addr4}/32`, `${w.addr6}/128`];
    return [
      settings({ allPools: ['10.244.0.0/16'] }),
      policy('np/default/web', { tier: 'default', ingress: [{ action: 'allow', protocol: 6, dst: { nets: [`${w1.addr4}/32`], ports: [port(80)] } }] }),
      policy('pro/kns.default', { egress: [{ action: 'allow' }] }),
      workload('default/w1', w1.hostIf, addrs(w1), {
        tiers: [tier('default', { ingress: ['np/default/web'] })],
        profiles: ['pro/kns.default'],
        ...(withFip ? { nats: [{ internal: w1.addr4, external: FIP }] } : {}),
      }),
      workload('default/w2', w2.hostIf, addrs(w2), { profiles: ['pro/kns.default'] }),
      workloadRoute(`${w1.addr4}/32`, w1.hostIf),
      workloadRoute(`${w2.addr4}/32`, w2.hostIf),
      withFip ? workloadRoute(`${FIP}/32`, w1.hostIf) : { type: 'route-remove', dst: `${FIP}/32` },
      IN_SYNC,
    ];
  }

  before(async () => {
    lab = await createLab({
      workloads: [
        { hostIf: 'calif1', addr4: '10.244.0.31', addr6: 'fd00:10:244::31' },
        { hostIf: 'calif2', addr4: '10.244.0.32', addr6: 'fd00:10:244::32' },
      ],
      external: true,
    });
    [w1, w2] = lab.workloads as [TestWorkload, TestWorkload];
    await w1.prober.listen('tcp', 80);
    await w1.prober.listen('tcp', 81);
    await lab.external!.prober.listen('tcp', 80);
    dp = new Dataplane({ netns: lab.host.name });
    const res = await dp.apply(updates(true));
    assert.ok(res.ok, JSON.stringify(res));
  });
  after(async () => {
    await lab?.destroy();
  });

  it('routes the external address to the workload and DNATs it before policy', async () => {
    const route = (await lab.host.exec('ip', ['route', 'show', `${FIP}/32`])).stdout;
    assert.match(route, new RegExp(`dev ${w1.hostIf} proto 77`));
    const fromOutside = await lab.external!.prober.probe('tcp', FIP, 80);
    assert.deepEqual([fromOutside.ok, fromOutside.from], [true, lab.external!.addr4], JSON.stringify(fromOutside));
    // The policy allows port 80 to the internal address only: 81 stays closed through the floating IP.
    assert.equal((await lab.external!.prober.probe('tcp', FIP, 81)).ok, false);
    const fromWorkload = await w2.prober.probe('tcp', FIP, 80);
    assert.deepEqual([fromWorkload.ok, fromWorkload.from], [true, w2.addr4], JSON.stringify(fromWorkload));
    const fromHost = await lab.hostProber.probe('tcp', FIP, 80);
    assert.equal(fromHost.ok, true, `host process (output DNAT): ${JSON.stringify(fromHost)}`);
  });

  it('hairpin: the workload reaching its own floating IP is seen from the external address', async () => {
    const r = await w1.prober.probe('tcp', FIP, 80);
    assert.deepEqual([r.ok, r.from], [true, FIP], JSON.stringify(r));
  });

  it('outbound traffic of the workload keeps its internal address (no SNAT, as Felix)', async () => {
    const r = await w1.prober.probe('tcp', lab.external!.addr4, 80);
    assert.deepEqual([r.ok, r.from], [true, w1.addr4], JSON.stringify(r));
  });

  it('a restarted dataplane over the same NATs issues no command', async () => {
    const restarted = new Dataplane({ netns: lab.host.name });
    const res = await restarted.apply(updates(true));
    assert.equal(res.nft.commands, 0, restarted.lastTransaction);
  });

  it('removing the NAT removes the chains, the route and the reachability', async () => {
    const res = await dp.apply(updates(false));
    assert.ok(res.ok, JSON.stringify(res));
    const table = (await lab.host.exec('nft', ['list', 'table', 'inet', 'margay'])).stdout;
    assert.doesNotMatch(table, /fip|dnat ip to 10\.244/);
    assert.equal((await lab.host.exec('ip', ['route', 'show', `${FIP}/32`])).stdout.trim(), '');
    assert.equal((await lab.external!.prober.probe('tcp', FIP, 80)).ok, false);
    assert.equal((await lab.external!.prober.probe('tcp', w1.addr4, 80)).ok, true, 'the internal address still works');
    const back = await dp.apply(updates(true));
    assert.ok(back.ok);
    assert.equal((await lab.external!.prober.probe('tcp', FIP, 80)).ok, true, 'and the NAT comes back');
  });
});
