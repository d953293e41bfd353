/** Arithmetic on parsed networks: sizes, containment, overlap, blocks and ordinals (IPAM's block maths). */
import type { Ip } from './address.ts';
import { type Cidr, maskValue } from './cidr.ts';
import { familyBits } from './family.ts';

/** How many addresses a network holds. */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

/** The last address of a network. */
export function cidrLast(c: Cidr): bigint {
  return c.base + cidrSize(c) - 1n;
}

/** True when the network holds exactly one address (a /32 or /128). */
export function isHostCidr(c: Cidr): boolean {
  return c.prefix === familyBits(c.family);
}

/** True when the address lies inside the network (families must match). */
export function cidrContainsIp(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && ip.value >= c.base && ip.value <= cidrLast(c);
}

/** True when `inner` lies entirely inside `outer` (or is the same network). */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && inner.base >= outer.base && cidrLast(inner) <= cidrLast(outer);
}

/** True when two networks share an address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= cidrLast(b) && b.base <= cidrLast(a);
}

/** True when two networks are the same. */
export function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.prefix === b.prefix && a.base === b.base;
}

/** The network of `prefix` length that holds the address (its block). */
export function blockOf(ip: Ip, prefix: number): Cidr {
  return { family: ip.family, base: maskValue(ip.value, ip.family, prefix), prefix };
}

/** The address `ordinal` places into the network. */
export function nthIp(c: Cidr, ordinal: number | bigint): Ip {
  return { family: c.family, value: c.base + BigInt(ordinal) };
}

/** How far into the network the address is; undefined when it is outside. */
export function ordinalOf(c: Cidr, ip: Ip): number | undefined {
  if (!cidrContainsIp(c, ip)) return undefined;
  return Number(ip.value - c.base);
}
