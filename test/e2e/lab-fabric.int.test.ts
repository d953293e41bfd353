/**
 * The lab as a data-centre fabric: `lab up --fabric leaf-spine --racks 2 --hosts-per-rack 3
 * --dual-homed --ipv6`, FRR on two spines and two leaves per rack, every link unnumbered (no IPv4
 * address on any uplink), hosts peering with both their leaves through one BGPPeer per rack (a
 * node selector, `margay.io/peer-interface: uplink0,uplink1`, BFD), the mesh off. Pods reach each
 * other across racks in IPv4 and IPv6 over routes that come only from the fabric (ECMP over both
 * uplinks); `node status` shows the unnumbered sessions and their BFD sessions; a leaf failing
 * silently under a flow between racks leaves the flow running over the other leaf; a host
 * failing has its routes withdrawn from every other host.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readNodeStatus } from '../../src/bgp/mod.ts';
import { exec } from '../../src/os/mod.ts';
import { connectivityAll } from '../../src/lab/connectivity.ts';
import { failRouter, recoverRouter } from '../../src/lab/fabric/failures.ts';
import { fabricRows } from '../../src/lab/fabric/status.ts';
import { failHost, recoverHost } from '../../src/lab/hosts.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { labDown, labUp, podAdd, type LabContext } from '../../src/lab/lab.ts';
import { missingPodRoutes } from '../../src/lab/routes.ts';
import { readState, writeState } from '../../src/lab/state.ts';
import type { LabPod } from '../../src/lab/state.ts';
import { eventually } from '../harness/wait.ts';
import { devicesOf, loadavg, ipv4OnLinks, fabricStatus as status, flowLoss, routes, v4, type Route } from './fabric-helpers.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-fabric-')), progress: () => undefined };
after(async () => {
  await labDown(ctx);
});

describe('lab - a leaf-spine fabric, unnumbered', () => {
  const pods: LabPod[] = [];

  test('up: 2 racks × 3 dual-homed hosts, no IPv4 address on any uplink, every session Established with BFD', async () => {
    const state = await labUp({ hosts: 6, router: false, ipv6: true, fabric: { topology: 'leaf-spine', racks: 2, hostsPerRack: 3, dualHomed: true, asModel: 'rack' } }, ctx);
    const fabric = state.plan.fabric!;
    assert.deepEqual(fabric.routers.map((r) => r.name), ['spine-1', 'spine-2', 'leaf-1a', 'leaf-1b', 'leaf-2a', 'leaf-2b']);
    assert.equal(fabric.links.length, 8 + 12, '8 leaf-spine links, 2 uplinks per host');
    assert.deepEqual(await ipv4OnLinks(fabric), [], 'no IPv4 address on any link');
    // Every host: two unnumbered sessions (one per leaf), each with a BFD session up.
    await eventually(async () => {
      for (const h of state.plan.hosts) {
        const status = await readNodeStatus(join(ctx.dir, 'hosts', h.name, 'bird', 'bird.ctl'));
        const up = status.peers.filter((p) => p.type === 'unnumbered' && p.info === 'Established');
        assert.equal(up.length, 2, `${h.name}: ${JSON.stringify(status.peers)}`);
        assert.deepEqual(up.map((p) => p.interface).sort(), ['uplink0', 'uplink1']);
        assert.equal(status.bfd.filter((b) => b.state === 'Up').length, 2, `${h.name} BFD: ${JSON.stringify(status.bfd)}`);
      }
    }, { timeoutMs: 60_000, intervalMs: 500, what: 'unnumbered sessions and BFD on every host' });
    assert.equal(status(await fabricRows(ctx.dir, readState(ctx.dir)!)), 'all up');
  });

  test('pods reach each other across racks in both families, over routes learned from the fabric (ECMP over both uplinks)', async () => {
    const port = { port: 80, protocol: 'tcp' as const };
    for (let n = 1; n <= 6; n++) pods.push(await podAdd(ctx, { namespace: 'x', name: `p${n}`, host: `host-${n}`, labels: { pod: `p${n}` }, serve: [port] }));
    const state = readState(ctx.dir)!;
    assert.deepEqual(await missingPodRoutes(state), []);
    for (const report of await connectivityAll(state, [port])) {
      assert.equal(report.mismatches, 0);
      assert.ok(report.cells.every((c) => c.observed === 'allow'), `IPv${report.ipVersion}: ${JSON.stringify(report.cells.filter((c) => c.observed !== 'allow'))}`);
    }
    // host-1's route to a pod in rack 2: learned by BIRD from the leaves, over both uplinks, IPv6 next hops.
    for (const family of [4, 6] as const) {
      const r = (await routes('mgl-host-1', family)).find((x) => x.protocol === 'bird' && pods[3]!.addresses.some((a) => a.includes(':') === (family === 6) && x.dst.startsWith(a.split(/[.:]/)[0]!)));
      assert.ok(r, `IPv${family}: a BIRD route to host-4's block`);
      assert.deepEqual(devicesOf(r), ['uplink0', 'uplink1'], `IPv${family}: ECMP over both uplinks: ${JSON.stringify(r)}`);
    }
  });

  test('a leaf failing silently under a flow between racks: the flow continues over the other leaf', async () => {
    const state = readState(ctx.dir)!;
    const { sent, lost } = await flowLoss(pods[0]!, v4(pods[3]!), { seconds: 6, afterMs: 2000, during: async () => {
      await failRouter(state, 'leaf-2a');
      writeState(ctx.dir, state);
    } });
    const received = sent - lost;
    const lostMs = lost * 10;
    console.log(`# leaf failure: ${sent - received} of ${sent} lost (~${lostMs} ms at 100 pps; BFD detection ${state.plan.fabric!.bfd.intervalMs * state.plan.fabric!.bfd.multiplier} ms, ratio ${(lostMs / (state.plan.fabric!.bfd.intervalMs * state.plan.fabric!.bfd.multiplier)).toFixed(2)}); load ${loadavg()}`);
    assert.ok(received > sent / 2, `the flow continued over leaf-2b (${received} of ${sent})`);
    const after = await flowLoss(pods[0]!, v4(pods[3]!), { seconds: 1 });
    assert.equal(after.lost, 0, 'no loss once the fabric converged');
    await recoverRouter(ctx.dir, state, 'leaf-2a');
    writeState(ctx.dir, state);
    await eventually(async () => assert.equal(status(await fabricRows(ctx.dir, readState(ctx.dir)!)), 'all up'), { timeoutMs: 60_000, intervalMs: 500, what: 'leaf-2a back' });
  });

  test('a host failing: its routes are withdrawn from every other host', async () => {
    const state = readState(ctx.dir)!;
    const gone = v4(pods[5]!);
    const t0 = Date.now();
    await failHost(ctx, 'host-6');
    await eventually(async () => {
      for (const h of state.plan.hosts.slice(0, 5)) {
        const res = await exec('ip', ['-4', '-j', 'route', 'show', 'match', gone], { netns: h.netns });
        assert.ok(!(JSON.parse(res.stdout) as Route[]).some((r) => r.protocol === 'bird'), `${h.name} still routes host-6's block`);
      }
    }, { timeoutMs: 30_000, intervalMs: 50, what: "host-6's routes withdrawn" });
    console.log(`# host failure: host-6's block withdrawn from every host within ${Date.now() - t0} ms (polled every 50 ms)`);
    const missing = await recoverHost(ctx, 'host-6');
    assert.deepEqual(missing, []);
  });

  test('down removes every router, host and namespace', async () => {
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
  });
});
