/**
 * KV calls through etcd3's own call path (its host choice, fault handling, authentication and
 * retries) whose responses are decoded by range-decode.ts (ranges: reads and listings) and
 * txn-decode.ts (transactions: every write) instead of protobufjs, and whose range requests are
 * encoded by request-encode.ts, through methods added beside etcd3's `range` and `txn`
 * (etcd-method.ts); when etcd3's internals are not as expected (another version), it returns
 * undefined and etcd3's own `kv.range` / `kv.txn` serve.
 */
import type { Etcd3, IRangeRequest, IRangeResponse, ITxnRequest, ITxnResponse } from 'etcd3';
import { addDecodingMethod } from './etcd-method.ts';
import { decodeRangeResponse } from './range-decode.ts';
import { encodeRangeRequest } from './request-encode.ts';
import { decodeTxnResponse } from './txn-decode.ts';

interface Pool {
  exec(service: string, method: string, req: unknown, options?: unknown): Promise<unknown>;
  hosts?: Array<{ getServiceClient(name: string): object }>;
}
type Call<Req, Res> = (req: Req, options: { deadline: Date }) => Promise<Res>;

/** A KV call of etcd3's method `method` decoding with `decode` and encoding with `encode` (added as method `added`), or undefined. */
function decodedKv<Req, Res>(client: Etcd3, method: string, added: string, decode: (buf: Buffer) => unknown, encode?: (req: unknown) => Buffer | undefined): Call<Req, Res> | undefined {
  const pool = (client as unknown as { pool?: Pool }).pool;
  const host = pool?.hosts?.[0];
  if (pool === undefined || typeof pool.exec !== 'function' || host === undefined || typeof host.getServiceClient !== 'function') return undefined;
  if (!addDecodingMethod(host.getServiceClient('KV'), method, added, 'makeUnaryRequest', decode, encode)) return undefined;
  return (req, options) => pool.exec('KV', added, req, options) as Promise<Res>;
}

/** A range call decoding with {@link decodeRangeResponse}, or undefined when etcd3 cannot take one. */
export function decodedRange(client: Etcd3): Call<IRangeRequest, IRangeResponse> | undefined {
  return decodedKv(client, 'range', 'margayRangeDecoded', decodeRangeResponse, encodeRangeRequest);
}

/** A transaction call decoding with {@link decodeTxnResponse}, or undefined when etcd3 cannot take one. */
export function decodedTxn(client: Etcd3): Call<ITxnRequest, ITxnResponse> | undefined {
  return decodedKv(client, 'txn', 'margayTxnDecoded', decodeTxnResponse);
}
