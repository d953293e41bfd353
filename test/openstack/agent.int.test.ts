/**
 * Neutron's ports and security groups through a real `margay agent`: it programs the endpoint of
 * a port bound to its host (a stand-in VM: a namespace behind a veth named `tap…`), reports it in
 * etcd, and the driver turns that into the port's status ACTIVE in Neutron (DOWN when created); and
 * security groups are enforced with Neutron's semantics — ingress denied unless a rule allows it
 * (also between members of one group), remote-group and remote-CIDR rules, egress allowed by the
 * default rules and denied without them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestNetns } from '../harness/netns.ts';
import { addPod, type AgentProcess, createHost, startAgent, type TestPod } from '../agent/lab.ts';
import { addNetwork, addNode, addPort, getWep, until, useOpenStack } from './bed.ts';

type Json = Record<string, any>;

describe('OpenStack driver: port status from the agent', () => {
  const os = useOpenStack();
  let host: TestNetns;
  let agent: AgentProcess;
  const pods: TestPod[] = [];

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
  });

  it('enforces security groups as Neutron defines them', async () => {
    const { api } = os.bed;
    const { network } = await addNetwork(api, '10.84.0.0/24');
    const web = await api.create<Json>('security_group', { name: 'web' });
    // The VM's interface exists before the port is bound (the agent on this branch programs a
    // route when its endpoint arrives, not when a link appears later).
    const vm = async (name: string) => {
      const port = await api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: name, security_groups: [web.id] });
      const pod = await addPod(host, { name, hostInterface: `tap${port.id.slice(0, 11)}`, ip: port.fixed_ips[0].ip_address, ports: [80, 81] });
      pods.push(pod);
      await api.update('port', port.id, { 'binding:host_id': 'host-1' });
      await until(() => api.get<Json>('port', port.id), (p) => p.status === 'ACTIVE', `${name} ACTIVE`, 30_000);
      return pod;
    };
    const a = await vm('a');
    const b = await vm('b');
    const matrix = async () => {
      const [ab80, ab81u] = await a.probe([{ ip: b.ip, port: 80, proto: 'tcp' }, { ip: b.ip, port: 81, proto: 'udp' }], 1000);
      const [ba80, ba81u] = await b.probe([{ ip: a.ip, port: 80, proto: 'tcp' }, { ip: a.ip, port: 81, proto: 'udp' }], 1000);
      return { ab80, ab81u, ba80, ba81u };
    };
    const expect = (want: Record<string, boolean>, what: string) => until(matrix, (m) => JSON.stringify(m) === JSON.stringify(want), what, 30_000);
    await expect({ ab80: false, ab81u: false, ba80: false, ba81u: false }, 'members of one group denied without an ingress rule');
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_group_id: web.id });
    await expect({ ab80: true, ab81u: false, ba80: true, ba81u: false }, 'TCP 80 from the group allowed, nothing else');
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'udp', port_range_min: 81, port_range_max: 81, remote_ip_prefix: `${a.ip}/32` });
    await expect({ ab80: true, ab81u: true, ba80: true, ba81u: false }, 'UDP 81 only from a\'s address');
    const egress4 = (await api.list<Json>('security_group_rule', `security_group_id=${web.id}&direction=egress&ethertype=IPv4`))[0]!;
    await api.remove('security_group_rule', egress4.id);
    await expect({ ab80: false, ab81u: false, ba80: false, ba81u: false }, 'no egress rule: egress denied');
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'egress', ethertype: 'IPv4' });
    await expect({ ab80: true, ab81u: true, ba80: true, ba81u: false }, 'egress allowed again');
  });
});
