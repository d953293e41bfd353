"""Unit tests of the pure translation (run: /usr/bin/python3 -m unittest discover integrations/openstack/tests)."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from margay_neutron import model  # noqa: E402

SG = 'aaaaaaaa-0000-0000-0000-000000000001'
OTHER = 'bbbbbbbb-0000-0000-0000-000000000002'


def rule(**kw):
    base = {'id': 'r1', 'security_group_id': SG, 'direction': 'ingress', 'ethertype': 'IPv4', 'protocol': None,
            'port_range_min': None, 'port_range_max': None, 'remote_group_id': None, 'remote_ip_prefix': None}
    base.update(kw)
    return base


class RuleTest(unittest.TestCase):
    def test_tcp_port_from_group(self):
        self.assertEqual(model.calico_rule(rule(protocol='tcp', port_range_min=80, port_range_max=80, remote_group_id=OTHER)), {
            'action': 'Allow', 'ipVersion': 4, 'protocol': 'TCP',
            'source': {'selector': 'has(sg.projectcalico.org/openstack-%s)' % OTHER}, 'destination': {'ports': [80]}})

    def test_egress_range_to_cidr(self):
        self.assertEqual(model.calico_rule(rule(direction='egress', protocol='udp', port_range_min=1000, port_range_max=2000, remote_ip_prefix='10.1.2.3/16')), {
            'action': 'Allow', 'ipVersion': 4, 'protocol': 'UDP', 'destination': {'nets': ['10.1.0.0/16'], 'ports': ['1000:2000']}})

    def test_any_protocol_and_numbers(self):
        self.assertNotIn('protocol', model.calico_rule(rule(protocol='any')))
        self.assertNotIn('protocol', model.calico_rule(rule(protocol='0')))
        self.assertEqual(model.calico_rule(rule(protocol='47'))['protocol'], 47)
        self.assertEqual(model.calico_rule(rule(protocol='gre'))['protocol'], 47)
        self.assertEqual(model.calico_rule(rule(protocol='6', port_range_min=22, port_range_max=22))['protocol'], 'TCP')

    def test_icmp(self):
        self.assertEqual(model.calico_rule(rule(protocol='icmp', port_range_min=8, port_range_max=0))['icmp'], {'type': 8, 'code': 0})
        self.assertEqual(model.calico_rule(rule(protocol='icmp', ethertype='IPv6'))['protocol'], 'ICMPv6')
        self.assertEqual(model.calico_rule(rule(protocol='ipv6-icmp', ethertype='IPv6', port_range_min=128))['icmp'], {'type': 128})

    def test_inexpressible(self):
        for bad in (rule(protocol='icmp', port_range_min=255), rule(protocol='dccp', port_range_min=5, port_range_max=6),
                    rule(protocol='udplite', port_range_min=5, port_range_max=5), rule(remote_address_group_id='x')):
            with self.assertRaises(model.Inexpressible):
                model.calico_rule(bad)

    def test_policy_types_always_both(self):
        name, spec = model.policy(SG, [rule(), rule(id='r2', security_group_id=OTHER)])
        self.assertEqual(name, 'ossg.default.' + SG)
        self.assertEqual(spec['types'], ['Ingress', 'Egress'])
        self.assertEqual(len(spec['ingress']), 1)
        self.assertEqual(spec['egress'], [])


class EndpointTest(unittest.TestCase):
    port = {'id': '12345678-abcd-0000-0000-000000000000', 'device_id': 'vm-1', 'binding:host_id': 'host-1',
            'binding:vif_type': 'tap', 'device_owner': 'compute:nova', 'mac_address': 'fa:16:3e:00:00:01',
            'network_id': 'net', 'project_id': 'p1', 'security_groups': [SG],
            'fixed_ips': [{'subnet_id': 's4', 'ip_address': '10.0.0.5'}, {'subnet_id': 's6', 'ip_address': '2001:db8::5'}],
            'allowed_address_pairs': [{'ip_address': '10.0.0.99', 'mac_address': 'fa:16:3e:00:00:01'}]}

    def test_endpoint(self):
        name, spec, labels, ann = model.endpoint(self.port, 'openstack', {'s4': '10.0.0.1', 's6': None})
        self.assertEqual(name, 'host--1-openstack-vm--1-12345678--abcd--0000--0000--000000000000')
        self.assertEqual(spec['interfaceName'], 'tap12345678-ab')
        self.assertEqual(spec['ipNetworks'], ['10.0.0.5/32', '2001:db8::5/128', '10.0.0.99/32'])
        self.assertEqual(spec['ipv4Gateway'], '10.0.0.1')
        self.assertNotIn('ipv6Gateway', spec)
        self.assertIn('sg.projectcalico.org/openstack-' + SG, labels)
        self.assertEqual(ann[model.ANN_ALLOWED_IPS], '10.0.0.99/32')

    def test_floating_ips(self):
        fips = [{'fixed_ip_address': '10.0.0.5', 'floating_ip_address': '203.0.113.9'},
                {'fixed_ip_address': '10.0.0.5', 'floating_ip_address': '203.0.113.7'},
                {'fixed_ip_address': None, 'floating_ip_address': '203.0.113.8'},   # not associated
                {'fixed_ip_address': '10.9.9.9', 'floating_ip_address': '203.0.113.6'}]  # not this port's
        spec = model.endpoint(self.port, 'openstack', {}, fips)[1]
        self.assertEqual(spec['ipNATs'], [{'internalIP': '10.0.0.5', 'externalIP': '203.0.113.7'},
                                          {'internalIP': '10.0.0.5', 'externalIP': '203.0.113.9'}])
        self.assertNotIn('ipNATs', model.endpoint(self.port, 'openstack', {})[1])

    def test_cidr_pair_refused(self):
        with self.assertRaises(model.Inexpressible):
            model.check_port(dict(self.port, allowed_address_pairs=[{'ip_address': '10.0.0.0/24'}]))

    def test_extra_dhcp_opts(self):
        port = dict(self.port, extra_dhcp_opts=[{'opt_name': 'ntp-server', 'opt_value': '192.0.2.123', 'ip_version': 4},
                                                {'opt_name': '42', 'opt_value': '192.0.2.1', 'ip_version': 4}])
        model.check_port(port)
        ann = model.endpoint(port, 'openstack', {})[3]
        self.assertEqual(json.loads(ann[model.ANN_EXTRA_DHCP_OPTS]),
                         [{'ip_version': 4, 'opt_name': '42', 'opt_value': '192.0.2.1'},
                          {'ip_version': 4, 'opt_name': 'ntp-server', 'opt_value': '192.0.2.123'}])
        self.assertNotIn(model.ANN_EXTRA_DHCP_OPTS, model.endpoint(self.port, 'openstack', {})[3])
        for bad in ({'opt_name': 'no-such-option', 'opt_value': 'x'}, {'opt_name': '255', 'opt_value': 'x'},
                    {'opt_name': 'mtu', 'opt_value': '1400', 'ip_version': 6}, {'opt_name': 'mtu', 'opt_value': '1\n2'}):
            with self.assertRaises(model.Inexpressible):
                model.check_port(dict(self.port, extra_dhcp_opts=[bad]))

    def test_subnet_data(self):
        data = json.loads(model.subnet_data({'network_id': 'n', 'cidr': '10.0.0.0/24', 'host_routes': [], 'gateway_ip': '10.0.0.1',
                                             'dns_nameservers': [], 'ipv6_ra_mode': None, 'ipv6_address_mode': None}))
        self.assertEqual(data, {'network_id': 'n', 'cidr': '10.0.0.0/24', 'host_routes': [], 'gateway_ip': '10.0.0.1'})
        with_mtu = json.loads(model.subnet_data({'network_id': 'n', 'cidr': '10.0.0.0/24', 'host_routes': [], 'gateway_ip': None}, 1450))
        self.assertEqual(with_mtu['mtu'], 1450)
        self.assertEqual(model.subnet_prefix(''), '/calico/dhcp/v2/no-region/subnet/')
        self.assertEqual(model.subnet_prefix('r1'), '/calico/dhcp/v2/region-r1/subnet/')
        self.assertEqual(model.namespace_for('r1'), 'openstack-region-r1')


if __name__ == '__main__':
    unittest.main()
