/**
 * Calico's node IP autodetection (`IP_AUTODETECTION_METHOD`), as pure selection over the host's
 * interfaces plus a thin reader (`ip -j addr`, `ip -j route get`) that works in any namespace.
 *
 * Methods (calico-facts §1, node startup):
 *  - `first-found`: the first global unicast address on the first interface that is not a known
 *    internal one (docker*, cali*, veth*, lo, …). Interfaces are tried from the highest index down,
 *    as Calico does.
 *  - `interface=REGEX[,REGEX]`: the first address on an interface whose name matches.
 *  - `skip-interface=REGEX[,REGEX]`: first-found, also skipping these interfaces.
 *  - `can-reach=IP`: the source address the kernel picks to reach IP (a route lookup).
 *  - `cidr=CIDR[,CIDR]`: the first address inside one of the CIDRs (any interface).
 * The result keeps the interface's prefix length (`192.0.2.11/24`), which BGP uses to tell
 * directly connected peers and VXLAN uses for CrossSubnet.
 */
import type { CommandRunner } from '../os/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { addressOf, cidrContainsCidr, isLinkLocal, parseCidrOrIp, parseIpNet } from '../net/mod.ts';

/** An interface and its addresses, as `ip -j addr show` lists them. */
export interface InterfaceInfo {
  name: string;
  index: number;
  addresses: { family: 4 | 6; address: string; prefixLen: number }[];
}

/** Calico's DEFAULT_INTERFACES_TO_EXCLUDE, plus Margay's own VXLAN devices. */
export const DEFAULT_INTERFACES_TO_EXCLUDE: readonly string[] = [
  '^docker.*', '^cbr.*', '^dummy.*', '^podman.*',
  '^virbr.*', '^lxcbr.*', '^veth.*', '^lo',
  '^cali.*', '^tunl.*', '^flannel.*', '^kube-ipvs.*', '^cni.*',
  '^vxlan\\.calico.*', '^vxlan-v6\\.calico.*', '^wireguard\\.cali.*', '^wg-v6\\.cali.*',
  '^vxlan\\.margay.*', '^vxlan-v6\\.margay.*',
];

/** A parsed autodetection method. */
export type AutodetectionMethod =
  | { kind: 'first-found' }
  | { kind: 'interface'; patterns: string[] }
  | { kind: 'skip-interface'; patterns: string[] }
  | { kind: 'can-reach'; destination: string }
  | { kind: 'cidr'; cidrs: string[] };

/** What `IP_AUTODETECTION_METHOD` accepts, for error messages. */
const METHODS_ALLOWED = 'first-found, interface=REGEX[,REGEX], skip-interface=REGEX[,REGEX], can-reach=IP or cidr=CIDR[,CIDR]';

/**
 * Parses `IP_AUTODETECTION_METHOD` text (`variable` names it in errors, e.g. the IPv6 one); throws
 * MARGAY_ERR_CONFIG on anything else (Calico terminates too).
 */
export function parseAutodetectionMethod(text: string | undefined, variable = 'IP_AUTODETECTION_METHOD'): AutodetectionMethod {
  const t = (text ?? '').trim();
  if (t === '' || t === 'first-found') return { kind: 'first-found' };
  const bad = (why: string): MargayError => new MargayError('MARGAY_ERR_CONFIG', `${variable}=${JSON.stringify(t)}: ${why} (allowed: ${METHODS_ALLOWED})`);
  const list = (rest: string) => rest.split(/\s*,\s*/).filter((s) => s !== '');
  const checkRegexes = (patterns: string[]) => {
    if (patterns.length === 0) throw bad('names no interface pattern');
    for (const p of patterns) {
      try {
        new RegExp(p);
      } catch {
        throw bad(`${JSON.stringify(p)} is not a valid regular expression`);
      }
    }
    return patterns;
  };
  if (t.startsWith('interface=')) return { kind: 'interface', patterns: checkRegexes(list(t.slice('interface='.length))) };
  if (t.startsWith('skip-interface=')) return { kind: 'skip-interface', patterns: checkRegexes(list(t.slice('skip-interface='.length))) };
  if (t.startsWith('can-reach=')) {
    const destination = t.slice('can-reach='.length).trim();
    const net = parseCidrOrIp(destination);
    if (!net || destination.includes('/')) throw bad('can-reach needs an IP address (host names are not resolved)');
    return { kind: 'can-reach', destination };
  }
  if (t.startsWith('cidr=')) {
    const cidrs = list(t.slice('cidr='.length));
    if (cidrs.length === 0 || cidrs.some((c) => !parseCidrOrIp(c) || !c.includes('/'))) throw bad('cidr= needs a comma-separated list of CIDRs');
    return { kind: 'cidr', cidrs };
  }
  throw bad('not an IP autodetection method');
}

/** Go's `IP.IsGlobalUnicast`: not unspecified, loopback, link-local, multicast or broadcast. */
export function isGlobalUnicast(address: string): boolean {
  const net = parseIpNet(address, { allowBareIp: true });
  if (!net) return false;
  const { ip } = net;
  if (isLinkLocal(ip)) return false;
  if (ip.family === 4) {
    const top = Number(ip.value >> 24n);
    return ip.value !== 0n && ip.value !== 0xffffffffn && top !== 127 && top < 224;
  }
  return ip.value !== 0n && ip.value !== 1n && ip.value >> 120n !== 0xffn;
}

/** Parses `ip -j addr show` output. */
export function parseIpAddrJson(json: string): InterfaceInfo[] {
  const raw = JSON.parse(json || '[]') as { ifname?: string; ifindex?: number; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
  return raw
    .filter((i) => typeof i.ifname === 'string')
    .map((i) => ({
      name: i.ifname!,
      index: i.ifindex ?? 0,
      addresses: (i.addr_info ?? [])
        .filter((a) => (a.family === 'inet' || a.family === 'inet6') && typeof a.local === 'string')
        .map((a) => ({ family: a.family === 'inet' ? (4 as const) : (6 as const), address: a.local!, prefixLen: a.prefixlen ?? (a.family === 'inet' ? 32 : 128) })),
    }));
}

/** What an autodetection found: the address with its prefix (`192.0.2.11/24`) and where. */
export interface DetectedAddress {
  cidr: string;
  address: string;
  interface?: string;
}

/**
 * Calico's FilteredEnumeration: interfaces from the highest index down, include/exclude by
 * regex, the first global unicast address of the family (inside `cidrs` when given).
 */
export function filteredEnumeration(
  interfaces: InterfaceInfo[],
  family: 4 | 6,
  filter: { include?: readonly string[]; exclude?: readonly string[]; cidrs?: readonly string[] } = {},
): DetectedAddress | undefined {
  const include = filter.include && filter.include.length > 0 ? new RegExp(`(${filter.include.join(')|(')})`) : undefined;
  const exclude = filter.exclude && filter.exclude.length > 0 ? new RegExp(`(${filter.exclude.join(')|(')})`) : undefined;
  const cidrs = (filter.cidrs ?? []).map((c) => parseCidrOrIp(c)).filter((c) => c !== undefined);
  const ordered = [...interfaces].sort((a, b) => b.index - a.index);
  for (const iface of ordered) {
    if (include && !include.test(iface.name)) continue;
    if (exclude && exclude.test(iface.name)) continue;
    for (const a of iface.addresses) {
      if (a.family !== family || !isGlobalUnicast(a.address)) continue;
      const addr = parseCidrOrIp(a.address);
      if (cidrs.length > 0 && !cidrs.some((c) => addr !== undefined && cidrContainsCidr(c, addr))) continue;
      return { cidr: `${a.address}/${a.prefixLen}`, address: a.address, interface: iface.name };
    }
  }
  return undefined;
}

/** Calico's GetLocalCIDR: the interface prefix of a local address (the bare address when none). */
export function localCidrOf(interfaces: InterfaceInfo[], address: string): DetectedAddress {
  const wanted = addressOf(address);
  for (const iface of interfaces) {
    for (const a of iface.addresses) {
      if (addressOf(a.address) === wanted) return { cidr: `${a.address}/${a.prefixLen}`, address: a.address, interface: iface.name };
    }
  }
  return { cidr: address, address };
}

/** Where autodetection reads the host's state from. */
export interface AutodetectSources {
  /** The interfaces and their addresses. */
  interfaces(): Promise<InterfaceInfo[]>;
  /** The source address the kernel would use to reach `destination`, if it has a route. */
  sourceAddressFor(destination: string): Promise<string | undefined>;
}

/** Runs a method for one family; undefined when nothing matches. */
export async function autodetectAddress(method: AutodetectionMethod, family: 4 | 6, sources: AutodetectSources): Promise<DetectedAddress | undefined> {
  const interfaces = await sources.interfaces();
  switch (method.kind) {
    case 'first-found':
      return filteredEnumeration(interfaces, family, { exclude: DEFAULT_INTERFACES_TO_EXCLUDE });
    case 'interface':
      return filteredEnumeration(interfaces, family, { include: method.patterns });
    case 'skip-interface':
      return filteredEnumeration(interfaces, family, { exclude: [...DEFAULT_INTERFACES_TO_EXCLUDE, ...method.patterns] });
    case 'cidr':
      return filteredEnumeration(interfaces, family, { cidrs: method.cidrs });
    case 'can-reach': {
      const dest = parseCidrOrIp(method.destination);
      if (!dest || dest.family !== family) return undefined;
      const src = await sources.sourceAddressFor(method.destination);
      return src ? localCidrOf(interfaces, src) : undefined;
    }
  }
}

/** Reads the interfaces and routes with `ip -j` through a runner (which may target a namespace). */
export function ipCommandSources(runner: CommandRunner): AutodetectSources {
  return {
    async interfaces() {
      return parseIpAddrJson((await runner('ip', ['-j', 'addr', 'show'])).stdout);
    },
    async sourceAddressFor(destination) {
      const res = await runner('ip', ['-j', 'route', 'get', destination], { allowFail: true });
      if (res.code !== 0) return undefined;
      const routes = JSON.parse(res.stdout || '[]') as { prefsrc?: string }[];
      return routes[0]?.prefsrc;
    },
  };
}
