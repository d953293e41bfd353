/**
 * Plain addresses (no prefix): parsed as Go's `net.ParseIP` does, since Calico validates with it
 * (IPv4 as four decimal parts without leading zeros; IPv6 in any RFC 4291 text form, no zone),
 * kept as a bigint, and printed as Go prints them (`10.0.0.1`, RFC 5952 `fd00::1`).
 * IPv6 text goes through ipaddr.js; IPv4 needs no library.
 */
import ipaddr from 'ipaddr.js';
import type { Family } from './family.ts';

/** A parsed address: its family and its value as an unsigned integer of 32 or 128 bits. */
export interface Ip {
  family: Family;
  value: bigint;
}

/** Parses a plain address (no prefix, no zone); undefined when it is not one. */
export function parseIp(text: string): Ip | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes(':')) return parseIpv6(text);
  const value = ipv4Value(text);
  return value < 0 ? undefined : { family: 4, value: BigInt(value) };
}

/**
 * The value of an IPv4 address in Go's form — four decimal parts without leading zeros, each at
 * most 255 (`/^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/`) — or -1 when `text` (up to `end`) is
 * not one. Scanned by character: no match object or part strings (a cold start parses ~20,000
 * addresses). Such a text is the address's canonical form already (Go prints it so).
 */
export function ipv4Value(text: string, end = text.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3 || octet > 255) return -1;
      value = value * 256 + octet;
      dots++;
      octet = 0;
      digits = 0;
      continue;
    }
    // A digit; not after a leading zero, at most three.
    if (c < 0x30 || c > 0x39 || (digits > 0 && octet === 0) || digits === 3) return -1;
    octet = octet * 10 + (c - 0x30);
    digits++;
  }
  if (digits === 0 || dots !== 3 || octet > 255) return -1;
  return value * 256 + octet;
}

function parseIpv6(text: string): Ip | undefined {
  if (text.includes('%')) return undefined; // a zone: Go's ParseIP refuses it, and so does Calico
  // ipaddr.js reads `::a.b.c.d` as `::ffff:a.b.c.d`; Go (and RFC 4291) as `::` then the four bytes.
  const source = text.startsWith('::') && !text.includes(':', 2) && text.includes('.') ? `0${text}` : text;
  let parts: number[];
  try {
    parts = ipaddr.IPv6.parse(source).parts;
  } catch {
    return undefined;
  }
  let value = 0n;
  for (let i = 0; i < 8; i += 2) value = (value << 32n) | BigInt(parts[i]! * 65536 + parts[i + 1]!);
  return { family: 6, value };
}

/** The address in Go's `net.IP.String()` form (`10.0.0.1`, `fd00::1`). */
export function formatIp(ip: Ip): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts = new Array<number>(8);
  let v = ip.value;
  for (let i = 7; i >= 0; i--) {
    parts[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** The canonical text of an address given as text (`FD00:0::1` → `fd00::1`); undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip && formatIp(ip);
}

/** The family of a plain address given as text; undefined when it is not one. */
export function ipFamily(text: string): Family | undefined {
  return parseIp(text)?.family;
}
