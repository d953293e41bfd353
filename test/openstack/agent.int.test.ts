/**
 * Port status from the host's agent: a real `margay agent` programs the endpoint of a port bound
 * to its host (a stand-in VM: a namespace behind a veth named `tap…`), reports it in etcd, and the
 * driver turns that into the port's status ACTIVE in Neutron (DOWN when created).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestNetns } from '../harness/netns.ts';
import { addPod, type AgentProcess, createHost, startAgent, startPodProcess, type TestPod } from '../agent/lab.ts';
import { addNetwork, addNode, addPort, getWep, until, useOpenStack } from './bed.ts';

type Json = Record<string, any>;

describe('OpenStack driver: port status from the agent', () => {
  const os = useOpenStack();
  let host: TestNetns;
  let agent: AgentProcess;
  const pods: TestPod[] = [];
  let vm: { port: Json; pod: TestPod } | undefined;

  before(async () => {
    host = await createHost();
    await addNode(os.bed.store, 'host-1');
    agent = await startAgent({ etcdEndpoints: os.bed.etcd.endpoints, hostname: 'host-1', netns: host.name, env: { MARGAY_INTERFACEPREFIX: 'tap' } });
    await agent.waitReady();
  });
  after(async () => {
    await agent?.destroy();
    for (const pod of pods) await pod.netns.delete();
    await host?.delete();
  });

  it('a port becomes ACTIVE once the host\'s agent has programmed its endpoint', async () => {
    const { api, store } = os.bed;
    const { network } = await addNetwork(api, '10.82.0.0/24');
    const port = await addPort(api, network, 'host-1');
    assert.equal(port.status, 'DOWN');
    await until(() => getWep(store, port), Boolean, 'the endpoint');
    pods.push(await addPod(host, { name: 'vm', hostInterface: `tap${port.id.slice(0, 11)}`, ip: port.fixed_ips[0].ip_address }));
    await until(() => api.get<Json>('port', port.id), (p) => p.status === 'ACTIVE', 'the port ACTIVE', 30_000);
    vm = { port, pod: pods[pods.length - 1]! };
  });

  it("a floating IP of the port: the agent routes it to the VM's tap and DNATs it; deleting it undoes both", async () => {
    const { api } = os.bed;
    assert.ok(vm, 'needs the ACTIVE port of the test before');
    const { port, pod } = vm;
    const external = await api.create<Json>('network', { name: 'public', 'router:external': true });
    await api.create<Json>('subnet', { network_id: external.id, cidr: '203.0.113.0/24', ip_version: 4, enable_dhcp: false });
    const router = await api.create<Json>('router', { name: 'r1', external_gateway_info: { network_id: external.id } });
    await api.action('router', router.id, 'add_router_interface', { subnet_id: port.fixed_ips[0].subnet_id });
    const fip = await api.create<Json>('floatingip', { floating_network_id: external.id, port_id: port.id });
    const route = () => host.exec('ip', ['route', 'show', `${fip.floating_ip_address}/32`]).then((r) => r.stdout);
    await until(route, (r) => r.includes(`dev ${pod.hostInterface}`), 'the floating IP routed to the tap', 30_000);
    const hostProcess = await startPodProcess(host, 'host', '192.0.2.1', 'uplink0', []);
    const target = { ip: fip.floating_ip_address, port: 80, proto: 'tcp' as const };
    await until(() => hostProcess.probe([target]), (r) => r[0] === true, 'the VM reached through its floating IP (output DNAT)');
    await api.remove('floatingip', fip.id);
    await until(route, (r) => r.trim() === '', 'the route gone', 30_000);
    assert.deepEqual(await hostProcess.probe([target]), [false]);
  });

});
