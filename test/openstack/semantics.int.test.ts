/**
 * Security groups keep Neutron's semantics once in Margay: groups and rules made through a real
 * neutron-server, the resulting endpoints and policies read back from etcd and evaluated by
 * Margay's own policy evaluator (the one `margay policy trace/matrix` and the agent's rules come
 * from): ingress denied unless a rule allows it, also between members of one group; remote-group
 * and remote-CIDR rules; egress allowed by a group's default rules and denied without them.
 */
import { describe, it } from 'node:test';
import { networkPolicyKind, workloadEndpointKind } from '../../src/api/mod.ts';
import { PolicyView, runTrace } from '../../src/policy/mod.ts';
import { addNetwork, addNode, addPort, getWep, until, useOpenStack } from './bed.ts';

type Json = Record<string, any>;

describe('OpenStack driver: Neutron\'s security group semantics', () => {
  const os = useOpenStack();

  it('denies by default, allows what rules say, per direction', async () => {
    const { api, store } = os.bed;
    await addNode(store, 'host-1');
    const { network } = await addNetwork(api, '10.86.0.0/24');
    const web = await api.create<Json>('security_group', { name: 'web' });
    const a = await addPort(api, network, 'host-1', { security_groups: [web.id] });
    const b = await addPort(api, network, 'host-1', { security_groups: [web.id] });
    for (const p of [a, b]) await until(() => getWep(store, p), Boolean, 'the endpoint');
    const ipA = a.fixed_ips[0].ip_address as string;
    const ipB = b.fixed_ips[0].ip_address as string;
    const matrix = async () => {
      const [weps, policies] = await Promise.all([store.list(workloadEndpointKind, 'openstack'), store.list(networkPolicyKind, 'openstack')]);
      const view = new PolicyView([...weps.items, ...policies.items]);
      const v = (from: string, to: string, port: number, protocol: string) => runTrace(view, { from, to, port, protocol }).verdict === 'allow';
      return { ab80: v(ipA, ipB, 80, 'TCP'), ab81u: v(ipA, ipB, 81, 'UDP'), ba80: v(ipB, ipA, 80, 'TCP'), ba81u: v(ipB, ipA, 81, 'UDP') };
    };
    const expect = (want: Record<string, boolean>, what: string) => until(matrix, (m) => JSON.stringify(m) === JSON.stringify(want), what);
    await expect({ ab80: false, ab81u: false, ba80: false, ba81u: false }, 'members of one group denied without an ingress rule');
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_group_id: web.id });
    await expect({ ab80: true, ab81u: false, ba80: true, ba81u: false }, 'TCP 80 from the group allowed, nothing else');
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'udp', port_range_min: 81, port_range_max: 81, remote_ip_prefix: `${ipA}/32` });
    await expect({ ab80: true, ab81u: true, ba80: true, ba81u: false }, 'UDP 81 only from a\'s address');
    const egress4 = (await api.list<Json>('security_group_rule', `security_group_id=${web.id}&direction=egress&ethertype=IPv4`))[0]!;
    await api.remove('security_group_rule', egress4.id);
    await expect({ ab80: false, ab81u: false, ba80: false, ba81u: false }, 'no egress rule: egress denied');
    await api.create('security_group_rule', { security_group_id: web.id, direction: 'egress', ethertype: 'IPv4' });
    await expect({ ab80: true, ab81u: true, ba80: true, ba81u: false }, 'egress allowed again');
  });
});
