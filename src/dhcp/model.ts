/**
 * What the DHCP service reads from the datastore, decoded (pure): the subnets Neutron's driver
 * writes under `/calico/dhcp/v2/<region>/subnet/<subnet-id>` (networking-calico's layout and
 * JSON fields: `network_id`, `cidr`, `gateway_ip`, `host_routes`, `dns_servers`,
 * `ipv6_ra_mode`, `ipv6_address_mode`), and this host's OpenStack WorkloadEndpoints (interface,
 * MAC, addresses, the `openstack.projectcalico.org/network-id` and `…/fqdn` annotations).
 *
 * Invalid data is skipped with a reason (as networking-calico's DHCP agent ignores it), never
 * thrown: one bad key must not stop DHCP for every other VM.
 */
import { addressOf, canonicalCidr } from '../net/mod.ts';

/** networking-calico's annotation prefix on OpenStack WorkloadEndpoints. */
export const OPENSTACK_ANNOTATION_PREFIX = 'openstack.projectcalico.org/';
const NETWORK_ID_ANNOTATION = `${OPENSTACK_ANNOTATION_PREFIX}network-id`;
const FQDN_ANNOTATION = `${OPENSTACK_ANNOTATION_PREFIX}fqdn`;
/** A Margay extension the driver writes: the port's `extra_dhcp_opts` (JSON list). */
const EXTRA_OPTS_ANNOTATION = `${OPENSTACK_ANNOTATION_PREFIX}extra-dhcp-opts`;

/** The region string of networking-calico's keys: `region-<name>`, or `no-region`. */
export function regionString(openstackRegion: string): string {
  return openstackRegion === '' ? 'no-region' : `region-${openstackRegion}`;
}

/** The prefix under which the driver writes subnets for a region. */
export function subnetPrefix(openstackRegion: string): string {
  return `/calico/dhcp/v2/${regionString(openstackRegion)}/subnet/`;
}

/** A host route of a subnet (Neutron's `host_routes` item). */
export interface HostRoute {
  destination: string;
  nexthop: string;
}

/** One Neutron subnet with DHCP enabled, as the driver wrote it. */
export interface DhcpSubnet {
  id: string;
  networkId: string;
  /** Canonical CIDR. */
  cidr: string;
  family: 4 | 6;
  /** Undefined when the subnet has no gateway (`gateway_ip: null`). */
  gatewayIp?: string;
  dnsServers: string[];
  hostRoutes: HostRoute[];
  /** The network's MTU (a Margay addition to the subnet data), handed out as option 26. */
  mtu?: number;
  /** IPv6: Neutron's `ipv6_address_mode` (only when the data has both modes). */
  ipv6AddressMode?: Ipv6Mode;
  /** IPv6: Neutron's `ipv6_ra_mode`. */
  ipv6RaMode?: Ipv6Mode;
}

/** Neutron's IPv6 modes. */
export type Ipv6Mode = 'slaac' | 'dhcpv6-stateful' | 'dhcpv6-stateless';
const IPV6_MODES: readonly string[] = ['slaac', 'dhcpv6-stateful', 'dhcpv6-stateless'];

/** One of a port's `extra_dhcp_opts` (DHCPv4). */
export interface DhcpExtraOption {
  /** A dnsmasq option name (`ntp-server`) or a number (`42`). */
  name: string;
  value: string;
}

/** One local OpenStack endpoint that DHCP serves. */
export interface DhcpEndpoint {
  /** The WorkloadEndpoint's key (for logs). */
  key: string;
  interfaceName: string;
  /** Lower-case `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Plain addresses (no prefix length), in the endpoint's order. */
  addresses: string[];
  networkId?: string;
  /** The VM's host name (the first label of the fqdn annotation). */
  hostname?: string;
  /** The port's extra DHCPv4 options. */
  extraOptions: DhcpExtraOption[];
  /** Why extra options were not taken (they are then left out, the rest is served). */
  extraSkipped?: string;
}

/** A decoded value, or why it was skipped. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

const skip = <T>(reason: string): Decoded<T> => ({ ok: false, reason });

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function plainAddress(text: unknown): string | undefined {
  return typeof text === 'string' ? addressOf(text) : undefined;
}

/** Decodes a subnet key's value (JSON text); `id` is the last key segment. */
export function decodeSubnet(id: string, text: string): Decoded<DhcpSubnet> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return skip('not JSON');
  }
  if (!isObject(data)) return skip('not a JSON object');
  const cidr = typeof data.cidr === 'string' ? canonicalCidr(data.cidr) : undefined;
  if (cidr === undefined) return skip('cidr: not a CIDR');
  if (!('gateway_ip' in data)) return skip('gateway_ip: missing');
  const family: 4 | 6 = cidr.includes(':') ? 6 : 4;
  const out: DhcpSubnet = {
    id,
    networkId: typeof data.network_id === 'string' ? data.network_id : 'calico',
    cidr,
    family,
    dnsServers: [],
    hostRoutes: [],
  };
  if (data.gateway_ip !== null) {
    const gw = plainAddress(data.gateway_ip);
    if (gw === undefined) return skip('gateway_ip: not an address');
    out.gatewayIp = gw;
  }
  if (Array.isArray(data.dns_servers)) {
    for (const s of data.dns_servers) {
      const a = plainAddress(s);
      if (a === undefined) return skip(`dns_servers: ${JSON.stringify(s)} is not an address`);
      out.dnsServers.push(a);
    }
  }
  if (Array.isArray(data.host_routes)) {
    for (const r of data.host_routes) {
      const destination = isObject(r) && typeof r.destination === 'string' ? canonicalCidr(r.destination) : undefined;
      const nexthop = isObject(r) ? plainAddress(r.nexthop) : undefined;
      if (destination === undefined || nexthop === undefined) return skip(`host_routes: ${JSON.stringify(r)} needs a destination CIDR and a nexthop address`);
      out.hostRoutes.push({ destination, nexthop });
    }
  }
  for (const [field, key] of [['ipv6_address_mode', 'ipv6AddressMode'], ['ipv6_ra_mode', 'ipv6RaMode']] as const) {
    const mode = data[field];
    if (mode === undefined || mode === null) continue;
    if (typeof mode !== 'string' || !IPV6_MODES.includes(mode)) return skip(`${field}: one of ${IPV6_MODES.join(', ')}`);
    out[key] = mode as Ipv6Mode;
  }
  if (data.mtu !== undefined) {
    if (!Number.isInteger(data.mtu) || (data.mtu as number) < 68 || (data.mtu as number) > 65535) return skip('mtu: not an integer from 68 to 65535');
    out.mtu = data.mtu as number;
  }
  return { ok: true, value: out };
}

/**
 * DHCPv4 option names dnsmasq knows (`dnsmasq --help dhcp`, 2.90): an unknown name in the
 * options file would make dnsmasq refuse the whole file. Numbers 1–254 are taken as well.
 */
export const DHCP_OPTION_NAMES: ReadonlySet<string> = new Set(
  ('netmask time-offset router dns-server log-server lpr-server boot-file-size domain-name swap-server root-path ' +
    'extension-path ip-forward-enable non-local-source-routing policy-filter max-datagram-reassembly default-ttl mtu ' +
    'all-subnets-local router-discovery router-solicitation static-route trailer-encapsulation arp-timeout ethernet-encap ' +
    'tcp-ttl tcp-keepalive nis-domain nis-server ntp-server netbios-ns netbios-dd netbios-nodetype netbios-scope ' +
    'x-windows-fs x-windows-dm T1 T2 vendor-class nis+-domain nis+-server tftp-server bootfile-name mobile-ip-home ' +
    'smtp-server pop3-server nntp-server irc-server user-class rapid-commit client-arch client-interface-id ' +
    'client-machine-id posix-timezone tzdb-timezone ipv6-only domain-search sip-server classless-static-route ' +
    'vendor-id-encap tftp-server-address server-ip-address').split(' '),
);

/** Decodes the extra-dhcp-opts annotation (pure): the options, or why they were left out. */
export function decodeExtraOptions(text: unknown): Decoded<DhcpExtraOption[]> {
  if (text === undefined) return { ok: true, value: [] };
  let data: unknown;
  try {
    data = JSON.parse(String(text));
  } catch {
    return skip(`${EXTRA_OPTS_ANNOTATION}: not JSON`);
  }
  if (!Array.isArray(data)) return skip(`${EXTRA_OPTS_ANNOTATION}: not a list`);
  const out: DhcpExtraOption[] = [];
  for (const [i, o] of data.entries()) {
    const at = `${EXTRA_OPTS_ANNOTATION}[${i}]`;
    if (!isObject(o) || typeof o.opt_name !== 'string' || typeof o.opt_value !== 'string') return skip(`${at}: needs opt_name and opt_value strings`);
    if ((o.ip_version ?? 4) !== 4) return skip(`${at}: ip_version ${String(o.ip_version)}: only DHCPv4 is served`);
    const numeric = /^[0-9]{1,3}$/.test(o.opt_name) && Number(o.opt_name) >= 1 && Number(o.opt_name) <= 254;
    if (!numeric && !DHCP_OPTION_NAMES.has(o.opt_name)) return skip(`${at}.opt_name ${JSON.stringify(o.opt_name)}: not a DHCPv4 option dnsmasq knows (a number 1-254 or a name such as ntp-server)`);
    if (/[\r\n]/.test(o.opt_value)) return skip(`${at}.opt_value: has a line break`);
    out.push({ name: o.opt_name, value: o.opt_value });
  }
  return { ok: true, value: out };
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * Decodes a WorkloadEndpoint (JSON text) when it is an OpenStack endpoint of `hostname`;
 * undefined when it belongs to another host or orchestrator (not an error).
 */
export function decodeEndpoint(key: string, text: string, hostname: string): Decoded<DhcpEndpoint> | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return skip('not JSON');
  }
  if (!isObject(data) || !isObject(data.spec)) return skip('no spec');
  const spec = data.spec;
  if (spec.node !== hostname || spec.orchestrator !== 'openstack') return undefined;
  if (typeof spec.interfaceName !== 'string' || spec.interfaceName === '') return skip('spec.interfaceName: missing');
  const mac = typeof spec.mac === 'string' ? spec.mac.toLowerCase() : '';
  if (!MAC.test(mac)) return skip('spec.mac: not a MAC address');
  const nets = Array.isArray(spec.ipNetworks) ? spec.ipNetworks : [];
  // Addresses a port may also use (allowed address pairs) are not its own: DHCP never hands them out.
  const allowed = new Set((Array.isArray(spec.allowedIps) ? spec.allowedIps : []).map(plainAddress));
  const addresses = nets.map(plainAddress).filter((a): a is string => a !== undefined && !allowed.has(a));
  if (addresses.length === 0) return skip('spec.ipNetworks: no address');
  const meta = isObject(data.metadata) ? data.metadata : {};
  const annotations = isObject(meta.annotations) ? meta.annotations : {};
  const extra = decodeExtraOptions(annotations[EXTRA_OPTS_ANNOTATION]);
  const out: DhcpEndpoint = { key, interfaceName: spec.interfaceName, mac, addresses, extraOptions: extra.ok ? extra.value : [] };
  if (!extra.ok) out.extraSkipped = extra.reason;
  if (typeof annotations[NETWORK_ID_ANNOTATION] === 'string') out.networkId = annotations[NETWORK_ID_ANNOTATION];
  const fqdn = annotations[FQDN_ANNOTATION];
  if (typeof fqdn === 'string' && fqdn !== '') out.hostname = fqdn.split('.')[0]!;
  return { ok: true, value: out };
}
