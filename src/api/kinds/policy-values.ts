/**
 * Small value parsers the policy-side kinds share: protocols and ports (Calico's
 * `numorstring`), resource and port names, and the formatting calicoctl's tables use (Go floats,
 * `joinAndTruncate`). Addresses and networks are parsed by src/net/.
 */
import { checkSubdomainName } from '../common.ts';
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
