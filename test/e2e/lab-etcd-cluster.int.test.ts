/**
 * The lab on a 3-member etcd cluster losing a member: the leader is SIGKILLed; agents stay ready,
 * a policy written afterwards is enforced, and a new pod still gets its address and endpoint
 * through the CNI plugin (IPAM and endpoint writes need a quorum). Then the member comes back.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { exec } from '../../src/os/mod.ts';
import { startLabEtcd } from '../../src/lab/etcd.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { applyManifests, labDown, labUp, podAdd, probe, type LabContext } from '../../src/lab/lab.ts';
import { isRunning } from '../../src/lab/processes.ts';
import { readState, writeState } from '../../src/lab/state.ts';
import { eventually } from '../harness/wait.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-etcd-')), progress: () => undefined };
after(async () => {
  await labDown(ctx);
});

/** The role (`etcd lab-N`) of the current leader, from etcd itself. */
async function leaderRole(endpoints: string): Promise<string> {
  const res = await exec('etcdctl', ['--endpoints', endpoints, 'endpoint', 'status', '-w', 'json'], { allowFail: true });
  const statuses = JSON.parse(res.stdout) as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
  const leader = statuses.find((s) => s.Status.header.member_id === s.Status.leader);
  assert.ok(leader, `a leader among ${res.stdout}`);
  return `etcd lab-${/client-(\d+)\.sock/.exec(leader.Endpoint)![1]}`;
}

describe('lab - a 3-member etcd cluster losing a member', () => {
  test('the leader killed: agents stay ready, policy changes and new pods still work, the member rejoins', async () => {
    const state = await labUp({ hosts: 2, router: false, ipv6: false, etcdMembers: 3 }, ctx);
    assert.equal(state.etcdEndpoint.split(',').length, 3);
    assert.equal(state.processes.filter((p) => p.role.startsWith('etcd ')).length, 3);
    const a = await podAdd(ctx, { namespace: 'x', name: 'a', host: 'host-1', labels: { pod: 'a' }, serve: [{ port: 80, protocol: 'tcp' }] });
    const b = await podAdd(ctx, { namespace: 'x', name: 'b', host: 'host-2', labels: { pod: 'b' }, serve: [{ port: 80, protocol: 'tcp' }] });
    assert.equal((await probe(a.netns, b.addresses[0]!, { port: 80, protocol: 'tcp' })).ok, true, 'x/a → x/b before');

    const role = await leaderRole(state.etcdEndpoint);
    const leader = state.processes.find((p) => p.role === role)!;
    process.kill(leader.pid, 'SIGKILL');
    await eventually(() => !isRunning(leader), { what: 'the leader to die' });

    await applyManifests(state, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-b, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Ingress]\n');
    await eventually(async () => !(await probe(a.netns, b.addresses[0]!, { port: 80, protocol: 'tcp' }, 500)).ok, { what: 'the policy written after the loss enforced on host-2', timeoutMs: 30_000, intervalMs: 250 });

    const c = await podAdd(ctx, { namespace: 'x', name: 'c', host: 'host-2', labels: { pod: 'c' }, serve: [{ port: 80, protocol: 'tcp' }] });
    assert.equal(c.addresses.length, 1, 'a new pod gets an address with two members of three');
    assert.equal((await probe(a.netns, c.addresses[0]!, { port: 80, protocol: 'tcp' }, 1000)).ok, true, 'and is reachable across hosts');
    for (const netns of ['mgl-host-1', 'mgl-host-2']) {
      const ready = await exec('curl', ['-sf', '-m', '2', 'http://127.0.0.1:9099/readiness'], { netns, allowFail: true });
      assert.equal(ready.code, 0, `the agent of ${netns} is still ready`);
    }

    // The member comes back on its data and catches up.
    const [restarted] = await startLabEtcd(ctx.dir, { members: 3, only: role });
    const now = readState(ctx.dir)!;
    now.processes = now.processes.map((p) => (p.role === role ? restarted! : p));
    writeState(ctx.dir, now);
    const health = await exec('etcdctl', ['--endpoints', state.etcdEndpoint, 'endpoint', 'health'], { allowFail: true });
    assert.equal(health.code, 0, health.stdout + health.stderr);
  });

  test('down removes every namespace and process of the cluster lab', async () => {
    const state = readState(ctx.dir)!;
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
    for (const p of state.processes) assert.equal(isRunning(p), false, `${p.role} stopped`);
  });
});
