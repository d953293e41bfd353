/**
 * The validation pipeline every resource goes through before it is stored: envelope, kind,
 * metadata, name, the kind's strict spec schema, its cross-field rules, then Calico's defaults.
 * Errors name the source (file and document), the resource and the field path.
 */
import { z } from 'zod';
import { elide, MargayError, quote, QUOTE_MAX } from '../errors/mod.ts';
import { checkLabelName, labelsSchema, validateAnnotations } from './common.ts';
import { formatPath } from './field-path.ts';
import { canonicalKeys } from './key-case.ts';
import type { KindDefinition } from './kind.ts';
import { kindByExactName } from './kinds/mod.ts';
import { storedSizeIssue } from './limits.ts';
import { quickMetadata } from './metadata-quick.ts';
import { API_VERSION, type FieldIssue, type Resource, type SourceRef } from './resource.ts';

export { formatPath };

/** A resource that failed validation; `issues` lists every problem with its field path. */
export class ResourceValidationError extends MargayError {
  readonly issues: FieldIssue[];
  readonly source: SourceRef | undefined;

  constructor(issues: FieldIssue[], context: { source?: SourceRef; kind?: string; name?: string }) {
    super('MARGAY_ERR_VALIDATION', describeIssues(issues, context));
    this.name = 'ResourceValidationError';
    this.issues = issues;
    this.source = context.source;
  }
}

/** `file: document 2 (IPPool "pool1"): spec.cidr: must be …; spec.blockSize: …` */
function describeIssues(issues: FieldIssue[], context: { source?: SourceRef; kind?: string; name?: string }): string {
  const where: string[] = [];
  if (context.source) {
    const line = context.source.line === undefined ? '' : `, line ${context.source.line}`;
    where.push(`${context.source.file}: document ${context.source.document + 1}${line}`);
  }
  if (context.kind) where.push(context.name ? `${elide(context.kind, QUOTE_MAX)} ${quote(context.name)}` : elide(context.kind, QUOTE_MAX));
  const prefix = where.length > 0 ? `${where.join(' ')}: ` : '';
  return prefix + issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

/** Joins a base path and a zod issue into a FieldIssue. */
export function zodIssues(error: z.ZodError, base: ReadonlyArray<PropertyKey>): FieldIssue[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => `"${k}"`).join(', ');
      return { path: formatPath([...base, ...issue.path]), message: `unknown field ${keys}` };
    }
    return { path: formatPath([...base, ...issue.path]), message: issue.message };
  });
}

/** The schema of every resource's `metadata` (exported for the quick parse's tests). */
export const metadataSchema = z.strictObject({
  name: z.string(),
  namespace: z.string().optional(),
  labels: labelsSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  // A datastore revision: what get printed, or empty.
  resourceVersion: z.string().regex(/^\d{0,19}$/, { message: 'must be a revision number as read from the datastore (digits), or empty' }).optional(),
  uid: z.string().max(128, { message: 'must be at most 128 characters' }).optional(),
  creationTimestamp: z.string().max(64, { message: 'must be at most 64 characters' }).optional(),
  generation: z.number().int({ message: 'must be an integer' }).min(0, { message: 'must be at least 0' }).max(Number.MAX_SAFE_INTEGER, { message: 'must be at most 2^53-1' }).optional(),
});

const envelopeKeys = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/** Options of validateResource. */
export interface ValidateOptions {
  /** Where the resource came from, for error messages. */
  source?: SourceRef;
  /** Namespace to use for a namespaced resource that names none (calicoctl uses `default`). */
  defaultNamespace?: string;
}

/**
 * Validates a decoded object as a projectcalico.org/v3 resource and returns it with Calico's
 * defaults applied. Throws ResourceValidationError listing every problem found.
 */
export function validateResource(input: unknown, options: ValidateOptions = {}): Resource {
  const { source } = options;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ResourceValidationError([{ path: '', message: 'a resource must be an object with apiVersion, kind and metadata' }], { source });
  }
  const obj = input as Record<string, unknown>;
  const kindName = typeof obj.kind === 'string' ? obj.kind : undefined;
  const name = typeof (obj.metadata as Record<string, unknown> | undefined)?.name === 'string'
    ? String((obj.metadata as Record<string, unknown>).name)
    : undefined;
  const context = { source, kind: kindName, name };
  const fail = (issues: FieldIssue[]): never => {
    throw new ResourceValidationError(issues, context);
  };

  const unknownTop = Object.keys(obj).filter((k) => !envelopeKeys.has(k));
  if (unknownTop.length > 0) fail([{ path: unknownTop[0]!, message: `unknown field ${unknownTop.map((k) => `"${k}"`).join(', ')}` }]);
  if (obj.apiVersion !== API_VERSION) {
    fail([{ path: 'apiVersion', message: `must be "${API_VERSION}" (got ${quote(obj.apiVersion)})` }]);
  }
  if (kindName === undefined) fail([{ path: 'kind', message: 'a kind is required' }]);
  const def = kindByExactName(kindName!);
  if (!def) fail([{ path: 'kind', message: `unknown kind ${quote(kindName)} for ${API_VERSION}` }]);
  return validateWithKind(obj, def!, options, fail);
}

function validateWithKind(
  obj: Record<string, unknown>,
  def: KindDefinition,
  options: ValidateOptions,
  fail: (issues: FieldIssue[]) => never,
): Resource {
  // Common metadata and specs (each CNI ADD's endpoint) skip zod: quickMetadata and quickSpec
  // return what the schemas would, or undefined and the schemas decide.
  const quickMeta = quickMetadata(obj.metadata ?? {});
  const meta = quickMeta !== undefined ? { success: true as const, data: quickMeta } : metadataSchema.safeParse(obj.metadata ?? {});
  if (!meta.success) fail(zodIssues(meta.error, ['metadata']));
  const metadata = { ...meta.data! };
  const issues: FieldIssue[] = [];
  const nameProblem = def.checkName(metadata.name);
  if (nameProblem) issues.push({ path: 'metadata.name', message: nameProblem });
  issues.push(...validateAnnotations(metadata.annotations, 'metadata.annotations'));
  if (def.namespaced) {
    metadata.namespace ??= options.defaultNamespace ?? 'default';
    const nsProblem = checkLabelName(metadata.namespace);
    if (nsProblem) issues.push({ path: 'metadata.namespace', message: nsProblem });
  } else if (metadata.namespace !== undefined && metadata.namespace !== '') {
    issues.push({ path: 'metadata.namespace', message: `${def.kind} is cluster-scoped and takes no namespace` });
  } else {
    delete metadata.namespace;
  }
  // Keys are matched as Calico's Go decoding matches them: exactly, else ignoring case.
  const quickSpec = def.quickSpec?.(obj.spec ?? {});
  const spec = quickSpec !== undefined ? { success: true as const, data: quickSpec } : def.specSchema.safeParse(canonicalKeys(obj.spec ?? {}, def.specSchema));
  if (!spec.success) issues.push(...zodIssues(spec.error, ['spec']));
  let status: Record<string, unknown> | undefined;
  if (obj.status !== undefined) {
    if (!def.statusSchema) {
      issues.push({ path: 'status', message: `${def.kind} has no status that can be written` });
    } else {
      const parsed = def.statusSchema.safeParse(obj.status);
      if (!parsed.success) issues.push(...zodIssues(parsed.error, ['status']));
      else status = parsed.data as Record<string, unknown>;
    }
  }
  if (issues.length > 0) fail(issues);
  const resource: Resource = { apiVersion: API_VERSION, kind: def.kind, metadata, spec: spec.data as Record<string, unknown> };
  if (status !== undefined) resource.status = status;
  const crossField = def.validate?.(resource) ?? [];
  if (crossField.length > 0) fail(crossField);
  const result = def.applyDefaults ? def.applyDefaults(resource) : resource;
  const tooLarge = storedSizeIssue(result);
  if (tooLarge) fail([tooLarge]);
  return result;
}

/** Reads a dotted path (`spec.cidr`) from a resource. */
function readPath(res: Resource, path: string): unknown {
  let cur: unknown = res;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Lists the immutable fields an update changes (compared after defaults on both sides). */
export function checkImmutableFields(def: KindDefinition, previous: Resource, next: Resource): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const path of def.immutableFields ?? []) {
    const before = readPath(previous, path);
    const after = readPath(next, path);
    if (JSON.stringify(before) !== JSON.stringify(after)) {
      issues.push({ path, message: `field is immutable: cannot change ${quote(before)} to ${quote(after)}` });
    }
  }
  return issues;
}
