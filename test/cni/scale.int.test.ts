/**
 * Many containers on one host, through the plugin binary as a runtime drives it, with the real
 * agent hosting the CNI service and programming policy: 100 concurrent ADDs, 100 concurrent DELs,
 * and the agent killed (SIGKILL) and restarted in the middle of a burst of ADDs (the runtime
 * retries what failed with "try again later", as kubelet does).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { allocatedCount } from '../../src/ipam/block.ts';
import { run, type TestNetns } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { CLIENT, runPlugin, type PluginRun } from './binary.ts';
import { startBed, type Bed } from './bed.ts';

let bed: Bed;
before(async () => {
  bed = await startBed({ agent: true });
});
after(async () => {
  await bed?.close();
});

const conf = () => JSON.stringify({ cniVersion: '1.0.0', name: 'scale', type: 'margay', agent_socket: bed.socket });
const envFor = (cmd: string, id: string, ns: TestNetns | undefined) => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: id,
  CNI_NETNS: ns ? `/run/netns/${ns.name}` : '',
  CNI_IFNAME: 'eth0',
  CNI_PATH: bed.cniPath,
});

/** What a runtime does: retry while the answer is "try again later". */
async function withRetry(fn: () => Promise<PluginRun>, deadlineMs = 90_000): Promise<{ run: PluginRun; attempts: number }> {
  const deadline = Date.now() + deadlineMs;
  for (let attempts = 1; ; attempts++) {
    const r = await fn();
    if (r.code === 0 || r.json?.code !== 11 || Date.now() > deadline) return { run: r, attempts };
    await sleep(100);
  }
}

async function containerAddress(ns: TestNetns): Promise<string[]> {
  const res = await run('ip', ['-n', ns.name, '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
  return (JSON.parse(res.stdout) as { addr_info: { local: string }[] }[])[0]!.addr_info.map((a) => a.local);
}

/** Everything the CNI service keeps about this network: endpoints, handles, allocations, veths, routes. */
async function traces() {
  const weps = (await bed.store.list(workloadEndpointKind)).items;
  const snap = await bed.ipam.snapshot();
  const handles = [...snap.handles.keys()].filter((h) => h.startsWith('scale.'));
  let allocated = 0;
  for (const b of snap.blocks.values()) allocated += allocatedCount(b.block);
  // Workload routes (the agent's blackholes for this host's blocks stay while the blocks do).
  const routes = (JSON.parse((await run('ip', ['-n', bed.host.name, '-j', 'route', 'show', 'proto', '77'])).stdout) as { type?: string }[]).filter(
    (r) => r.type !== 'blackhole',
  );
  return { weps, handles, allocated, veths: await bed.hostVeths(), routes: routes.length };
}

async function assertClean(): Promise<void> {
  const t = await traces();
  assert.deepEqual(
    { weps: t.weps.length, handles: t.handles.length, allocated: t.allocated, veths: t.veths.length, routes: t.routes },
    { weps: 0, handles: 0, allocated: 0, veths: 0, routes: 0 },
  );
  // The agent removes the endpoints' rules once it sees the endpoints go.
  await eventually(
    async () => !(await run('ip', ['netns', 'exec', bed.host.name, 'nft', 'list', 'map', 'inet', 'margay', 'to-wl'], { allowFail: true })).stdout.includes('cali'),
    { timeoutMs: 30_000, intervalMs: 100, what: 'endpoint rules removed' },
  );
}

/** Checks N attachments: one endpoint, one address, one handle, one veth and one route each, all different. */
async function assertAttached(containers: { id: string; ns: TestNetns }[]): Promise<void> {
  const t = await traces();
  const byContainer = new Map(t.weps.map((w) => [(w.spec as { containerID: string }).containerID, w]));
  assert.equal(t.weps.length, containers.length, 'one WorkloadEndpoint per container');
  assert.equal(t.handles.length, containers.length, 'one IPAM handle per container');
  assert.equal(t.allocated, containers.length, 'one address per container');
  assert.equal(t.veths.length, containers.length, 'one host veth per container');
  assert.equal(t.routes, containers.length, 'one host route per container');
  const seen = new Set<string>();
  for (const c of containers) {
    const wep = byContainer.get(c.id);
    assert.ok(wep, `endpoint of ${c.id}`);
    const nets = (wep.spec as { ipNetworks: string[] }).ipNetworks;
    assert.equal(nets.length, 1);
    const ip = nets[0]!.replace('/32', '');
    assert.ok(!seen.has(ip), `address ${ip} given twice`);
    seen.add(ip);
    assert.deepEqual(await containerAddress(c.ns), [ip], `the kernel address of ${c.id}`);
    assert.deepEqual(await bed.ipam.ipsByHandle(`scale.${c.id}`), [ip], `the IPAM handle of ${c.id}`);
  }
}

describe('cni at scale - 100 containers on one host', () => {
  const containers: { id: string; ns: TestNetns }[] = [];

  it('100 concurrent ADDs all succeed with unique addresses', async () => {
    for (let i = 0; i < 100; i++) containers.push({ id: `burst-${i}`, ns: await bed.container() });
    const results = await Promise.all(containers.map((c) => runPlugin(CLIENT, envFor('ADD', c.id, c.ns), conf())));
    const failed = results.filter((r) => r.code !== 0);
    assert.deepEqual(failed.map((r) => r.stdout), []);
    const ips = results.map((r) => (r.json?.ips as { address: string }[])[0]!.address);
    assert.equal(new Set(ips).size, 100);
    await assertAttached(containers);
  });

  it('100 concurrent DELs leave nothing', async () => {
    const results = await Promise.all(containers.map((c) => runPlugin(CLIENT, envFor('DEL', c.id, c.ns), conf())));
    assert.deepEqual(results.filter((r) => r.code !== 0).map((r) => r.stdout), []);
    await assertClean();
    for (const c of containers.splice(0)) await c.ns.delete();
  });
});

describe('cni at scale - the agent restarts in the middle of a burst of ADDs', () => {
  it('loses or duplicates nothing', async (t) => {
    const containers: { id: string; ns: TestNetns }[] = [];
    for (let i = 0; i < 60; i++) containers.push({ id: `restart-${i}`, ns: await bed.container() });
    let done = 0;
    const burst = Promise.all(
      containers.map((c) =>
        withRetry(() => runPlugin(CLIENT, envFor('ADD', c.id, c.ns), conf())).then((r) => {
          done++;
          return r;
        }),
      ),
    );
    // Kill the agent (SIGKILL: no clean-up at all) while ADDs are in flight — a third of them
    // hold addresses — then start it again. (Answers come in waves: one dataplane flush programs
    // many endpoints at once, so "after N answers" would often be too late.)
    while ((await bed.datastore.list('/calico/ipam/v2/handle/scale.')).items.length < 20) await sleep(5);
    const doneAtKill = done;
    await bed.stopCni();
    await sleep(300);
    await bed.startCni();
    const results = await burst;
    assert.deepEqual(results.filter((r) => r.run.code !== 0).map((r) => r.run.stdout), []);
    const retried = results.filter((r) => r.attempts > 1).length;
    assert.ok(retried > 0 && doneAtKill < 60, `the kill must land mid-burst (done at kill ${doneAtKill}, retried ${retried})`);
    t.diagnostic(`answered before the kill: ${doneAtKill}; retried after "try again later": ${retried}`);
    await assertAttached(containers);

    const dels = await Promise.all(containers.map((c) => withRetry(() => runPlugin(CLIENT, envFor('DEL', c.id, c.ns), conf()))));
    assert.deepEqual(dels.filter((r) => r.run.code !== 0).map((r) => r.run.stdout), []);
    await assertClean();
    for (const c of containers) await c.ns.delete();
  });
});
