/**
 * podman 4.3 (CNI backend, busybox root filesystem) starts containers on Margay networks, with the
 * real agent programming policy: addresses from the pool, WorkloadEndpoints in etcd, the policy
 * already in force on each container's first packet, and `podman rm` removing every trace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { run } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { startBed, type Bed } from './bed.ts';
import { POLICIES, roleNetworks } from './policy-fixtures.ts';
import { busyboxRootfs, pluginDirs, Podman } from './runtimes.ts';

let bed: Bed;
let podman: Podman;
let rootfs: string;

before(async () => {
  bed = await startBed({ agent: true, resources: POLICIES });
  roleNetworks(bed);
  rootfs = busyboxRootfs(bed.dir);
  podman = new Podman(bed.dir, { hostNetns: bed.host.name, netconfDir: bed.netconfDir, pluginDirs: pluginDirs() });
});

after(async () => {
  await podman?.destroy();
  await bed?.close();
});

async function ipOf(name: string, network: string): Promise<string> {
  const res = await podman.run(['inspect', name, '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`]);
  return res.stdout.trim();
}

async function toWorkloadMap(): Promise<string> {
  const res = await run('ip', ['netns', 'exec', bed.host.name, 'nft', 'list', 'map', 'inet', 'margay', 'to-wl'], { allowFail: true });
  return res.stdout;
}

describe('podman on a Margay network', () => {
  it('containers get pool addresses and endpoints, and policy holds from the first packet', async () => {
    await podman.run(['run', '-d', '--name', 'srv', '--network', 'margay-server', '--rootfs', rootfs, '/bin/sh', '-c', 'sleep 600']);
    const srvIp = await ipOf('srv', 'margay-server');
    assert.match(srvIp, /^10\.244\.\d+\.\d+$/);
    const srvId = (await podman.run(['inspect', 'srv', '--format', '{{.Id}}'])).stdout.trim();
    const weps = (await bed.store.list(workloadEndpointKind)).items;
    const srvWep = weps.find((w) => (w.spec as { containerID: string }).containerID === srvId);
    assert.ok(srvWep, 'the server has a WorkloadEndpoint');
    assert.deepEqual((srvWep.spec as { ipNetworks: string[] }).ipNetworks, [`${srvIp}/32`]);
    assert.equal(srvWep.metadata.labels?.role, 'server');
    assert.deepEqual(await bed.ipam.ipsByHandle(`margay-server.${srvId}`), [srvIp]);

    // A client's very first packet to the server is allowed (its endpoint was programmed before it ran)…
    await podman.run([
      'run', '-d', '--name', 'cli', '--network', 'margay-client', '--rootfs', rootfs,
      '/bin/sh', '-c', `if ping -c1 -W2 ${srvIp} >/dev/null; then echo FIRST-OK; else echo FIRST-BLOCKED; fi; sleep 600`,
    ]);
    const cliIp = await ipOf('cli', 'margay-client');
    await eventually(async () => /FIRST-/.test((await podman.run(['logs', 'cli'])).stdout), { timeoutMs: 20_000, intervalMs: 200 });
    assert.match((await podman.run(['logs', 'cli'])).stdout, /FIRST-OK/);

    // …and a server's very first packet to the client is already denied (default deny).
    const probe = await podman.run([
      'run', '--rm', '--name', 'srv-probe', '--network', 'margay-server', '--rootfs', rootfs,
      '/bin/sh', '-c', `if ping -c1 -W2 ${cliIp} >/dev/null; then echo FIRST-OK; else echo FIRST-BLOCKED; fi`,
    ]);
    assert.match(probe.stdout, /FIRST-BLOCKED/);
    // Running containers keep obeying it.
    assert.equal((await podman.run(['exec', 'srv', 'ping', '-c1', '-W1', cliIp], { allowFail: true })).code !== 0, true);
    assert.equal((await podman.run(['exec', 'cli', 'ping', '-c1', '-W1', srvIp], { allowFail: true })).code, 0);
  });

  it('removing the containers removes every trace: veth, endpoint, allocation, rules', async () => {
    await podman.run(['rm', '-f', '-t', '0', 'srv', 'cli']);
    assert.deepEqual(await bed.hostVeths(), []);
    assert.deepEqual((await bed.store.list(workloadEndpointKind)).items.map((w) => w.metadata.name), []);
    const snap = await bed.ipam.snapshot();
    assert.deepEqual([...snap.handles.keys()].filter((h) => h.startsWith('margay-')), []);
    const routes = JSON.parse((await run('ip', ['-n', bed.host.name, '-j', 'route', 'show', 'proto', '77'])).stdout) as { type?: string }[];
    assert.deepEqual(routes.filter((r) => r.type !== 'blackhole'), []);
    await eventually(async () => !(await toWorkloadMap()).includes('cali'), { timeoutMs: 20_000, intervalMs: 100, what: 'endpoint rules removed' });
  });
});
