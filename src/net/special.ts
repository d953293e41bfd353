/** Address ranges with a meaning of their own. */
import type { Ip } from './address.ts';
import type { Cidr } from './cidr.ts';
import type { Family } from './family.ts';
import { cidrContainsIp } from './maths.ts';

/** The link-local ranges: 169.254.0.0/16 and fe80::/10. */
export const LINK_LOCAL: Readonly<Record<Family, Readonly<Cidr>>> = {
  4: { family: 4, base: 0xa9fe0000n, prefix: 16 },
  6: { family: 6, base: 0xfe80n << 112n, prefix: 10 },
};

/** True for a link-local address of either family. */
export function isLinkLocal(ip: Ip): boolean {
  return cidrContainsIp(LINK_LOCAL[ip.family], ip);
}
