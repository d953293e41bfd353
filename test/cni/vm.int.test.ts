/**
 * VMs, OpenStack style: the orchestrator created the host interface (a tap, or a veth whose far
 * end is the VM's NIC) and asks the agent for an endpoint on it over the same socket, with curl
 * as docs/cni.md shows. The agent assigns the address, routes it, writes the WorkloadEndpoint and
 * answers; DEL takes all that back and leaves the interface.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { run, type TestNetns } from '../harness/netns.ts';
import { CLIENT, runPlugin } from './binary.ts';
import { startBed, type Bed } from './bed.ts';

let bed: Bed;
before(async () => {
  bed = await startBed();
});
after(async () => {
  await bed?.close();
});

/** What an orchestrator runs: `curl --unix-socket <sock> -d @request.json http://margay/v1/endpoints`. */
async function endpoints(request: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const res = await run('curl', ['-sS', '--unix-socket', bed.socket, '-w', '\n%{http_code}', '--data-binary', '@-', 'http://margay/v1/endpoints'], { input: JSON.stringify(request) });
  const at = res.stdout.lastIndexOf('\n');
  const text = res.stdout.slice(0, at).trim();
  return { status: Number(res.stdout.slice(at + 1)), body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

async function hostRoutes(dev: string): Promise<string[]> {
  const v4 = JSON.parse((await run('ip', ['-n', bed.host.name, '-j', 'route', 'show', 'dev', dev])).stdout) as { dst: string }[];
  const v6 = JSON.parse((await run('ip', ['-n', bed.host.name, '-6', '-j', 'route', 'show', 'dev', dev, 'proto', '77'])).stdout) as { dst: string }[];
  return [...v4, ...v6].map((r) => r.dst);
}

describe('VM endpoints on interfaces the orchestrator created', () => {
  it('a tap: ADD routes it and registers it; DEL removes that and leaves the tap', async () => {
    await run('ip', ['-n', bed.host.name, 'tuntap', 'add', 'dev', 'tap1a2b3c4d-5e', 'mode', 'tap']);
    const req = { interfaceName: 'tap1a2b3c4d-5e', orchestrator: 'openstack', workload: 'instance-0001', endpoint: 'port-1', namespace: 'tenant-a', mac: 'fa:16:3e:12:34:56', labels: { app: 'db' }, assignIpv6: true };
    const add = await endpoints({ command: 'ADD', ...req });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    const ips = add.body!.ips as string[];
    assert.equal(ips.length, 2);
    const gw = add.body!.gateways as { ipv4: string; ipv6: string };
    assert.equal(gw.ipv4, '169.254.1.1');
    assert.match(gw.ipv6, /^fe80::/);
    assert.deepEqual((await hostRoutes('tap1a2b3c4d-5e')).sort(), ips.map((i) => i.split('/')[0]!).sort());
    const proxyArp = await run('ip', ['netns', 'exec', bed.host.name, 'cat', '/proc/sys/net/ipv4/conf/tap1a2b3c4d-5e/proxy_arp']);
    assert.equal(proxyArp.stdout.trim(), '1');
    const name = (add.body!.endpoint as { name: string }).name;
    const wep = await bed.store.get(workloadEndpointKind, name, 'tenant-a');
    assert.deepEqual((wep?.spec as { ipNetworks: string[] }).ipNetworks, ips);
    assert.equal((wep?.spec as { orchestrator: string }).orchestrator, 'openstack');

    const del = await endpoints({ command: 'DEL', ...req });
    assert.equal(del.status, 200);
    assert.deepEqual(await hostRoutes('tap1a2b3c4d-5e'), []);
    assert.equal(await bed.store.get(workloadEndpointKind, name, 'tenant-a'), undefined);
    assert.deepEqual(await bed.ipam.ipsByHandle('vm.instance-0001.port-1'), []);
    await run('ip', ['-n', bed.host.name, 'link', 'show', 'tap1a2b3c4d-5e']);
    await run('ip', ['-n', bed.host.name, 'link', 'del', 'tap1a2b3c4d-5e']);
  });

  it('a VM NIC reaches a container through the host, with the address and gateway from the answer', async () => {
    // The "VM": a namespace whose NIC is a veth; its host end was made by the orchestrator.
    const vmNs: TestNetns = await bed.container();
    await run('ip', ['-n', bed.host.name, 'link', 'add', 'tapvm2', 'type', 'veth', 'peer', 'name', 'ens3', 'netns', vmNs.name]);
    const add = await endpoints({ command: 'ADD', interfaceName: 'tapvm2', workload: 'vm2', mac: 'fa:16:3e:00:00:02' });
    assert.equal(add.status, 200, JSON.stringify(add.body));
    const vmIp = (add.body!.ips as string[])[0]!;
    // The guest configures what it was told (cloud-init / config drive would do this).
    for (const args of [['addr', 'add', vmIp, 'dev', 'ens3'], ['link', 'set', 'ens3', 'up'], ['route', 'add', '169.254.1.1', 'dev', 'ens3', 'scope', 'link'], ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'ens3']]) {
      await run('ip', ['-n', vmNs.name, ...args]);
    }
    const c = await bed.container();
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'mnet', type: 'margay', agent_socket: bed.socket });
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'vmpeer', CNI_NETNS: `/run/netns/${c.name}`, CNI_IFNAME: 'eth0', CNI_PATH: bed.cniPath };
    const ctr = await runPlugin(CLIENT, env, conf);
    assert.equal(ctr.code, 0, ctr.stdout);
    const ctrIp = (ctr.json!.ips as { address: string }[])[0]!.address.split('/')[0]!;
    await vmNs.exec('ping', ['-c1', '-W2', ctrIp]);
    await c.exec('ping', ['-c1', '-W2', vmIp.split('/')[0]!]);
    assert.equal((await runPlugin(CLIENT, { ...env, CNI_COMMAND: 'DEL' }, conf)).code, 0);
    assert.equal((await endpoints({ command: 'DEL', interfaceName: 'tapvm2', workload: 'vm2' })).status, 200);
  });

  it('an interface that does not exist: an error and nothing left', async () => {
    const add = await endpoints({ command: 'ADD', interfaceName: 'tapmissing', workload: 'vm3' });
    assert.notEqual(add.status, 200);
    assert.equal(add.body!.code, 5);
    assert.deepEqual(await bed.ipam.ipsByHandle('vm.vm3.eth0'), []);
  });
});
