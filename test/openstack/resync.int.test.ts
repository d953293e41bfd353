/**
 * The driver's resync against a real neutron-server and etcd: drift in what it owns is repaired (a
 * WorkloadEndpoint deleted by hand comes back, a stale one goes, a policy edited by hand is put
 * back, a stale subnet key goes), what it does not own is left alone, and neutron-server killed
 * with SIGKILL and started again loses nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { networkPolicyKind, type Resource, workloadEndpointKind } from '../../src/api/mod.ts';
import { etcdctl } from '../harness/etcd.ts';
import { addNetwork, addNode, addPort, getPolicy, getWep, until, useOpenStack, wepName } from './bed.ts';

type Json = Record<string, any>;

/** Resync period of this file's neutron-server, in seconds. */
const RESYNC_S = 2;

function foreignWep(name: string, orchestrator: string, workload: string): Resource {
  return {
    apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata: { name, namespace: 'openstack' },
    spec: { orchestrator, node: 'host-1', workload, endpoint: 'eth0', interfaceName: 'tapdeadbeef-00', ipNetworks: ['10.81.0.250/32'] },
  } as unknown as Resource;
}

describe('OpenStack driver: resync and restarts', () => {
  const os = useOpenStack({ resyncInterval: RESYNC_S });
  let net: { network: Json; subnet: Json };
  let port: Json;
  let sg: Json;

  it('puts back a WorkloadEndpoint deleted by hand and a policy edited by hand', async () => {
    const { api, store, etcd } = os.bed;
    await addNode(store, 'host-1');
    net = await addNetwork(api, '10.81.0.0/24');
    sg = await api.create<Json>('security_group', { name: 'r' });
    await api.create('security_group_rule', { security_group_id: sg.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 80 });
    port = await addPort(api, net.network, 'host-1', { security_groups: [sg.id] });
    const original = await until(() => getWep(store, port), Boolean, 'the endpoint');
    const policy = await until(() => getPolicy(store, sg.id), (p) => (p?.spec as Json)?.ingress?.length === 1, 'the policy');
    etcdctl(etcd.endpoints, ['del', `/calico/resources/v3/projectcalico.org/workloadendpoints/openstack/${wepName(port)}`]);
    const edited = structuredClone(policy!);
    (edited.spec as Json).ingress = [];
    await store.apply(edited);
    assert.equal(await getWep(store, port), undefined);
    const back = await until(() => getWep(store, port), Boolean, 'the endpoint back after a resync', RESYNC_S * 5000);
    assert.deepEqual(back!.spec, original!.spec);
    await until(() => getPolicy(store, sg.id), (p) => (p?.spec as Json)?.ingress?.length === 1, 'the policy repaired', RESYNC_S * 5000);
  });

  it('removes a stale endpoint and a stale subnet key, and leaves what it does not own', async () => {
    const { store, etcd } = os.bed;
    const stale = foreignWep('host--1-openstack-gone-00000000--0000--0000--0000--000000000000', 'openstack', 'gone');
    (stale.spec as Json).endpoint = '00000000-0000-0000-0000-000000000000';
    await store.apply(stale);
    const foreign = foreignWep('host--1-k8s-pod-eth0', 'k8s', 'pod');
    (foreign.spec as Json).pod = 'pod';
    delete (foreign.spec as Json).workload;
    await store.apply(foreign);
    const otherPolicy = { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'mine', namespace: 'openstack' }, spec: { selector: 'all()' } } as unknown as Resource;
    await store.apply(otherPolicy);
    const staleSubnet = '/calico/dhcp/v2/no-region/subnet/11111111-2222-3333-4444-555555555555';
    etcdctl(etcd.endpoints, ['put', staleSubnet, '{"cidr":"10.99.0.0/24"}']);
    await until(() => store.get(workloadEndpointKind, stale.metadata.name, 'openstack'), (w) => w === undefined, 'the stale endpoint removed', RESYNC_S * 5000);
    await until(async () => etcdctl(etcd.endpoints, ['get', staleSubnet, '--print-value-only']).trim(), (v) => v === '', 'the stale subnet removed', RESYNC_S * 5000);
    assert.ok(await store.get(workloadEndpointKind, foreign.metadata.name, 'openstack'), 'a k8s endpoint is not the driver\'s');
    assert.ok(await store.get(networkPolicyKind, 'mine', 'openstack'), 'a policy not named ossg.default.* is not the driver\'s');
    assert.ok(await getWep(store, port), 'the live port keeps its endpoint');
  });

  it('loses nothing when neutron-server is killed with SIGKILL and started again', async () => {
    const { api, store, etcd, neutron } = os.bed;
    const second = await addPort(api, net.network, 'host-1', { security_groups: [sg.id] });
    await until(() => getWep(store, second), Boolean, 'the second endpoint');
    const weps = (await store.list(workloadEndpointKind, 'openstack')).items.map((w) => w.metadata.name).sort();
    const policies = (await store.list(networkPolicyKind, 'openstack')).items.map((p) => [p.metadata.name, p.spec]);
    await neutron.kill();
    // Drift while it is down: repaired by the resync at start.
    etcdctl(etcd.endpoints, ['del', `/calico/resources/v3/projectcalico.org/workloadendpoints/openstack/${wepName(second)}`]);
    await neutron.restart();
    assert.equal((await api.get<Json>('port', second.id))['binding:vif_type'], 'tap');
    assert.equal((await api.get<Json>('security_group', sg.id)).id, sg.id);
    await until(async () => (await store.list(workloadEndpointKind, 'openstack')).items.map((w) => w.metadata.name).sort(), (names) => JSON.stringify(names) === JSON.stringify(weps), 'every endpoint as before', RESYNC_S * 5000);
    assert.deepEqual((await store.list(networkPolicyKind, 'openstack')).items.map((p) => [p.metadata.name, p.spec]), policies);
    const third = await addPort(api, net.network, 'host-1');
    assert.equal(third['binding:vif_type'], 'tap');
    await until(() => getWep(store, third), Boolean, 'an endpoint for a port made after the restart');
  });
});
