/**
 * The lab end to end: `lab up` with 3 hosts (etcd on a unix socket, an agent and BIRD per host),
 * pods through the real CNI plugin on different hosts, cross-host reachability over BGP-learned
 * routes (no encapsulation), a Kubernetes NetworkPolicy enforced across hosts and agreeing with
 * `policy matrix`, a datastore outage, an agent killed, and `lab down` leaving nothing — also after a killed `lab up`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test } from 'node:test';
import { exec } from '../../src/dataplane/exec.ts';
import { decodeResources } from '../../src/api/decode.ts';
import { connectivity } from '../../src/lab/connectivity.ts';
import { labDown, labUp, openStore, podAdd, probe, type LabContext } from '../../src/lab/lab.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { isRunning, stopProcess } from '../../src/lab/processes.ts';
import { startLabEtcd } from '../../src/lab/etcd.ts';
import { readState, writeState } from '../../src/lab/state.ts';
import { missingPodRoutes } from '../../src/lab/routes.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-e2e-')), progress: () => undefined };
after(async () => {
  await labDown(ctx);
});

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(250);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('lab - three hosts', () => {
  test('up, pods on every host, BGP routes, cross-host reachability', async () => {
    const state = await labUp({ hosts: 3, router: false, ipv6: false }, ctx);
    assert.equal(state.plan.hosts.length, 3);
    assert.ok(state.etcdEndpoint.startsWith('unix://'), 'the datastore has no network address');
    await podAdd(ctx, { namespace: 'x', name: 'a', host: 'host-1', labels: { pod: 'a' }, serve: [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }] });
    await podAdd(ctx, { namespace: 'x', name: 'b', host: 'host-2', labels: { pod: 'b' }, serve: [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }] });
    await podAdd(ctx, { namespace: 'y', name: 'c', host: 'host-3', labels: { pod: 'c' }, serve: [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }] });
    // host-1 learns the blocks of host-2 and host-3 from BIRD, via their fabric addresses.
    const routes = (await exec('ip', ['-j', 'route', 'show', 'proto', 'bird'], { netns: 'mgl-host-1' })).stdout;
    const parsed = JSON.parse(routes || '[]') as { dst: string; gateway?: string }[];
    assert.ok(parsed.some((r) => r.gateway === '192.0.2.12') && parsed.some((r) => r.gateway === '192.0.2.13'), routes);
    // `pod add` waited for every host to route to each new pod: nothing is missing now.
    assert.deepEqual(await missingPodRoutes(readState(ctx.dir)!), []);
    const report = await connectivity(readState(ctx.dir)!, [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }]);
    assert.equal(report.mismatches, 0, JSON.stringify(report.cells.filter((c) => c.expected !== c.observed)));
    assert.ok(report.cells.every((c) => c.observed === 'allow'), 'no policy: everything connects');
  });

  test('a Kubernetes NetworkPolicy applies across hosts and agrees with policy matrix', async () => {
    const state = readState(ctx.dir)!;
    const store = openStore(state);
    try {
      const policy = decodeResources(`apiVersion: networking.k8s.io/v1
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
`, 'policy.yaml').map((d) => d.resource);
      await store.batch('apply', policy);
    } finally {
      await store.datastore.close();
    }
    const bAddress = state.pods.find((p) => p.name === 'b')!.addresses[0]!;
    const netnsOf = (name: string) => state.pods.find((p) => p.name === name)!.netns;
    await eventually(async () => !(await probe(netnsOf('a'), bAddress, { port: 80, protocol: 'tcp' }, 500)).ok, 'the policy to block x/a → x/b');
    const report = await connectivity(state, [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }]);
    assert.equal(report.mismatches, 0, JSON.stringify(report.cells.filter((c) => c.expected !== c.observed)));
    const cell = (from: string, to: string, port: string) => report.cells.find((c) => c.from === from && c.to === to && c.port === port)!.observed;
    assert.equal(cell('x/a', 'x/b', '80/TCP'), 'deny');
    assert.equal(cell('y/c', 'x/b', '80/TCP'), 'allow');
    assert.equal(cell('y/c', 'x/b', '81/UDP'), 'deny');
    assert.equal(cell('x/b', 'x/a', '80/TCP'), 'allow');
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
    const restarted = await startLabEtcd(ctx.dir);
    state.processes = state.processes.map((p) => (p === etcd ? restarted : p));
    writeState(ctx.dir, state);
    assert.equal((await probe(pod('a').netns, pod('c').addresses[0]!, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'x/a → y/c allowed before');
    const store = openStore(state);
    try {
      const denyC = decodeResources('apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-c, namespace: y}\nspec:\n  podSelector: {matchLabels: {pod: c}}\n  policyTypes: [Ingress]\n', 'deny-c.yaml');
      await store.batch('apply', denyC.map((d) => d.resource));
    } finally {
      await store.datastore.close();
    }
    await eventually(async () => !(await probe(pod('a').netns, pod('c').addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, 'x/a → y/c denied by a policy written after the outage', 60_000);
  });

  test('an agent killed: its host keeps enforcing the last programmed policy', async () => {
    const state = readState(ctx.dir)!;
    const agent = state.processes.find((p) => p.role === 'agent host-2')!;
    process.kill(agent.pid, 'SIGKILL');
    await eventually(async () => !isRunning(agent), 'the agent to die');
    const before = (await exec('nft', ['list', 'table', 'inet', 'margay'], { netns: 'mgl-host-2' })).stdout;
    const bAddress = state.pods.find((p) => p.name === 'b')!.addresses[0]!;
    const aNetns = state.pods.find((p) => p.name === 'a')!.netns;
    assert.equal((await probe(aNetns, bAddress, { port: 80, protocol: 'tcp' }, 500)).ok, false, 'still denied with the agent dead');
    assert.match(before, /table inet margay/);
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
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', 'lab', 'up', '--hosts', '2'], {
      env: { ...process.env, MARGAY_LAB_DIR: ctx.dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let progress = '';
    child.stderr!.on('data', (d) => (progress += d.toString()));
    await eventually(async () => progress.includes('starting the agent of host-1'), 'lab up to start agents', 60_000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const state = readState(ctx.dir);
    assert.ok(state, 'the killed lab up left its state behind');
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
    for (const p of state!.processes) assert.equal(isRunning(p), false, `${p.role} stopped`);
  });
});
