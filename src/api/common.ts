/**
 * Schema pieces shared by many kinds: names, labels, selectors, AS numbers (addresses and networks
 * are parsed by src/net/).
 * Each returns a zod schema or a plain check so kind files stay short and consistent.
 */
import { z } from 'zod';
import { quote } from '../errors/mod.ts';
import { parseSelector, SelectorParseError } from '../selector/mod.ts';
import { joinPath } from './field-path.ts';
import { MAX_ANNOTATIONS_BYTES, utf8Bytes } from './limits.ts';
import type { FieldIssue } from './resource.ts';

/** The log levels Calico's validator accepts (`logLevel`), exactly as spelled here. */
export const LOG_LEVELS = ['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An object made by `{}` or JSON (not an array, null, class instance or object without a prototype). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Kubernetes DNS-1123 subdomain (the default rule for resource names). */
export function checkSubdomainName(name: string): string | undefined {
  if (name.length === 0) return 'a name is required';
  if (name.length > 253) return 'must be at most 253 characters';
  if (!DNS1123_SUBDOMAIN.test(name)) {
    return "must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character";
  }
  return undefined;
}

/** Kubernetes DNS-1123 label (namespaces, tier names). */
export function checkLabelName(name: string): string | undefined {
  if (name.length === 0) return 'a name is required';
  if (name.length > 63) return 'must be at most 63 characters';
  if (!DNS1123_LABEL.test(name)) {
    return "must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character";
  }
  return undefined;
}

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Checks a Kubernetes label key (`prefix/name`); returns a message when invalid. */
export function checkLabelKey(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `label key ${quote(key)} has an invalid prefix (must be a DNS subdomain)`;
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return `label key ${quote(key)} is invalid (name part: at most 63 alphanumeric characters, '-', '_' or '.')`;
  }
  return undefined;
}

/** Checks a Kubernetes label value; returns a message when invalid. */
export function checkLabelValue(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) {
    return `label value ${quote(value)} is invalid (at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric)`;
  }
  return undefined;
}

/**
 * Kubernetes' annotation rules, for `metadata.annotations` of every kind and a rule's metadata:
 * each key a qualified name (checked lower-cased), keys and values together at most 256 KiB.
 */
export function validateAnnotations(annotations: Record<string, string> | undefined, path: string): FieldIssue[] {
  if (!annotations) return [];
  const issues: FieldIssue[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    const problem = checkLabelKey(k.toLowerCase());
    if (problem) issues.push({ path: joinPath(path, k), message: problem.replace('label key', 'annotation key') });
    size += utf8Bytes(k) + utf8Bytes(v);
  }
  if (size > MAX_ANNOTATIONS_BYTES) {
    issues.push({ path, message: `annotations are ${size} bytes together; at most ${MAX_ANNOTATIONS_BYTES} (256 KiB, as in Kubernetes)` });
  }
  return issues;
}

/** A label map whose keys and values follow Kubernetes' rules. */
export const labelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [k, v] of Object.entries(labels)) {
    const keyProblem = checkLabelKey(k);
    if (keyProblem) ctx.addIssue({ code: 'custom', message: keyProblem, path: [k] });
    const valueProblem = checkLabelValue(v);
    if (valueProblem) ctx.addIssue({ code: 'custom', message: valueProblem, path: [k] });
  }
});

/** A Calico selector expression; the parse error (with its position) becomes the issue message. */
export const selectorSchema = z.string().superRefine((text, ctx) => {
  try {
    parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorParseError) {
      ctx.addIssue({ code: 'custom', message: `invalid selector: ${err.message}` });
    } else {
      throw err;
    }
  }
});

/**
 * A BGP AS number: 0..4294967295 as a number, or the dotted `high.low` form (each part 0..65535)
 * as a string. Returned unchanged (Calico stores what was written).
 */
export const asNumberSchema = z.union([z.number(), z.string()]).superRefine((v, ctx) => {
  if (parseAsNumber(v) === undefined) {
    ctx.addIssue({ code: 'custom', message: `AS number ${JSON.stringify(v)} is out of range (0 to 4294967295, or the dotted form 0.0 to 65535.65535)` });
  }
});

/** Converts an AS number in either form to a plain number, or undefined when invalid. */
export function parseAsNumber(v: number | string): number | undefined {
  if (typeof v === 'number') {
    return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
  }
  const dotted = /^(\d+)\.(\d+)$/.exec(v);
  if (dotted) {
    const high = Number(dotted[1]);
    const low = Number(dotted[2]);
    return high <= 0xffff && low <= 0xffff ? high * 65536 + low : undefined;
  }
  if (/^\d+$/.test(v)) return parseAsNumber(Number(v));
  return undefined;
}

/** A Kubernetes duration string such as `30s`, `5m0s`, `1h`. */
export const durationSchema = z.string().regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, {
  message: 'must be a duration such as 30s, 5m or 1h30m',
});
