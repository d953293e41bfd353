/**
 * The lab as a data-centre fabric: `lab up --fabric leaf-spine --racks 2 --hosts-per-rack 3
 * --dual-homed --ipv6`, FRR on two spines and two leaves per rack, every link unnumbered (no IPv4
 * address on any uplink), hosts peering with both their leaves through one BGPPeer per rack (a
 * node selector, `margay.io/peer-interface: uplink0,uplink1`, BFD), the mesh off. Pods reach each
 * other across racks in IPv4 and IPv6 over routes that come only from the fabric (ECMP over both
 * uplinks); `node status` shows the unnumbered sessions and their BFD sessions; a leaf failing
 * silently under a flow between racks leaves the flow running over the other leaf; BIRD killed
 * on two hosts loses no packet and its graceful-restart recovery ends, then an agent killed
 * loses none either; a host failing right after has its routes withdrawn from every other host,
 * the restarted ones too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readNodeStatus } from '../../src/bgp/mod.ts';
import { exec } from '../../src/os/mod.ts';
import { connectivityAll } from '../../src/lab/connectivity.ts';
import { failRouter, recoverRouter } from '../../src/lab/fabric/failures.ts';
import { fabricRows } from '../../src/lab/fabric/status.ts';
import { failHost, recoverHost, restartAgent } from '../../src/lab/hosts.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { labDown, labUp, podAdd, type LabContext } from '../../src/lab/lab.ts';
import { missingPodRoutes } from '../../src/lab/routes.ts';
import { readState, writeState } from '../../src/lab/state.ts';
import type { LabPod } from '../../src/lab/state.ts';
import { eventually } from '../harness/wait.ts';
import { birdRecovering, devicesOf, loadavg, ipv4OnLinks, fabricStatus as status, flowLoss, routes, v4, type Route } from './fabric-helpers.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-fabric-')), progress: () => undefined };
after(async () => {
  await labDown(ctx);
});
const birdDir = (host: string) => join(ctx.dir, 'hosts', host, 'bird');
/** Ms from `killedAt` until the restarted BIRD has both unnumbered sessions Established again, and until its recovery is over (polled every 50 ms). */
async function watchRecovery(socket: string, restarted: () => boolean, killedAt: number, timeoutMs: number): Promise<{ upMs?: number; overMs?: number }> {
  let upMs: number | undefined;
  while (Date.now() - killedAt < timeoutMs) {
    try {
      if (!restarted()) throw new Error('the killed BIRD');
      const status = await readNodeStatus(socket, 1000);
      upMs ??= status.peers.filter((p) => p.type === 'unnumbered' && p.info === 'Established').length >= 2 ? Date.now() - killedAt : undefined;
      // The recovery ends after the sessions' End-of-RIB, so only once they are back.
      if (upMs !== undefined && !(await birdRecovering(socket))) return { upMs, overMs: Date.now() - killedAt };
    } catch {
      // BIRD is not back yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return upMs !== undefined ? { upMs } : {};
}
const birdPid = (host: string) => Number(readFileSync(join(birdDir(host), 'bird.pid'), 'utf8'));

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

  // The hosts wait for their leaves (no --discovery). A waiting template would hold BIRD's
  // graceful-restart recovery for `graceful restart wait` (60 s), the kernel routes frozen
  // meanwhile; the host failure below, right after, checks the restarted hosts withdraw too.
  test('BIRD killed under a flow (receiving, then sending host) and restarted with graceful restart: no packet lost, the recovery ends', async () => {
    for (const host of ['host-4', 'host-1']) {
      const before = birdPid(host);
      const socket = join(birdDir(host), 'bird.ctl');
      let recovery: Promise<{ upMs?: number; overMs?: number }> | undefined;
      const { sent, lost } = await flowLoss(pods[0]!, v4(pods[3]!), { seconds: 5, afterMs: 1500, during: async () => {
        process.kill(before, 'SIGKILL');
        recovery = watchRecovery(socket, () => birdPid(host) !== before, Date.now(), 15_000);
      } });
      assert.notEqual(birdPid(host), before, 'BIRD was restarted');
      assert.equal(lost, 0, `${host}: ${lost} of ${sent} lost`);
      const { upMs, overMs } = await recovery!;
      console.log(`# BIRD of ${host} killed: ${lost} of ${sent} lost; both sessions back ${upMs} ms and the recovery over ${overMs} ms after the kill; load ${loadavg()}`);
      assert.ok(overMs !== undefined, `${host}: BIRD's graceful-restart recovery still in progress 15 s after the kill (sessions back after ${upMs} ms)`);
      await eventually(async () => {
        const status = await readNodeStatus(join(birdDir(host), 'bird.ctl'));
        const up = status.peers.filter((p) => p.type === 'unnumbered' && p.info === 'Established');
        assert.deepEqual(up.map((p) => p.interface).sort(), ['uplink0', 'uplink1'], `${host}: ${JSON.stringify(status.peers)}`);
      }, { timeoutMs: 30_000, intervalMs: 250, what: `${host}: sessions back` });
    }
    // host-1's agent killed now: the new agent renders the active sessions kept from the restart
    // (kept-routers.json) instead of resetting them.
    const agent = await flowLoss(pods[0]!, v4(pods[3]!), { seconds: 4, afterMs: 1000, during: () => restartAgent(ctx, 'host-1', { kill: true }) });
    console.log(`# agent of host-1 killed after its BIRD's restart: ${agent.lost} of ${agent.sent} lost; load ${loadavg()}`);
    assert.equal(agent.lost, 0, `host-1's agent: ${agent.lost} of ${agent.sent} lost`);
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
