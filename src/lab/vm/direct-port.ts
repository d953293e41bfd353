/**
 * Test plumbing for lab VMs without Neutron (`--stand-in`, and the tests of VM boot and DHCP):
 * writes what networking-calico's driver would write — a WorkloadEndpoint per port and the
 * subnet's DHCP data under `/calico/dhcp/v2/no-region/subnet/` — straight into etcd. The user path
 * creates ports through Neutron (`lab up --openstack`), never through this.
 *
 * The stand-in subnet is the last /24 of the lab's IPv4 pool, gateway `.1`; addresses are taken
 * in order from `.2` among those the lab's VMs do not use.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { validateResource, workloadEndpointName } from '../../api/mod.ts';
import { subnetPrefix } from '../../dhcp/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { cidrSize, formatIp, nthIp, parseCidr } from '../../net/mod.ts';
import type { LabState } from '../state.ts';
import { withStore } from '../lab.ts';

/** The WorkloadEndpoints' namespace (networking-calico's, without a region). */
export const OPENSTACK_NAMESPACE = 'openstack';
/** The stand-in network and subnet ids. */
export const STAND_IN_NETWORK = 'margay-lab-net';
export const STAND_IN_SUBNET = 'margay-lab-subnet';

/** A port, however it was made. */
export interface LabPort {
  id: string;
  /** `tap` + the first 11 characters of the id. */
  tap: string;
  mac: string;
  address: string;
  /** The WorkloadEndpoint's name (direct ports). */
  endpointName?: string;
  /** The network's MTU (Neutron ports), given to the tap as nova does. */
  mtu?: number;
}

/** The stand-in subnet: the last /24 of the lab's IPv4 pool. */
export function standInSubnet(state: LabState): { cidr: string; gateway: string } {
  const pool = parseCidr(state.plan.ranges.pool4)!;
  const last24 = { ...pool, base: pool.base + cidrSize(pool) - 256n, prefix: 24 };
  return { cidr: `${formatIp(nthIp(last24, 0))}/24`, gateway: formatIp(nthIp(last24, 1)) };
}

/** A locally administered MAC with OpenStack's fa:16:3e prefix. */
export function portMac(): string {
  return `fa:16:3e:${[...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

/** Writes the subnet data and a WorkloadEndpoint for a new port of VM `name` on `host`. */
export async function createDirectPort(state: LabState, options: { name: string; host: string; securityGroups: string[] }): Promise<LabPort> {
  const subnet = standInSubnet(state);
  const used = new Set((state.vms ?? []).map((v) => v.address));
  const net = parseCidr(subnet.cidr)!;
  let address: string | undefined;
  for (let i = 2; i < 255 && address === undefined; i++) if (!used.has(formatIp(nthIp(net, i)))) address = formatIp(nthIp(net, i));
  if (address === undefined) throw new MargayError('MARGAY_ERR_POOL_EXHAUSTED', `the lab's stand-in subnet ${subnet.cidr} has no free address left`);
  const id = randomUUID();
  const port: LabPort = { id, tap: `tap${id.slice(0, 11)}`, mac: portMac(), address };
  const workload = options.name;
  port.endpointName = workloadEndpointName({ node: options.host, orchestrator: 'openstack', workload, endpoint: id });
  const wep = validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: {
      name: port.endpointName,
      namespace: OPENSTACK_NAMESPACE,
      labels: Object.fromEntries(options.securityGroups.map((sg) => [`sg.projectcalico.org/openstack-${sg}`, sg])),
      annotations: { 'openstack.projectcalico.org/network-id': STAND_IN_NETWORK },
    },
    spec: { node: options.host, orchestrator: 'openstack', workload, endpoint: id, interfaceName: port.tap, mac: port.mac, ipNetworks: [`${address}/32`] },
  });
  await withStore(state, async (store) => {
    const value = JSON.stringify({ network_id: STAND_IN_NETWORK, cidr: subnet.cidr, host_routes: [], gateway_ip: subnet.gateway });
    await store.datastore.put(`${subnetPrefix('')}${STAND_IN_SUBNET}`, value);
    await store.batch('apply', [wep]);
  });
  return port;
}

/** Removes a direct port's WorkloadEndpoint (the subnet data stays for the other VMs). */
export async function deleteDirectPort(state: LabState, port: LabPort): Promise<void> {
  if (port.endpointName === undefined) return;
  const name = port.endpointName;
  await withStore(state, (store) => store.datastore.delete(`/calico/resources/v3/projectcalico.org/workloadendpoints/${OPENSTACK_NAMESPACE}/${name}`).then(() => undefined, () => undefined));
}
