/**
 * Runs the calculation graph over a list of resources (manifests, or a datastore listing) in
 * mode `all` and returns the resulting model: what `margay policy trace -f` and
 * `policy matrix -f` evaluate. The resources should be validated and defaulted already
 * (Kubernetes objects converted with `convertKubernetesResource`).
 */
import { findKind } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { resourceKey } from '../datastore/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { buildCalcGraph } from './graph.ts';
import { ModelSnapshot } from './snapshot.ts';

/** Options of {@link modelFromResources}. */
export interface OfflineModelOptions {
  /** Selects FelixConfiguration `node.<hostname>` (default: none). */
  hostname?: string;
  /**
   * Add the built-in tiers (`kube-admin`, `default`, `kube-baseline`) that a datastore always has,
   * unless the resources define them (default true).
   */
  builtinTiers?: boolean;
  /** Told about resources the graph cannot use. */
  onWarning?: (message: string, key: string) => void;
}

/** The datastore key a resource is stored under; throws for an unknown kind. */
export function keyOfResource(res: Resource): string {
  const def = findKind(res.kind);
  if (def === undefined) throw new MargayError('MARGAY_ERR_UNKNOWN_KIND', `${res.metadata?.name ?? '(no name)'}: unknown kind "${res.kind}"`);
  const namespace = def.namespaced ? (res.metadata.namespace ?? 'default') : undefined;
  return resourceKey(def.plural, res.metadata.name, namespace);
}

/** The model the graph computes for these resources, every endpoint treated as local. */
export function modelFromResources(resources: readonly Resource[], options: OfflineModelOptions = {}): ModelSnapshot {
  const graph = buildCalcGraph({
    hostname: options.hostname ?? '',
    mode: 'all',
    builtinTiers: options.builtinTiers !== false,
    ...(options.onWarning !== undefined ? { onWarning: options.onWarning } : {}),
  });
  for (const res of resources) graph.onUpdate(keyOfResource(res), res);
  graph.onInSync();
  return new ModelSnapshot().applyAll(graph.flush());
}
