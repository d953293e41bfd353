/**
 * Watch streams through etcd3's own connection path (its host choice, fault handling and
 * authentication, as its `watchClient.watch()`) whose responses are decoded by watch-decode.ts
 * instead of protobufjs, and whose watch creations are encoded by request-encode.ts, through a
 * method added beside etcd3's `watch` (etcd-method.ts); when etcd3's internals are not as expected
 * (another version, default call options), it returns undefined and `watchClient.watch()` serves.
 */
import type { Etcd3 } from 'etcd3';
import { addDecodingMethod } from './etcd-method.ts';
import { encodeWatchRequest } from './request-encode.ts';
import { decodeWatchResponse } from './watch-decode.ts';

/** The method added to etcd3's Watch client class. */
const METHOD = 'margayWatchDecoded';

/** A bidirectional gRPC stream, as etcd3's `watchClient.watch()` resolves to. */
type Stream = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;
interface Pool {
  withConnection<T>(service: string, fn: (c: { resource: unknown; client: Record<string, (metadata: unknown, options: unknown) => Stream>; metadata: unknown }) => T): Promise<T>;
  markFailed(resource: unknown, err: unknown): void;
  callOptionsFactory?: unknown;
  hosts?: Array<{ getServiceClient(name: string): object }>;
}

/** Opens a watch stream decoding with {@link decodeWatchResponse}, or undefined when etcd3 cannot take one. */
export function decodedWatch(client: Etcd3): (() => Promise<Stream>) | undefined {
  const pool = (client as unknown as { pool?: Pool }).pool;
  const host = pool?.hosts?.[0];
  if (pool === undefined || typeof pool.withConnection !== 'function' || typeof pool.markFailed !== 'function') return undefined;
  // Default call options would have to be resolved as etcd3 does: leave those to etcd3.
  if (pool.callOptionsFactory !== undefined || host === undefined || typeof host.getServiceClient !== 'function') return undefined;
  if (!addDecodingMethod(host.getServiceClient('Watch'), 'watch', METHOD, 'makeBidiStreamRequest', decodeWatchResponse, encodeWatchRequest)) return undefined;
  // As etcd3's WatchClient.watch: a stream error while it is writable marks the host failed.
  return () =>
    pool.withConnection('Watch', ({ resource, client: service, metadata }) => {
      const stream = service[METHOD]!(metadata, undefined);
      stream.on('error', (err: unknown) => (stream as unknown as { writable: boolean }).writable && pool.markFailed(resource, err));
      return stream;
    });
}
