import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEndpoint, decodeSubnet, renderDhcp, subnetPrefix, type DhcpEndpoint, type DhcpSubnet } from '../../src/dhcp/mod.ts';

/** A subnet value exactly as networking-calico's `subnet_etcd_data` writes it. */
const SUBNET_JSON = JSON.stringify({
  network_id: 'net-1',
  cidr: '10.65.0.0/24',
  host_routes: [{ destination: '192.168.7.0/24', nexthop: '10.65.0.254' }],
  gateway_ip: '10.65.0.1',
  dns_servers: ['192.0.2.53', '192.0.2.54'],
});

function endpoint(overrides: Record<string, unknown> = {}, annotations: Record<string, string> = { 'openstack.projectcalico.org/network-id': 'net-1' }): string {
  return JSON.stringify({
    kind: 'WorkloadEndpoint',
    metadata: { name: 'host--2-openstack-vm1-tap1234567890a', namespace: 'openstack', annotations },
    spec: { node: 'host-2', orchestrator: 'openstack', workload: 'vm1', endpoint: 'tap1234567890a', interfaceName: 'tap1234567890a', mac: 'FA:16:3E:00:00:01', ipNetworks: ['10.65.0.5/32'], ...overrides },
  });
}

function subnet(json = SUBNET_JSON, id = 'sub-1'): DhcpSubnet {
  const d = decodeSubnet(id, json);
  assert.ok(d.ok, d.ok ? '' : d.reason);
  return d.value;
}

function ep(text = endpoint()): DhcpEndpoint {
  const d = decodeEndpoint('/k/ep1', text, 'host-2');
  assert.ok(d?.ok);
  return d.value;
}

describe('dhcp - decoding', () => {
  it('reads networking-calico subnet data', () => {
    assert.deepEqual(subnet(), {
      id: 'sub-1',
      networkId: 'net-1',
      cidr: '10.65.0.0/24',
      family: 4,
      gatewayIp: '10.65.0.1',
      dnsServers: ['192.0.2.53', '192.0.2.54'],
      hostRoutes: [{ destination: '192.168.7.0/24', nexthop: '10.65.0.254' }],
    });
    assert.equal(subnetPrefix(''), '/calico/dhcp/v2/no-region/subnet/');
    assert.equal(subnetPrefix('r1'), '/calico/dhcp/v2/region-r1/subnet/');
  });

  it('skips bad subnet data with a reason', () => {
    for (const [json, reason] of [
      ['{', /not JSON/],
      ['{"gateway_ip":"10.0.0.1"}', /cidr/],
      ['{"cidr":"10.0.0.0/24"}', /gateway_ip: missing/],
      ['{"cidr":"10.0.0.0/24","gateway_ip":"x"}', /gateway_ip: not an address/],
      ['{"cidr":"10.0.0.0/24","gateway_ip":null,"host_routes":[{"destination":"x"}]}', /host_routes/],
    ] as const) {
      const d = decodeSubnet('s', json);
      assert.equal(d.ok, false);
      assert.match((d as { reason: string }).reason, reason);
    }
    const noGateway = decodeSubnet('s', '{"cidr":"10.0.0.0/24","gateway_ip":null}');
    assert.ok(noGateway.ok && noGateway.value.gatewayIp === undefined);
  });

  it('takes only OpenStack endpoints of this host, and leaves allowed address pairs out', () => {
    assert.equal(decodeEndpoint('k', endpoint({ node: 'host-1' }), 'host-2'), undefined);
    assert.equal(decodeEndpoint('k', endpoint({ orchestrator: 'k8s' }), 'host-2'), undefined);
    const e = ep(endpoint({ ipNetworks: ['10.65.0.5/32', '10.65.0.9/32'], allowedIps: ['10.65.0.9/32'] }, { 'openstack.projectcalico.org/network-id': 'net-1', 'openstack.projectcalico.org/fqdn': 'vm1.example.org' }));
    assert.deepEqual(e, { key: '/k/ep1', interfaceName: 'tap1234567890a', mac: 'fa:16:3e:00:00:01', addresses: ['10.65.0.5'], networkId: 'net-1', hostname: 'vm1', extraOptions: [] });
    const bad = decodeEndpoint('k', endpoint({ mac: 'nope' }), 'host-2');
    assert.ok(bad && !bad.ok && /spec.mac/.test(bad.reason));
  });
});

describe('dhcp - rendering', () => {
  it('renders hosts, options, ranges and gateway addresses', () => {
    const r = renderDhcp([ep()], [subnet()], { leaseSeconds: 600 });
    assert.equal(r.hosts, 'fa:16:3e:00:00:01,10.65.0.5,host-10-65-0-5\n');
    assert.deepEqual(r.ranges, ['set:subnet-sub-1,10.65.0.0,static,255.255.255.0,600s']);
    assert.deepEqual(r.gatewayAddresses, ['10.65.0.1/24']);
    assert.equal(
      r.opts,
      [
        'tag:subnet-sub-1,option:router,10.65.0.1',
        'tag:subnet-sub-1,option:dns-server,192.0.2.53,192.0.2.54',
        // Option 121 replaces option 3 for a client that takes it: the default route goes with it.
        'tag:subnet-sub-1,option:classless-static-route,192.168.7.0/24,10.65.0.254,0.0.0.0/0,10.65.0.1',
        'tag:subnet-sub-1,249,192.168.7.0/24,10.65.0.254,0.0.0.0/0,10.65.0.1',
        '',
      ].join('\n'),
    );
    assert.deepEqual(r.endpoints, [{ key: '/k/ep1', served: ['10.65.0.5@sub-1'], skipped: [] }]);
  });

  it('serves only subnets in use, of the endpoint network, and says why an address is not served', () => {
    const other = subnet(JSON.stringify({ network_id: 'net-2', cidr: '10.66.0.0/24', gateway_ip: '10.66.0.1', host_routes: [] }), 'sub-2');
    const sameCidrOtherNet = subnet(JSON.stringify({ network_id: 'net-9', cidr: '10.65.0.0/24', gateway_ip: '10.65.0.1', host_routes: [] }), 'sub-9');
    const e = ep(endpoint({ ipNetworks: ['10.65.0.5/32', '10.99.0.1/32', 'fd00::5/128'] }));
    const r = renderDhcp([e], [sameCidrOtherNet, other, subnet()]);
    assert.deepEqual(r.ranges, ['set:subnet-sub-1,10.65.0.0,static,255.255.255.0,86400s']);
    assert.deepEqual(r.endpoints[0]!.served, ['10.65.0.5@sub-1']);
    assert.equal(r.endpoints[0]!.skipped.length, 2);
    assert.match(r.endpoints[0]!.skipped[0]!, /10\.99\.0\.1: no subnet data of network net-1/);
    assert.match(r.endpoints[0]!.skipped[1]!, /fd00::5: no subnet data/);
  });

  it("hands out the network's MTU per subnet and a port's extra options on its tap only", () => {
    const withMtu = subnet(JSON.stringify({ network_id: 'net-1', cidr: '10.65.0.0/24', gateway_ip: '10.65.0.1', host_routes: [], mtu: 1400 }));
    assert.equal(withMtu.mtu, 1400);
    const extra = JSON.stringify([
      { opt_name: 'ntp-server', opt_value: '192.0.2.123', ip_version: 4 },
      { opt_name: '252', opt_value: 'http://192.0.2.1/wpad.dat', ip_version: 4 },
    ]);
    const e = ep(endpoint({}, { 'openstack.projectcalico.org/network-id': 'net-1', 'openstack.projectcalico.org/extra-dhcp-opts': extra }));
    const r = renderDhcp([e], [withMtu]);
    assert.equal(
      r.opts,
      ['tag:subnet-sub-1,option:router,10.65.0.1', 'tag:subnet-sub-1,option:mtu,1400', 'tag:port-tap1234567890a,option:ntp-server,192.0.2.123', 'tag:port-tap1234567890a,252,http://192.0.2.1/wpad.dat', ''].join('\n'),
    );
    assert.deepEqual(r.macTags, ['set:port-tap1234567890a,fa:16:3e:00:00:01']);
    assert.deepEqual(renderDhcp([ep()], [withMtu]).macTags, []);
    assert.deepEqual(r.endpoints[0]!.skipped, []);
  });

  it('leaves out extra options dnsmasq cannot take (saying why) and an MTU out of range', () => {
    for (const [opts, reason] of [
      ['[{"opt_name":"no-such","opt_value":"x","ip_version":4}]', /not a DHCPv4 option dnsmasq knows/],
      ['[{"opt_name":"255","opt_value":"x"}]', /not a DHCPv4 option/],
      ['[{"opt_name":"mtu","opt_value":"1400","ip_version":6}]', /only DHCPv4/],
      ['[{"opt_name":"mtu","opt_value":"1\\n2"}]', /line break/],
      ['{}', /not a list/],
    ] as const) {
      const e = ep(endpoint({}, { 'openstack.projectcalico.org/network-id': 'net-1', 'openstack.projectcalico.org/extra-dhcp-opts': opts }));
      const r = renderDhcp([e], [subnet()]);
      assert.ok(!r.opts.includes('tag:port-'), opts);
      assert.deepEqual(r.macTags, []);
      assert.deepEqual(r.endpoints[0]!.served, ['10.65.0.5@sub-1']);
      assert.match(r.endpoints[0]!.skipped.join(), reason);
    }
    const bad = decodeSubnet('s', '{"cidr":"10.0.0.0/24","gateway_ip":null,"mtu":20}');
    assert.ok(!bad.ok && /mtu/.test(bad.reason));
  });

  it('advertises IPv6 prefixes for slaac and dhcpv6-stateless subnets (off-link), serves stateful ones by DHCPv6, says why not without a mode', () => {
    const v6 = (id: string, cidr: string, mode: string | null, dns: string[] = []) =>
      subnet(JSON.stringify({ network_id: 'net-1', cidr, gateway_ip: cidr.replace('::/64', '::1'), host_routes: [], dns_servers: dns, ...(mode ? { ipv6_address_mode: mode, ipv6_ra_mode: mode } : {}) }), id);
    const slaac = v6('s6a', '2001:db8:1::/64', 'slaac');
    assert.equal(slaac.ipv6AddressMode, 'slaac');
    const stateless = v6('s6b', '2001:db8:2::/64', 'dhcpv6-stateless', ['2001:db8::53']);
    const stateful = v6('s6c', '2001:db8:3::/64', 'dhcpv6-stateful');
    const none = v6('s6d', '2001:db8:4::/64', null);
    const e = ep(endpoint({ ipNetworks: ['10.65.0.5/32', '2001:db8:1::f816:3eff:fe00:1/128', '2001:db8:2::f816:3eff:fe00:1/128', '2001:db8:3::5/128', '2001:db8:4::5/128'] }));
    const r = renderDhcp([e], [subnet(), slaac, stateless, stateful, none]);
    assert.equal(r.enableRa, true);
    assert.deepEqual(r.ranges, [
      'set:subnet-s6a,2001:db8:1::,ra-only,off-link,64,86400s',
      'set:subnet-s6b,2001:db8:2::,ra-stateless,off-link,64,86400s',
      'set:subnet-s6c,2001:db8:3::,static,off-link,64,86400s',
      'set:subnet-sub-1,10.65.0.0,static,255.255.255.0,86400s',
    ]);
    assert.deepEqual(r.gatewayAddresses, ['10.65.0.1/24', '2001:db8:1::1/64', '2001:db8:2::1/64', '2001:db8:3::1/64']);
    assert.ok(r.opts.includes('tag:subnet-s6b,option6:dns-server,[2001:db8::53]\n'));
    // Only the stateful address is a DHCPv6 host (by MAC); SLAAC addresses are the VM's own doing.
    assert.equal(r.hosts, 'fa:16:3e:00:00:01,10.65.0.5,host-10-65-0-5\nfa:16:3e:00:00:01,[2001:db8:3::5],host-2001-db8-3--5\n');
    assert.deepEqual(r.endpoints[0]!.served, ['10.65.0.5@sub-1', '2001:db8:1:0:f816:3eff:fe00:1@s6a', '2001:db8:2:0:f816:3eff:fe00:1@s6b', '2001:db8:3::5@s6c']);
    assert.equal(r.endpoints[0]!.skipped.length, 1);
    assert.match(r.endpoints[0]!.skipped[0]!, /2001:db8:4::5: ipv6_address_mode unset/);
    const bad = decodeSubnet('s', '{"cidr":"2001:db8::/64","gateway_ip":null,"ipv6_address_mode":"magic"}');
    assert.ok(!bad.ok && /ipv6_address_mode/.test(bad.reason));
  });

  it('renders nothing without endpoints, and no router option without a gateway', () => {
    assert.deepEqual(renderDhcp([], [subnet()]), { hosts: '', opts: '', ranges: [], macTags: [], gatewayAddresses: [], enableRa: false, endpoints: [] });
    const noGw = subnet(JSON.stringify({ network_id: 'net-1', cidr: '10.65.0.0/24', gateway_ip: null, host_routes: [] }));
    const r = renderDhcp([ep()], [noGw]);
    assert.equal(r.opts, '');
    assert.deepEqual(r.gatewayAddresses, []);
  });
});
