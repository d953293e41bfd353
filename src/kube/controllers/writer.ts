/**
 * Writes what a controller owns, and nothing else. A controller names its resources the way Calico
 * does (`kns.*` and `ksa.*` Profiles, `knp.default.*` NetworkPolicies) and `owns()` recognises
 * them; resources that do not match are never read into a decision, changed or deleted.
 *
 * - {@link reconcileAll}: the full resync. Lists the kind once, compares each owned resource with
 *   the desired one (labels and spec, after Calico's defaults), then creates, updates and deletes
 *   only the differences, in transactions of up to 128 writes. Every update and delete is
 *   conditional on the revision it was compared at, so a resource changed meanwhile is left for
 *   the next pass instead of being overwritten blindly.
 * - {@link syncOne}: the same for one resource, after an event.
 */
import type { KindDefinition } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import type { ResourceStore } from '../../datastore/mod.ts';
import { hasCode } from '../../errors/mod.ts';
import { type Logger, silentLogger } from '../../log/mod.ts';

/** The resources of one kind a controller owns. */
export interface OwnedSet {
  kind: KindDefinition;
  /** True for the resources this controller owns (by name, as Calico). */
  owns(res: Resource): boolean;
}

/** What a full resync did. */
export interface ReconcileReport {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: number;
  failed: { name: string; error: string }[];
}

/** `namespace/name` or `name`. */
export function resourceName(res: Resource): string {
  return res.metadata.namespace ? `${res.metadata.namespace}/${res.metadata.name}` : res.metadata.name;
}

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value as object).sort().map((k) => [k, stable((value as Record<string, unknown>)[k])]));
  }
  return value;
}

/** The part of a resource a controller decides: labels and spec. */
export function decidedContent(res: Resource): string {
  return JSON.stringify(stable({ labels: res.metadata.labels ?? {}, spec: res.spec ?? {} }));
}

/** The desired resource with the stored one's revision, so that the write is conditional on it. */
function at(desired: Resource, current: Resource | undefined): Resource {
  const metadata = { ...desired.metadata };
  if (current?.metadata.resourceVersion) metadata.resourceVersion = current.metadata.resourceVersion;
  else delete metadata.resourceVersion;
  return { ...desired, metadata };
}

const CHUNK = 512;

async function writeChunked(
  store: ResourceStore,
  verb: 'create' | 'replace' | 'delete',
  resources: Resource[],
  done: string[],
  failed: ReconcileReport['failed'],
  signal: AbortSignal | undefined,
): Promise<void> {
  for (let i = 0; i < resources.length && !signal?.aborted; i += CHUNK) {
    const chunk = resources.slice(i, i + CHUNK);
    try {
      await store.batch(verb, chunk, verb === 'delete' ? { skipNotExists: true } : {});
      done.push(...chunk.map(resourceName));
    } catch {
      // One resource spoiled the transaction (changed meanwhile, or refused): go one by one.
      for (const res of chunk) {
        if (signal?.aborted) return;
        try {
          await store.batch(verb, [res], verb === 'delete' ? { skipNotExists: true } : {});
          done.push(resourceName(res));
        } catch (err) {
          failed.push({ name: resourceName(res), error: (err as Error).message });
        }
      }
    }
  }
}

/** Makes the owned resources of `owned.kind` in etcd exactly `desired` (module comment). */
export async function reconcileAll(
  store: ResourceStore,
  owned: OwnedSet,
  desired: Iterable<Resource>,
  options: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<ReconcileReport> {
  const logger = options.logger ?? silentLogger();
  const report: ReconcileReport = { created: [], updated: [], deleted: [], unchanged: 0, failed: [] };
  const actual = new Map<string, Resource>();
  for (const res of (await store.list(owned.kind)).items) if (owned.owns(res)) actual.set(resourceName(res), res);
  const creates: Resource[] = [];
  const updates: Resource[] = [];
  const wanted = new Set<string>();
  for (const d of desired) {
    const key = resourceName(d);
    wanted.add(key);
    const current = actual.get(key);
    if (!current) creates.push(at(d, undefined));
    else if (decidedContent(current) !== decidedContent(d)) updates.push(at(d, current));
    else report.unchanged++;
  }
  const deletes = [...actual].filter(([key]) => !wanted.has(key)).map(([, res]) => res);
  await writeChunked(store, 'create', creates, report.created, report.failed, options.signal);
  await writeChunked(store, 'replace', updates, report.updated, report.failed, options.signal);
  await writeChunked(store, 'delete', deletes, report.deleted, report.failed, options.signal);
  for (const f of report.failed) logger.warn({ kind: owned.kind.kind, name: f.name, err: f.error }, 'resync could not write; the next pass retries');
  return report;
}

/** The outcome of {@link syncOne}. */
export type SyncOutcome = 'created' | 'updated' | 'deleted' | 'unchanged' | 'absent';

/**
 * Makes one owned resource match `desired` (or deletes it when `desired` is undefined).
 * @throws on datastore errors and lost races (the caller retries).
 */
export async function syncOne(store: ResourceStore, owned: OwnedSet, name: string, namespace: string | undefined, desired: Resource | undefined): Promise<SyncOutcome> {
  const current = await store.get(owned.kind, name, namespace);
  if (current && !owned.owns(current)) return 'unchanged';
  if (!desired) {
    if (!current) return 'absent';
    try {
      await store.delete(current);
    } catch (err) {
      if (hasCode(err, 'MARGAY_ERR_NOT_FOUND')) return 'absent';
      throw err;
    }
    return 'deleted';
  }
  if (current && decidedContent(current) === decidedContent(desired)) return 'unchanged';
  if (!current) {
    await store.create(at(desired, undefined));
    return 'created';
  }
  await store.replace(at(desired, current));
  return 'updated';
}
