/**
 * For the tests of the decoders of etcd's responses (range-decode, watch-decode, txn-decode):
 * etcd3's own encoder and decoder of a method (proto-loader + protobufjs with etcd3's options),
 * a small deterministic random generator and edge values of 64-bit integers.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A method's request encoder, response encoder and etcd3's decoder. */
export interface Method {
  requestSerialize(arg: unknown): Buffer;
  responseSerialize(arg: unknown): Buffer;
  responseDeserialize(buf: Buffer): unknown;
}
const protoLoader = require('@grpc/proto-loader') as { loadSync(file: string, options: object): Record<string, Record<string, Method>> };
// As etcd3 loads it (node_modules/etcd3/lib/connection-pool.js).
const definition = protoLoader.loadSync(require.resolve('etcd3/proto/rpc.proto'), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });

/** etcd3's codec of `etcdserverpb.<service>.<method>` (`KV`, `Range`). */
export function etcdMethod(service: string, method: string): Method {
  return definition[`etcdserverpb.${service}`]![method]!;
}

/** A small deterministic generator (tests must not depend on Math.random's luck). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32;
}

/** Signed 64-bit edge values, as decimal text. */
export const INT64S = ['0', '1', '127', '128', '16383', '16384', '4294967295', '4294967296', '9007199254740991', '9007199254740993', '9223372036854775807', '-1', '-9223372036854775808', '7587869343565421066'];
/** Unsigned 64-bit edge values, as decimal text. */
export const UINT64S = ['0', '1', '2', '4294967296', '9007199254740993', '14841639068965178418', '18446744073709551615'];
