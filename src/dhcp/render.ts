/**
 * What dnsmasq needs to serve this host's VMs (pure): the hosts file (one address per MAC),
 * the options file (gateway, DNS servers, host routes per subnet), the DHCP ranges of the
 * command line, and the addresses of the gateway device.
 *
 * As networking-calico's DHCP agent does it, with one dnsmasq for the whole host:
 * - every subnet one of this host's VMs has an address in gets a static range
 *   (`set:subnet-<id>,<network>,static,<netmask>,<lease>`): dnsmasq answers only MACs it knows;
 * - the gateway device carries each such subnet's gateway address with no subnet route
 *   (`noprefixroute`): dnsmasq picks the subnet of a request by the addresses of the interface it
 *   arrived on, and `--bridge-interface` makes requests from the taps count as arriving there;
 *   the VMs reach that gateway address on their tap (the host answers ARP for its own
 *   addresses) and everything else by proxy ARP;
 * - host routes become option 121 (and 249, for old Windows clients) with the default route
 *   added, because a client that gets option 121 ignores option 3 (RFC 3442).
 * - the network's MTU (when the subnet data has one) is option 26 of its subnet;
 * - a port's `extra_dhcp_opts` are options tagged `port-<interface>` in the options file, and
 *   the port's MAC gets that tag on the command line (`--dhcp-mac`). dnsmasq's interface tag is
 *   `mg-dhcp` behind `--bridge-interface`, never the tap, and tagged hosts-file lines can crash
 *   dnsmasq on SIGHUP (see below): so only adding, changing or removing a port's extra options
 *   restarts dnsmasq (rare; the lease file keeps the leases).
 * - IPv6 (`--enable-ra`): a subnet whose `ipv6_address_mode` is `slaac` or `dhcpv6-stateless` gets
 *   router advertisements on the VMs' taps (`ra-only` / `ra-stateless`: the VM forms its address
 *   from the prefix and its MAC, which is the EUI-64 address Neutron gave the port), with
 *   `off-link`: the prefix is not on the VM's link (a routed host, as with IPv4's gateway), so
 *   the VM sends everything to its router (the host's link-local address on the tap).
 *   `dhcpv6-stateful` gets a static DHCPv6 range (`static`, the managed flag in the
 *   advertisements) and a hosts line per address (`<mac>,[<ip>],<name>`: dnsmasq finds a directly
 *   connected client's MAC in its neighbour table). A subnet without a mode is not served.
 */
import { cidrContainsIp, parseCidr, parseIp } from '../net/mod.ts';
import type { DhcpEndpoint, DhcpSubnet } from './model.ts';

/** Options of {@link renderDhcp}. */
export interface RenderOptions {
  /** Lease time in seconds (Neutron's `dhcp_lease_duration`, 86400 by default). */
  leaseSeconds?: number;
}

/** What one endpoint got, or why not. */
export interface EndpointOutcome {
  key: string;
  /** `address@subnet-id` pairs served. */
  served: string[];
  /** Why an address is not served. */
  skipped: string[];
}

/** The rendered configuration. */
export interface DhcpRendering {
  /** `--dhcp-hostsfile` contents (re-read on SIGHUP). */
  hosts: string;
  /** `--dhcp-optsfile` contents (re-read on SIGHUP). */
  opts: string;
  /** `--dhcp-range` values, sorted (a change needs a restart). */
  ranges: string[];
  /** `--dhcp-mac` values (`set:port-<iface>,<mac>`) of ports with extra options, sorted (a restart). */
  macTags: string[];
  /** Addresses of the gateway device (`10.65.0.1/24`, `2001:db8::1/64`), sorted. */
  gatewayAddresses: string[];
  /** Router advertisements wanted (an IPv6 subnet in use): `--enable-ra`. */
  enableRa: boolean;
  endpoints: EndpointOutcome[];
}

/** Neutron's default lease time. */
export const DEFAULT_LEASE_SECONDS = 86_400;

function netmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

/** The subnet an address belongs to (of the endpoint's network when it names one). */
function subnetFor(address: string, networkId: string | undefined, subnets: readonly DhcpSubnet[]): DhcpSubnet | undefined {
  const ip = parseIp(address);
  if (ip === undefined) return undefined;
  return subnets.find((s) => (networkId === undefined || s.networkId === networkId) && cidrContainsIp(parseCidr(s.cidr)!, ip));
}

/** Neutron's host name for an address without a DNS name (`host-10-65-0-2`). */
function defaultHostname(address: string): string {
  return `host-${address.replace(/[.:]/g, '-')}`;
}

/** The options of one subnet, as dhcp-optsfile lines. */
function subnetOptions(subnet: DhcpSubnet): string[] {
  const tag = `tag:subnet-${subnet.id}`;
  const out: string[] = [];
  if (subnet.family === 6) return subnet.dnsServers.length > 0 ? [`${tag},option6:dns-server,${subnet.dnsServers.map((a) => `[${a}]`).join(',')}`] : [];
  if (subnet.gatewayIp !== undefined) out.push(`${tag},option:router,${subnet.gatewayIp}`);
  if (subnet.dnsServers.length > 0) out.push(`${tag},option:dns-server,${subnet.dnsServers.join(',')}`);
  if (subnet.mtu !== undefined) out.push(`${tag},option:mtu,${subnet.mtu}`);
  const routes = subnet.hostRoutes.filter((r) => !r.destination.includes(':'));
  if (routes.length > 0) {
    const pairs = routes.map((r) => `${r.destination},${r.nexthop}`);
    if (subnet.gatewayIp !== undefined && !routes.some((r) => r.destination === '0.0.0.0/0')) pairs.push(`0.0.0.0/0,${subnet.gatewayIp}`);
    out.push(`${tag},option:classless-static-route,${pairs.join(',')}`, `${tag},249,${pairs.join(',')}`);
  }
  return out;
}

/** A port's extra options, as dhcp-optsfile lines tagged with its interface. */
function endpointOptions(ep: DhcpEndpoint): string[] {
  return ep.extraOptions.map((o) => `tag:port-${ep.interfaceName},${/^[0-9]+$/.test(o.name) ? o.name : `option:${o.name}`},${o.value}`);
}

/** Why an IPv6 address of `subnet` cannot be served (undefined: it can, by router advertisements). */
function ipv6Refusal(subnet: DhcpSubnet): string | undefined {
  if (subnet.ipv6AddressMode !== 'slaac' && subnet.ipv6AddressMode !== 'dhcpv6-stateless' && subnet.ipv6AddressMode !== 'dhcpv6-stateful') {
    return `ipv6_address_mode ${subnet.ipv6AddressMode ?? 'unset'}: only slaac, dhcpv6-stateless and dhcpv6-stateful are served`;
  }
  if (subnet.gatewayIp === undefined) return 'the subnet has no gateway (dnsmasq advertises a prefix of an address it holds)';
  return undefined;
}

/** The `--dhcp-range` of a subnet in use. */
function rangeOf(s: DhcpSubnet, lease: number): string {
  const [network, prefix] = s.cidr.split('/') as [string, string];
  if (s.family === 6) {
    const mode = s.ipv6AddressMode === 'slaac' ? 'ra-only' : s.ipv6AddressMode === 'dhcpv6-stateless' ? 'ra-stateless' : 'static';
    return `set:subnet-${s.id},${network},${mode},off-link,${prefix},${lease}s`;
  }
  return `set:subnet-${s.id},${network},static,${netmask(Number(prefix))},${lease}s`;
}

/** Renders dnsmasq's files and ranges for `endpoints` (this host's) over `subnets`. */
export function renderDhcp(endpoints: readonly DhcpEndpoint[], subnets: readonly DhcpSubnet[], options: RenderOptions = {}): DhcpRendering {
  const lease = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const used = new Map<string, DhcpSubnet>();
  const hostLines: string[] = [];
  const endpointOpts: string[] = [];
  const macTags: string[] = [];
  const outcomes: EndpointOutcome[] = [];
  for (const ep of [...endpoints].sort((a, b) => a.key.localeCompare(b.key))) {
    const outcome: EndpointOutcome = { key: ep.key, served: [], skipped: [] };
    for (const address of ep.addresses) {
      const subnet = subnetFor(address, ep.networkId, subnets);
      if (subnet === undefined) {
        outcome.skipped.push(`${address}: no subnet data${ep.networkId ? ` of network ${ep.networkId}` : ''} contains it`);
        continue;
      }
      if (subnet.family === 6) {
        const refusal = ipv6Refusal(subnet);
        if (refusal !== undefined) outcome.skipped.push(`${address}: ${refusal}`);
        else {
          used.set(subnet.id, subnet);
          if (subnet.ipv6AddressMode === 'dhcpv6-stateful') hostLines.push(`${ep.mac},[${address}],${ep.hostname ?? defaultHostname(address)}`);
          outcome.served.push(`${address}@${subnet.id}`);
        }
        continue;
      }
      used.set(subnet.id, subnet);
      // No `set:` tag per port: dnsmasq (2.86–2.90 at least) can crash re-reading tagged host lines on SIGHUP.
      hostLines.push(`${ep.mac},${address},${ep.hostname ?? defaultHostname(address)}`);
      outcome.served.push(`${address}@${subnet.id}`);
    }
    if (ep.extraSkipped !== undefined) outcome.skipped.push(`extra DHCP options: ${ep.extraSkipped}`);
    if (outcome.served.length > 0 && ep.extraOptions.length > 0) {
      endpointOpts.push(...endpointOptions(ep));
      macTags.push(`set:port-${ep.interfaceName},${ep.mac}`);
    }
    outcomes.push(outcome);
  }
  const chosen = [...used.values()].sort((a, b) => a.id.localeCompare(b.id));
  const ranges = chosen.map((s) => rangeOf(s, lease));
  const gatewayAddresses = [...new Set(chosen.filter((s) => s.gatewayIp !== undefined).map((s) => `${s.gatewayIp}/${s.cidr.split('/')[1]}`))].sort();
  const opts = [...chosen.flatMap(subnetOptions), ...endpointOpts];
  return {
    hosts: hostLines.map((l) => `${l}\n`).join(''),
    opts: opts.map((l) => `${l}\n`).join(''),
    ranges: ranges.sort(),
    macTags: macTags.sort(),
    enableRa: chosen.some((s) => s.family === 6),
    gatewayAddresses,
    endpoints: outcomes,
  };
}
