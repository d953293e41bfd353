"""Writes Neutron's state into etcd with compare-and-swap, one object at a time or all at once (resync).

Each write reads the key's revision first, then Neutron's current state, then writes only if the
key did not move meanwhile (networking-calico's pattern): a late writer with older data cannot
overwrite a newer one. The resync repairs drift only in what the driver owns: WorkloadEndpoints of
orchestrator ``openstack`` in its namespace, policies ``ossg.default.*`` there, and its subnet keys.
"""
import datetime
import json
import uuid

from oslo_log import log

from margay_neutron import model

LOG = log.getLogger(__name__)

MAX_CAS_ATTEMPTS = 10


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


class Syncer(object):
    """The driver's writes. ``neutron`` is a :class:`margay_neutron.driver.NeutronView`."""

    def __init__(self, etcd, neutron, region):
        self.etcd = etcd
        self.neutron = neutron
        self.namespace = model.namespace_for(region)
        self.subnet_prefix = model.subnet_prefix(region)
        self.wep_prefix = model.resource_key('workloadendpoints', self.namespace, '')
        self.policy_prefix = model.resource_key('networkpolicies', self.namespace, '')

    # -- one key -------------------------------------------------------------------------------
    def _cas(self, key, desired, current=None):
        """Makes ``key`` hold ``desired()`` (text, or None: absent); returns True when it wrote."""
        for _ in range(MAX_CAS_ATTEMPTS):
            if current is None:
                current = self.etcd.get(key)
            text, revision = current if current is not None else (None, 0)
            want = desired(text)
            if want == text:
                return False
            if want is None:
                ok = self.etcd.cas_delete(key, revision)
            else:
                ok = self.etcd.cas_put(key, want, revision)
            if ok:
                return True
            current = None
        LOG.warning('margay: %s changed %d times while being written; the resync repairs it', key, MAX_CAS_ATTEMPTS)
        return False

    def _resource(self, kind, name, content):
        """A desired() for a v3 resource: ``content()`` gives (spec, labels, annotations) or None."""
        def desired(text):
            wanted = content()
            if wanted is None:
                return None
            spec, labels, annotations = wanted
            existing = _json(text) if text is not None else None
            if existing is not None and model.same_content(existing, spec, labels, annotations):
                return text
            return model.resource_text(kind, self.namespace, name, spec, labels, annotations,
                                       existing=existing, now=_now(), uid=str(uuid.uuid4()))
        return desired

    # -- ports ---------------------------------------------------------------------------------
    def _endpoint_content(self, port_id, name):
        """(spec, labels, annotations) of the port's endpoint named ``name``, if it should exist now."""
        port = self.neutron.port(port_id)
        if port is None or not self.wanted_port(port):
            return None
        wep = model.endpoint(port, self.namespace, self.neutron.gateways(port), self.neutron.floating_ips(port['id']))
        return wep[1:] if wep[0] == name else None

    @staticmethod
    def wanted_port(port):
        return model.is_endpoint_port(port) and model.is_bound(port)

    def sync_port(self, port, original=None):
        """Writes (or removes) the endpoint of a port; also removes the one of its previous binding."""
        names = []
        for p in (port, original):
            if p and p.get('binding:host_id'):
                name = model.endpoint_name(p['binding:host_id'], model.workload_of(p), p['id'])
                if name not in names:
                    names.append(name)
        for name in names:
            key = model.resource_key('workloadendpoints', self.namespace, name)
            self._cas(key, self._resource('WorkloadEndpoint', name, lambda n=name: self._endpoint_content(port['id'], n)))

    def delete_port(self, port):
        if port.get('binding:host_id'):
            name = model.endpoint_name(port['binding:host_id'], model.workload_of(port), port['id'])
            self._cas(model.resource_key('workloadendpoints', self.namespace, name), lambda text: None)

    # -- security groups -----------------------------------------------------------------------
    def _policy_content(self, sg_id):
        if not self.neutron.security_group_exists(sg_id):
            return None
        try:
            return model.policy(sg_id, self.neutron.rules([sg_id]))[1], None, None
        except model.Inexpressible as err:
            # Refused at creation; only rules written before the driver ran can get here.
            LOG.error('margay: security group %s has a rule Margay cannot express (%s); its policy is left as it was', sg_id, err)
            raise

    def sync_security_group(self, sg_id):
        name = model.SG_POLICY_PREFIX + sg_id
        key = model.resource_key('networkpolicies', self.namespace, name)
        try:
            self._cas(key, self._resource('NetworkPolicy', name, lambda: self._policy_content(sg_id)))
        except model.Inexpressible:
            pass

    # -- subnets -------------------------------------------------------------------------------
    def _subnet_text(self, subnet_id):
        subnet = self.neutron.subnet(subnet_id)
        if subnet is None or not subnet.get('enable_dhcp'):
            return None
        return model.subnet_data(subnet, self.neutron.network_mtu(subnet['network_id']))

    def sync_subnet(self, subnet_id):
        key = self.subnet_prefix + subnet_id
        self._cas(key, lambda text: self._same_json(text, self._subnet_text(subnet_id)))

    def sync_network(self, network_id):
        """Rewrites the DHCP data of a network's subnets (its MTU changed)."""
        for subnet_id in self.neutron.subnet_ids(network_id):
            self.sync_subnet(subnet_id)

    @staticmethod
    def _same_json(text, want):
        """Keeps the stored text when it already means ``want`` (key order aside)."""
        if want is not None and text is not None and _json(text) == json.loads(want):
            return text
        return want

    # -- resync --------------------------------------------------------------------------------
    def resync(self):
        """Repairs every difference between Neutron and what the driver owns in etcd; returns the writes."""
        writes = 0
        # etcd first, then Neutron: a change landing between the two reads moves the key's revision,
        # so the CAS write below fails and is retried with fresh data.
        weps, _ = self.etcd.get_prefix(self.wep_prefix)
        ports = {}
        for port in self.neutron.ports():
            if self.wanted_port(port):
                try:
                    ports[model.endpoint_name(port['binding:host_id'], model.workload_of(port), port['id'])] = port
                except KeyError:
                    continue
        for key, current in weps.items():
            name = key[len(self.wep_prefix):]
            stored = _json(current[0])
            if name in ports or not isinstance(stored, dict):
                continue
            if (stored.get('spec') or {}).get('orchestrator') == model.ORCHESTRATOR:
                writes += self._cas(key, lambda text: None, current)
        for name, port in ports.items():
            key = self.wep_prefix + name
            writes += self._cas(key, self._resource('WorkloadEndpoint', name, lambda n=name, p=port: self._endpoint_content(p['id'], n)),
                                weps.get(key))
        policies, _ = self.etcd.get_prefix(self.policy_prefix)
        groups = set(self.neutron.security_group_ids())
        for key in policies:
            name = key[len(self.policy_prefix):]
            if name.startswith(model.SG_POLICY_PREFIX) and name[len(model.SG_POLICY_PREFIX):] not in groups:
                writes += self._cas(key, lambda text: None, policies[key])
        for sg_id in groups:
            name = model.SG_POLICY_PREFIX + sg_id
            try:
                writes += self._cas(self.policy_prefix + name, self._resource('NetworkPolicy', name, lambda s=sg_id: self._policy_content(s)),
                                    policies.get(self.policy_prefix + name))
            except model.Inexpressible:
                pass
        subnets, _ = self.etcd.get_prefix(self.subnet_prefix)
        wanted = {s['id'] for s in self.neutron.subnets() if s.get('enable_dhcp')}
        for key in subnets:
            if key[len(self.subnet_prefix):] not in wanted:
                writes += self._cas(key, lambda text: None, subnets[key])
        for subnet_id in wanted:
            key = self.subnet_prefix + subnet_id
            writes += self._cas(key, lambda text, s=subnet_id: self._same_json(text, self._subnet_text(s)), subnets.get(key))
        return writes
