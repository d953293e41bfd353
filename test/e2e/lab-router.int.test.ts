/**
 * The lab with `--router`: FRR in its own namespace (AS 64513) peers over eBGP with every host;
 * host-3 sits on a second subnet behind it. The pool is VXLAN CrossSubnet, so hosts on the same
 * subnet route natively and host-3 is reached through `vxlan.margay`. The router learns every
 * block, so pods are reachable from outside the cluster; policy applies across the tunnel too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exec } from '../../src/os/mod.ts';
import { connectivity } from '../../src/lab/connectivity.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { frrAt, frrSessions } from '../../src/lab/frr.ts';
import { applyManifests, labDown, labUp, podAdd, probe, type LabContext } from '../../src/lab/lab.ts';
import { missingPodRoutes } from '../../src/lab/routes.ts';
import { isRunning } from '../../src/lab/processes.ts';
import { readState } from '../../src/lab/state.ts';
import { eventually } from '../harness/wait.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-router-')), progress: () => undefined };
after(async () => {
  await labDown(ctx);
});

interface Route {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  nexthops?: { gateway?: string }[];
}

async function routes(netns: string): Promise<Route[]> {
  return JSON.parse((await exec('ip', ['-4', '-j', 'route', 'show'], { netns })).stdout || '[]') as Route[];
}

describe('lab - an FRR router and a second subnet', () => {
  test('eBGP to the router, native routing on the fabric, VXLAN across the router, pods reachable from outside', async () => {
    const state = await labUp({ hosts: 3, router: true, ipv6: false }, ctx);
    assert.equal(state.plan.hosts[2]!.segment, 'second');
    const port = { port: 80, protocol: 'tcp' as const };
    const a = await podAdd(ctx, { namespace: 'x', name: 'a', host: 'host-1', labels: { pod: 'a' }, serve: [port] });
    const b = await podAdd(ctx, { namespace: 'x', name: 'b', host: 'host-2', labels: { pod: 'b' }, serve: [port] });
    const c = await podAdd(ctx, { namespace: 'y', name: 'c', host: 'host-3', labels: { pod: 'c' }, serve: [port] });
    assert.deepEqual(await missingPodRoutes(readState(ctx.dir)!), []);

    // The router has an established eBGP session with every host and learned every pod block.
    const frr = frrAt(state.plan.router!.netns, join(ctx.dir, 'router'));
    await eventually(async () => (await frrSessions(frr)).filter((s) => s.state === 'Established').length === 3, { what: 'eBGP sessions', timeoutMs: 30_000, intervalMs: 250 });
    const sessions = await frrSessions(frr);
    assert.deepEqual(sessions.map((s) => s.peer).sort(), state.plan.hosts.map((h) => h.address.split('/')[0]!).sort());
    assert.ok(sessions.every((s) => s.remoteAs === 64512));
    await eventually(async () => (await routes(state.plan.router!.netns)).filter((r) => r.protocol === 'bgp').length >= 3, { what: 'the router to learn the blocks', timeoutMs: 30_000, intervalMs: 250 });

    // host-1: host-2's block natively on the fabric, host-3's block through the tunnel.
    const routeTo = async (ip: string) => {
      const matching = JSON.parse((await exec('ip', ['-j', 'route', 'show', 'match', ip], { netns: 'mgl-host-1' })).stdout) as Route[];
      return matching.find((r) => r.protocol === '78')!;
    };
    assert.deepEqual([(await routeTo(b.addresses[0]!)).gateway, (await routeTo(b.addresses[0]!)).dev], [state.plan.hosts[1]!.address.split('/')[0], 'eth0'], 'host-2 natively');
    assert.equal((await routeTo(c.addresses[0]!)).dev, 'vxlan.margay', 'host-3 through the tunnel');

    // Every pair connects, and pods are reachable from the router (outside the cluster).
    const open = await connectivity(readState(ctx.dir)!, [port]);
    assert.equal(open.mismatches, 0);
    assert.ok(open.cells.every((cell) => cell.observed === 'allow'), JSON.stringify(open.cells));
    for (const pod of [a, b, c]) {
      assert.equal((await probe(state.plan.router!.netns, pod.addresses[0]!, port, 1000)).ok, true, `router → ${pod.name}`);
    }

    // Policy across the tunnel: y/c admits only x/b.
    await applyManifests(state, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-b, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}, podSelector: {matchLabels: {pod: b}}}]
`);
    await eventually(async () => !(await probe(a.netns, c.addresses[0]!, port, 500)).ok, { what: 'x/a → y/c denied', timeoutMs: 30_000, intervalMs: 250 });
    const after = await connectivity(readState(ctx.dir)!, [port]);
    assert.equal(after.mismatches, 0, JSON.stringify(after.cells.filter((cell) => cell.expected !== cell.observed)));
    assert.equal(after.cells.find((cell) => cell.from === 'x/b' && cell.to === 'y/c')!.observed, 'allow', 'x/b → y/c through VXLAN');
    assert.equal(after.cells.find((cell) => cell.from === 'x/a' && cell.to === 'y/c')!.observed, 'deny');
  });

  test('down removes the router, its FRR daemons and everything else', async () => {
    const state = readState(ctx.dir)!;
    const frr = state.processes.filter((p) => p.role === 'frr');
    assert.equal(frr.length, 3, 'zebra, staticd and bgpd recorded');
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
    for (const p of state.processes) assert.equal(isRunning(p), false, `${p.role} (${p.pid}) stopped`);
  });
});
