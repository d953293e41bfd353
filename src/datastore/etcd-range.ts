/**
 * Range requests through etcd3's own call path (its host choice, fault handling, authentication
 * and retries) whose responses are decoded by range-decode.ts instead of protobufjs: etcd.ts lists
 * prefixes with it. etcd3 has no option for a method's decoder, so this adds one method to its
 * gRPC KV client class, beside `range` and with `range`'s path and request encoder; when etcd3's
 * internals are not as expected (another version), it returns undefined and `kv.range` serves.
 */
import type { Etcd3, IRangeRequest, IRangeResponse } from 'etcd3';
import { decodeRangeResponse } from './range-decode.ts';

/** The method added to etcd3's KV client class. */
const METHOD = 'margayRangeDecoded';

type Callback = (err: unknown, value?: unknown) => void;
interface UnaryClient {
  makeUnaryRequest(path: string, serialize: unknown, deserialize: unknown, arg: unknown, metadata: unknown, options: unknown, callback: Callback): unknown;
}
interface Pool {
  exec(service: string, method: string, req: unknown, options?: unknown): Promise<unknown>;
  hosts?: Array<{ getServiceClient(name: string): object }>;
}

/** A range call decoding with {@link decodeRangeResponse}, or undefined when etcd3 cannot take one. */
export function decodedRange(client: Etcd3): ((req: IRangeRequest, options: { deadline: Date }) => Promise<IRangeResponse>) | undefined {
  const pool = (client as unknown as { pool?: Pool }).pool;
  const host = pool?.hosts?.[0];
  if (pool === undefined || typeof pool.exec !== 'function' || host === undefined || typeof host.getServiceClient !== 'function') return undefined;
  const proto = Object.getPrototypeOf(host.getServiceClient('KV')) as Record<string, unknown>;
  if (proto[METHOD] === undefined) {
    const range = proto.range as { path?: unknown; requestSerialize?: unknown } | undefined;
    if (typeof range?.path !== 'string' || typeof range.requestSerialize !== 'function' || typeof proto.makeUnaryRequest !== 'function') return undefined;
    const { path, requestSerialize } = range;
    proto[METHOD] = function (this: UnaryClient, arg: unknown, metadata: unknown, options: unknown, callback: Callback): unknown {
      return this.makeUnaryRequest(path, requestSerialize, decodeRangeResponse, arg, metadata, options, callback);
    };
  }
  return (req, options) => pool.exec('KV', METHOD, req, options) as Promise<IRangeResponse>;
}
