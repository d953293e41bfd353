/**
 * Small value parsers the policy-side kinds share: protocols and ports (Calico's
 * `numorstring`), CIDRs and addresses as Go parses them, resource and port names, and the
 * formatting calicoctl's tables use (Go floats, `joinAndTruncate`).
 */
import { checkSubdomainName, ipFamily } from '../common.ts';
import type { Port, Protocol } from './rule.ts';

/** A parsed port match. */
export type ParsedPort = { kind: 'range'; min: number; max: number } | { kind: 'named'; name: string };

const PROTOCOL_NAMES = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'] as const;
const PROTOCOL_NUMBERS: Record<string, number> = { TCP: 6, UDP: 17, ICMP: 1, ICMPv6: 58, SCTP: 132, UDPLite: 136 };

/** The IP protocol number of a protocol value (`TCP` → 6), or undefined for an unknown name. */
export function protocolNumber(p: Protocol): number | undefined {
  return typeof p === 'number' ? p : PROTOCOL_NUMBERS[p];
}

/** True when the protocol has ports: TCP, UDP or SCTP, by name or number (Calico's SupportsPorts). */
export function protocolSupportsPorts(p: Protocol | undefined): boolean {
  if (p === undefined) return false;
  const n = protocolNumber(p);
  return n === 6 || n === 17 || n === 132;
}

/**
 * Parses a protocol as Calico's Uint8OrString does: a number 1..255, a string of digits taken as
 * that number, or one of the six names (case-sensitive). Returns the stored form or a message.
 */
export function parseProtocol(v: unknown): { value: Protocol } | { error: string } {
  const allowed = `must be one of ${PROTOCOL_NAMES.join(', ')} or a protocol number 1-255`;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 255) return { error: `${allowed} (got ${v})` };
    if (v === 0) return { error: 'protocol number 0 is invalid (must be 1-255)' };
    return { value: v };
  }
  if (typeof v !== 'string') return { error: `${allowed} (got ${JSON.stringify(v)})` };
  if (/^\d+$/.test(v) && Number(v) <= 255) {
    const n = Number(v);
    if (n === 0) return { error: 'protocol number 0 is invalid (must be 1-255)' };
    return { value: n };
  }
  if ((PROTOCOL_NAMES as readonly string[]).includes(v)) return { value: v };
  return { error: `${allowed}; names are case-sensitive (got ${JSON.stringify(v)})` };
}

const PORT_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

/**
 * Checks a port name against Kubernetes' IANA service-name rule (`IsValidPortName`): at most 15
 * characters of a-z, 0-9 and '-', at least one letter, no leading, trailing or doubled '-'.
 */
export function checkPortName(name: string): string | undefined {
  if (name.length === 0) return 'a port name is required';
  if (name.length > 15) return `port name "${name}" is longer than 15 characters`;
  if (!/^[-a-z0-9]+$/.test(name)) return `port name "${name}" may contain only lower-case letters, digits and '-'`;
  if (!/[a-z]/.test(name)) return `port name "${name}" must contain at least one letter`;
  if (name.includes('--')) return `port name "${name}" must not contain consecutive hyphens`;
  if (name.startsWith('-') || name.endsWith('-')) return `port name "${name}" must not begin or end with a hyphen`;
  return undefined;
}

/** Parses a rule port (`numorstring.Port` plus Calico's `validatePort`). */
export function parsePort(v: unknown): ParsedPort | { error: string } {
  const range = (min: number, max: number): ParsedPort | { error: string } => {
    if (min > max) return { error: `minimum port number (${min}) is greater than maximum port number (${max}) in port range` };
    if (min < 1) return { error: 'port range invalid, port number must be between 1 and 65535' };
    return { kind: 'range', min, max };
  };
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 65535) return { error: `port ${v} is invalid, port number must be between 1 and 65535` };
    return range(v, v);
  }
  if (typeof v !== 'string') return { error: `a port must be a number, "min:max" or a port name (got ${JSON.stringify(v)})` };
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n > 65535) return { error: `invalid port format (${v})` };
    return range(n, n);
  }
  const m = /^(\d+):(\d+)$/.exec(v);
  if (m) {
    const min = Number(m[1]);
    const max = Number(m[2]);
    if (min > 65535) return { error: `invalid minimum port number in range (${v})` };
    if (max > 65535) return { error: `invalid maximum port number in range (${v})` };
    return range(min, max);
  }
  if (!PORT_NAME.test(v)) return { error: `invalid name for named port (${v})` };
  const nameProblem = checkPortName(v);
  if (nameProblem) return { error: nameProblem };
  return { kind: 'named', name: v };
}

/** The stored form of a parsed port (what Calico's Port.MarshalJSON writes). */
export function portValue(p: ParsedPort): Port {
  if (p.kind === 'named') return p.name;
  return p.min === p.max ? p.min : `${p.min}:${p.max}`;
}

/** Parses a CIDR with an explicit prefix (`a.b.c.d/n`, `x::/n`) the way Go's net.ParseCIDR does. */
export function parseCidrText(text: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (address.includes('%') || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const family = ipFamily(address);
  if (family === undefined) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family };
}

/** Parses a CIDR or a bare address (`cnet.ParseCIDROrIP`); a bare address is a /32 or /128. */
export function parseCidrOrIp(text: string): { address: string; prefix: number; family: 4 | 6; bare: boolean } | undefined {
  if (text.includes('/')) {
    const c = parseCidrText(text);
    return c ? { ...c, bare: false } : undefined;
  }
  if (text.includes('%')) return undefined;
  const family = ipFamily(text);
  if (family === undefined) return undefined;
  return { address: text, prefix: family === 4 ? 32 : 128, family, bare: true };
}

/** The address as bytes (4 or 16). */
export function addressBytes(address: string, family: 4 | 6): number[] {
  if (family === 4) return address.split('.').map(Number);
  // Expand an IPv6 address (with an optional embedded IPv4 tail) to 16 bytes.
  let text = address;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(rest === undefined ? 0 : missing).fill('0'), ...restGroups];
  const bytes: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    bytes.push((n >> 8) & 0xff, n & 0xff);
  }
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** True when the CIDR has no host bits set (`10.0.0.0/8` yes, `10.0.0.1/8` no). */
export function isStrictlyMasked(address: string, family: 4 | 6, prefix: number): boolean {
  const bytes = addressBytes(address, family);
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/** True when `inner` (an address) lies inside `outer` (a CIDR or address). */
export function cidrContains(outer: { address: string; prefix: number; family: 4 | 6 }, inner: { address: string; family: 4 | 6 }): boolean {
  if (outer.family !== inner.family) return false;
  const a = addressBytes(outer.address, outer.family);
  const b = addressBytes(inner.address, inner.family);
  for (let bit = 0; bit < outer.prefix; bit++) {
    const byte = bit >> 3;
    const mask = 1 << (7 - (bit & 7));
    if ((a[byte]! & mask) !== (b[byte]! & mask)) return false;
  }
  return true;
}

/** Calico's resource-name rule (`nameRegex`, a DNS-1123 subdomain). */
export function checkResourceName(name: string): string | undefined {
  return checkSubdomainName(name);
}

/**
 * Go's `%v` formatting of a float64 (what calicoctl's table templates print for `order`): the
 * shortest digits, in exponent form when the exponent is below -4 or at least 6 (`1e+06`).
 */
export function formatGoFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mantissa, expText] = n.toExponential().split('e') as [string, string];
  const e = Number(expText);
  if (e < -4 || e >= 6) {
    const abs = Math.abs(e);
    return `${mantissa}e${e < 0 ? '-' : '+'}${abs < 10 ? `0${abs}` : abs}`;
  }
  return String(n);
}

/** calicoctl's `joinAndTruncate`: join with a separator, cut to maxLen with a `...` suffix. */
export function joinAndTruncate(items: readonly string[], separator: string, maxLen = 0): string {
  let out = '';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += separator;
    out += items[i];
    if (maxLen > 0 && out.length > maxLen) return `${out.slice(0, maxLen - 3)}...`;
  }
  return out;
}
