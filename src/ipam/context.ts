/**
 * What an allocation decision reads besides blocks: pools, reservations, settings and the
 * requesting node's labels. Read together, in parallel, through the ResourceStore.
 */
import { ipamConfigurationKind } from '../api/kinds/ipam-configuration.ts';
import { ipPoolKind } from '../api/kinds/ip-pool.ts';
import { ipReservationKind } from '../api/kinds/ip-reservation.ts';
import { nodeKind } from '../api/kinds/node.ts';
import type { ResourceStore } from '../datastore/resources.ts';
import type { Labels } from '../selector/mod.ts';
import { configFromResourceSpec, decodeConfigRecord, effectiveConfig, type IpamConfig } from './config.ts';
import { IPAM_CONFIG_KEY } from './keys.ts';
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

/** Reads the effective IPAM settings (v2 record, then the v3 `default` IPAMConfiguration). */
export async function loadConfig(store: ResourceStore): Promise<IpamConfig> {
  const [record, resource] = await Promise.all([store.datastore.get(IPAM_CONFIG_KEY), store.get(ipamConfigurationKind, 'default')]);
  let fromRecord: Partial<IpamConfig> | undefined;
  if (record) {
    try {
      fromRecord = decodeConfigRecord(record.value);
    } catch {
      fromRecord = undefined; // an unreadable record counts as absent
    }
  }
  return effectiveConfig(fromRecord, configFromResourceSpec(resource?.spec));
}

/** Reads the IP pools. */
export async function loadPools(store: ResourceStore): Promise<PoolInfo[]> {
  const { items } = await store.list(ipPoolKind);
  return items.map(poolFromResource).filter((p): p is PoolInfo => p !== undefined);
}

/** Reads everything an allocation for `node` needs besides blocks. */
export async function loadContext(store: ResourceStore, node: string): Promise<AllocContext> {
  const [pools, reservations, config, nodeRes] = await Promise.all([
    loadPools(store),
    store.list(ipReservationKind).then((r) => reservationsFromResources(r.items)),
    loadConfig(store),
    store.get(nodeKind, node),
  ]);
  return { pools, reservations, config, nodeLabels: nodeRes?.metadata.labels ?? {}, nodeExists: nodeRes !== undefined };
}
