/**
 * Resource-level access to the datastore: projectcalico.org/v3 resources stored as JSON under
 * Calico's key layout, with validation, immutable-field checks, cross-resource rules (pool
 * overlap), optimistic concurrency through `metadata.resourceVersion`, and all-or-nothing
 * batches. Every read sees the store outside any batch (datastore/batch-recovery.ts). The CLI, the controllers and the agent all go through this one door.
 */
import { randomUUID } from 'node:crypto';
import type { KindDefinition } from '../api/mod.ts';
import { findKind } from '../api/mod.ts';
import type { FieldIssue, Resource, SourceRef } from '../api/mod.ts';
import { checkImmutableFields, ResourceValidationError } from '../api/mod.ts';
import { hasCode, MargayError, quote } from '../errors/mod.ts';
import { writeBatch } from './batch.ts';
import { settledGet, settledList } from './batch-recovery.ts';
import type { Datastore, KVPair, TxnOp } from './datastore.ts';
import { parseResourceKey, resourceKey, resourcePrefix } from './keys.ts';

/** What a write did to one resource. */
export type WriteOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'skipped';

/** The result of a write: the stored resource (with its new resourceVersion) and what happened. */
export interface WriteResult {
  resource: Resource;
  outcome: WriteOutcome;
  /** True for a built-in resource created because another one referred to it (the default tier). */
  implicit?: boolean;
}

/** The verbs a batch can carry, as calicoctl names them. */
export type BatchVerb = 'create' | 'apply' | 'replace' | 'delete';

/** Options of a batch write. */
export interface BatchOptions {
  /** create: an existing resource is skipped instead of failing (calicoctl --skip-exists). */
  skipExists?: boolean;
  /** delete: a missing resource is skipped instead of failing (calicoctl --skip-not-exists). */
  skipNotExists?: boolean;
  /** Where each resource came from (same order), so errors can name the file and document. */
  sources?: (SourceRef | undefined)[];
}

/** From this many resources of one kind in a batch, read the kind with one list instead of gets. */
const LIST_THRESHOLD = 32;

/** One resource's part of a batch: its write (none when unchanged or skipped), the pair it replaces, the result. */
interface Plan {
  op?: TxnOp;
  before?: KVPair;
  result: WriteResult;
  issues: FieldIssue[];
}

function kindOf(res: Resource): KindDefinition {
  const def = findKind(res.kind);
  if (!def) throw new MargayError('MARGAY_ERR_UNKNOWN_KIND', `unknown kind "${res.kind}"`);
  return def;
}

function keyOf(res: Resource): string {
  return resourceKey(kindOf(res).plural, res.metadata.name, res.metadata.namespace);
}

function describe(res: Resource): string {
  const ns = res.metadata.namespace ? `${res.metadata.namespace}/` : '';
  return `${res.kind} ${quote(`${ns}${res.metadata.name}`)}`;
}

function modified(res: Resource, wanted: number, found: number): MargayError {
  return new MargayError('MARGAY_ERR_CONFLICT', `${describe(res)} was modified (resourceVersion ${wanted} is now ${found}); read it again and retry`);
}

/** The stored form: the resource without resourceVersion (etcd's revision is the version). */
function serialize(res: Resource): string {
  const { resourceVersion: _ignored, ...metadata } = res.metadata;
  const stored: Resource = { apiVersion: res.apiVersion, kind: res.kind, metadata };
  if (res.spec !== undefined) stored.spec = res.spec;
  if (res.status !== undefined) stored.status = res.status;
  return JSON.stringify(stored);
}

function deserialize(kv: KVPair): Resource {
  let res: Resource;
  try {
    res = JSON.parse(kv.value) as Resource;
  } catch (err) {
    throw new MargayError('MARGAY_ERR_DECODE', `${kv.key}: the stored value is not valid JSON (${(err as Error).message}); fix or delete the key`, { cause: err });
  }
  if (typeof res !== 'object' || res === null || typeof res.metadata !== 'object' || res.metadata === null) {
    throw new MargayError('MARGAY_ERR_DECODE', `${kv.key}: the stored value is not a resource (an object with metadata); fix or delete the key`);
  }
  res.metadata.resourceVersion = String(kv.modRevision);
  return res;
}

/**
 * The resources among pairs read directly from the datastore (a `getMany` of resource keys and
 * prefixes), as {@link ResourceStore.get} and {@link ResourceStore.list} return them.
 */
export function resourcesFromPairs(pairs: readonly KVPair[]): Resource[] {
  return pairs.filter((kv) => parseResourceKey(kv.key) !== undefined).map(deserialize);
}

/** JSON with object keys sorted, so that two equal values always compare equal as text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** Content that a user controls: what decides whether an apply changes anything. */
function userContent(res: Resource): string {
  const { resourceVersion: _r, uid: _u, creationTimestamp: _c, generation: _g, ...meta } = res.metadata;
  return canonicalJson({ meta, spec: res.spec ?? {}, status: res.status });
}

/** Reads and writes v3 resources in a Datastore. */
export class ResourceStore {
  readonly datastore: Datastore;
  /** Supplies creation timestamps; injectable so tests are deterministic. */
  private readonly now: () => Date;

  constructor(datastore: Datastore, options: { now?: () => Date } = {}) {
    this.datastore = datastore;
    this.now = options.now ?? (() => new Date());
  }

  /** Reads one resource; undefined when absent. */
  async get(kind: KindDefinition, name: string, namespace?: string): Promise<Resource | undefined> {
    const kv = await settledGet(this.datastore, resourceKey(kind.plural, name, kind.namespaced ? namespace ?? 'default' : undefined));
    return kv ? deserialize(kv) : undefined;
  }

  /** Lists a kind: one namespace, or every namespace when `namespace` is undefined. */
  async list(kind: KindDefinition, namespace?: string): Promise<{ items: Resource[]; revision: number }> {
    const prefix = resourcePrefix(kind.plural, kind.namespaced ? namespace : undefined);
    const { items, revision } = await settledList(this.datastore, prefix);
    return { items: resourcesFromPairs(items), revision };
  }

  /** Creates one resource (validated first). */
  async create(res: Resource, options: BatchOptions = {}): Promise<WriteResult> {
    return (await this.batch('create', [res], options))[0]!;
  }

  /**
   * Creates or updates one resource. With `likelyNew` (a CNI ADD's endpoint), it first tries a
   * bare create, one round trip instead of a read and a write, and does the usual read then write
   * only when the resource exists.
   */
  async apply(res: Resource, options: { likelyNew?: boolean } = {}): Promise<WriteResult> {
    if (options.likelyNew) {
      try {
        return (await this.#write('create', [res], {}, true))[0]!;
      } catch (err) {
        if (!hasCode(err, 'MARGAY_ERR_ALREADY_EXISTS')) throw err;
      }
    }
    return (await this.batch('apply', [res]))[0]!;
  }

  /**
   * The write of one resource as a transaction op, for a caller that commits it together with
   * other keys (a CNI ADD's WorkloadEndpoint, in its address's IPAM transaction): an
   * unconditional `put` of the resource with fresh creation metadata, which replaces any stored
   * copy whole (as an apply would, but with a new uid). Only for kinds whose writes need no reads
   * (no references, no cross-resource rules); the resource must have passed validateResource.
   * The written resource's resourceVersion is the transaction's revision.
   */
  putOp(res: Resource): { op: TxnOp; resource: Resource } {
    const def = kindOf(res);
    if (def.references || def.validateAgainst) {
      throw new MargayError('MARGAY_ERR_VALIDATION', `${describe(res)}: a ${def.kind} cannot be written without reading the store first`);
    }
    const resource = this.withCreationMetadata(res);
    return { op: { op: 'put', key: keyOf(res), value: serialize(resource) }, resource };
  }

  /** Updates one existing resource; with metadata.resourceVersion set, only if it still matches. */
  async replace(res: Resource): Promise<WriteResult> {
    return (await this.batch('replace', [res]))[0]!;
  }

  /** Deletes one resource; with metadata.resourceVersion set, only if it still matches. */
  async delete(res: Resource, options: BatchOptions = {}): Promise<WriteResult> {
    return (await this.batch('delete', [res], options))[0]!;
  }

  /**
   * Deletes one resource as it was read (`res.metadata.resourceVersion` set), in one round trip:
   * MARGAY_ERR_CONFLICT when it changed since, MARGAY_ERR_NOT_FOUND when it is gone.
   */
  async deleteAsRead(res: Resource): Promise<void> {
    const revision = Number(res.metadata.resourceVersion);
    if (!Number.isInteger(revision) || revision < 1) {
      throw new MargayError('MARGAY_ERR_VALIDATION', `${describe(res)}: deleting it as read needs its resourceVersion`);
    }
    await this.datastore.delete(keyOf(res), revision);
  }

  /**
   * Runs one verb over many resources, all or nothing: every resource is validated (also against
   * the others in the batch and in the store) before anything is written, and the writes go in
   * one transaction when they fit in one (etcd takes 128 operations by default), else in a chain
   * of transactions that is undone on failure (datastore/batch.ts). Resources must already have
   * passed validateResource (the decoder does it).
   */
  async batch(verb: BatchVerb, resources: Resource[], options: BatchOptions = {}): Promise<WriteResult[]> {
    return this.#write(verb, resources, options, false);
  }

  /** {@link batch}; with `assumeAbsent`, the resources are not read first (a create's transaction still refuses existing keys). */
  async #write(verb: BatchVerb, resources: Resource[], options: BatchOptions, assumeAbsent: boolean): Promise<WriteResult[]> {
    const plans = await this.plan(verb, resources, options, assumeAbsent);
    const writes = plans.filter((p) => p.op !== undefined);
    const revisions = await writeBatch(this.datastore, writes.map((p) => (p.before ? { op: p.op!, before: p.before } : { op: p.op! })));
    writes.forEach((p, i) => (p.result.resource.metadata.resourceVersion = String(revisions[i])));
    return plans.map((p) => p.result);
  }

  private async plan(verb: BatchVerb, resources: Resource[], options: BatchOptions, assumeAbsent: boolean) {
    const existing = assumeAbsent ? resources.map(() => undefined) : await this.readCurrent(resources);
    const seen = new Set<string>();
    const plans: Plan[] = [];
    const issuesByResource: { res: Resource; issues: FieldIssue[] }[] = [];
    const sourceOf = (res: Resource) => options.sources?.[resources.indexOf(res)];
    for (const [i, res] of resources.entries()) {
      const key = keyOf(res);
      if (seen.has(key)) {
        throw new MargayError('MARGAY_ERR_VALIDATION', `${describe(res)} appears more than once in the input`);
      }
      seen.add(key);
      const current = existing[i];
      const plan = this.planOne(verb, res, key, current ? deserialize(current) : undefined, current, options);
      if (plan.issues.length > 0) issuesByResource.push({ res, issues: plan.issues });
      plans.push(plan);
    }
    if (verb !== 'delete') {
      plans.push(...(await this.resolveReferences(resources, issuesByResource)));
      const changing = new Set(plans.filter((p) => p.result.outcome === 'created' || p.result.outcome === 'updated').map((p) => keyOf(p.result.resource)));
      await this.checkAgainstOthers(resources, changing, issuesByResource);
    }
    const first = issuesByResource[0];
    if (first) {
      throw new ResourceValidationError(first.issues, { kind: first.res.kind, name: first.res.metadata.name, source: sourceOf(first.res) });
    }
    return plans;
  }

  private planOne(
    verb: BatchVerb,
    res: Resource,
    key: string,
    current: Resource | undefined,
    currentKv: KVPair | undefined,
    options: BatchOptions,
  ): Plan {
    const wantedRevision = res.metadata.resourceVersion === undefined || res.metadata.resourceVersion === ''
      ? undefined
      : Number(res.metadata.resourceVersion);
    if (verb === 'delete') {
      if (!currentKv) {
        if (options.skipNotExists) return { result: { resource: res, outcome: 'skipped' }, issues: [] };
        throw new MargayError('MARGAY_ERR_NOT_FOUND', `${describe(res)} does not exist`);
      }
      if (wantedRevision !== undefined && wantedRevision !== currentKv.modRevision) throw modified(res, wantedRevision, currentKv.modRevision);
      return { op: { op: 'delete', key, modRevision: currentKv.modRevision }, before: currentKv, result: { resource: current!, outcome: 'deleted' }, issues: [] };
    }
    if (!currentKv) {
      if (verb === 'replace') throw new MargayError('MARGAY_ERR_NOT_FOUND', `${describe(res)} does not exist`);
      const created = this.withCreationMetadata(res);
      return { op: { op: 'create', key, value: serialize(created) }, result: { resource: created, outcome: 'created' }, issues: [] };
    }
    if (verb === 'create') {
      if (options.skipExists) return { result: { resource: current!, outcome: 'skipped' }, issues: [] };
      throw new MargayError('MARGAY_ERR_ALREADY_EXISTS', `${describe(res)} already exists`);
    }
    if (wantedRevision !== undefined && wantedRevision !== currentKv.modRevision) throw modified(res, wantedRevision, currentKv.modRevision);
    const issues = checkImmutableFields(kindOf(res), current!, res);
    const next: Resource = {
      ...res,
      metadata: { ...res.metadata, uid: current!.metadata.uid, creationTimestamp: current!.metadata.creationTimestamp },
    };
    if (res.status === undefined && current!.status !== undefined) next.status = current!.status;
    if (userContent(next) === userContent(current!)) {
      return { result: { resource: current!, outcome: 'unchanged' }, issues };
    }
    return {
      op: { op: 'update', key, value: serialize(next), modRevision: currentKv.modRevision },
      before: currentKv,
      result: { resource: next, outcome: 'updated' },
      issues,
    };
  }

  private withCreationMetadata(res: Resource): Resource {
    const metadata = { ...res.metadata };
    delete metadata.resourceVersion;
    metadata.uid ??= randomUUID();
    metadata.creationTimestamp ??= this.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { ...res, metadata };
  }

  /**
   * Reads the stored copy of each resource: one get each for small batches, one list per kind
   * for large ones (a 1,000-policy apply is then a handful of reads, not a thousand).
   */
  private async readCurrent(resources: Resource[]): Promise<(KVPair | undefined)[]> {
    const byPlural = new Map<string, number>();
    for (const r of resources) byPlural.set(kindOf(r).plural, (byPlural.get(kindOf(r).plural) ?? 0) + 1);
    const listed = new Map<string, KVPair>();
    for (const [plural, count] of byPlural) {
      if (count < LIST_THRESHOLD) continue;
      for (const kv of (await settledList(this.datastore, resourcePrefix(plural))).items) listed.set(kv.key, kv);
    }
    return Promise.all(
      resources.map((r) => (byPlural.get(kindOf(r).plural)! >= LIST_THRESHOLD ? listed.get(keyOf(r)) : settledGet(this.datastore, keyOf(r)))),
    );
  }

  /**
   * Checks that what each resource refers to exists (a policy's tier), in the store or in the
   * batch. A missing built-in (the `default` tier) is created in the same transaction.
   */
  private async resolveReferences(
    resources: Resource[],
    out: { res: Resource; issues: FieldIssue[] }[],
  ): Promise<Plan[]> {
    const inBatch = new Set(resources.map(keyOf));
    const known = new Map<string, boolean>();
    const implicit: Plan[] = [];
    for (const res of resources) {
      for (const ref of kindOf(res).references?.(res) ?? []) {
        const refKind = findKind(ref.kind);
        if (!refKind) continue;
        const key = resourceKey(refKind.plural, ref.name, ref.namespace);
        if (inBatch.has(key)) continue;
        if (!known.has(key)) known.set(key, (await settledGet(this.datastore, key)) !== undefined);
        if (known.get(key)) continue;
        const builtin = refKind.builtins?.().find((b) => b.metadata.name === ref.name);
        if (builtin) {
          const created = this.withCreationMetadata(builtin);
          implicit.push({ op: { op: 'create', key, value: serialize(created) }, result: { resource: created, outcome: 'created', implicit: true }, issues: [] });
          known.set(key, true);
          continue;
        }
        out.push({ res, issues: [{ path: ref.path, message: `${ref.kind} "${ref.name}" does not exist; create it first` }] });
      }
    }
    return implicit;
  }

  /**
   * Cross-resource rules (pool overlap): each resource the batch creates or changes, against the
   * store and the rest of the batch. Unchanged resources were checked when they were written.
   */
  private async checkAgainstOthers(
    resources: Resource[],
    changing: ReadonlySet<string>,
    out: { res: Resource; issues: FieldIssue[] }[],
  ): Promise<void> {
    const kinds = new Map<string, KindDefinition>();
    for (const res of resources) {
      const def = kindOf(res);
      if (def.validateAgainst) kinds.set(def.kind, def);
    }
    for (const def of kinds.values()) {
      const stored = (await this.list(def)).items;
      const batchOfKind = resources.filter((r) => r.kind === def.kind);
      const batchKeys = new Set(batchOfKind.map(keyOf));
      const universe = [...stored.filter((r) => !batchKeys.has(keyOf(r))), ...batchOfKind];
      for (const res of batchOfKind.filter((r) => changing.has(keyOf(r)))) {
        const others = universe.filter((r) => keyOf(r) !== keyOf(res));
        const issues = def.validateAgainst!(res, others);
        if (issues.length > 0) out.push({ res, issues });
      }
    }
  }
}
