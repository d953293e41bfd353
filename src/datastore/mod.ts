/**
 * The datastore room's public surface: the Datastore interface, its two backends, the factory
 * that picks one from client configuration, and the syncer that turns list+watch into a
 * snapshot-then-deltas stream.
 */
import { EtcdDatastore } from './etcd.ts';
import { MemoryDatastore } from './memory.ts';
import type { Datastore } from './datastore.ts';

/** Which datastore to use and how to reach it (calicoctl's `CalicoAPIConfig` spec, resolved). */
export type DatastoreConfig =
  | {
      type: 'etcdv3';
      etcdEndpoints: string[];
      etcdCACertFile?: string;
      etcdCertFile?: string;
      etcdKeyFile?: string;
      /** Per-request timeout in milliseconds (default 10000). */
      dialTimeoutMs?: number;
      /** How errors name the timeout (e.g. the variable that sets it). */
      timeoutName?: string;
    }
  | { type: 'memory' };

/** Builds the Datastore a configuration names. A `memory` store is new and empty each time. */
export function createDatastore(config: DatastoreConfig): Datastore {
  switch (config.type) {
    case 'memory':
      return new MemoryDatastore();
    case 'etcdv3': {
      const tls: { caFile?: string; certFile?: string; keyFile?: string } = {};
      if (config.etcdCACertFile) tls.caFile = config.etcdCACertFile;
      if (config.etcdCertFile) tls.certFile = config.etcdCertFile;
      if (config.etcdKeyFile) tls.keyFile = config.etcdKeyFile;
      return new EtcdDatastore({
        endpoints: config.etcdEndpoints,
        tls,
        ...(config.dialTimeoutMs === undefined ? {} : { dialTimeoutMs: config.dialTimeoutMs }),
        ...(config.timeoutName === undefined ? {} : { timeoutName: config.timeoutName }),
      });
    }
  }
}

export type {
  Datastore,
  KVPair,
  Lease,
  ListPagesOptions,
  ListResult,
  PageHandler,
  RawWatch,
  TxnOp,
  WatchEvent,
  WatchOptions,
  WriteOptions,
} from './datastore.ts';
export { MemoryDatastore, type MemoryDatastoreOptions } from './memory.ts';
export { EtcdDatastore, type EtcdDatastoreOptions, type EtcdTlsOptions } from './etcd.ts';
export {
  Syncer,
  watchPrefix,
  type SyncerEvent,
  type SyncerHandler,
  type SyncerOptions,
  type SyncerState,
} from './syncer.ts';
export { diffSnapshot, type SnapshotDiff } from './resync-diff.ts';
export { ResourceStore, resourcesFromPairs, type WriteOutcome, type WriteResult } from './resources.ts';
export { KUBE_LEADER_KEY, resourceKey, resourcePrefix } from './keys.ts';

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export type { ReadRequest } from './datastore.ts';
export { FELIX_STATUS_PREFIX, IPAM_BLOCKS_PREFIX, IPAM_CONFIG_KEY, IPAM_HANDLES_PREFIX, IPAM_HOSTS_PREFIX, IPAM_PREFIX, LEADER_KEY, RESOURCES_PREFIX, parseResourceKey } from './keys.ts';
export type { BatchVerb } from './resources.ts';
