/**
 * Networks written as text: `a.b.c.d/n` and `x::/n` parsed as Go's `net.ParseCIDR` does (the
 * address as {@link parseIp} reads it, a decimal prefix of at most three digits within the family),
 * optionally a bare address as a /32 or /128 (Calico's `cnet.ParseCIDROrIP`), and printed as Go's
 * `net.IPNet.String()` prints them (the network address, host bits cleared).
 */
import { formatIp, type Ip, parseIp } from './address.ts';
import { type Family, familyBits } from './family.ts';

/** A network: its first address (`base`, host bits always clear) and its prefix length. */
export interface Cidr {
  family: Family;
  base: bigint;
  prefix: number;
}

/** What `a.b.c.d/n` says: the address as written (host bits and all) and the network it lies in. */
export interface IpNet {
  ip: Ip;
  cidr: Cidr;
}

/** Options of {@link parseIpNet}. */
export interface ParseNetOptions {
  /** Accept a plain address as a /32 or /128 (default: a prefix is required). */
  allowBareIp?: boolean;
}

/** Parses `address/prefix` (or, if allowed, a bare address) into the address and its network. */
export function parseIpNet(text: string, options: ParseNetOptions = {}): IpNet | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (options.allowBareIp !== true) return undefined;
    const ip = parseIp(text);
    return ip && { ip, cidr: { family: ip.family, base: ip.value, prefix: familyBits(ip.family) } };
  }
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (ip === undefined || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > familyBits(ip.family)) return undefined;
  return { ip, cidr: { family: ip.family, base: maskValue(ip.value, ip.family, prefix), prefix } };
}

/** Parses `a.b.c.d/n` or `x::/n` (a prefix is required), clearing the host bits. */
export function parseCidr(text: string): Cidr | undefined {
  return parseIpNet(text)?.cidr;
}

/** Parses a CIDR or a bare address (a /32 or /128), clearing the host bits. */
export function parseCidrOrIp(text: string): Cidr | undefined {
  return parseIpNet(text, { allowBareIp: true })?.cidr;
}

/** True when the written address has no host bits set (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function isMasked(net: IpNet): boolean {
  return net.ip.value === net.cidr.base;
}

/** Clears the bits of `value` below `prefix`. */
export function maskValue(value: bigint, family: Family, prefix: number): bigint {
  const hostBits = BigInt(familyBits(family) - prefix);
  return (value >> hostBits) << hostBits;
}

/** The network in Go's `net.IPNet.String()` form (`10.0.0.0/26`, `fd00::/122`). */
export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.base })}/${c.prefix}`;
}

/** The canonical, masked text of a CIDR or bare address (`10.0.0.5` → `10.0.0.5/32`); undefined when invalid. */
export function canonicalCidr(text: string): string | undefined {
  const c = parseCidrOrIp(text);
  return c && formatCidr(c);
}

/** The canonical address part of a CIDR or bare address, host bits kept (`10.0.0.5/24` → `10.0.0.5`); undefined when invalid. */
export function addressOf(text: string): string | undefined {
  const net = parseIpNet(text, { allowBareIp: true });
  return net && formatIp(net.ip);
}
