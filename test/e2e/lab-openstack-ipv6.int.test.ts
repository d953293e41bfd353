/**
 * IPv6 for OpenStack VMs on the lab: a 2-host dual-stack lab with Neutron, a dual-stack network
 * (an IPv4 subnet, and an IPv6 `slaac` subnet inside the lab's IPv6 pool so its /128s are
 * announced over BGP). Real VMs on different hosts get their IPv4 address by DHCP and their IPv6
 * address (Neutron's EUI-64 one) by router advertisements from their host's dnsmasq, ping each
 * other over IPv6 across hosts, and a security group rule with ethertype IPv6 decides whether they may.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labUp } from '../../src/lab/lab.ts';
import { NeutronApi } from '../../src/lab/openstack/neutron-api.ts';
import { readState } from '../../src/lab/state.ts';
import { standInSubnet } from '../../src/lab/vm/direct-port.ts';
import { vmAdd, vmExec } from '../../src/lab/vm/vms.ts';
import { eventually } from '../harness/wait.ts';
import { useOpenStackLab } from './openstack-diagnostics.ts';

type Json = Record<string, any>;
const { ctx, passed } = useOpenStackLab('margay-lab-ipv6-');

/** The port's IPv6 fixed IP. */
async function ipv6Of(api: NeutronApi, name: string): Promise<string> {
  const port = (await api.list<Json>('port', `name=${name}`))[0]!;
  return port.fixed_ips.map((f: Json) => f.ip_address as string).find((a: string) => a.includes(':'))!;
}

/** True when `from` gets an ICMPv6 echo answered by `to` (one try, 2 s). */
async function ping6(from: string, to: string): Promise<boolean> {
  return (await vmExec(ctx, from, `ping -6 -c 1 -W 2 ${to} >/dev/null 2>&1`)).code === 0;
}

describe('lab - OpenStack IPv6: router advertisements, SLAAC, IPv6 across hosts, IPv6 security groups', () => {
  test('dual-stack VMs', { timeout: 900_000 }, async () => {
    await labUp({ hosts: 2, router: false, ipv6: true, openstack: true }, ctx);
    const state = readState(ctx.dir)!;
    const api = new NeutronApi({ url: state.openstack!.url });
    const pool6 = state.plan.ranges.pool6!;
    // The last /64 of the lab's IPv6 pool (/48): its VM addresses are announced, as with IPv4.
    const cidr6 = `${pool6.split('::')[0]}:ffff::/64`;
    const network = await api.create<Json>('network', { name: 'n6' });
    await api.create<Json>('subnet', { network_id: network.id, cidr: standInSubnet(state).cidr, ip_version: 4 });
    await api.create<Json>('subnet', { network_id: network.id, cidr: cidr6, ip_version: 6, ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' });
    const sg = await api.create<Json>('security_group', { name: 'v6' });
    const rule = await api.create<Json>('security_group_rule', { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv6', protocol: 'ipv6-icmp', remote_group_id: sg.id });

    await vmAdd(ctx, { name: 'a', host: 'host-1', network: 'n6', securityGroups: ['v6'], standIn: false });
    await vmAdd(ctx, { name: 'b', host: 'host-2', network: 'n6', securityGroups: ['v6'], standIn: false });
    const [a6, b6] = [await ipv6Of(api, 'a'), await ipv6Of(api, 'b')];
    assert.ok(a6.startsWith(cidr6.split('::')[0]!) && b6.startsWith(cidr6.split('::')[0]!), `${a6} ${b6} in ${cidr6}`);

    // Each VM formed exactly the address Neutron gave its port (EUI-64 of the MAC), by SLAAC.
    for (const [vm, ip] of [['a', a6], ['b', b6]] as const) {
      await eventually(async () => (await vmExec(ctx, vm, 'ip -6 addr show dev eth0')).output.includes(`${ip}/64`), { timeoutMs: 60_000, intervalMs: 1000, what: `VM ${vm}'s SLAAC address ${ip}` });
    }
    // Across hosts over IPv6, allowed by the IPv6 rule (first contacts may need neighbour discovery).
    await eventually(() => ping6('a', b6), { timeoutMs: 60_000, intervalMs: 1000, what: 'a → b over IPv6' });
    await eventually(() => ping6('b', a6), { timeoutMs: 60_000, intervalMs: 1000, what: 'b → a over IPv6' });
    // Without it, ingress ICMPv6 echo is denied (Neutron's default ingress deny).
    await api.remove('security_group_rule', rule.id);
    await eventually(async () => !(await ping6('a', b6)), { timeoutMs: 60_000, intervalMs: 1000, what: 'a → b denied without the IPv6 rule' });
    assert.equal(await ping6('b', a6), false);
    passed();
  });
});
