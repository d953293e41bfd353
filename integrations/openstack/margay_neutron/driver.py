"""The ML2 mechanism driver ``margay`` (entry point group ``neutron.ml2.mechanism_drivers``).

Configuration (any of neutron-server's config files)::

    [ml2]
    mechanism_drivers = margay
    [margay]
    etcd_endpoint = http://127.0.0.1:2379      # or unix:///path/to/etcd.sock
    openstack_region =                          # as the agents' FelixConfiguration openstackRegion
    resync_interval = 60                        # seconds between full resyncs

Ports are bound (vif_type ``tap``) only on hosts with a Margay Node in etcd; a WorkloadEndpoint is
written per bound VM port, a NetworkPolicy per security group, DHCP data per subnet (sync.py); the
agents' endpoint status keys become port status ACTIVE/DOWN/ERROR (status_loop). With Neutron's L3
plugin loaded (``service_plugins = router``), a port's floating IPs become its endpoint's ``ipNATs``.
"""
import json

import eventlet
# ML2's get_ports names Port.port_forwardings, a backref this model module defines and that exists
# once SQLAlchemy's mappers are configured: the API process does that on its first query, a forked
# worker (where the resync runs) has not (MargayWorker.start configures them).
from neutron.db.models import port_forwarding  # noqa: F401
from neutron_lib.callbacks import events
from neutron_lib.callbacks import registry
from neutron_lib.callbacks import resources
from neutron_lib import constants as n_const
from neutron_lib import context as n_context
from neutron_lib import exceptions as n_exc
from neutron_lib.plugins import constants as plugin_constants
from neutron_lib.plugins import directory
from neutron_lib.plugins.ml2 import api
from neutron_lib import worker
from oslo_config import cfg
from oslo_log import log
from sqlalchemy import orm

from margay_neutron import model
from margay_neutron.etcd import Etcd
from margay_neutron.sync import Syncer

LOG = log.getLogger(__name__)

OPTS = [
    cfg.StrOpt('etcd_endpoint', default='http://127.0.0.1:2379',
               help='etcd: http://HOST:PORT or unix://PATH (its v3 JSON gateway).'),
    cfg.FloatOpt('etcd_timeout', default=10.0, help='Seconds per etcd request.'),
    cfg.StrOpt('openstack_region', default='',
               help='The region (as networking-calico [calico] openstack_region); empty: none.'),
    cfg.IntOpt('resync_interval', default=60, min=1, help='Seconds between full resyncs.'),
]
cfg.CONF.register_opts(OPTS, 'margay')

VIF_TYPE = 'tap'
BINDABLE_TYPES = ('local', 'flat')
STATUS = {'up': n_const.PORT_STATUS_ACTIVE, 'down': n_const.PORT_STATUS_DOWN, 'error': n_const.PORT_STATUS_ERROR}


class NeutronView(object):
    """What the syncer reads from Neutron's database, as the admin."""

    def _plugin(self):
        return directory.get_plugin()

    def _ctx(self):
        return n_context.get_admin_context()

    def port(self, port_id):
        ports = self._plugin().get_ports(self._ctx(), filters={'id': [port_id]})
        return ports[0] if ports else None

    def ports(self):
        return self._plugin().get_ports(self._ctx())

    def gateways(self, port):
        ids = [ip['subnet_id'] for ip in port.get('fixed_ips') or []]
        if not ids:
            return {}
        return {s['id']: s['gateway_ip'] for s in self._plugin().get_subnets(self._ctx(), filters={'id': ids})}

    def security_group_exists(self, sg_id):
        return bool(self._plugin().get_security_groups(self._ctx(), filters={'id': [sg_id]}, fields=['id']))

    def security_group_ids(self):
        return [sg['id'] for sg in self._plugin().get_security_groups(self._ctx(), fields=['id'])]

    def rules(self, sg_ids):
        return self._plugin().get_security_group_rules(self._ctx(), filters={'security_group_id': sg_ids})

    def subnet(self, subnet_id):
        subnets = self._plugin().get_subnets(self._ctx(), filters={'id': [subnet_id]})
        return subnets[0] if subnets else None

    def subnets(self):
        return self._plugin().get_subnets(self._ctx())

    def subnet_ids(self, network_id):
        return [s['id'] for s in self._plugin().get_subnets(self._ctx(), filters={'network_id': [network_id]}, fields=['id'])]

    def floating_ips(self, port_id):
        """The floating IPs associated with a port ([] without Neutron's L3 plugin)."""
        l3 = directory.get_plugin(plugin_constants.L3)
        if l3 is None:
            return []
        return l3.get_floatingips(self._ctx(), filters={'port_id': [port_id]},
                                  fields=['fixed_ip_address', 'floating_ip_address'])

    def network_mtu(self, network_id):
        networks = self._plugin().get_networks(self._ctx(), filters={'id': [network_id]}, fields=['mtu'])
        return networks[0].get('mtu') if networks else None

    def set_port_status(self, port_id, status, host):
        port = self.port(port_id)
        if port is None or port['status'] == status or port.get('binding:host_id') != host:
            return False
        self._plugin().update_port_status(self._ctx(), port_id, status, host=host)
        return True


class MargayWorker(worker.BaseWorker):
    """The resync timer and the status follower, once per neutron-server (a thread, not a process)."""

    def __init__(self, driver):
        super().__init__(worker_process_count=0, desc='margay')
        self._driver = driver
        self._threads = []

    def start(self, name='neutron-server', desc=None):
        super().start(name=name, desc=desc)
        orm.configure_mappers()
        self._threads = [eventlet.spawn(self._driver.resync_loop), eventlet.spawn(self._driver.status_loop)]

    def stop(self):
        for thread in self._threads:
            thread.kill()
        self._threads = []

    def wait(self):
        pass

    def reset(self):
        pass


class MargayMechanismDriver(api.MechanismDriver):
    """Binds ports on Margay hosts and mirrors Neutron into Calico-shaped etcd data."""

    def initialize(self):
        conf = cfg.CONF.margay
        try:
            self.etcd = Etcd(conf.etcd_endpoint, conf.etcd_timeout)
        except ValueError as err:
            raise n_exc.InvalidConfigurationOption(opt_name='[margay] etcd_endpoint', opt_value=str(err))
        self.region = conf.openstack_region
        self.neutron = NeutronView()
        self.syncer = Syncer(self.etcd, self.neutron, self.region)
        self.resync_interval = conf.resync_interval
        for event in (events.AFTER_CREATE, events.AFTER_UPDATE, events.AFTER_DELETE):
            registry.subscribe(self._security_group_changed, resources.SECURITY_GROUP, event)
        registry.subscribe(self._check_rule, resources.SECURITY_GROUP_RULE, events.BEFORE_CREATE)
        for event in (events.AFTER_CREATE, events.AFTER_DELETE):
            registry.subscribe(self._rule_changed, resources.SECURITY_GROUP_RULE, event)
        for event in (events.AFTER_CREATE, events.AFTER_UPDATE, events.AFTER_DELETE):
            registry.subscribe(self._floating_ip_changed, resources.FLOATING_IP, event)
        LOG.info('margay: mechanism driver on etcd %s, namespace %s', conf.etcd_endpoint, self.syncer.namespace)

    def get_workers(self):
        return [MargayWorker(self)]

    # -- binding -------------------------------------------------------------------------------
    def _host_runs_margay(self, host):
        return bool(host) and self.etcd.get(model.NODE_PREFIX + host) is not None

    def bind_port(self, context):
        host = context.host
        if not self._host_runs_margay(host):
            LOG.warning('margay: not binding port %s: host %r runs no Margay agent (no Node %s in etcd)',
                        context.current['id'], host, host)
            return
        for segment in context.segments_to_bind:
            if segment[api.NETWORK_TYPE] in BINDABLE_TYPES:
                context.set_binding(segment[api.ID], VIF_TYPE,
                                    {'port_filter': True, 'mac_address': context.current['mac_address']})
                return
        LOG.warning('margay: not binding port %s: no segment of type %s', context.current['id'], '/'.join(BINDABLE_TYPES))

    # -- ports ---------------------------------------------------------------------------------
    def _check_port(self, context):
        try:
            model.check_port(context.current)
        except model.Inexpressible as err:
            raise n_exc.InvalidInput(error_message='Margay cannot express this port: %s' % err)

    create_port_precommit = _check_port
    update_port_precommit = _check_port

    def create_port_postcommit(self, context):
        self.syncer.sync_port(context.current)

    def update_port_postcommit(self, context):
        self.syncer.sync_port(context.current, context.original)

    def delete_port_postcommit(self, context):
        self.syncer.delete_port(context.current)

    # -- floating IPs (Neutron's L3 plugin, service_plugins = router) ---------------------------
    def _floating_ip_changed(self, resource, event, trigger, payload):
        """Rewrites the endpoints of the ports a floating IP was and is associated with."""
        port_ids = {state.get('port_id') for state in payload.states if isinstance(state, dict)}
        for port_id in sorted(p for p in port_ids if p):
            port = self.neutron.port(port_id)
            if port is not None:
                self.syncer.sync_port(port)

    # -- subnets -------------------------------------------------------------------------------
    def create_subnet_postcommit(self, context):
        self.syncer.sync_subnet(context.current['id'])

    update_subnet_postcommit = create_subnet_postcommit
    delete_subnet_postcommit = create_subnet_postcommit

    def update_network_postcommit(self, context):
        # The network's MTU is in its subnets' DHCP data.
        if context.current.get('mtu') != (context.original or {}).get('mtu'):
            self.syncer.sync_network(context.current['id'])

    # -- security groups -----------------------------------------------------------------------
    def _check_rule(self, resource, event, trigger, payload):
        rule = dict(payload.latest_state)
        try:
            model.calico_rule(rule)
        except model.Inexpressible as err:
            raise n_exc.InvalidInput(error_message='Margay cannot express this rule: %s' % err)

    def _security_group_changed(self, resource, event, trigger, payload):
        self.syncer.sync_security_group(payload.resource_id)

    def _rule_changed(self, resource, event, trigger, payload):
        sg_id = (payload.metadata or {}).get('security_group_id') or (payload.latest_state or {}).get('security_group_id')
        if sg_id:
            self.syncer.sync_security_group(sg_id)

    # -- loops ---------------------------------------------------------------------------------
    def resync_loop(self):
        """A full resync at start and every resync_interval seconds; failures wait for the next one."""
        while True:
            try:
                writes = self.syncer.resync()
                LOG.info('margay: resync done (%d writes)', writes)
            except Exception:  # noqa: a failed resync is retried on the next tick
                LOG.exception('margay: resync failed; retrying in %d s', self.resync_interval)
            eventlet.sleep(self.resync_interval)

    def _apply_status(self, key, value):
        prefix = model.felix_status_prefix(self.region)
        parts = key[len(prefix):].split('/')
        # <host>/workload/<orchestrator>/<workload>/endpoint/<endpoint>
        if len(parts) != 6 or parts[1] != 'workload' or parts[2] != model.ORCHESTRATOR or parts[4] != 'endpoint':
            return
        host, port_id = parts[0].replace('%2f', '/'), parts[5]
        status = n_const.PORT_STATUS_DOWN
        if value is not None:
            try:
                status = STATUS.get(json.loads(value).get('status'), n_const.PORT_STATUS_ERROR)
            except (ValueError, AttributeError):
                status = n_const.PORT_STATUS_ERROR
        if self.neutron.set_port_status(port_id, status, host):
            LOG.info('margay: port %s on %s is %s', port_id, host, status)

    def status_loop(self):
        """Follows the agents' endpoint status keys and sets each port's status from them."""
        prefix = model.felix_status_prefix(self.region)
        while True:
            try:
                items, revision = self.etcd.get_prefix(prefix)
                for key, (value, _) in items.items():
                    self._apply_status(key, value)
                for key, value in self.etcd.watch_prefix(prefix, revision + 1):
                    self._apply_status(key, value)
            except Exception as err:  # noqa: list again after a pause
                LOG.warning('margay: endpoint status watch ended (%s); listing again', err)
            eventlet.sleep(1)
