/**
 * A lab VM's port through Neutron's API, as nova asks for one: on the VM's network, with its
 * security groups, bound to its host (`binding:host_id`), owned by a compute device. Margay's ML2
 * driver then binds it (`vif_type` tap) and writes its WorkloadEndpoint; the port's first fixed
 * IPv4 address is what the VM must get by DHCP; the network's MTU is the tap's.
 */
import { MargayError } from '../../errors/mod.ts';
import type { LabPort } from './direct-port.ts';

type Json = Record<string, unknown>;

/** What this needs of a Neutron client (src/lab/openstack's NeutronApi has it). */
export interface NeutronClient {
  create<T = Json>(kind: string, fields: Json): Promise<T>;
  list<T = Json>(kind: string, query?: string): Promise<T[]>;
  remove(kind: string, id: string): Promise<void>;
}

interface NeutronPort {
  id: string;
  mac_address: string;
  fixed_ips: { ip_address: string; subnet_id: string }[];
  'binding:vif_type'?: string;
}

/** Finds one resource by id or name; a clear error naming the flag otherwise. */
async function resolve(api: NeutronClient, kind: string, ref: string, flag: string): Promise<string> {
  const byName = await api.list<{ id: string; name: string }>(kind, `name=${encodeURIComponent(ref)}`);
  if (byName.length === 1) return byName[0]!.id;
  const byId = await api.list<{ id: string; name: string }>(kind, `id=${encodeURIComponent(ref)}`);
  if (byId.length === 1) return byId[0]!.id;
  const all = await api.list<{ name: string }>(kind);
  const known = all.map((r) => r.name).filter(Boolean);
  throw new MargayError(
    byName.length > 1 ? 'MARGAY_ERR_USAGE' : 'MARGAY_ERR_NOT_FOUND',
    `${flag} ${ref}: ${byName.length > 1 ? 'several have that name; give the id' : `no such ${kind.replace('_', ' ')}`} (known: ${known.join(', ') || 'none'})`,
  );
}

/** Creates the port of VM `name` on `host`; refuses one Neutron did not bind as a tap. */
export async function createNeutronPort(api: NeutronClient, options: { name: string; host: string; network: string; securityGroups: string[] }): Promise<LabPort> {
  const networkId = await resolve(api, 'network', options.network, '--network');
  const groups = await Promise.all(options.securityGroups.map((sg) => resolve(api, 'security_group', sg, '--security-group')));
  const port = await api.create<NeutronPort>('port', {
    name: options.name,
    network_id: networkId,
    ...(groups.length > 0 ? { security_groups: groups } : {}),
    device_id: options.name,
    device_owner: 'compute:nova',
    'binding:host_id': options.host,
  });
  const address = port.fixed_ips.find((f) => !f.ip_address.includes(':'))?.ip_address;
  const out: LabPort = { id: port.id, tap: `tap${port.id.slice(0, 11)}`, mac: port.mac_address, address: address ?? '' };
  // Nova gives the tap its network's MTU; the VM learns it by DHCP (option 26).
  const mtu = (await api.list<{ mtu?: number }>('network', `id=${encodeURIComponent(networkId)}`))[0]?.mtu;
  if (typeof mtu === 'number') out.mtu = mtu;
  if (port['binding:vif_type'] !== 'tap' || address === undefined) {
    await api.remove('port', port.id).catch(() => undefined);
    throw new MargayError(
      'MARGAY_ERR_NOT_READY',
      address === undefined ? `Neutron gave port ${port.id} no IPv4 address on ${options.network}` : `Neutron did not bind port ${port.id} on ${options.host} (vif_type ${port['binding:vif_type'] ?? 'none'}): is the host's agent running?`,
    );
  }
  return out;
}

/** Deletes the port (already gone is fine). */
export async function deleteNeutronPort(api: NeutronClient, id: string): Promise<void> {
  await api.remove('port', id).catch((err: unknown) => {
    if (!/404|NotFound/.test((err as Error).message)) throw err;
  });
}
