/**
 * Field-level schemas the policy-side kinds share (enums, protocols, ports, nets, addresses,
 * names), and `specOf`, which makes null-valued fields count as absent as Go's decoding does.
 */
import { z } from 'zod';
import { ipFamily, isMasked, parseCidrOrIp, parseIpNet } from '../../net/mod.ts';
import type { Port, Protocol } from './rule.ts';
import {
  checkResourceName,
  parsePort,
  parseProtocol,
  portValue,
  protocolSupportsPorts,
} from './policy-values.ts';

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
  const parsed = parseIpNet(text, { allowBareIp: true });
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `invalid CIDR ${JSON.stringify(text)} (expected a.b.c.d/n or x::/n)` });
  } else if (!text.includes('/')) {
    ctx.addIssue({ code: 'custom', message: `invalid CIDR ${JSON.stringify(text)}: rule nets need a prefix length (${text}/${parsed.cidr.prefix})` });
  } else if (!isMasked(parsed)) {
    ctx.addIssue({ code: 'custom', message: `invalid CIDR ${JSON.stringify(text)}: host bits are set (the network must be strictly masked)` });
  }
});

/** A CIDR or a bare address, not necessarily masked (Calico's `cidr` tag). */
export const cidrOrIpSchema = z.string().refine((text) => parseCidrOrIp(text) !== undefined, {
  error: (iss) => `must be an IPv4 or IPv6 address or CIDR (got ${JSON.stringify(iss.input)})`,
});

/** True for what {@link netOrIpSchema} accepts: a strictly masked CIDR or a bare address. */
export function isNetOrIp(text: string): boolean {
  const parsed = parseIpNet(text, { allowBareIp: true });
  return parsed !== undefined && isMasked(parsed);
}

/** A strictly masked CIDR or a bare address (Calico's `net` tag). */
export const netOrIpSchema = z.string().superRefine((text, ctx) => {
  const parsed = parseIpNet(text, { allowBareIp: true });
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `must be an IPv4 or IPv6 address or CIDR (got ${JSON.stringify(text)})` });
  } else if (!isMasked(parsed)) {
    ctx.addIssue({ code: 'custom', message: `invalid network ${JSON.stringify(text)}: host bits are set` });
  }
});

/** A plain IPv4 or IPv6 address. */
export const ipAddressSchema = z.string().refine((text) => ipFamily(text) !== undefined, {
  error: (iss) => `must be an IPv4 or IPv6 address (got ${JSON.stringify(iss.input)})`,
});

/** A Calico resource name (DNS-1123 subdomain), as the `name` validation tag checks it. */
export const resourceNameSchema = z.string().superRefine((text, ctx) => {
  const problem = checkResourceName(text);
  if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} ${problem}` });
});

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
