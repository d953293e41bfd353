/**
 * Address and CIDR arithmetic on bigints, for both families: parsing, formatting in Go's form
 * (so keys and values read like Calico's), containment, block masks and ordinals.
 */
import ipaddr from 'ipaddr.js';

/** An IP family. */
export type Family = 4 | 6;

/** A parsed address. */
export interface Ip {
  family: Family;
  value: bigint;
}

/** A network: its first address and prefix length. `base` is always masked. */
export interface Cidr {
  family: Family;
  base: bigint;
  prefix: number;
}

/** The number of bits of an address of `family`. */
export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** Parses a plain address (no prefix, no zone); undefined when it is not one. */
export function parseIp(text: string): Ip | undefined {
  if (typeof text !== 'string') return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, value: bytesToBigint(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if (text.includes(':') && !text.includes('%') && ipaddr.IPv6.isValid(text)) {
    return { family: 6, value: bytesToBigint(ipaddr.IPv6.parse(text).toByteArray()) };
  }
  return undefined;
}

/**
 * Parses `a.b.c.d/n` or `x::/n`; with `allowBareIp`, a plain address is a /32 or /128. The host
 * bits are masked off (use {@link isMaskedCidr} to insist they are zero).
 */
export function parseCidr(text: string, allowBareIp = false): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!allowBareIp) return undefined;
    const ip = parseIp(text);
    return ip && { family: ip.family, base: ip.value, prefix: familyBits(ip.family) };
  }
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > familyBits(ip.family)) return undefined;
  return { family: ip.family, base: maskValue(ip.value, ip.family, prefix), prefix };
}

/** True when `text` is a CIDR whose host bits are all zero. */
export function isMaskedCidr(text: string): boolean {
  const c = parseCidr(text);
  const ip = c && parseIp(text.slice(0, text.indexOf('/')));
  return c !== undefined && ip !== undefined && ip.value === c.base;
}

/** Clears the host bits of `value` below `prefix`. */
export function maskValue(value: bigint, family: Family, prefix: number): bigint {
  const hostBits = BigInt(familyBits(family) - prefix);
  return (value >> hostBits) << hostBits;
}

/** How many addresses a network holds. */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

/** The last address of a network. */
export function cidrLast(c: Cidr): bigint {
  return c.base + cidrSize(c) - 1n;
}

/** True when the address lies inside the network. */
export function cidrContainsIp(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && ip.value >= c.base && ip.value <= cidrLast(c);
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && inner.base >= outer.base && cidrLast(inner) <= cidrLast(outer);
}

/** True when two networks share an address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= cidrLast(b) && b.base <= cidrLast(a);
}

/** The block of `prefix` length that holds the address. */
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

/** The address in Go's `net.IP.String()` form (`10.0.0.1`, `fd00::1`). */
export function formatIp(ip: Ip): string {
  const bytes = bigintToBytes(ip.value, ip.family === 4 ? 4 : 16);
  return ip.family === 4 ? bytes.join('.') : (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
}

/** The network in Go's `net.IPNet.String()` form (`10.0.0.0/26`). */
export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.base })}/${c.prefix}`;
}

/** The canonical text of an address given as text; undefined when it is not an address. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip && formatIp(ip);
}

/** Two CIDRs are the same network. */
export function sameCidr(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.prefix === b.prefix && a.base === b.base;
}

function bytesToBigint(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigintToBytes(value: bigint, length: number): number[] {
  const out = new Array<number>(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
