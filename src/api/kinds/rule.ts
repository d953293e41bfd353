/**
 * Calico policy rules (`policy_common.go`): the Rule and EntityRule types shared by every policy
 * kind and by Profile, their field-level schemas, and the cross-field checks Calico's validator
 * applies to them (`validateRule`, `validateEntityRule`, `validateICMPFields`, `validateHTTPRule`,
 * `validatePort`, `validateProtocol`). Also the small value parsers (ports, protocols, CIDRs,
 * names) the other policy-side kinds share.
 */
import { z } from 'zod';
import { joinPath } from '../field-path.ts';
import { checkLabelKey, checkSubdomainName, ipFamily, selectorSchema } from '../common.ts';
import type { FieldIssue, Resource } from '../resource.ts';

// ---------------------------------------------------------------------------------------------
// Types (what a validated, defaulted resource holds; the agent compiles these).
// ---------------------------------------------------------------------------------------------

export type Action = 'Allow' | 'Deny' | 'Log' | 'Pass';
export type PolicyType = 'Ingress' | 'Egress';

/** A protocol name (`TCP`, `UDP`, `ICMP`, `ICMPv6`, `SCTP`, `UDPLite`) or a number 1..255. */
export type Protocol = string | number;

/**
 * A port match: a number (a single port), `"lo:hi"` (an inclusive range) or a named port that
 * endpoints resolve through their `ports` lists. Stored the way Calico marshals it: a single
 * port is always a number, a range a string, a name a string.
 */
export type Port = number | string;

export interface ICMPFields {
  type?: number;
  code?: number;
}

export interface ServiceAccountMatch {
  names?: string[];
  selector?: string;
}

export interface ServiceMatch {
  name?: string;
  namespace?: string;
}

export interface EntityRule {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  serviceAccounts?: ServiceAccountMatch;
  services?: ServiceMatch;
  ports?: Port[];
  notPorts?: Port[];
}

export interface HTTPPath {
  exact?: string;
  prefix?: string;
}

/** Stored, but not enforced by the kernel dataplane (Calico enforces it only with app-layer policy). */
export interface HTTPMatch {
  methods?: string[];
  paths?: HTTPPath[];
}

export interface RuleMetadata {
  annotations?: Record<string, string>;
}

export interface Rule {
  action: Action;
  ipVersion?: 4 | 6;
  protocol?: Protocol;
  notProtocol?: Protocol;
  icmp?: ICMPFields;
  notICMP?: ICMPFields;
  source?: EntityRule;
  destination?: EntityRule;
  http?: HTTPMatch;
  metadata?: RuleMetadata;
}

/** A parsed port match. */
export type ParsedPort = { kind: 'range'; min: number; max: number } | { kind: 'named'; name: string };

// ---------------------------------------------------------------------------------------------
// Small value parsers shared by the policy-side kinds.
// ---------------------------------------------------------------------------------------------

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

function isICMP(p: Protocol | undefined): boolean {
  return p === 'ICMP' || p === 1;
}

function isICMPv6(p: Protocol | undefined): boolean {
  return p === 'ICMPv6' || p === 58;
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

// ---------------------------------------------------------------------------------------------
// Field-level schemas.
// ---------------------------------------------------------------------------------------------

/** An enum of strings with a message that lists what is allowed and what was given. */
export function enumOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (iss) => `must be one of ${values.join(', ')} (got ${JSON.stringify(iss.input)})`,
  });
}

/** A protocol: number 1..255, digits, or one of Calico's six names; stored as Calico stores it. */
export const protocolSchema = z.unknown().transform((v, ctx): Protocol => {
  const parsed = parseProtocol(v);
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return parsed.value;
});

/** A protocol that has ports (endpoint `ports` lists): TCP, UDP, SCTP or 6, 17, 132. */
export const portProtocolSchema = protocolSchema.refine((p) => protocolSupportsPorts(p), {
  message: 'protocol must be TCP, UDP or SCTP (a protocol that has ports)',
});

/** A rule port: a number, `"lo:hi"` or a named port. */
export const portSchema = z.unknown().transform((v, ctx): Port => {
  const parsed = parsePort(v);
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return portValue(parsed);
});

/** A port number 1..65535 (endpoint ports). */
export const portNumberSchema = z
  .number({ error: 'must be a port number between 1 and 65535' })
  .int({ error: 'must be a port number between 1 and 65535' })
  .min(1, { error: 'must be a port number between 1 and 65535' })
  .max(65535, { error: 'must be a port number between 1 and 65535' });

/** A rule net: a CIDR with its prefix and no host bits set (Calico's `net` tag plus `validateRule`). */
export const ruleNetSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseCidrOrIp(text);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `invalid CIDR ${JSON.stringify(text)} (expected a.b.c.d/n or x::/n)` });
  } else if (parsed.bare) {
    ctx.addIssue({ code: 'custom', message: `invalid CIDR ${JSON.stringify(text)}: rule nets need a prefix length (${text}/${parsed.prefix})` });
  } else if (!isStrictlyMasked(parsed.address, parsed.family, parsed.prefix)) {
    ctx.addIssue({ code: 'custom', message: `invalid CIDR ${JSON.stringify(text)}: host bits are set (the network must be strictly masked)` });
  }
});

/** A CIDR or a bare address, not necessarily masked (Calico's `cidr` tag). */
export const cidrOrIpSchema = z.string().refine((text) => parseCidrOrIp(text) !== undefined, {
  error: (iss) => `must be an IPv4 or IPv6 address or CIDR (got ${JSON.stringify(iss.input)})`,
});

/** A strictly masked CIDR or a bare address (Calico's `net` tag). */
export const netOrIpSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseCidrOrIp(text);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `must be an IPv4 or IPv6 address or CIDR (got ${JSON.stringify(text)})` });
  } else if (!isStrictlyMasked(parsed.address, parsed.family, parsed.prefix)) {
    ctx.addIssue({ code: 'custom', message: `invalid network ${JSON.stringify(text)}: host bits are set` });
  }
});

/** A plain IPv4 or IPv6 address. */
export const ipAddressSchema = z.string().refine((text) => !text.includes('%') && ipFamily(text) !== undefined, {
  error: (iss) => `must be an IPv4 or IPv6 address (got ${JSON.stringify(iss.input)})`,
});

/** A Calico resource name (DNS-1123 subdomain), as the `name` validation tag checks it. */
export const resourceNameSchema = z.string().superRefine((text, ctx) => {
  const problem = checkResourceName(text);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} ${problem}` });
});

/** A selector limited to 1024 characters, as the CRD schema limits rule selectors. */
const ruleSelectorSchema = z.string().max(1024, { error: 'a selector may be at most 1024 characters' }).pipe(selectorSchema);

const icmpSchema = z.strictObject({
  type: z
    .number({ error: 'ICMP type must be an integer between 0 and 254' })
    .int({ error: 'ICMP type must be an integer between 0 and 254' })
    .min(0, { error: 'ICMP type must be between 0 and 254' })
    .max(254, { error: 'ICMP type must be between 0 and 254 (255 is reserved)' })
    .optional(),
  code: z
    .number({ error: 'ICMP code must be an integer between 0 and 255' })
    .int({ error: 'ICMP code must be an integer between 0 and 255' })
    .min(0, { error: 'ICMP code must be between 0 and 255' })
    .max(255, { error: 'ICMP code must be between 0 and 255' })
    .optional(),
});

const serviceAccountMatchSchema = z.strictObject({
  names: z.array(z.string()).optional(),
  selector: selectorSchema.optional(),
});

const serviceMatchSchema = z.strictObject({
  name: z.string().max(253).pipe(z.string().superRefine((t, ctx) => {
    if (t === '') return;
    const p = checkResourceName(t);
    if (p) ctx.addIssue({ code: 'custom', message: `service name ${JSON.stringify(t)} ${p}` });
  })).optional(),
  namespace: z.string().max(253).pipe(z.string().superRefine((t, ctx) => {
    if (t === '') return;
    const p = checkResourceName(t);
    if (p) ctx.addIssue({ code: 'custom', message: `namespace ${JSON.stringify(t)} ${p}` });
  })).optional(),
});

export const entityRuleSchema = z.strictObject({
  nets: z.array(ruleNetSchema).max(256, { error: 'at most 256 nets' }).optional(),
  notNets: z.array(ruleNetSchema).max(256, { error: 'at most 256 notNets' }).optional(),
  selector: ruleSelectorSchema.optional(),
  notSelector: ruleSelectorSchema.optional(),
  namespaceSelector: ruleSelectorSchema.optional(),
  serviceAccounts: serviceAccountMatchSchema.optional(),
  services: serviceMatchSchema.optional(),
  ports: z.array(portSchema).max(50, { error: 'at most 50 ports' }).optional(),
  notPorts: z.array(portSchema).max(50, { error: 'at most 50 notPorts' }).optional(),
});

const httpPathSchema = z.strictObject({
  exact: z.string().max(1024).optional(),
  prefix: z.string().max(1024).optional(),
});

const httpMatchSchema = z.strictObject({
  methods: z.array(z.string()).max(20, { error: 'at most 20 methods' }).optional(),
  paths: z.array(httpPathSchema).max(20, { error: 'at most 20 paths' }).optional(),
});

const ruleMetadataSchema = z.strictObject({
  annotations: z.record(z.string(), z.string()).optional(),
});

export const ruleSchema = z.strictObject({
  action: enumOf(['Allow', 'Deny', 'Log', 'Pass']),
  ipVersion: z
    .union([z.literal(4), z.literal(6)], { error: (iss) => `must be 4 or 6 (got ${JSON.stringify(iss.input)})` })
    .optional(),
  protocol: protocolSchema.optional(),
  notProtocol: protocolSchema.optional(),
  icmp: icmpSchema.optional(),
  notICMP: icmpSchema.optional(),
  source: entityRuleSchema.optional(),
  destination: entityRuleSchema.optional(),
  http: httpMatchSchema.optional(),
  metadata: ruleMetadataSchema.optional(),
});

/** A list of rules (Calico limits a policy to 1024 rules per direction). */
export const rulesSchema = z.array(ruleSchema).max(1024, { error: 'at most 1024 rules' });

// ---------------------------------------------------------------------------------------------
// Cross-field checks.
// ---------------------------------------------------------------------------------------------

const PORTS_NEED_PROTOCOL = 'rules that specify ports must set protocol to TCP or UDP or SCTP';
const GLOBAL_ONLY_IN_NS_SELECTOR = 'global() can only be used in an EntityRule namespaceSelector';

/** True when a selector mentions `global(` (only an entity rule's namespaceSelector may). */
export function mentionsGlobal(selector: string | undefined): boolean {
  return selector !== undefined && selector.includes('global(');
}

function nonEmpty<T>(list: T[] | undefined): list is T[] {
  return list !== undefined && list.length > 0;
}

function validateICMPFields(icmp: ICMPFields | undefined, path: string): FieldIssue[] {
  if (icmp && icmp.code !== undefined && icmp.type === undefined) {
    return [{ path: `${path}.code`, message: 'ICMP code specified without an ICMP type' }];
  }
  return [];
}

function validateHTTP(http: HTTPMatch, path: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const methods = http.methods ?? [];
  if (new Set(methods).size !== methods.length) {
    issues.push({ path: `${path}.methods`, message: `invalid methods (duplicates): ${JSON.stringify(methods)}` });
  }
  (http.paths ?? []).forEach((p, i) => {
    const at = `${path}.paths[${i}]`;
    const exact = p.exact ?? '';
    const prefix = p.prefix ?? '';
    if (exact !== '' && prefix !== '') {
      issues.push({ path: at, message: "invalid path match: both 'exact' and 'prefix' are set" });
      return;
    }
    const v = exact !== '' ? exact : prefix;
    if (v === '') {
      issues.push({ path: at, message: "invalid path match: either 'exact' or 'prefix' must be set" });
    } else if (!v.startsWith('/') || /[? #]/.test(v)) {
      issues.push({ path: at, message: `invalid path ${JSON.stringify(v)} (must start with '/' and not contain '?', ' ' or '#')` });
    }
  });
  return issues;
}

/** Kubernetes' annotation-key rule (a qualified name, checked lower-cased) and the 256 KiB cap. */
export function validateAnnotations(annotations: Record<string, string> | undefined, path: string): FieldIssue[] {
  if (!annotations) return [];
  const issues: FieldIssue[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    const problem = checkLabelKey(k.toLowerCase());
    if (problem) issues.push({ path: joinPath(path, k), message: problem.replace('label key', 'annotation key') });
    size += k.length + v.length;
  }
  const limit = 256 * 1024;
  if (size > limit) issues.push({ path, message: `total size of annotations is too large by ${size - limit} bytes` });
  return issues;
}

/** Calico's `validateEntityRule`. `path` names the entity rule (`spec.ingress[0].source`). */
export function validateEntityRule(rule: EntityRule, path: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (mentionsGlobal(rule.selector)) {
    issues.push({ path: `${path}.selector`, message: GLOBAL_ONLY_IN_NS_SELECTOR });
  }
  const ns = rule.namespaceSelector;
  if (ns !== undefined && ns.includes('global(') && ns.replace(/\s+/g, '') !== 'global()') {
    issues.push({ path: `${path}.namespaceSelector`, message: 'global() cannot be combined with other selectors' });
  }
  const svc = rule.services;
  if (svc) {
    const at = `${path}.services`;
    if (!svc.name) issues.push({ path: `${at}.name`, message: 'must specify a service name' });
    if (rule.namespaceSelector) issues.push({ path: at, message: 'cannot specify namespaceSelector and services on the same rule' });
    if (rule.selector || rule.notSelector) issues.push({ path: at, message: 'cannot specify selector/notSelector and services on the same rule' });
    if (rule.serviceAccounts) issues.push({ path: at, message: 'cannot specify serviceAccounts and services on the same rule' });
    if (nonEmpty(rule.nets) || nonEmpty(rule.notNets)) issues.push({ path: at, message: 'cannot specify nets/notNets and services on the same rule' });
  }
  return issues;
}

/** Calico's `validateRule` (plus its ICMP, HTTP, metadata and entity-rule checks). `path` names the rule. */
export function validateRule(rule: Rule, path: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const src = rule.source ?? {};
  const dst = rule.destination ?? {};

  if (!protocolSupportsPorts(rule.protocol)) {
    const lists: Array<[Port[] | undefined, string]> = [
      [src.ports, 'source.ports'], [src.notPorts, 'source.notPorts'],
      [dst.ports, 'destination.ports'], [dst.notPorts, 'destination.notPorts'],
    ];
    for (const [list, field] of lists) {
      if (nonEmpty(list)) issues.push({ path: `${path}.${field}`, message: PORTS_NEED_PROTOCOL });
    }
  }

  if (rule.http && rule.protocol !== undefined && rule.protocol !== 'TCP' && rule.protocol !== 6) {
    issues.push({ path: `${path}.protocol`, message: 'rules that specify HTTP fields must set protocol to TCP or empty' });
  }

  if (rule.icmp && !(isICMP(rule.protocol) || isICMPv6(rule.protocol))) {
    issues.push({ path: `${path}.icmp`, message: 'rules that specify ICMP fields must set protocol to ICMP or ICMPv6' });
  }

  if ((isICMP(rule.protocol) || isICMP(rule.notProtocol)) && rule.ipVersion !== undefined && rule.ipVersion !== 4) {
    issues.push({ path: `${path}.ipVersion`, message: "must set ipVersion to '4' with protocol ICMP" });
  }
  if ((isICMPv6(rule.protocol) || isICMPv6(rule.notProtocol)) && rule.ipVersion !== undefined && rule.ipVersion !== 6) {
    issues.push({ path: `${path}.ipVersion`, message: "must set ipVersion to '6' with protocol ICMPv6" });
  }

  let seenV4 = false;
  let seenV6 = false;
  const scan = (nets: string[] | undefined, field: string): void => {
    let v4 = false;
    let v6 = false;
    for (const n of nets ?? []) {
      const c = parseCidrOrIp(n);
      if (c?.family === 4) v4 = true;
      if (c?.family === 6) v6 = true;
    }
    if (rule.ipVersion !== undefined && ((v4 && rule.ipVersion !== 4) || (v6 && rule.ipVersion !== 6))) {
      issues.push({ path: `${path}.${field}`, message: `rule IP version (${rule.ipVersion}) doesn't match CIDR version` });
    }
    if ((v4 && seenV6) || (v6 && seenV4) || (v4 && v6)) {
      issues.push({ path: `${path}.${field}`, message: 'rule contains both IPv4 and IPv6 CIDRs' });
    }
    seenV4 ||= v4;
    seenV6 ||= v6;
  };
  scan(src.nets, 'source.nets');
  scan(src.notNets, 'source.notNets');
  scan(dst.nets, 'destination.nets');
  scan(dst.notNets, 'destination.notNets');

  if (rule.http && rule.action !== 'Allow') {
    issues.push({ path: `${path}.http`, message: 'HTTP match is only valid for Allow rules' });
  }

  if (dst.services && nonEmpty(dst.ports)) {
    issues.push({ path: `${path}.destination.ports`, message: 'cannot specify ports with a service selector' });
  }
  if (dst.services && nonEmpty(dst.notPorts)) {
    issues.push({ path: `${path}.destination.notPorts`, message: 'cannot specify notPorts with a service selector' });
  }

  issues.push(...validateICMPFields(rule.icmp, `${path}.icmp`));
  issues.push(...validateICMPFields(rule.notICMP, `${path}.notICMP`));
  if (rule.http) issues.push(...validateHTTP(rule.http, `${path}.http`));
  issues.push(...validateAnnotations(rule.metadata?.annotations, `${path}.metadata.annotations`));
  if (rule.source) issues.push(...validateEntityRule(rule.source, `${path}.source`));
  if (rule.destination) issues.push(...validateEntityRule(rule.destination, `${path}.destination`));
  return issues;
}

/** Validates every rule of a list; `path` names the list (`spec.ingress`). */
export function validateRules(rules: Rule[] | undefined, path: string): FieldIssue[] {
  return (rules ?? []).flatMap((r, i) => validateRule(r, `${path}[${i}]`));
}

// ---------------------------------------------------------------------------------------------
// Small helpers for kinds.
// ---------------------------------------------------------------------------------------------

/** Removes object properties whose value is null, recursively (Go's JSON decoding ignores them). */
export function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => (v !== null && typeof v === 'object' ? dropNulls(v) : v));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null) continue;
    out[k] = dropNulls(v);
  }
  return out;
}

/** Wraps a spec schema so that null-valued fields count as absent, as in Calico's Go decoding. */
export function specOf<T extends z.ZodType>(schema: T) {
  return z.preprocess(dropNulls, schema);
}

/** `http` rule matches are stored (Calico compatibility) but this dataplane does not enforce them. */
export function httpNotEnforced(res: Resource): FieldIssue[] {
  const spec = (res.spec ?? {}) as { ingress?: { http?: unknown }[]; egress?: { http?: unknown }[] };
  const issues: FieldIssue[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    (spec[direction] ?? []).forEach((rule, i) => {
      if (rule.http !== undefined) {
        issues.push({ path: `spec.${direction}[${i}].http`, message: 'stored but not enforced: the nftables dataplane cannot match HTTP methods or paths (the rule matches as if http were absent)' });
      }
    });
  }
  return issues;
}
