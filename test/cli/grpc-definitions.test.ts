/**
 * scripts/grpc-definitions.cjs, what the agent bundle gives etcd3 in place of @grpc/proto-loader:
 * the same gRPC package definition of etcd's protos as proto-loader's `fromJSON`, but for the
 * reflection descriptors, which it makes only when read.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);
type Definition = Record<string, Record<string, unknown>>;
const protoLoader = require('@grpc/proto-loader') as { fromJSON(json: unknown, options: object): Definition };
const { loadProtosWithOptionsSync } = require('@grpc/proto-loader/build/src/util.js') as { loadProtosWithOptionsSync(file: string, options: object): { toJSON(o: object): unknown } };
const light = require('../../scripts/grpc-definitions.cjs') as { fromJSON(json: unknown, options: object): Definition };
const grpc = require('@grpc/grpc-js') as { loadPackageDefinition(def: Definition): Record<string, Record<string, { service: Record<string, unknown> }>> };

// As scripts/bundle.mjs parses them and etcd3 loads them.
const json = JSON.parse(JSON.stringify(loadProtosWithOptionsSync(require.resolve('etcd3/proto/rpc.proto'), { keepCase: true }).toJSON({ keepComments: false })));
const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

interface Method {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  originalName: string;
  options: unknown;
  requestSerialize(arg: unknown): Buffer;
  responseDeserialize(buf: Buffer): unknown;
  responseSerialize(arg: unknown): Buffer;
  requestDeserialize(buf: Buffer): unknown;
  requestType: { type: unknown };
}

test('every service, method, message and enum of etcd is defined as proto-loader defines it', () => {
  const full = protoLoader.fromJSON(json, options);
  const mine = light.fromJSON(json, options);
  assert.deepEqual(Object.keys(mine), Object.keys(full));
  let methods = 0;
  for (const [name, def] of Object.entries(full)) {
    if ('format' in def) {
      assert.equal(mine[name]!.format, def.format, name);
      assert.deepEqual((mine[name] as { type: unknown }).type, def.type, `${name}: its descriptor, made when read`);
      continue;
    }
    assert.deepEqual(Object.keys(mine[name]!), Object.keys(def), name);
    for (const [method, attrs] of Object.entries(def) as Array<[string, Method]>) {
      const got = mine[name]![method] as Method;
      for (const field of ['path', 'requestStream', 'responseStream', 'originalName'] as const) assert.equal(got[field], attrs[field], `${name}.${method} ${field}`);
      assert.deepEqual(got.options, attrs.options, `${name}.${method} options`);
      assert.deepEqual(got.requestType.type, attrs.requestType.type, `${name}.${method} requestType, made when read`);
      methods++;
    }
  }
  assert.ok(methods > 40, `etcd has some 50 methods, found ${methods}`);
});

test('a range request and response encode and decode as with proto-loader', () => {
  const full = protoLoader.fromJSON(json, options)['etcdserverpb.KV']!.Range as Method;
  const mine = light.fromJSON(json, options)['etcdserverpb.KV']!.Range as Method;
  const request = { key: Buffer.from('/calico/'), range_end: Buffer.from('/calico0'), limit: 1000, revision: '12' };
  assert.deepEqual(mine.requestSerialize(request), full.requestSerialize(request));
  const response = {
    header: { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '9007199254740993', raft_term: '2' },
    kvs: [{ key: Buffer.from('/calico/a'), create_revision: '5', mod_revision: '7', version: '2', value: Buffer.from('{"a":1}'), lease: '7587869343565421066' }],
    more: true,
    count: '6021',
  };
  const bytes = full.responseSerialize(response);
  assert.deepEqual(mine.responseSerialize(response), bytes);
  assert.deepEqual(mine.responseDeserialize(bytes), full.responseDeserialize(bytes));
  assert.throws(() => mine.requestSerialize([]), /expected object with RangeRequest structure, got array/);
});

test('gRPC builds the same clients from it, without making the descriptors', () => {
  const mine = light.fromJSON(json, options);
  const services = grpc.loadPackageDefinition(mine);
  const kv = services.etcdserverpb!.KV!;
  assert.equal(typeof (kv as unknown as { prototype: Record<string, unknown> }).prototype.range, 'function');
  assert.equal(Object.getOwnPropertyDescriptor(mine['etcdserverpb.KV']!.Range, 'requestType')?.get !== undefined, true, 'still to be made');
  assert.equal(Object.getOwnPropertyDescriptor(mine['mvccpb.KeyValue']!, 'type')?.get !== undefined, true, 'still to be made');
});

test('the protobufjs root is made at the first request or response through it, once', () => {
  const Protobuf = require('protobufjs') as { Root: { fromJSON(json: unknown): unknown } };
  const original = Protobuf.Root.fromJSON;
  let made = 0;
  Protobuf.Root.fromJSON = function (this: unknown, j: unknown) {
    made++;
    return original.call(this, j);
  };
  try {
    const mine = light.fromJSON(json, options);
    grpc.loadPackageDefinition(mine);
    assert.equal(made, 0, 'not when the definitions and the clients are made');
    const range = mine['etcdserverpb.KV']!.Range as Method;
    const lease = mine['etcdserverpb.Lease']!.LeaseGrant as Method;
    range.requestSerialize({ key: Buffer.from('/a') });
    lease.requestSerialize({ TTL: 10 });
    range.responseDeserialize(range.responseSerialize({ kvs: [], more: false, count: '0' }));
    assert.equal(made, 1);
  } finally {
    Protobuf.Root.fromJSON = original;
  }
});
