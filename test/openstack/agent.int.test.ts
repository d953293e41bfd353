/**
 * Port status from the host's agent: a real `margay agent` programs the endpoint of a port bound
 * to its host (a stand-in VM: a namespace behind a veth named `tap…`), reports it in etcd, and the
 * driver turns that into the port's status ACTIVE in Neutron (DOWN when created).
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

});
