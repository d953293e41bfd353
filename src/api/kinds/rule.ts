/**
 * Calico policy rules (`policy_common.go`): the Rule and EntityRule types shared by every policy
 * kind and by Profile, their field-level schemas, and the cross-field checks Calico's validator
 * applies to them (`validateRule`, `validateEntityRule`, `validateICMPFields`, `validateHTTPRule`,
 * `validatePort`, `validateProtocol`). The value parsers and field schemas rules share with the
 * other policy-side kinds are in policy-values.ts and policy-fields.ts.
 */
import { z } from 'zod';
import { joinPath } from '../field-path.ts';
import { selectorSchema, validateAnnotations } from '../common.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { enumOf, portSchema, protocolSchema, ruleNetSchema } from './policy-fields.ts';
import { parseCidrOrIp } from '../../net/mod.ts';
import { checkResourceName, protocolSupportsPorts } from './policy-values.ts';

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

// ---------------------------------------------------------------------------------------------
// Rule schemas.
// ---------------------------------------------------------------------------------------------

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

function isICMP(p: Protocol | undefined): boolean {
  return p === 'ICMP' || p === 1;
}

function isICMPv6(p: Protocol | undefined): boolean {
  return p === 'ICMPv6' || p === 58;
}

const PORTS_NEED_PROTOCOL = 'rules that specify ports must set protocol to TCP or UDP or SCTP';
const PORTS_NEED_PROTOCOL_NUMERIC = 'rules with a numeric port or port range must set protocol to TCP or UDP or SCTP';

/** A port number or range (`80`, `"80"`, `"80:90"`), as opposed to a port name. */
function isNumericPort(p: Port): boolean {
  return typeof p === 'number' || /^\d+(:\d+)?$/.test(p);
}
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
    // validator.go: validateRule lets a rule without protocol name ports (they resolve through
    // the endpoints' own port definitions); numbers and ranges need TCP, UDP or SCTP.
    for (const [list, field] of lists) {
      const offending = rule.protocol === undefined ? (list ?? []).some((p) => isNumericPort(p)) : nonEmpty(list);
      if (offending) issues.push({ path: `${path}.${field}`, message: rule.protocol === undefined ? PORTS_NEED_PROTOCOL_NUMERIC : PORTS_NEED_PROTOCOL });
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
    (nets ?? []).forEach((n, i) => {
      const c = parseCidrOrIp(n);
      if (c?.family === 4) v4 = true;
      if (c?.family === 6) v6 = true;
      if (field.endsWith('notNets') && c !== undefined && isCatchAll(n, c)) {
        issues.push({ path: `${path}.${field}[${i}]`, message: `${n} in a negation matches no traffic at all (a catch-all CIDR cannot be negated)` });
      }
    });
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

/**
 * A network that contains every address of its family, as Calico's validateRule spots it in
 * notNets: the literal `0.0.0.0/0` for IPv4, any /0 for IPv6.
 */
function isCatchAll(text: string, cidr: { family: 4 | 6; prefix: number }): boolean {
  return cidr.family === 4 ? text === '0.0.0.0/0' : cidr.prefix === 0;
}

/** Validates every rule of a list; `path` names the list (`spec.ingress`). */
export function validateRules(rules: Rule[] | undefined, path: string): FieldIssue[] {
  return (rules ?? []).flatMap((r, i) => validateRule(r, `${path}[${i}]`));
}

// ---------------------------------------------------------------------------------------------
// Warnings.
// ---------------------------------------------------------------------------------------------

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
