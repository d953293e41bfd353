/**
 * Margay's public library entry (`import { … } from 'margay'`). Everything exported here is
 * documented in README.md ("The library") and kept stable; internals are reached through their
 * own folders only by Margay itself.
 */

// Selectors and the label index.
export { parseSelector, SelectorParseError, selectorId, LabelIndex } from './selector/mod.ts';
export type { Selector, Labels, LabelIndexOptions, MatchCallback } from './selector/mod.ts';

// Resources: validation, decoding, Kubernetes conversion, kinds.
export { API_VERSION } from './api/resource.ts';
export type { Resource, ObjectMeta, FieldIssue, SourceRef } from './api/resource.ts';
export { validateResource, ResourceValidationError, checkImmutableFields } from './api/validate.ts';
export type { ValidateOptions } from './api/validate.ts';
export { decodeDocuments, decodeResources, toResource } from './api/decode.ts';
export type { DecodedDocument, DecodedResource } from './api/decode.ts';
export { convertKubernetesResource, isKubernetesKind } from './api/k8s/mod.ts';
export { allKinds, findKind } from './api/kinds/mod.ts';
export type { KindDefinition, Column } from './api/kind.ts';

// The datastore.
export { createDatastore, MemoryDatastore, EtcdDatastore, Syncer, watchPrefix } from './datastore/mod.ts';
export type {
  DatastoreConfig,
  Datastore,
  KVPair,
  Lease,
  ListResult,
  RawWatch,
  TxnOp,
  WatchEvent,
  WriteOptions,
  SyncerEvent,
  SyncerHandler,
  SyncerOptions,
} from './datastore/mod.ts';
export { ResourceStore } from './datastore/resources.ts';
export type { WriteResult, WriteOutcome, BatchVerb, BatchOptions } from './datastore/resources.ts';
export { resourceKey, resourcePrefix, parseResourceKey, RESOURCES_PREFIX } from './datastore/keys.ts';

// Errors.
export { MargayError, hasCode, ErrorCodes } from './errors/mod.ts';
export type { ErrorCode } from './errors/mod.ts';

// IPAM and the cluster controllers.
export { Ipam, checkIpam, computeUsage } from './ipam/mod.ts';
export type { IpamConfig, CheckReport, Usage } from './ipam/mod.ts';
