/**
 * containerd 1.6 (`ctr run --cni`, busybox root filesystem) starts containers on a Margay
 * network, with the real agent programming policy: addresses from the pool, WorkloadEndpoints in
 * etcd, the policy already in force on each container's first packet, and stopping the containers
 * (ctr runs CNI DEL) removing every trace.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import type { Resource } from '../../src/api/resource.ts';
import { run } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { startBed, type Bed } from './bed.ts';
import { POLICIES } from './policy-fixtures.ts';
import { busyboxRootfs, Containerd, pluginDirs } from './runtimes.ts';

let bed: Bed;
let client: Containerd;
let server: Containerd;

/** ctr takes the first network in /etc/cni/net.d: one containerd per role, each with its own view. */
before(async () => {
  bed = await startBed({ agent: true, resources: POLICIES });
  const rootfs = busyboxRootfs(bed.dir);
  const conflist = (role: string) =>
    JSON.stringify({ cniVersion: '1.0.0', name: `ctr-${role}`, plugins: [{ type: 'margay', agent_socket: bed.socket, args: { cni: { labels: [{ key: 'role', value: role }] } } }] });
  for (const role of ['client', 'server']) mkdirSync(join(bed.dir, `ctrd-${role}`));
  server = await Containerd.start(join(bed.dir, 'ctrd-server'), { hostNetns: bed.host.name, rootfs, conflist: conflist('server'), pluginDirs: pluginDirs() });
  client = await Containerd.start(join(bed.dir, 'ctrd-client'), { hostNetns: bed.host.name, rootfs, conflist: conflist('client'), pluginDirs: pluginDirs() });
});

after(async () => {
  await client?.destroy();
  await server?.destroy();
  await bed?.close();
});

async function endpointOf(containerId: string): Promise<Resource> {
  return eventually(
    async () => {
      const wep = (await bed.store.list(workloadEndpointKind)).items.find((w) => (w.spec as { containerID: string }).containerID === containerId);
      if (!wep) throw new Error(`no WorkloadEndpoint for ${containerId}`);
      return wep;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
}

describe('containerd (ctr run --cni) on a Margay network', () => {
  it('containers get pool addresses and endpoints, and policy holds from the first packet', async () => {
    const srv = server.runContainer('srv', ['/bin/sh', '-c', 'sleep 600']);
    const srvWep = await endpointOf('default-srv');
    const srvIp = (srvWep.spec as { ipNetworks: string[] }).ipNetworks[0]!.replace('/32', '');
    assert.match(srvIp, /^10\.244\.\d+\.\d+$/);
    assert.equal(srvWep.metadata.labels?.role, 'server');
    assert.deepEqual(await bed.ipam.ipsByHandle(`ctr-server.default-srv`), [srvIp]);
    await eventually(async () => (await server.taskPid('srv')) !== undefined, { timeoutMs: 30_000 });

    // The client's first packet (its first command) reaches the server…
    const cli = client.runContainer('cli', ['/bin/sh', '-c', `if ping -c1 -W2 ${srvIp} >/dev/null; then echo FIRST-OK; else echo FIRST-BLOCKED; fi; ip -4 -o addr show eth0; sleep 600`]);
    await eventually(() => /FIRST-/.test(cli.output()), { timeoutMs: 60_000, intervalMs: 100, what: `client output (${cli.output()})` });
    assert.match(cli.output(), /FIRST-OK/);
    const cliWep = await endpointOf('default-cli');
    const cliIp = (cliWep.spec as { ipNetworks: string[] }).ipNetworks[0]!.replace('/32', '');
    await eventually(() => cli.output().includes(`inet ${cliIp}/32`), { timeoutMs: 10_000 });

    // …and a new server container's first packet to the client is already denied.
    const probe = server.runContainer('srv-probe', ['/bin/sh', '-c', `if ping -c1 -W2 ${cliIp} >/dev/null; then echo FIRST-OK; else echo FIRST-BLOCKED; fi`]);
    assert.equal(await probe.exited, 0);
    assert.match(probe.output(), /FIRST-BLOCKED/);

    // Running containers keep obeying it (ctr task exec: no CNI involved).
    const again = await client.ctr(['task', 'exec', '--exec-id', 'p1', 'cli', '/bin/ping', '-c1', '-W1', srvIp], { allowFail: true });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.notEqual((await server.ctr(['task', 'exec', '--exec-id', 'p2', 'srv', '/bin/ping', '-c1', '-W1', cliIp], { allowFail: true })).code, 0);
    void srv;
  });

  it('stopping the containers removes every trace: veth, endpoint, allocation, rules', async () => {
    await client.stop('cli');
    await server.stop('srv');
    assert.deepEqual(await bed.hostVeths(), []);
    assert.deepEqual((await bed.store.list(workloadEndpointKind)).items.map((w) => w.metadata.name), []);
    const snap = await bed.ipam.snapshot();
    assert.deepEqual([...snap.handles.keys()].filter((h) => h.startsWith('ctr-')), []);
    const routes = JSON.parse((await run('ip', ['-n', bed.host.name, '-j', 'route', 'show', 'proto', '77'])).stdout) as { type?: string }[];
    assert.deepEqual(routes.filter((r) => r.type !== 'blackhole'), []);
    await eventually(
      async () => !(await run('ip', ['netns', 'exec', bed.host.name, 'nft', 'list', 'map', 'inet', 'margay', 'to-wl'], { allowFail: true })).stdout.includes('cali'),
      { timeoutMs: 20_000, intervalMs: 100, what: 'endpoint rules removed' },
    );
  });
});
