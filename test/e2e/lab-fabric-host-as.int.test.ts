/**
 * The lab's leaf–spine fabric in Calico's other model, AS per compute server (`lab up --fabric
 * leaf-spine --as-model host --discovery --dual-homed`, 2 racks × 3 hosts): every host its own AS,
 * eBGP to both its leaves over unnumbered links, and the hosts connecting to the leaves they find
 * in their uplinks' neighbour tables (`margay.io/peer-discovery: neighbors`). Checks the
 * acceptance of issue 19 on it (no IPv4 address on any link, pods reach each other across racks,
 * every host's routes from the fabric, `margay node status` with the unnumbered sessions and BFD,
 * the FABRIC table of `lab status`), then failures under a flow between racks: a dual-homed
 * host's link cut (`lab link fail`), BIRD killed and restarted by its agent (graceful restart:
 * no packet lost), and an agent killed and started again (no packet lost).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readNodeStatus } from '../../src/bgp/mod.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { connectivityAll } from '../../src/lab/connectivity.ts';
import { restartAgent } from '../../src/lab/hosts.ts';
import { labDown, labUp, podAdd, type LabContext } from '../../src/lab/lab.ts';
import { readState, type LabPod } from '../../src/lab/state.ts';
import { margayProcess } from '../cli/helpers.ts';
import { eventually } from '../harness/wait.ts';
import { devicesOf, fabricStatus, flowLoss, ipv4OnLinks, loadavg, routes, v4 } from './fabric-helpers.ts';
import { fabricRows } from '../../src/lab/fabric/status.ts';
import { cidrContainsIp, parseCidrOrIp, parseIp } from '../../src/net/mod.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-fabric-as-')), progress: () => undefined };
after(async () => {
  await labDown(ctx);
});

/** `margay ARGS` on this test's lab; fails the test when it exits non-zero. */
function margay(...args: string[]): string {
  const res = margayProcess(args, { env: { MARGAY_LAB_DIR: ctx.dir } });
  assert.equal(res.code, 0, `margay ${args.join(' ')}: ${res.stderr}`);
  return res.stdout;
}

const birdSocket = (host: string) => join(ctx.dir, 'hosts', host, 'bird', 'bird.ctl');
const birdPid = (host: string) => Number(readFileSync(join(ctx.dir, 'hosts', host, 'bird', 'bird.pid'), 'utf8'));

/** Waits until every host has one Established unnumbered session per uplink, each with BFD up. */
async function sessionsUp(hosts: string[]): Promise<void> {
  await eventually(async () => {
    for (const h of hosts) {
      const status = await readNodeStatus(birdSocket(h));
      const up = status.peers.filter((p) => p.type === 'unnumbered' && p.info === 'Established');
      assert.deepEqual(up.map((p) => p.interface).sort(), ['uplink0', 'uplink1'], `${h}: ${JSON.stringify(status.peers)}`);
      assert.deepEqual(status.bfd.filter((b) => b.state === 'Up').map((b) => b.interface).sort(), ['uplink0', 'uplink1'], `${h} BFD: ${JSON.stringify(status.bfd)}`);
    }
  }, { timeoutMs: 60_000, intervalMs: 500, what: 'unnumbered sessions with BFD on every host' });
}

describe('lab - a leaf-spine fabric with an AS per host, hosts discovering their leaves', () => {
  const pods: LabPod[] = [];
  const hosts = ['host-1', 'host-2', 'host-3', 'host-4', 'host-5', 'host-6'];

  test('up: every host its own AS, no IPv4 address on any link, sessions to both leaves with BFD', async () => {
    const state = await labUp({ hosts: 6, router: false, ipv6: false, fabric: { topology: 'leaf-spine', racks: 2, hostsPerRack: 3, dualHomed: true, asModel: 'host', discovery: true } }, ctx);
    const fabric = state.plan.fabric!;
    assert.deepEqual(fabric.hosts.map((h) => h.asNumber), [65101, 65102, 65103, 65104, 65105, 65106]);
    assert.deepEqual(await ipv4OnLinks(fabric), [], 'no IPv4 address on any link');
    await sessionsUp(hosts);
    // The hosts connected: each uplink has an active session to the leaf found in its neighbour table.
    const status = await readNodeStatus(birdSocket('host-1'));
    assert.ok(status.peers.some((p) => p.type === 'unnumbered' && p.address.startsWith('fe80:') && p.info === 'Established'), JSON.stringify(status.peers));
  });

  test('pods reach each other across racks over routes from the fabric only (ECMP over both uplinks)', async () => {
    const port = { port: 80, protocol: 'tcp' as const };
    for (let n = 1; n <= 6; n++) pods.push(await podAdd(ctx, { namespace: 'x', name: `p${n}`, host: `host-${n}`, labels: {}, serve: [port] }));
    for (const report of await connectivityAll(readState(ctx.dir)!, [port])) {
      assert.ok(report.cells.every((c) => c.observed === 'allow'), JSON.stringify(report.cells.filter((c) => c.observed !== 'allow')));
    }
    // Every host routes every other host's block through BIRD, over both uplinks, and nothing else
    // routes pod addresses (the mesh is off; the uplinks have no IPv4 address to route by).
    for (const [i, h] of hosts.entries()) {
      const table = await routes(`mgl-${h}`, 4);
      for (const [j, pod] of pods.entries()) {
        if (i === j) continue;
        const block = table.find((r) => r.protocol === 'bird' && r.dst !== 'default' && inBlock(v4(pod), r.dst));
        assert.ok(block, `${h} has a BIRD route to ${pod.name}'s block`);
        assert.deepEqual(devicesOf(block), ['uplink0', 'uplink1'], `${h} → ${pod.name}: ${JSON.stringify(block)}`);
      }
    }
  });

  test('margay node status shows the unnumbered sessions and their BFD; lab status shows the fabric', async () => {
    const node = margay('node', 'status', '--netns', 'mgl-host-4');
    assert.match(node, /unnumbered \(uplink0\)\s*\|\s*up\s*\|[^\n]*Established/);
    assert.match(node, /unnumbered \(uplink1\)\s*\|\s*up\s*\|[^\n]*Established/);
    const bfd = node.slice(node.indexOf('BFD sessions'));
    assert.match(bfd, /\|\s*uplink0\s*\|\s*Up\s*\|[^\n]*100ms\s*\|\s*300ms/, node);
    assert.match(bfd, /\|\s*uplink1\s*\|\s*Up\s*\|[^\n]*100ms\s*\|\s*300ms/, node);
    const lab = margay('lab', 'status');
    assert.match(lab, /FABRIC \(leaf-spine, 2 racks × 3 hosts, dual-homed, AS per host/);
    // Each router: its AS, FRR running, every session up (one per neighbour and family), its neighbours.
    for (const [router, as, peers] of [['spine-1', 65000, 'l1a,l1b,l2a,l2b'], ['leaf-1a', 65001, 'h1,h2,h3,s1,s2'], ['leaf-2b', 65002, 'h4,h5,h6,s1,s2']] as const) {
      assert.match(lab, new RegExp(`${router}\\s+(leaf|spine)\\s+${as}\\s+running\\s+(\\d+)/\\2 up \\(${peers}\\)`), lab);
    }
  });

  test('a dual-homed host loses one uplink (lab link fail) under a flow: it continues over the other leaf', async () => {
    const detection = readState(ctx.dir)!.plan.fabric!.bfd;
    try {
      const { sent, lost } = await flowLoss(pods[0]!, v4(pods[3]!), { seconds: 5, afterMs: 1500, during: async () => margay('lab', 'link', 'fail', 'host-4', 'leaf-2a') });
      console.log(`# link host-4 – leaf-2a cut: ${lost} of ${sent} lost (~${lost * 10} ms at 100 pps; ${((lost * 10) / (detection.intervalMs * detection.multiplier)).toFixed(2)} × BFD detection); load ${loadavg()}`);
      assert.ok(sent - lost > sent / 2, `the flow continued over leaf-2b (${sent - lost} of ${sent})`);
      const back = (await routes('mgl-host-4', 4)).find((r) => r.protocol === 'bird' && inBlock(v4(pods[0]!), r.dst))!;
      assert.deepEqual(devicesOf(back), ['uplink1'], `host-4 routes over its remaining uplink only: ${JSON.stringify(back)}`);
      const route = (await routes('mgl-host-1', 4)).find((r) => r.protocol === 'bird' && inBlock(v4(pods[3]!), r.dst))!;
      assert.deepEqual(devicesOf(route), ['uplink0', 'uplink1'], 'host-1 still has both its uplinks');
    } finally {
      margay('lab', 'link', 'recover', 'host-4', 'leaf-2a');
    }
    await sessionsUp(['host-4']);
  });

  test('BIRD killed under a flow (on the receiving, then the sending host) and restarted by its agent with graceful restart: no packet lost', async () => {
    for (const [host, to] of [['host-4', pods[3]!], ['host-1', pods[3]!]] as const) {
      const before = birdPid(host);
      const { sent, lost } = await flowLoss(pods[0]!, v4(to), { seconds: 6, afterMs: 1500, during: async () => process.kill(before, 'SIGKILL') });
      console.log(`# BIRD of ${host} killed and restarted: ${lost} of ${sent} lost; load ${loadavg()}`);
      assert.notEqual(birdPid(host), before, 'BIRD was restarted');
      assert.equal(lost, 0, `${host}: ${lost} of ${sent} lost`);
      await sessionsUp([host]);
    }
  });

  test('an agent killed and started again under a flow: no packet lost', async () => {
    const { sent, lost } = await flowLoss(pods[0]!, v4(pods[4]!), { seconds: 6, afterMs: 1000, during: () => restartAgent(ctx, 'host-5', { kill: true }) });
    console.log(`# agent of host-5 killed and started again: ${lost} of ${sent} lost; load ${loadavg()}`);
    assert.equal(lost, 0);
    assert.equal(fabricStatus(await fabricRows(ctx.dir, readState(ctx.dir)!)), 'all up');
  });

  test('down removes every router, host and namespace', async () => {
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
  });
});

/** Whether an address is inside a route's destination (a CIDR). */
function inBlock(address: string, dst: string): boolean {
  const net = parseCidrOrIp(dst);
  const ip = parseIp(address);
  return net !== undefined && ip !== undefined && cidrContainsIp(net, ip);
}
