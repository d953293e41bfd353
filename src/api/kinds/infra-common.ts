/**
 * Helpers shared by the infrastructure kinds (IPAM, BGP, configuration, nodes): network and
 * address schemas (on src/net/, which parses as Calico's `cnet.ParseCIDR` / `ParseCIDROrIP` do),
 * Go-style durations, port numbers, community values and small schema pieces.
 */
import { z } from 'zod';
import { formatCidr, ipFamily, isMasked, parseIpNet } from '../../net/mod.ts';
import { parseAsNumber } from '../common.ts';
import type { Column } from '../kind.ts';
import { MAX_DURATION_SECONDS, MAX_DURATION_TEXT } from '../limits.ts';
import type { FieldIssue, Resource } from '../resource.ts';

/** Go's `time.ParseDuration` syntax (sign, decimals, ns/us/µs/ms/s/m/h units); `0` alone is allowed. */
const GO_DURATION = /^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/;

/** Parses a Go duration into seconds, or undefined when the text is not one. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0' || text === '+0' || text === '-0') return 0;
  if (!GO_DURATION.test(text)) return undefined;
  const sign = text.startsWith('-') ? -1 : 1;
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  let total = 0;
  for (const m of text.replace(/^[-+]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(m[1]) * units[m[2]!]!;
  }
  return sign * total;
}

/** The issue of a duration beyond what a timer can hold (docs/limits.md), or undefined. */
function durationBound(seconds: number | undefined): string | undefined {
  if (seconds === undefined) return undefined;
  if (seconds < 0) return 'must not be negative';
  if (seconds > MAX_DURATION_SECONDS) return `must be at most ${MAX_DURATION_TEXT} (the longest wait a timer can hold)`;
  return undefined;
}

/** A Kubernetes `metav1.Duration` as written in YAML (`30s`, `5m0s`, `1h`), from 0 to 596h31m23s. */
export const goDurationSchema = z.string().superRefine((s, ctx) => {
  const seconds = parseGoDuration(s);
  const problem = seconds === undefined ? 'must be a duration such as 30s, 5m or 1h30m' : durationBound(seconds);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A Go duration from 0 to `maxSeconds`, saying `why` when it is longer. */
export function goDurationUpTo(maxSeconds: number, why: string): z.ZodType<string> {
  return goDurationSchema.superRefine((s, ctx) => {
    const seconds = parseGoDuration(s);
    if (seconds !== undefined && seconds > maxSeconds) ctx.addIssue({ code: 'custom', message: `must be at most ${maxSeconds}s (${why})` });
  });
}

/**
 * The duration pattern Calico's FelixConfiguration CRD uses (`^([0-9]+(\.[0-9]+)?(ms|s|m|h))*$`):
 * no sign, no ns/us units; at most 596h31m23s.
 */
export const felixDurationSchema = z.string().superRefine((s, ctx) => {
  const problem = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))*$/.test(s)
    ? durationBound(s === '' ? 0 : parseGoDuration(s))
    : 'must be a duration such as 30s, 500ms or 1h30m (units ms, s, m, h)';
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** An integer in [min, max]. */
export function intRange(min: number, max: number): z.ZodNumber {
  return z.number().int({ message: 'must be an integer' }).min(min, { message: `must be at least ${min}` }).max(max, { message: `must be at most ${max}` });
}

/** A TCP/UDP port number 1..65535 (or 0..65535 with `allowZero`). */
export function portNumber(allowZero = false): z.ZodNumber {
  return intRange(allowZero ? 0 : 1, 65535);
}

/** A string that must match one of the values, ignoring case (Calico CRD patterns `^(?i)(A|B)?$`). */
export function caseInsensitiveEnum(values: readonly string[]): z.ZodType<string> {
  const lower = new Set(values.map((v) => v.toLowerCase()));
  return z.string().refine((s) => s === '' || lower.has(s.toLowerCase()), {
    message: `must be one of ${values.join(', ')} (case-insensitive)`,
  }).meta({ enum: [...values], caseInsensitive: true });
}

/** An enum with a clear message. */
export function enumOf<const T extends readonly [string, ...string[]]>(values: T): z.ZodType<T[number]> {
  return z.string().refine((s): s is T[number] => (values as readonly string[]).includes(s), {
    message: `must be one of ${values.join(', ')}`,
  }).meta({ enum: [...values] }) as unknown as z.ZodType<T[number]>;
}

/** A CIDR (strict, with a prefix) of any family, or of one family. */
export function netSchemaOf(options: { family?: 4 | 6; allowBareIp?: boolean; masked?: boolean } = {}): z.ZodType<string> {
  const what = options.family === 4 ? 'an IPv4' : options.family === 6 ? 'an IPv6' : 'an IPv4 or IPv6';
  return z.string().superRefine((s, ctx) => {
    const net = parseIpNet(s, { allowBareIp: options.allowBareIp ?? false });
    if (!net) {
      ctx.addIssue({ code: 'custom', message: `must be ${what} CIDR${options.allowBareIp ? ' or address' : ''} (got ${JSON.stringify(s)})` });
      return;
    }
    if (options.family !== undefined && net.ip.family !== options.family) {
      ctx.addIssue({ code: 'custom', message: `must be ${what} CIDR (got ${JSON.stringify(s)})` });
      return;
    }
    if (options.masked && !isMasked(net)) {
      ctx.addIssue({ code: 'custom', message: `must be a network address with no host bits set (did you mean ${formatCidr(net.cidr)}?)` });
    }
  });
}

/** A plain IP address of any family or of one family. */
export function ipSchemaOf(family?: 4 | 6): z.ZodType<string> {
  const what = family === 4 ? 'an IPv4' : family === 6 ? 'an IPv6' : 'an IPv4 or IPv6';
  return z.string().refine((s) => {
    const f = ipFamily(s);
    return f !== undefined && (family === undefined || f === family);
  }, { message: `must be ${what} address` });
}

/** DSCP class names and the code each stands for (Calico's numorstring.DSCP). */
const DSCP_NAMES = [
  'DF', 'EF', 'AF11', 'AF12', 'AF13', 'AF21', 'AF22', 'AF23', 'AF31', 'AF32', 'AF33', 'AF41', 'AF42', 'AF43',
  'CS0', 'CS1', 'CS2', 'CS3', 'CS4', 'CS5', 'CS6',
];

/** A DSCP value: a number 0-63, or a class name (any case, surrounding spaces ignored). */
export const dscpSchema = z.union([z.number(), z.string()]).refine(
  (v) => (typeof v === 'number' ? Number.isInteger(v) && v >= 0 && v <= 63 : DSCP_NAMES.includes(v.trim().toUpperCase())),
  { message: `must be a DSCP value 0-63 or one of ${DSCP_NAMES.join(', ')}` },
);

/** A BGP community value: `aa:nn` (16-bit parts) or `aa:nn:mm` (32-bit parts). */
export function checkCommunityValue(value: string): string | undefined {
  const standard = /^(\d+):(\d+)$/.exec(value);
  const large = /^(\d+):(\d+):(\d+)$/.exec(value);
  if (!standard && !large) return `invalid community value ${JSON.stringify(value)} (use aa:nn or aa:nn:mm)`;
  const max = standard ? 0xffff : 0xffffffff;
  const parts = (standard ?? large)!.slice(1);
  if (parts.some((p) => Number(p) > max)) {
    return `invalid community value ${JSON.stringify(value)}: expected ${standard ? 16 : 32} bit values`;
  }
  return undefined;
}

/** Kubernetes `SecretKeySelector` as used by BGP passwords. */
export const secretKeyRefSchema = z.strictObject({
  name: z.string().optional(),
  key: z.string(),
  optional: z.boolean().optional(),
});

/** A BGP password: `{secretKeyRef: {name, key}}`. */
export const bgpPasswordSchema = z.strictObject({
  secretKeyRef: secretKeyRefSchema.optional(),
});

/** An issue at `path`. */
export function issue(path: string, message: string): FieldIssue {
  return { path, message };
}

/** The spec of a resource as a plain record (empty when absent). */
export function specOf(res: Resource): Record<string, unknown> {
  return (res.spec ?? {}) as Record<string, unknown>;
}

/** A copy of the resource with a new spec. */
export function withSpec(res: Resource, spec: Record<string, unknown>): Resource {
  return { ...res, metadata: { ...res.metadata }, spec };
}

/** Converts an AS number written either way to the number Calico stores (uint32). */
export function normalizeAsNumber(v: unknown): unknown {
  if (typeof v === 'number' || typeof v === 'string') {
    const n = parseAsNumber(v);
    return n === undefined ? v : n;
  }
  return v;
}

/** Name check for singletons that must be called `default`. */
export function checkDefaultName(kind: string): (name: string) => string | undefined {
  return (name) => (name === 'default' ? undefined : `${kind} is a singleton and must be named "default"`);
}

/** Reads a dotted path from a spec for table columns; '' when absent. */
export function cell(res: Resource, path: string): string {
  let cur: unknown = res.spec;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  if (Array.isArray(cur)) return cur.join(',');
  return String(cur);
}

/** A column that prints a spec field, with a fallback when it is unset. */
export function specColumn(header: string, path: string, fallback = ''): Column {
  return { header, value: (res) => cell(res, path) || fallback };
}
