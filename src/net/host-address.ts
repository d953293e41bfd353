/**
 * An interface address in text form (`192.0.2.11/24`): the canonical address and the prefix of its
 * subnet, as BGP sessions and VXLAN peers compare and print them.
 */
import { formatIp } from './address.ts';
import { parseCidr, parseCidrOrIp, parseIpNet } from './cidr.ts';
import type { Family } from './family.ts';
import { cidrContainsCidr } from './maths.ts';

/** An interface address: the host address and the prefix of its subnet. */
export interface HostAddress {
  family: Family;
  /** The address alone, canonical (`192.0.2.11`, `fd00::1`). */
  ip: string;
  /** The prefix length of the subnet (32/128 when none was written). */
  prefix: number;
}

/** Parses `192.0.2.11/24`, `192.0.2.11` or `fd00::1/64` as a host address; undefined when absent or invalid. */
export function parseHostAddress(text: string | undefined): HostAddress | undefined {
  if (!text) return undefined;
  const net = parseIpNet(text, { allowBareIp: true });
  return net && { family: net.ip.family, ip: formatIp(net.ip), prefix: net.cidr.prefix };
}

/** True when `ip` (an address, or a network) is in the subnet of `host` (same link, no router between). */
export function sameSubnet(host: HostAddress, ip: string): boolean {
  const subnet = parseCidr(`${host.ip}/${host.prefix}`);
  const other = parseCidrOrIp(ip);
  return subnet !== undefined && other !== undefined && cidrContainsCidr(subnet, other);
}
