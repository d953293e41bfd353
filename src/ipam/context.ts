/**
 * What an allocation decision reads besides blocks: pools, reservations, settings and the
 * requesting node's labels. Described as datastore reads plus a decoder, so that one `getMany`
 * round trip reads them together (with a node's affinities, see runtime.ts).
 */
import { ipamConfigurationKind } from '../api/mod.ts';
import { ipPoolKind } from '../api/mod.ts';
import { ipReservationKind } from '../api/mod.ts';
import { nodeKind } from '../api/mod.ts';
import type { Datastore, KVPair, ReadRequest } from '../datastore/mod.ts';
import { resourceKey, resourcePrefix } from '../datastore/mod.ts';
import { resourcesFromPairs, type ResourceStore } from '../datastore/mod.ts';
import type { Labels } from '../selector/mod.ts';
import { configFromResourceSpec, decodeConfigRecord, effectiveConfig, type IpamConfig } from './config.ts';
import { IPAM_CONFIG_KEY } from '../datastore/mod.ts';
import { poolFromResource, reservationsFromResources, type PoolInfo, type Reservation } from './pools.ts';

/** The inputs of an allocation besides the blocks. */
export interface AllocContext {
  pools: PoolInfo[];
  reservations: Reservation[];
  config: IpamConfig;
  /** The node's labels ({} when it has no Node resource). */
  nodeLabels: Labels;
  /** Whether the node has a Node resource. */
  nodeExists: boolean;
}

/** The reads behind the effective settings: the v2 record, then the v3 `default` IPAMConfiguration. */
const CONFIG_READS: readonly ReadRequest[] = [{ key: IPAM_CONFIG_KEY }, { key: resourceKey(ipamConfigurationKind.plural, 'default') }];

/** The settings from the results of {@link CONFIG_READS}. */
function configFrom([record, resource]: KVPair[][]): IpamConfig {
  let fromRecord: Partial<IpamConfig> | undefined;
  const recordKv = record?.[0];
  if (recordKv) {
    try {
      fromRecord = decodeConfigRecord(recordKv.value);
    } catch {
      fromRecord = undefined; // an unreadable record counts as absent
    }
  }
  return effectiveConfig(fromRecord, configFromResourceSpec(resourcesFromPairs(resource ?? [])[0]?.spec));
}

/** Reads the effective IPAM settings and, in the same round trip, `also` (their results, in order). */
export async function loadConfig(datastore: Datastore, also: readonly ReadRequest[] = []): Promise<{ config: IpamConfig; also: KVPair[][] }> {
  const { results } = await datastore.getMany([...CONFIG_READS, ...also]);
  return { config: configFrom(results.slice(0, CONFIG_READS.length)), also: results.slice(CONFIG_READS.length) };
}

/** Reads the IP pools. */
export async function loadPools(store: ResourceStore): Promise<PoolInfo[]> {
  const { items } = await store.list(ipPoolKind);
  return items.map(poolFromResource).filter((p): p is PoolInfo => p !== undefined);
}

/** The reads of an allocation context for `node`; {@link contextFrom} decodes their results. */
export function contextReads(node: string): ReadRequest[] {
  return [
    { prefix: resourcePrefix(ipPoolKind.plural) },
    { prefix: resourcePrefix(ipReservationKind.plural) },
    { key: resourceKey(nodeKind.plural, node) },
    ...CONFIG_READS,
  ];
}

/** The context from the results of {@link contextReads} (in the same order). */
export function contextFrom(results: KVPair[][]): AllocContext {
  const [pools = [], reservations = [], node = [], ...config] = results;
  const nodeRes = resourcesFromPairs(node)[0];
  return {
    pools: resourcesFromPairs(pools).map(poolFromResource).filter((p): p is PoolInfo => p !== undefined),
    reservations: reservationsFromResources(resourcesFromPairs(reservations)),
    config: configFrom(config),
    nodeLabels: nodeRes?.metadata.labels ?? {},
    nodeExists: nodeRes !== undefined,
  };
}

/** Reads everything an allocation for `node` needs besides blocks (one round trip). */
export async function loadContext(datastore: Datastore, node: string): Promise<AllocContext> {
  return contextFrom((await datastore.getMany(contextReads(node))).results);
}
