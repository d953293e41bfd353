/** Small address helpers for the BGP room (on top of the API's strict parser). */
import { createHash } from 'node:crypto';
import { parseAsNumber } from '../api/common.ts';
import { netsOverlap, parseNet, type ParsedNet } from '../api/kinds/infra-common.ts';

/** An interface address: the host address and the prefix of its subnet. */
export interface HostAddress {
  family: 4 | 6;
  /** The address alone, normalised (`192.0.2.11`, `fd00::1`). */
  ip: string;
  /** The prefix length of the subnet (32/128 when none was written). */
  prefix: number;
}

/** Parses `192.0.2.11/24`, `192.0.2.11` or `fd00::1/64` as a host address; undefined when invalid. */
export function parseHostAddress(text: string | undefined): HostAddress | undefined {
  if (!text) return undefined;
  const net = parseNet(text, true);
  if (!net) return undefined;
  return { family: net.family, ip: net.address.toString(), prefix: net.prefix };
}

/** Parses a CIDR (a bare address becomes /32 or /128), normalised; undefined when invalid. */
export function parseCidr(text: string): ParsedNet | undefined {
  return parseNet(text, true);
}

/** True when `ip` lies inside `cidr`. */
export function cidrContains(cidr: ParsedNet, ip: string): boolean {
  const addr = parseNet(ip, true);
  if (!addr || addr.family !== cidr.family) return false;
  if (addr.prefix < cidr.prefix) return false;
  return netsOverlap(cidr, addr);
}

/** True when `ip` is in the subnet of `host` (same link, no router between). */
export function sameSubnet(host: HostAddress, ip: string): boolean {
  const subnet = parseNet(`${host.ip}/${host.prefix}`, true);
  return subnet !== undefined && cidrContains(subnet, ip);
}

/** True for IPv6 link-local addresses (fe80::/10). */
export function isLinkLocal6(ip: string): boolean {
  const net = parseNet(ip, true);
  return net !== undefined && net.family === 6 && net.bytes[0] === 0xfe && (net.bytes[1]! & 0xc0) === 0x80;
}

/** An AS number from either written form; undefined when absent or invalid. */
export function asNumberOf(v: unknown): number | undefined {
  if (typeof v !== 'number' && typeof v !== 'string') return undefined;
  return parseAsNumber(v);
}

/** Calico's protocol-name suffix of an address: `.` and `:` become `_`. */
export function addressId(ip: string): string {
  return ip.replace(/[.:]/g, '_');
}

/**
 * Calico's `CALICO_ROUTER_ID=hash`: an IPv4 router id derived from the node name (the first four
 * bytes of its SHA-256 here; any stable, well-spread mapping will do since only uniqueness matters).
 */
export function hashToIPv4(name: string): string {
  const d = createHash('sha256').update(name).digest();
  return `${d[0]}.${d[1]}.${d[2]}.${d[3]}`;
}
