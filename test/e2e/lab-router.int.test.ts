/**
 * The lab with `--router --ipv6`: FRR in its own namespace (AS 64513) peers over eBGP with every
 * host, in IPv4 and IPv6; host-3 sits on a second subnet (both families) behind it. The pools are
 * VXLAN CrossSubnet, so hosts on the same subnet route natively and host-3 is reached through
 * `vxlan.margay` (IPv4) and `vxlan-v6.margay` (IPv6 underlay). The router learns every block of
 * both families, so pods are reachable from outside the cluster; policy applies across the tunnel.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exec } from '../../src/os/mod.ts';
import { connectivityAll } from '../../src/lab/connectivity.ts';
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

async function routes(netns: string, family: 4 | 6 = 4): Promise<Route[]> {
  return JSON.parse((await exec('ip', [`-${family}`, '-j', 'route', 'show'], { netns })).stdout || '[]') as Route[];
}

describe('lab - an FRR router and a second subnet', () => {
  test('eBGP to the router in both families, native routing on the fabric, VXLAN across the router, pods reachable from outside', async () => {
    const state = await labUp({ hosts: 3, router: true, ipv6: true }, ctx);
    assert.equal(state.plan.hosts[2]!.segment, 'second');
    assert.ok(state.plan.hosts.every((h) => h.address6 && h.gateway6), 'every host is dual-stack, the one behind the router too');
    const port = { port: 80, protocol: 'tcp' as const };
    const a = await podAdd(ctx, { namespace: 'x', name: 'a', host: 'host-1', labels: { pod: 'a' }, serve: [port] });
    const b = await podAdd(ctx, { namespace: 'x', name: 'b', host: 'host-2', labels: { pod: 'b' }, serve: [port] });
    const c = await podAdd(ctx, { namespace: 'y', name: 'c', host: 'host-3', labels: { pod: 'c' }, serve: [port] });
    assert.ok([a, b, c].every((p) => p.addresses.length === 2), 'every pod has an IPv4 and an IPv6 address');
    assert.deepEqual(await missingPodRoutes(readState(ctx.dir)!), []);

    // The router has an established eBGP session with every host in each family and learned every pod block.
    const frr = frrAt(state.plan.router!.netns, join(ctx.dir, 'router'));
    await eventually(async () => (await frrSessions(frr)).filter((s) => s.state === 'Established').length === 6, { what: 'eBGP sessions', timeoutMs: 30_000, intervalMs: 250 });
    const sessions = await frrSessions(frr);
    assert.deepEqual(sessions.map((s) => s.peer).sort(), state.plan.hosts.flatMap((h) => [h.address, h.address6!].map((x) => x.split('/')[0]!)).sort());
    assert.ok(sessions.every((s) => s.remoteAs === 64512));
    for (const family of [4, 6] as const) {
      await eventually(async () => (await routes(state.plan.router!.netns, family)).filter((r) => r.protocol === 'bgp').length >= 3, { what: `the router to learn the IPv${family} blocks`, timeoutMs: 30_000, intervalMs: 250 });
    }

    // host-1: host-2's blocks natively on the fabric, host-3's blocks through the tunnels.
    const routeTo = async (ip: string) => {
      const family = ip.includes(':') ? '-6' : '-4';
      const matching = JSON.parse((await exec('ip', [family, '-j', 'route', 'show', 'match', ip], { netns: 'mgl-host-1' })).stdout) as Route[];
      return matching.find((r) => r.protocol === '78')!;
    };
    const [b4, b6] = [b.addresses.find((x) => !x.includes(':'))!, b.addresses.find((x) => x.includes(':'))!];
    const [c4, c6] = [c.addresses.find((x) => !x.includes(':'))!, c.addresses.find((x) => x.includes(':'))!];
    assert.deepEqual([(await routeTo(b4)).gateway, (await routeTo(b4)).dev], [state.plan.hosts[1]!.address.split('/')[0], 'eth0'], 'host-2 natively');
    assert.deepEqual([(await routeTo(b6)).gateway, (await routeTo(b6)).dev], [state.plan.hosts[1]!.address6!.split('/')[0], 'eth0'], 'host-2 natively (IPv6)');
    assert.equal((await routeTo(c4)).dev, 'vxlan.margay', 'host-3 through the tunnel');
    assert.equal((await routeTo(c6)).dev, 'vxlan-v6.margay', 'host-3 through the IPv6 tunnel');

    // Every pair connects in both families, and pods are reachable from the router (outside the cluster).
    for (const open of await connectivityAll(readState(ctx.dir)!, [port])) {
      assert.equal(open.mismatches, 0);
      assert.ok(open.cells.every((cell) => cell.observed === 'allow'), `IPv${open.ipVersion}: ${JSON.stringify(open.cells)}`);
    }
    for (const pod of [a, b, c]) {
      for (const address of pod.addresses) assert.equal((await probe(state.plan.router!.netns, address, port, 1000)).ok, true, `router → ${pod.name} ${address}`);
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
    for (const after of await connectivityAll(readState(ctx.dir)!, [port])) {
      const v = `IPv${after.ipVersion}`;
      assert.equal(after.mismatches, 0, `${v}: ${JSON.stringify(after.cells.filter((cell) => cell.expected !== cell.observed))}`);
      assert.equal(after.cells.find((cell) => cell.from === 'x/b' && cell.to === 'y/c')!.observed, 'allow', `x/b → y/c through VXLAN (${v})`);
      assert.equal(after.cells.find((cell) => cell.from === 'x/a' && cell.to === 'y/c')!.observed, 'deny', v);
    }
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
