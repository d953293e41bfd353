/**
 * KV calls through etcd3's own call path (its host choice, fault handling, authentication and
 * retries) whose responses are decoded by range-decode.ts (ranges: the listings) and
 * txn-decode.ts (transactions: every write) instead of protobufjs. etcd3 has no option for a
 * method's decoder, so this adds a method to its gRPC KV client class beside each of `range` and
 * `txn`, with that method's path and request encoder; when etcd3's internals are not as expected
 * (another version), it returns undefined and etcd3's own `kv.range` / `kv.txn` serve.
 */
import type { Etcd3, IRangeRequest, IRangeResponse, ITxnRequest, ITxnResponse } from 'etcd3';
import { decodeRangeResponse } from './range-decode.ts';
import { decodeTxnResponse } from './txn-decode.ts';

type Callback = (err: unknown, value?: unknown) => void;
interface UnaryClient {
  makeUnaryRequest(path: string, serialize: unknown, deserialize: unknown, arg: unknown, metadata: unknown, options: unknown, callback: Callback): unknown;
}
interface Pool {
  exec(service: string, method: string, req: unknown, options?: unknown): Promise<unknown>;
  hosts?: Array<{ getServiceClient(name: string): object }>;
}
type Call<Req, Res> = (req: Req, options: { deadline: Date }) => Promise<Res>;

/** A KV call of etcd3's method `method` decoding with `decode` (added as method `added`), or undefined. */
function decodedKv<Req, Res>(client: Etcd3, method: string, added: string, decode: (buf: Buffer) => unknown): Call<Req, Res> | undefined {
  const pool = (client as unknown as { pool?: Pool }).pool;
  const host = pool?.hosts?.[0];
  if (pool === undefined || typeof pool.exec !== 'function' || host === undefined || typeof host.getServiceClient !== 'function') return undefined;
  const proto = Object.getPrototypeOf(host.getServiceClient('KV')) as Record<string, unknown>;
  if (proto[added] === undefined) {
    const own = proto[method] as { path?: unknown; requestSerialize?: unknown } | undefined;
    if (typeof own?.path !== 'string' || typeof own.requestSerialize !== 'function' || typeof proto.makeUnaryRequest !== 'function') return undefined;
    const { path, requestSerialize } = own;
    proto[added] = function (this: UnaryClient, arg: unknown, metadata: unknown, options: unknown, callback: Callback): unknown {
      return this.makeUnaryRequest(path, requestSerialize, decode, arg, metadata, options, callback);
    };
  }
  return (req, options) => pool.exec('KV', added, req, options) as Promise<Res>;
}

/** A range call decoding with {@link decodeRangeResponse}, or undefined when etcd3 cannot take one. */
export function decodedRange(client: Etcd3): Call<IRangeRequest, IRangeResponse> | undefined {
  return decodedKv(client, 'range', 'margayRangeDecoded', decodeRangeResponse);
}

/** A transaction call decoding with {@link decodeTxnResponse}, or undefined when etcd3 cannot take one. */
export function decodedTxn(client: Etcd3): Call<ITxnRequest, ITxnResponse> | undefined {
  return decodedKv(client, 'txn', 'margayTxnDecoded', decodeTxnResponse);
}
