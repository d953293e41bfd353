"""Pure translation of Neutron objects into networking-calico's etcd shapes (no I/O, no Neutron imports).

- a port -> a WorkloadEndpoint in namespace ``openstack`` (``openstack-region-<r>`` with a region),
- a security group and its rules -> a NetworkPolicy ``ossg.default.<sg-id>`` selecting its members,
- a subnet with DHCP -> ``/calico/dhcp/v2/<region>/subnet/<subnet-id>`` (networking-calico's fields).

A rule or an address Margay cannot express raises :class:`Inexpressible` with the reason, so the
caller refuses it in Neutron instead of writing half of it.
"""
import ipaddress
import json

RESOURCES = '/calico/resources/v3/projectcalico.org/'
NODE_PREFIX = RESOURCES + 'nodes/'
SG_LABEL_PREFIX = 'sg.projectcalico.org/openstack-'
SG_POLICY_PREFIX = 'ossg.default.'
ANN_PREFIX = 'openstack.projectcalico.org/'
ANN_NETWORK_ID = ANN_PREFIX + 'network-id'
# A Margay extension: the allowed-address-pair addresses among ipNetworks (networking-calico keeps
# them in spec.allowedIps, a field Calico's API does not have), so DHCP serves only fixed IPs.
ANN_ALLOWED_IPS = ANN_PREFIX + 'allowed-ips'
# A Margay extension: the port's extra_dhcp_opts (JSON list of {opt_name, opt_value, ip_version}),
# which the host's DHCP service hands out to that port only.
ANN_EXTRA_DHCP_OPTS = ANN_PREFIX + 'extra-dhcp-opts'
PROJECT_ID_LABEL = 'projectcalico.org/openstack-project-id'
ORCHESTRATOR = 'openstack'

# Protocols by Neutron name whose rules take port ranges in Calico (TCP, UDP, SCTP).
_PORT_PROTOCOLS = {'tcp': 'TCP', 'udp': 'UDP', 'sctp': 'SCTP', '6': 'TCP', '17': 'UDP', '132': 'SCTP'}
_ICMP = {'icmp', '1'}
_ICMPV6 = {'ipv6-icmp', 'icmpv6', '58'}
# Neutron's names of other IP protocols (neutron_lib.constants.IP_PROTOCOL_MAP).
_PROTOCOL_NUMBERS = {
    'ah': 51, 'dccp': 33, 'egp': 8, 'esp': 50, 'gre': 47, 'igmp': 2, 'ipip': 4, 'ipv6-encap': 41,
    'ipv6-frag': 44, 'ipv6-nonxt': 59, 'ipv6-opts': 60, 'ipv6-route': 43, 'ospf': 89, 'pgm': 113,
    'rsvp': 46, 'udplite': 136, 'vrrp': 112,
}

# DHCPv4 option names dnsmasq knows (`dnsmasq --help dhcp`, 2.90); numbers 1-254 are taken too.
_DHCP_OPTION_NAMES = frozenset([
    'netmask', 'time-offset', 'router', 'dns-server', 'log-server', 'lpr-server', 'boot-file-size',
    'domain-name', 'swap-server', 'root-path', 'extension-path', 'ip-forward-enable',
    'non-local-source-routing', 'policy-filter', 'max-datagram-reassembly', 'default-ttl', 'mtu',
    'all-subnets-local', 'router-discovery', 'router-solicitation', 'static-route',
    'trailer-encapsulation', 'arp-timeout', 'ethernet-encap', 'tcp-ttl', 'tcp-keepalive',
    'nis-domain', 'nis-server', 'ntp-server', 'netbios-ns', 'netbios-dd', 'netbios-nodetype',
    'netbios-scope', 'x-windows-fs', 'x-windows-dm', 'T1', 'T2', 'vendor-class', 'nis+-domain',
    'nis+-server', 'tftp-server', 'bootfile-name', 'mobile-ip-home', 'smtp-server', 'pop3-server',
    'nntp-server', 'irc-server', 'user-class', 'rapid-commit', 'client-arch',
    'client-interface-id', 'client-machine-id', 'posix-timezone', 'tzdb-timezone', 'ipv6-only',
    'domain-search', 'sip-server', 'classless-static-route', 'vendor-id-encap',
    'tftp-server-address', 'server-ip-address',
])


class Inexpressible(ValueError):
    """A Neutron object Margay cannot express exactly (the message says which field and why)."""


def region_string(region):
    """networking-calico's (and libcalico-go's) region path element."""
    return 'region-' + region if region else 'no-region'


def namespace_for(region):
    """The namespace of OpenStack's WorkloadEndpoints and NetworkPolicies."""
    return 'openstack-region-' + region if region else 'openstack'


def subnet_prefix(region):
    """Where the subnets' DHCP data lives (networking-calico datamodel_v2.subnet_dir)."""
    return '/calico/dhcp/v2/%s/subnet/' % region_string(region)


def felix_status_prefix(region):
    """Where agents report host and endpoint status (libcalico-go's status keys)."""
    return '/calico/felix/v2/%s/host/' % region_string(region)


def resource_key(plural, namespace, name):
    return '%s%s/%s/%s' % (RESOURCES, plural, namespace, name)


def _escape(part):
    return part.replace('-', '--')


def endpoint_name(host, workload, port_id):
    """Calico's WorkloadEndpoint name for an OpenStack endpoint."""
    return '%s-%s-%s-%s' % (_escape(host), ORCHESTRATOR, _escape(workload), _escape(port_id))


def interface_name(port_id):
    return 'tap' + port_id[:11]


def is_endpoint_port(port):
    """Ports of VMs (``compute:*``) and Kuryr containers are endpoints, as in networking-calico."""
    owner = port.get('device_owner') or ''
    return owner.startswith('compute:') or owner.startswith('kuryr:container')


def is_bound(port):
    return bool(port.get('binding:host_id')) and port.get('binding:vif_type') == 'tap'


def workload_of(port):
    """The workload part of the name: the device (VM), or the port itself when it has none yet."""
    return port.get('device_id') or port['id']


def single_address(text, field):
    """An allowed-address-pair address as ``ip/32`` or ``ip/128``; a wider CIDR is refused."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise Inexpressible('%s %r is not an IP address' % (field, text))
    if net.num_addresses != 1:
        raise Inexpressible('%s %s is a range of addresses; Margay routes and polices single addresses '
                            '(/32, /128) per endpoint' % (field, text))
    return '%s/%d' % (net.network_address, net.prefixlen)


def check_port(port):
    """Raises Inexpressible when a port cannot become a WorkloadEndpoint."""
    for i, pair in enumerate(port.get('allowed_address_pairs') or []):
        single_address(str(pair['ip_address']), 'allowed_address_pairs[%d].ip_address' % i)
    for i, opt in enumerate(port.get('extra_dhcp_opts') or []):
        check_dhcp_opt(opt, 'extra_dhcp_opts[%d]' % i)


def check_dhcp_opt(opt, field):
    """Raises Inexpressible for an extra DHCP option the hosts' dnsmasq cannot hand out."""
    name, value = str(opt.get('opt_name')), str(opt.get('opt_value'))
    if int(opt.get('ip_version') or 4) != 4:
        raise Inexpressible('%s: ip_version %s: Margay serves DHCPv4 only' % (field, opt.get('ip_version')))
    if not (name in _DHCP_OPTION_NAMES or (name.isdigit() and 1 <= int(name) <= 254)):
        raise Inexpressible('%s.opt_name %r: not a DHCPv4 option dnsmasq knows (a number 1-254 or a name '
                            'such as mtu, ntp-server, domain-search, bootfile-name)' % (field, name))
    if '\n' in value or '\r' in value:
        raise Inexpressible('%s.opt_value: has a line break' % field)


def ip_nats(floating_ips, nets):
    """``spec.ipNATs`` from a port's floating IPs (``floating_ip_address``/``fixed_ip_address``).

    As networking-calico: one entry per floating IP associated with one of the port's addresses
    (Calico refuses an internal IP outside ipNetworks), sorted so that writes are stable.
    """
    out = []
    for fip in floating_ips or []:
        internal, external = fip.get('fixed_ip_address'), fip.get('floating_ip_address')
        if not internal or not external:
            continue
        addr = ipaddress.ip_address(internal)
        if '%s/%d' % (addr, addr.max_prefixlen) not in nets:
            continue
        entry = {'internalIP': str(addr), 'externalIP': str(ipaddress.ip_address(external))}
        if entry not in out:
            out.append(entry)
    return sorted(out, key=lambda e: (e['externalIP'], e['internalIP']))


def endpoint(port, namespace, gateways, floating_ips=()):
    """``(name, spec, labels, annotations)`` of a bound port's WorkloadEndpoint.

    ``gateways`` maps subnet id -> gateway IP (or None) for the port's fixed IPs;
    ``floating_ips`` are Neutron's floating IPs associated with the port.
    """
    host = port['binding:host_id']
    spec = {
        'orchestrator': ORCHESTRATOR,
        'workload': workload_of(port),
        'node': host,
        'endpoint': port['id'],
        'interfaceName': interface_name(port['id']),
        'mac': port['mac_address'],
    }
    nets = []
    for ip in port.get('fixed_ips') or []:
        addr = ipaddress.ip_address(ip['ip_address'])
        nets.append('%s/%d' % (addr, addr.max_prefixlen))
        gateway = gateways.get(ip.get('subnet_id'))
        if gateway:
            spec['ipv6Gateway' if addr.version == 6 else 'ipv4Gateway'] = gateway
    allowed = []
    for i, pair in enumerate(port.get('allowed_address_pairs') or []):
        net = single_address(str(pair['ip_address']), 'allowed_address_pairs[%d].ip_address' % i)
        if net not in nets:
            nets.append(net)
            allowed.append(net)
    spec['ipNetworks'] = nets
    nats = ip_nats(floating_ips, nets)
    if nats:
        spec['ipNATs'] = nats
    labels = {SG_LABEL_PREFIX + sg: '' for sg in sorted(port.get('security_groups') or [])}
    labels['projectcalico.org/namespace'] = namespace
    labels['projectcalico.org/orchestrator'] = ORCHESTRATOR
    project = port.get('project_id') or port.get('tenant_id')
    if project:
        labels[PROJECT_ID_LABEL] = project
    annotations = {ANN_NETWORK_ID: port['network_id']}
    if allowed:
        annotations[ANN_ALLOWED_IPS] = ','.join(allowed)
    extra = extra_dhcp_opts(port)
    if extra:
        annotations[ANN_EXTRA_DHCP_OPTS] = extra
    return endpoint_name(host, workload_of(port), port['id']), spec, labels, annotations


def _protocol(rule):
    """Calico's protocol for a Neutron rule (None: any), and whether ICMP fields apply."""
    proto = rule.get('protocol')
    if proto is None:
        return None, False
    proto = str(proto).lower()
    if proto in ('', 'any', '0', '-1'):
        return None, False
    if proto in _ICMP:
        return ('ICMPv6' if rule['ethertype'] == 'IPv6' else 'ICMP'), True
    if proto in _ICMPV6:
        return 'ICMPv6', True
    if proto in _PORT_PROTOCOLS:
        return _PORT_PROTOCOLS[proto], False
    if proto.isdigit():
        return int(proto), False
    if proto in _PROTOCOL_NUMBERS:
        return _PROTOCOL_NUMBERS[proto], False
    raise Inexpressible('protocol %r is not one Margay knows' % rule.get('protocol'))


def _port_spec(rule, proto):
    low, high = rule.get('port_range_min'), rule.get('port_range_max')
    if low is None and high is None:
        return None
    if proto not in ('TCP', 'UDP', 'SCTP'):
        raise Inexpressible('a port range with protocol %s: Margay (like Calico) matches ports only for '
                            'TCP, UDP and SCTP' % rule.get('protocol'))
    low = high if low is None else low
    high = low if high is None else high
    return [int(low)] if int(low) == int(high) else ['%d:%d' % (int(low), int(high))]


def _icmp_fields(rule):
    fields = {}
    icmp_type, icmp_code = rule.get('port_range_min'), rule.get('port_range_max')
    if icmp_type is not None and int(icmp_type) != -1:
        if int(icmp_type) > 254:
            raise Inexpressible('ICMP type %s: Margay (like Calico) matches types 0-254' % icmp_type)
        fields['type'] = int(icmp_type)
    if icmp_code is not None and int(icmp_code) != -1:
        fields['code'] = int(icmp_code)
    return fields


def calico_rule(rule):
    """One Neutron security group rule as a Calico rule (Allow); raises Inexpressible."""
    if rule.get('remote_address_group_id'):
        raise Inexpressible('remote_address_group_id (address groups) is not supported by Margay')
    out = {'action': 'Allow', 'ipVersion': {'IPv4': 4, 'IPv6': 6}[rule['ethertype']]}
    proto, icmp = _protocol(rule)
    if proto is not None:
        out['protocol'] = proto
    ports = None
    if icmp:
        fields = _icmp_fields(rule)
        if fields:
            out['icmp'] = fields
    else:
        ports = _port_spec(rule, proto)
    peer = {}
    if rule.get('remote_group_id'):
        peer['selector'] = 'has(%s%s)' % (SG_LABEL_PREFIX, rule['remote_group_id'])
    prefix = rule.get('normalized_cidr') or rule.get('remote_ip_prefix')
    if prefix:
        peer['nets'] = [str(ipaddress.ip_network(str(prefix), strict=False))]
    if rule['direction'] == 'ingress':
        if peer:
            out['source'] = peer
        if ports:
            out['destination'] = {'ports': ports}
    else:
        if ports:
            peer['ports'] = ports
        if peer:
            out['destination'] = peer
    return out


def policy(sg_id, rules):
    """``(name, spec)`` of a security group's NetworkPolicy.

    Both types are always set: Neutron denies what no rule allows in each direction, also when a
    group has no egress rule at all (networking-calico leaves ``types`` to Calico's default, which
    drops Egress from a policy without egress rules).
    """
    ingress, egress = [], []
    for rule in sorted(rules, key=lambda r: r['id']):
        if rule['security_group_id'] != sg_id:
            continue
        (ingress if rule['direction'] == 'ingress' else egress).append(calico_rule(rule))
    spec = {
        'selector': 'has(%s%s)' % (SG_LABEL_PREFIX, sg_id),
        'types': ['Ingress', 'Egress'],
        'ingress': ingress,
        'egress': egress,
    }
    return SG_POLICY_PREFIX + sg_id, spec


def extra_dhcp_opts(port):
    """The port's ``extra_dhcp_opts`` as sorted JSON text (None when it has none)."""
    opts = [{'opt_name': str(o['opt_name']), 'opt_value': str(o['opt_value']), 'ip_version': int(o.get('ip_version') or 4)}
            for o in port.get('extra_dhcp_opts') or []]
    if not opts:
        return None
    return json.dumps(sorted(opts, key=lambda o: (o['ip_version'], o['opt_name'])), sort_keys=True)


def subnet_data(subnet, mtu=None):
    """networking-calico's DHCP data for a subnet (subnets.subnet_etcd_data), as JSON text.

    ``mtu`` (the network's MTU) is a Margay addition: the host's DHCP hands it out (option 26).
    """
    data = {
        'network_id': subnet['network_id'],
        'cidr': str(ipaddress.ip_network(subnet['cidr'], strict=False)),
        'host_routes': subnet['host_routes'],
        'gateway_ip': subnet['gateway_ip'],
    }
    if subnet.get('dns_nameservers'):
        data['dns_servers'] = subnet['dns_nameservers']
    if subnet.get('ipv6_ra_mode') and subnet.get('ipv6_address_mode'):
        data['ipv6_ra_mode'] = subnet['ipv6_ra_mode']
        data['ipv6_address_mode'] = subnet['ipv6_address_mode']
    if mtu:
        data['mtu'] = int(mtu)
    return json.dumps(data)


def resource_text(kind, namespace, name, spec, labels=None, annotations=None, existing=None, now=None, uid=None):
    """The stored JSON of a v3 resource, keeping ``uid`` and ``creationTimestamp`` of ``existing``."""
    old = (existing or {}).get('metadata', {})
    metadata = {'name': name, 'namespace': namespace,
                'uid': old.get('uid') or uid, 'creationTimestamp': old.get('creationTimestamp') or now}
    if labels:
        metadata['labels'] = labels
    if annotations:
        metadata['annotations'] = annotations
    return json.dumps({'kind': kind, 'apiVersion': 'projectcalico.org/v3', 'metadata': metadata, 'spec': spec},
                      sort_keys=True)


def same_content(existing, spec, labels=None, annotations=None):
    """True when a stored resource already has this spec, labels and annotations."""
    if not isinstance(existing, dict):
        return False
    meta = existing.get('metadata') or {}
    return (existing.get('spec') == spec and (meta.get('labels') or {}) == (labels or {})
            and (meta.get('annotations') or {}) == (annotations or {}))
