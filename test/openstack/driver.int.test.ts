/**
 * Margay's ML2 driver inside a real neutron-server on a real etcd: ports become WorkloadEndpoints,
 * security groups NetworkPolicies, subnets DHCP data in networking-calico's layout; updates and
 * deletes follow; ports on hosts without a Margay agent are not bound; what Margay cannot express
 * is refused by Neutron with the reason, and nothing of it is written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { NeutronApiError } from '../../src/lab/openstack/neutron-api.ts';
import { etcdctl } from '../harness/etcd.ts';
import { addNetwork, addNode, addPort, getPolicy, getWep, until, useOpenStack } from './bed.ts';

type Json = Record<string, any>;

describe('OpenStack driver: Neutron → etcd', () => {
  const os = useOpenStack();
  let net: { network: Json; subnet: Json };

  it('binds a port on a Margay host and writes its WorkloadEndpoint', async () => {
    const { api, store } = os.bed;
    await addNode(store, 'host-1');
    net = await addNetwork(api, '10.80.0.0/24', { dns_nameservers: ['10.80.0.53'] });
    const sg = await api.create<Json>('security_group', { name: 'web' });
    const port = await addPort(api, net.network, 'host-1', { security_groups: [sg.id], allowed_address_pairs: [{ ip_address: '10.80.0.200' }] });
    assert.equal(port['binding:vif_type'], 'tap');
    const wep = await until(() => getWep(store, port), Boolean, 'the endpoint');
    const spec = wep!.spec as Json;
    assert.equal(spec.orchestrator, 'openstack');
    assert.equal(spec.node, 'host-1');
    assert.equal(spec.endpoint, port.id);
    assert.equal(spec.interfaceName, `tap${port.id.slice(0, 11)}`);
    assert.equal(spec.mac, port.mac_address);
    assert.deepEqual(spec.ipNetworks, [`${port.fixed_ips[0].ip_address}/32`, '10.80.0.200/32']);
    assert.equal(spec.ipv4Gateway, '10.80.0.1');
    assert.equal(wep!.metadata.labels![`sg.projectcalico.org/openstack-${sg.id}`], '');
    assert.equal(wep!.metadata.annotations!['openstack.projectcalico.org/network-id'], net.network.id);
  });

  it('writes each DHCP subnet in networking-calico\'s layout and follows its updates', async () => {
    const { api, etcd } = os.bed;
    const key = `/calico/dhcp/v2/no-region/subnet/${net.subnet.id}`;
    const read = async () => {
      const text = etcdctl(etcd.endpoints, ['get', key, '--print-value-only']).trim();
      return text ? JSON.parse(text) as Json : undefined;
    };
    // networking-calico's fields, plus the network's MTU (a Margay addition: DHCP option 26).
    assert.equal(typeof net.network.mtu, 'number');
    assert.deepEqual(await read(), { network_id: net.network.id, cidr: '10.80.0.0/24', host_routes: [], gateway_ip: '10.80.0.1', dns_servers: ['10.80.0.53'], mtu: net.network.mtu });
    await api.update('network', net.network.id, { mtu: 1400 });
    await until(read, (v) => v?.mtu === 1400, "the network's new MTU");
    await api.update('subnet', net.subnet.id, { host_routes: [{ destination: '10.90.0.0/16', nexthop: '10.80.0.254' }] });
    await until(read, (v) => v?.host_routes?.length === 1, 'the host route');
    await api.update('subnet', net.subnet.id, { enable_dhcp: false });
    await until(read, (v) => v === undefined, 'the subnet gone with DHCP off');
    await api.update('subnet', net.subnet.id, { enable_dhcp: true });
    await until(read, (v) => v?.cidr === '10.80.0.0/24', 'the subnet back');
  });

  it('turns a security group into a policy: remote groups as selectors, CIDRs as nets, both directions, ports, ICMP, IPv6', async () => {
    const { api, store } = os.bed;
    const sg = await api.create<Json>('security_group', { name: 'db' });
    const other = await api.create<Json>('security_group', { name: 'app' });
    const rule = (fields: Json) => api.create<Json>('security_group_rule', { security_group_id: sg.id, ...fields });
    await rule({ direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 5432, port_range_max: 5432, remote_group_id: other.id });
    await rule({ direction: 'ingress', ethertype: 'IPv4', protocol: 'udp', port_range_min: 1000, port_range_max: 2000, remote_ip_prefix: '192.0.2.0/24' });
    await rule({ direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp', port_range_min: 8, port_range_max: 0 });
    await rule({ direction: 'ingress', ethertype: 'IPv6', protocol: 'ipv6-icmp' });
    await rule({ direction: 'egress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 443, port_range_max: 443, remote_ip_prefix: '198.51.100.0/24' });
    const policy = await until(() => getPolicy(store, sg.id), (p) => ((p?.spec as Json)?.ingress ?? []).length === 4 && (p?.spec as Json).egress.length === 3, 'the policy with every rule');
    const spec = policy!.spec as Json;
    assert.equal(spec.selector, `has(sg.projectcalico.org/openstack-${sg.id})`);
    assert.deepEqual(spec.types, ['Ingress', 'Egress']);
    const has = (list: Json[], want: Json) => assert.ok(list.some((r) => isDeepStrictEqual(r, want)), `${JSON.stringify(want)} in ${JSON.stringify(list)}`);
    has(spec.ingress, { action: 'Allow', destination: { ports: [5432] }, ipVersion: 4, protocol: 'TCP', source: { selector: `has(sg.projectcalico.org/openstack-${other.id})` } });
    has(spec.ingress, { action: 'Allow', destination: { ports: ['1000:2000'] }, ipVersion: 4, protocol: 'UDP', source: { nets: ['192.0.2.0/24'] } });
    has(spec.ingress, { action: 'Allow', icmp: { code: 0, type: 8 }, ipVersion: 4, protocol: 'ICMP' });
    has(spec.ingress, { action: 'Allow', ipVersion: 6, protocol: 'ICMPv6' });
    has(spec.egress, { action: 'Allow', destination: { nets: ['198.51.100.0/24'], ports: [443] }, ipVersion: 4, protocol: 'TCP' });
    // Neutron's default egress rules (any, both families) are in the policy too.
    has(spec.egress, { action: 'Allow', ipVersion: 4 });
    has(spec.egress, { action: 'Allow', ipVersion: 6 });
  });

  it('follows port, rule and group updates and deletes', async () => {
    const { api, store } = os.bed;
    const a = await api.create<Json>('security_group', { name: 'a' });
    const b = await api.create<Json>('security_group', { name: 'b' });
    const port = await addPort(api, net.network, 'host-1', { security_groups: [a.id] });
    await until(() => getWep(store, port), (w) => Boolean(w?.metadata.labels?.[`sg.projectcalico.org/openstack-${a.id}`] === ''), 'label of a');
    await api.update('port', port.id, { security_groups: [b.id] });
    const wep = await until(() => getWep(store, port), (w) => w?.metadata.labels?.[`sg.projectcalico.org/openstack-${b.id}`] === '', 'label of b');
    assert.equal(wep!.metadata.labels![`sg.projectcalico.org/openstack-${a.id}`], undefined);
    const r = await api.create<Json>('security_group_rule', { security_group_id: b.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 22, port_range_max: 22 });
    await until(() => getPolicy(store, b.id), (p) => (p?.spec as Json)?.ingress?.length === 1, 'the new rule');
    await api.remove('security_group_rule', r.id);
    await until(() => getPolicy(store, b.id), (p) => (p?.spec as Json)?.ingress?.length === 0, 'the rule gone');
    await api.remove('port', port.id);
    await until(() => getWep(store, port), (w) => w === undefined, 'the endpoint gone');
    await api.remove('security_group', a.id);
    await until(() => getPolicy(store, a.id), (p) => p === undefined, 'the policy gone');
  });

  it('moves the endpoint when the port moves to another host, and removes it when unbound', async () => {
    const { api, store } = os.bed;
    await addNode(store, 'host-2');
    const port = await addPort(api, net.network, 'host-1');
    await until(() => getWep(store, port), Boolean, 'the endpoint on host-1');
    const moved = await api.update<Json>('port', port.id, { 'binding:host_id': 'host-2' });
    await until(() => getWep(store, moved), Boolean, 'the endpoint on host-2');
    assert.equal(await getWep(store, port), undefined);
    await api.update('port', port.id, { 'binding:host_id': '' });
    await until(() => getWep(store, moved), (w) => w === undefined, 'the endpoint gone when unbound');
  });

  it('does not bind a port on a host without a Margay agent (Neutron reports binding_failed)', async () => {
    const { api, store } = os.bed;
    const port = await addPort(api, net.network, 'host-without-agent');
    assert.equal(port['binding:vif_type'], 'binding_failed');
    assert.equal((await api.get<Json>('port', port.id))['binding:vif_type'], 'binding_failed');
    assert.equal(await getWep(store, port), undefined);
  });

  it('refuses a rule Margay cannot express, with the reason, and writes nothing of it', async () => {
    const { api, store } = os.bed;
    const sg = await api.create<Json>('security_group', { name: 'strict' });
    const before = await until(() => getPolicy(store, sg.id), Boolean, 'the policy');
    for (const [fields, reason] of [
      [{ protocol: 'icmp', port_range_min: 255 }, /ICMP type 255/],
      [{ protocol: 'dccp', port_range_min: 10, port_range_max: 20 }, /TCP, UDP and SCTP/],
      [{ protocol: 'udplite', port_range_min: 10, port_range_max: 10 }, /TCP, UDP and SCTP/],
    ] as const) {
      await assert.rejects(api.create('security_group_rule', { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv4', ...fields }), (err: unknown) => {
        assert.ok(err instanceof NeutronApiError);
        assert.equal(err.status, 409);
        assert.match(err.neutronMessage, /Margay cannot express this rule/);
        assert.match(err.neutronMessage, reason);
        return true;
      });
    }
    const rules = await api.list<Json>('security_group_rule', `security_group_id=${sg.id}`);
    assert.equal(rules.length, 2, 'only the default egress rules');
    assert.deepEqual((await getPolicy(store, sg.id))!.spec, before!.spec);
  });

  it("writes a port's extra_dhcp_opts for the host's DHCP, follows updates, refuses what dnsmasq cannot take", async () => {
    const { api, store } = os.bed;
    const ann = 'openstack.projectcalico.org/extra-dhcp-opts';
    const port = await addPort(api, net.network, 'host-1', { extra_dhcp_opts: [{ opt_name: 'ntp-server', opt_value: '192.0.2.123' }] });
    const wep = await until(() => getWep(store, port), Boolean, 'the endpoint');
    assert.deepEqual(JSON.parse(wep!.metadata.annotations![ann]!), [{ opt_name: 'ntp-server', opt_value: '192.0.2.123', ip_version: 4 }]);
    await api.update('port', port.id, { extra_dhcp_opts: [{ opt_name: 'ntp-server', opt_value: '192.0.2.124' }, { opt_name: '42', opt_value: '192.0.2.1' }] });
    await until(async () => (await getWep(store, port))?.metadata.annotations?.[ann], (v) => v !== undefined && JSON.parse(v).length === 2 && v.includes('192.0.2.124'), 'the updated options');
    await assert.rejects(api.update('port', port.id, { extra_dhcp_opts: [{ opt_name: 'no-such-option', opt_value: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof NeutronApiError);
      assert.equal(err.status, 400);
      assert.match(err.neutronMessage, /Margay cannot express this port: extra_dhcp_opts\[\d\]\.opt_name 'no-such-option'/);
      return true;
    });
    // Refused as a whole: Neutron kept the previous options.
    const kept = await api.get<Json>('port', port.id);
    assert.ok(!JSON.stringify(kept.extra_dhcp_opts).includes('no-such-option'));
  });

  it('refuses an allowed address pair that is a range (Margay routes single addresses)', async () => {
    const { api } = os.bed;
    await assert.rejects(addPort(api, net.network, 'host-1', { allowed_address_pairs: [{ ip_address: '10.80.0.0/28' }] }), (err: unknown) => {
      assert.ok(err instanceof NeutronApiError);
      assert.equal(err.status, 400);
      assert.match(err.neutronMessage, /Margay cannot express this port: allowed_address_pairs\[0\]/);
      return true;
    });
  });
});
