/**
 * The lab end to end: `lab up` with 3 dual-stack hosts (etcd on a unix socket, an agent and BIRD
 * per host), pods through the real CNI plugin on different hosts, cross-host reachability over
 * BGP-learned routes (no encapsulation) in IPv4 and IPv6, a Kubernetes NetworkPolicy and Calico
 * tiers enforced across hosts and agreeing with `policy matrix`, an agent restart under a running
 * flow, a host failing and coming back, a datastore outage, an agent killed, and `lab down`
 * leaving nothing — also after a killed `lab up`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually as eventuallyTrue } from '../harness/wait.ts';
import { withoutUnusedPolicyObjects } from '../harness/nft-listing.ts';
import { killedLabUp } from './killed-lab-up.ts';
import { after, describe, test } from 'node:test';
import { exec } from '../../src/os/mod.ts';
import { connectivity, type ConnectivityReport } from '../../src/lab/connectivity.ts';
import { failHost, recoverHost, restartAgent } from '../../src/lab/hosts.ts';
import type { PortSpec } from '../../src/lab/serve.ts';
import { labDown, labUp, applyManifests, podAdd, probe, type LabContext } from '../../src/lab/lab.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { readMachineNetworks } from '../../src/lab/machine.ts';
import { cidrsOverlap, parseCidr } from '../../src/net/mod.ts';
import { isRunning, stopProcess } from '../../src/lab/processes.ts';
import { startLabEtcd } from '../../src/lab/etcd.ts';
import { type LabState, readState, writeState } from '../../src/lab/state.ts';
import { missingPodRoutes } from '../../src/lab/routes.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-e2e-')), progress: () => undefined };
after(async () => {
  await labDown(ctx);
});

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  await eventuallyTrue(check, { what, timeoutMs, intervalMs: 250 });
}

const PORTS: PortSpec[] = [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }];

/** Probes every pod pair in IPv4 and IPv6 and asserts both agree with `policy matrix`. */
async function assertMatrixAgrees(state: LabState): Promise<ConnectivityReport[]> {
  const reports: ConnectivityReport[] = [];
  for (const ipVersion of [4, 6] as const) {
    const report = await connectivity(state, PORTS, { ipVersion });
    assert.equal(report.mismatches, 0, `IPv${ipVersion}: ${JSON.stringify(report.cells.filter((c) => c.observed !== 'not-served' && c.expected !== c.observed))}`);
    reports.push(report);
  }
  return reports;
}

function observed(report: ConnectivityReport, from: string, to: string, port: string): string {
  return report.cells.find((c) => c.from === from && c.to === to && c.port === port)!.observed;
}

async function birdRoutes(netns: string, family: 4 | 6): Promise<{ dst: string; gateway?: string }[]> {
  const out = (await exec('ip', [`-${family}`, '-j', 'route', 'show', 'proto', 'bird'], { netns })).stdout;
  return JSON.parse(out || '[]') as { dst: string; gateway?: string }[];
}

/** A host's fabric address without its prefix, as the lab chose it for this machine. */
function fabricIp(state: LabState, host: string, family: 4 | 6 = 4): string {
  const h = state.plan.hosts.find((x) => x.name === host)!;
  return (family === 4 ? h.address : h.address6!).split('/')[0]!;
}

describe('lab - three hosts', () => {
  test('up, pods on every host, BGP routes, cross-host reachability in IPv4 and IPv6', async () => {
    const state = await labUp({ hosts: 3, router: false, ipv6: true }, ctx);
    assert.equal(state.plan.hosts.length, 3);
    assert.ok(state.etcdEndpoint.startsWith('unix://'), 'the datastore has no network address');
    // The lab shares no subnet with this machine: no range it chose overlaps an address or route here.
    const machine = await readMachineNetworks();
    for (const range of Object.values(state.plan.ranges)) {
      const hit = machine.find((u) => cidrsOverlap(parseCidr(u.cidr)!, parseCidr(range)!));
      assert.equal(hit, undefined, `${range} overlaps ${hit?.what}`);
    }
    await podAdd(ctx, { namespace: 'x', name: 'a', host: 'host-1', labels: { pod: 'a' }, serve: PORTS });
    await podAdd(ctx, { namespace: 'x', name: 'b', host: 'host-2', labels: { pod: 'b' }, serve: PORTS });
    await podAdd(ctx, { namespace: 'y', name: 'c', host: 'host-3', labels: { pod: 'c' }, serve: PORTS });
    const after = readState(ctx.dir)!;
    for (const pod of after.pods) assert.equal(pod.addresses.length, 2, `${pod.name} has an IPv4 and an IPv6 address: ${pod.addresses.join(', ')}`);
    // host-1 learns the blocks of host-2 and host-3 from BIRD, via their fabric addresses, in both families.
    const v4 = await birdRoutes('mgl-host-1', 4);
    assert.ok(v4.some((r) => r.gateway === fabricIp(state, 'host-2')) && v4.some((r) => r.gateway === fabricIp(state, 'host-3')), JSON.stringify(v4));
    const v6 = await birdRoutes('mgl-host-1', 6);
    assert.ok(v6.some((r) => r.gateway === fabricIp(state, 'host-2', 6)) && v6.some((r) => r.gateway === fabricIp(state, 'host-3', 6)), JSON.stringify(v6));
    // `pod add` waited for every host to route to each new pod: nothing is missing now.
    assert.deepEqual(await missingPodRoutes(after), []);
    for (const report of await assertMatrixAgrees(after)) {
      assert.ok(report.cells.every((c) => c.observed === 'allow' || c.observed === 'not-served'), 'no policy: everything connects');
    }
  });

  test('a Kubernetes NetworkPolicy applies across hosts and agrees with policy matrix', async () => {
    const state = readState(ctx.dir)!;
    await applyManifests(state, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
      ports:
        - {port: 80, protocol: TCP}
`);
    const bAddress = state.pods.find((p) => p.name === 'b')!.addresses[0]!;
    const netnsOf = (name: string) => state.pods.find((p) => p.name === name)!.netns;
    await eventually(async () => !(await probe(netnsOf('a'), bAddress, { port: 80, protocol: 'tcp' }, 500)).ok, 'the policy to block x/a → x/b');
    for (const report of await assertMatrixAgrees(state)) {
      assert.equal(observed(report, 'x/a', 'x/b', '80/TCP'), 'deny');
      assert.equal(observed(report, 'y/c', 'x/b', '80/TCP'), 'allow');
      assert.equal(observed(report, 'y/c', 'x/b', '81/UDP'), 'deny');
      assert.equal(observed(report, 'x/b', 'x/a', '80/TCP'), 'allow');
    }
  });

  test('Calico tiers: a higher tier denies or passes, the default tier decides the rest, across hosts', async () => {
    const state = readState(ctx.dir)!;
    const tiered = `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.guard-c}
spec:
  tier: security
  order: 10
  selector: pod == 'c'
  types: [Ingress]
  ingress:
    - {action: Deny, protocol: TCP, source: {selector: pod == 'a'}, destination: {ports: [80]}}
    - {action: Pass}
`;
    await applyManifests(state, tiered);
    const a = state.pods.find((p) => p.name === 'a')!;
    const c = state.pods.find((p) => p.name === 'c')!;
    await eventually(async () => !(await probe(a.netns, c.addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, 'the tier to block x/a → y/c');
    for (const report of await assertMatrixAgrees(state)) {
      assert.equal(observed(report, 'x/a', 'y/c', '80/TCP'), 'deny', 'denied in tier security');
      assert.equal(observed(report, 'x/a', 'y/c', '81/UDP'), 'allow', 'passed to the default tier, where the namespace profile allows');
      assert.equal(observed(report, 'x/b', 'y/c', '80/TCP'), 'allow');
      assert.equal(observed(report, 'x/a', 'x/b', '80/TCP'), 'deny', 'the default-tier policy still applies');
    }
    await applyManifests(state, tiered.split('---\n').reverse().join('---\n'), 'delete');
    await eventually(async () => (await probe(a.netns, c.addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, 'x/a → y/c allowed again once the tier is gone');
  });

  test('an agent restarted with SIGKILL under a running flow: no interruption, the same ruleset, the same routes', async () => {
    const state = readState(ctx.dir)!;
    const a = state.pods.find((p) => p.name === 'a')!;
    const c = state.pods.find((p) => p.name === 'c')!;
    const rulesBefore = (await exec('nft', ['list', 'table', 'inet', 'margay'], { netns: 'mgl-host-3' })).stdout;
    const routesBefore = (await exec('ip', ['route'], { netns: 'mgl-host-3' })).stdout;
    // An iperf3 flow x/a (host-1) → y/c (host-3), started by PID and killed by PID.
    const server = spawn('ip', ['netns', 'exec', c.netns, 'iperf3', '-s', '-1', '-p', '5201'], { stdio: 'ignore' });
    try {
      await sleep(500); // let the server listen
      const client = exec('iperf3', ['-c', c.addresses[0]!, '-p', '5201', '-t', '8', '-i', '1', '-J'], { netns: a.netns, allowFail: true, timeoutMs: 60_000 });
      await sleep(2000);
      await restartAgent(ctx, 'host-3', { kill: true });
      const res = await client;
      assert.equal(res.code, 0, `iperf3 failed: ${res.stdout.slice(0, 500)} ${res.stderr}`);
      const report = JSON.parse(res.stdout) as { intervals: { sum: { bytes: number } }[]; end: { sum_received: { bytes: number } } };
      assert.ok(report.intervals.length >= 7, `${report.intervals.length} intervals`);
      assert.ok(report.intervals.every((i) => i.sum.bytes > 0), `no interval without data: ${report.intervals.map((i) => i.sum.bytes).join(', ')}`);
    } finally {
      server.kill('SIGKILL');
    }
    // The restarted agent's first full comparison deletes unused policy objects the old one kept.
    const effective = withoutUnusedPolicyObjects;
    assert.equal(effective((await exec('nft', ['list', 'table', 'inet', 'margay'], { netns: 'mgl-host-3' })).stdout), effective(rulesBefore), 'the restarted agent leaves a correct ruleset as it is');
    assert.equal((await exec('ip', ['route'], { netns: 'mgl-host-3' })).stdout, routesBefore, 'and the routes');
    assert.equal((await probe(a.netns, state.pods.find((p) => p.name === 'b')!.addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, false, 'policy still enforced');
  });

  test('a host failing: the others withdraw its routes (BFD) and keep talking; it comes back', async () => {
    const state = readState(ctx.dir)!;
    const pod = (name: string) => state.pods.find((p) => p.name === name)!;
    const hasRouteVia = async (netns: string, gateway: string) => (await birdRoutes(netns, 4)).some((r) => r.gateway === gateway);
    await failHost(ctx, 'host-2');
    const host2 = fabricIp(state, 'host-2');
    await eventually(async () => !(await hasRouteVia('mgl-host-1', host2)) && !(await hasRouteVia('mgl-host-3', host2)), 'host-2\'s routes withdrawn', 10_000);
    assert.ok(await hasRouteVia('mgl-host-1', fabricIp(state, 'host-3')), 'host-1 still routes to host-3');
    assert.equal((await probe(pod('a').netns, pod('c').addresses[0]!, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'x/a → y/c across the surviving hosts');
    assert.equal((await probe(pod('a').netns, pod('c').addresses[1]!, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'and in IPv6');
    assert.equal((await probe(pod('c').netns, pod('b').addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, false, 'x/b is gone with its host');
    await recoverHost(ctx, 'host-2');
    assert.deepEqual(await missingPodRoutes(readState(ctx.dir)!), [], 'every route is back');
    assert.equal((await probe(pod('c').netns, pod('b').addresses[0]!, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'y/c → x/b allowed again');
    assert.equal((await probe(pod('a').netns, pod('b').addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, false, 'x/a → x/b still denied by the recovered host');
  });

  test('a datastore outage: agents keep the last good dataplane and resync afterwards', async () => {
    const state = readState(ctx.dir)!;
    const etcd = state.processes.find((p) => p.role === 'etcd')!;
    const pod = (name: string) => state.pods.find((p) => p.name === name)!;
    await stopProcess(etcd, 5000);
    assert.equal(isRunning(etcd), false, 'etcd is down');
    // Traffic keeps flowing under the last programmed policy: allowed stays allowed, denied stays denied.
    assert.equal((await probe(pod('c').netns, pod('b').addresses[0]!, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'y/c → x/b still allowed');
    assert.equal((await probe(pod('a').netns, pod('b').addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, false, 'x/a → x/b still denied');
    // etcd comes back on the same data; a change made afterwards reaches the kernel.
    const [restarted] = await startLabEtcd(ctx.dir);
    state.processes = state.processes.map((p) => (p === etcd ? restarted! : p));
    writeState(ctx.dir, state);
    assert.equal((await probe(pod('a').netns, pod('c').addresses[0]!, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'x/a → y/c allowed before');
    await applyManifests(state, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-c, namespace: y}\nspec:\n  podSelector: {matchLabels: {pod: c}}\n  policyTypes: [Ingress]\n');
    await eventually(async () => !(await probe(pod('a').netns, pod('c').addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, 'x/a → y/c denied by a policy written after the outage', 60_000);
  });

  test('an agent killed: its host keeps enforcing the last programmed policy', async () => {
    const state = readState(ctx.dir)!;
    const agent = state.processes.find((p) => p.role === 'agent host-2')!;
    process.kill(agent.pid, 'SIGKILL');
    await eventually(async () => !isRunning(agent), 'the agent to die');
    // The rules, not their counters: the probes below count packets.
    const ruleset = async () =>
      (await exec('nft', ['list', 'table', 'inet', 'margay'], { netns: 'mgl-host-2' })).stdout.replace(/counter packets \d+ bytes \d+/g, 'counter');
    const before = await ruleset();
    assert.match(before, /table inet margay/);
    const pod = (name: string) => state.pods.find((p) => p.name === name)!;
    const bAddress = pod('b').addresses[0]!;
    // Both ways: a dataplane that died with the agent (no routes, no table) fails one of them.
    assert.equal((await probe(pod('c').netns, bAddress, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'y/c → x/b still allowed with the agent dead');
    assert.equal((await probe(pod('a').netns, bAddress, { port: 80, protocol: 'tcp' }, 500)).ok, false, 'x/a → x/b still denied with the agent dead');
    assert.equal(await ruleset(), before, 'the ruleset stays as the agent left it');
  });

  test('down removes every namespace and process', async () => {
    const state = readState(ctx.dir)!;
    const pids = [...state.processes, ...state.pods.flatMap((p) => (p.server ? [p.server] : []))];
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
    for (const p of pids) assert.equal(isRunning(p), false, `${p.role} stopped`);
  });
});

describe('lab - a killed lab up', () => {
  test('down after lab up was killed midway leaves nothing', async () => {
    const state = await killedLabUp(ctx.dir, ['--hosts', '2'], 'starting the agent of host-1');
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
    for (const p of state.processes) assert.equal(isRunning(p), false, `${p.role} stopped`);
  });
});
