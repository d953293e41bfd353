// Floating IPs through a real neutron-server with its L3 plugin (no L3 agent): an external
// network, a router joining it to the VM's subnet, a floating IP associated with the VM's port →
// the port's WorkloadEndpoint carries `ipNATs`; moving and deleting the floating IP follow.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addNetwork, addNode, addPort, getWep, until, useOpenStack } from './bed.ts';

type Json = Record<string, any>;

const nats = (wep: any): Json[] | undefined => wep?.spec?.ipNATs;

describe('OpenStack driver: floating IPs → ipNATs', () => {
  const os = useOpenStack();

  it('associates, moves and deletes a floating IP, and the endpoints follow', async () => {
    const { api, store } = os.bed;
    await addNode(store, 'host-1');
    const net = await addNetwork(api, '10.90.0.0/24');
    const external = await api.create<Json>('network', { name: 'public', 'router:external': true });
    await api.create<Json>('subnet', { network_id: external.id, cidr: '203.0.113.0/24', ip_version: 4, enable_dhcp: false });
    const router = await api.create<Json>('router', { name: 'r1', external_gateway_info: { network_id: external.id } });
    await api.action('router', router.id, 'add_router_interface', { subnet_id: net.subnet.id });

    const vm1 = await addPort(api, net.network, 'host-1');
    const vm2 = await addPort(api, net.network, 'host-1');
    await until(() => getWep(store, vm1), Boolean, 'the first endpoint');
    assert.equal(nats(await getWep(store, vm1)), undefined, 'no floating IP yet');

    const fip = await api.create<Json>('floatingip', { floating_network_id: external.id, port_id: vm1.id });
    const internal1 = vm1.fixed_ips[0].ip_address;
    const wep1 = await until(() => getWep(store, vm1), (w) => nats(w) !== undefined, 'ipNATs on the first endpoint');
    assert.deepEqual(nats(wep1), [{ internalIP: internal1, externalIP: fip.floating_ip_address }]);

    await api.update('floatingip', fip.id, { port_id: vm2.id });
    const wep2 = await until(() => getWep(store, vm2), (w) => nats(w) !== undefined, 'ipNATs moved to the second endpoint');
    assert.deepEqual(nats(wep2), [{ internalIP: vm2.fixed_ips[0].ip_address, externalIP: fip.floating_ip_address }]);
    await until(() => getWep(store, vm1), (w) => w !== undefined && nats(w) === undefined, 'ipNATs gone from the first endpoint');

    await api.remove('floatingip', fip.id);
    await until(() => getWep(store, vm2), (w) => w !== undefined && nats(w) === undefined, 'ipNATs gone with the floating IP');
  });
});
