/**
 * The ground floor's IP module: every address and network in Margay is parsed, printed and
 * compared here, one way, on one library (ipaddr.js for IPv6 text). Addresses and networks are
 * plain values over bigints (`Ip`, `Cidr`), so IPAM's block arithmetic, the calculation graph's
 * containment tests and the dataplane's set elements all agree on what `fd00::1/128` is.
 *
 * - family.ts: families and their bit widths
 * - address.ts: plain addresses (parse/format as Go does)
 * - cidr.ts: networks written as text (parse/format, masks)
 * - maths.ts: sizes, containment, overlap, blocks and ordinals
 * - sets.ts: lists of networks reduced to disjoint elements
 * - special.ts: link-local ranges
 * - ip-port.ts: `address:port` as a BGP peer is written
 * - host-address.ts: interface addresses in text form (`192.0.2.11/24`)
 */
export { familyBits } from './family.ts';
export type { Family } from './family.ts';
export { canonicalIp, formatIp, ipFamily, ipv4Value, parseIp } from './address.ts';
export type { Ip } from './address.ts';
export { addressOf, canonicalCidr, formatCidr, isMasked, maskValue, parseCidr, parseCidrOrIp, parseIpNet } from './cidr.ts';
export type { Cidr, IpNet, ParseNetOptions } from './cidr.ts';
export { blockOf, cidrContainsCidr, cidrContainsIp, cidrLast, cidrSize, cidrsOverlap, isHostCidr, nthIp, ordinalOf, sameCidr } from './maths.ts';
export { disjointCidrs, disjointNets } from './sets.ts';
export type { DisjointNets } from './sets.ts';
export { isLinkLocal, LINK_LOCAL } from './special.ts';
export { parseIpPort } from './ip-port.ts';
export type { IpPort } from './ip-port.ts';
export { parseHostAddress, sameSubnet } from './host-address.ts';
export type { HostAddress } from './host-address.ts';
