/**
 * Issue 16's acceptance on the lab: a 3-host lab with a real neutron-server and Margay's driver;
 * real VMs (QEMU microvms) on different hosts get their port's address by DHCP, reach each other
 * over BGP routes, and security groups hold with Neutron's semantics — ingress denied unless a
 * rule allows it (also inside one group), remote-group and remote-CIDR rules, egress allowed by the
 * default rules and denied without them — with every probe agreeing with `policy matrix`; the
 * network's MTU on the taps and, by DHCP, in the VMs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labUp } from '../../src/lab/lab.ts';
import { NeutronApi } from '../../src/lab/openstack/neutron-api.ts';
import { readState } from '../../src/lab/state.ts';
import { standInSubnet } from '../../src/lab/vm/direct-port.ts';
import { vmConnectivity } from '../../src/lab/vm/connectivity.ts';
import { vmAdd, vmExec } from '../../src/lab/vm/vms.ts';
import { exec } from '../../src/os/mod.ts';
import { eventually } from '../harness/wait.ts';
import { useOpenStackLab } from './openstack-diagnostics.ts';

type Json = Record<string, any>;
const { ctx, passed } = useOpenStackLab('margay-lab-neutron-');

/** `from>to` → allowed, for every ordered pair, as probed (and checked against the matrix). */
async function observed(): Promise<Record<string, boolean>> {
  const report = await vmConnectivity(ctx);
  assert.equal(report.mismatches, 0, `probes disagree with policy matrix: ${JSON.stringify(report.cells.filter((c) => c.expected !== c.observed))}`);
  return Object.fromEntries(report.cells.filter((c) => c.from !== c.to).map((c) => [`${c.from}>${c.to}`, c.observed === 'allow']));
}

async function expectMatrix(want: Record<string, boolean>, what: string): Promise<void> {
  await eventually(async () => assert.deepEqual(await observed(), want, what), { timeoutMs: 60_000, intervalMs: 1000 });
}

describe('lab - OpenStack with Neutron: real VMs, DHCP, BGP, security groups', () => {
  // Issue 16: the driver writes its policies straight into etcd and no `default` Tier existed, so the
  // agents applied none of them (default deny) while `policy matrix` assumed the built-in tiers; the
  // calculation graph now always has the built-in tiers.
  test('acceptance', { timeout: 900_000 }, async () => {
    await labUp({ hosts: 3, router: false, ipv6: false, openstack: true }, ctx);
    const state = readState(ctx.dir)!;
    const api = new NeutronApi({ url: state.openstack!.url });
    // A subnet inside the lab's pool, so that its VM addresses are announced (as Calico needs a pool per subnet).
    const cidr = standInSubnet(state).cidr;
    // The network's MTU reaches the tap (as nova sets it) and the VM (DHCP option 26).
    const network = await api.create<Json>('network', { name: 'n1', mtu: 1400 });
    await api.create<Json>('subnet', { network_id: network.id, cidr, ip_version: 4, dns_nameservers: ['192.0.2.53'] });
    const web = await api.create<Json>('security_group', { name: 'web' });
    const client = await api.create<Json>('security_group', { name: 'client' });

    const a = await vmAdd(ctx, { name: 'a', host: 'host-1', network: 'n1', securityGroups: ['web'], standIn: false });
    const b = await vmAdd(ctx, { name: 'b', host: 'host-2', network: 'n1', securityGroups: ['web'], standIn: false });
    const c = await vmAdd(ctx, { name: 'c', host: 'host-3', network: 'n1', securityGroups: ['client'], standIn: false });
    for (const { vm, timings } of [a, b, c]) console.log(`# VM ${vm.name} on ${vm.host}: ${vm.address}, DHCP after ${timings.dhcpMs.toFixed(0)} ms, serving after ${timings.readyMs.toFixed(0)} ms`);
    assert.ok([a, b, c].every(({ vm }) => vm.portSource === 'neutron'));
    const host1 = state.plan.hosts.find((h) => h.name === 'host-1')!;
    assert.match((await exec('ip', ['-n', host1.netns, '-o', 'link', 'show', a.vm.tap])).stdout, / mtu 1400 /);
    assert.equal((await vmExec(ctx, 'a', 'cat /sys/class/net/eth0/mtu')).output, '1400');

    // Neutron's defaults: egress allowed, ingress denied — also between members of one group.
    await expectMatrix({ 'a>b': false, 'a>c': false, 'b>a': false, 'b>c': false, 'c>a': false, 'c>b': false }, 'default: no ingress');
    // A remote-group rule: web's members reach each other on 80/tcp.
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_group_id: web.id });
    await expectMatrix({ 'a>b': true, 'a>c': false, 'b>a': true, 'b>c': false, 'c>a': false, 'c>b': false }, 'remote group web');
    // A remote-CIDR rule: c's address may reach web too.
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_ip_prefix: `${c.vm.address}/32` });
    await expectMatrix({ 'a>b': true, 'a>c': false, 'b>a': true, 'b>c': false, 'c>a': true, 'c>b': true }, 'remote CIDR of c');
    // Without its egress rule, c sends nothing.
    const egress = (await api.list<Json>('security_group_rule', `security_group_id=${client.id}&direction=egress&ethertype=IPv4`))[0]!;
    await api.remove('security_group_rule', egress.id);
    await expectMatrix({ 'a>b': true, 'a>c': false, 'b>a': true, 'b>c': false, 'c>a': false, 'c>b': false }, 'no egress from c');
    passed();
  });
});
