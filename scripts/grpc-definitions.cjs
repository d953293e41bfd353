// What the agent bundle (scripts/bundle.mjs) gives etcd3 in place of @grpc/proto-loader: the gRPC
// package definition of etcd's protos, parsed at build time (protobufjs JSON), as proto-loader's
// `fromJSON` makes it, but without the protobuf descriptors of every message and file that
// proto-loader builds and encodes for gRPC reflection (a client never reads them). Those cost
// ~30 ms of every agent start, and loading proto-loader ~15 ms more (its descriptor extension and
// the common Google protos); here they are made only if something reads them (`type`,
// `fileDescriptorProtos`, a method's `requestType` and `responseType`: non-enumerable, so that gRPC's
// `makeClientConstructor`, which copies a method's attributes, does not make them).
'use strict';
const camelCase = require('lodash.camelcase');
const Protobuf = require('protobufjs');

/** proto-loader's `mapMethodOptions`: a method's options as gRPC's method definition has them. */
function methodOptions(parsed) {
  return (parsed || []).reduce(
    (obj, item) => {
      for (const [key, value] of Object.entries(item)) {
        if (key === 'uninterpreted_option') obj.uninterpreted_option.push(item.uninterpreted_option);
        else obj[key] = value;
      }
      return obj;
    },
    { deprecated: false, idempotency_level: 'IDEMPOTENCY_UNKNOWN', uninterpreted_option: [] },
  );
}

function handledObjects(obj, parentName) {
  const name = parentName === '' ? obj.name : `${parentName}.${obj.name}`;
  if (obj instanceof Protobuf.Service || obj instanceof Protobuf.Type || obj instanceof Protobuf.Enum) return [[name, obj]];
  if ((obj instanceof Protobuf.Namespace || obj instanceof Protobuf.Root) && obj.nested !== undefined) {
    return Object.keys(obj.nested).flatMap((n) => handledObjects(obj.nested[n], name));
  }
  return [];
}

/** Defines `name` on `target` as a non-enumerable property computed on first read. */
function lazy(target, name, make) {
  Object.defineProperty(target, name, {
    configurable: true,
    enumerable: false,
    get() {
      const value = make();
      Object.defineProperty(target, name, { value, configurable: true, enumerable: false, writable: true });
      return value;
    },
  });
}

/** proto-loader's full definitions (descriptors included), made once if anything asks. */
function fullDefinitions(root, options) {
  let full;
  return () => (full ??= require('@grpc/proto-loader').fromJSON(root.toJSON(), options));
}

function messageDefinition(fullName, format, full) {
  const def = { format };
  lazy(def, 'type', () => full()[fullName].type);
  lazy(def, 'fileDescriptorProtos', () => full()[fullName].fileDescriptorProtos);
  return def;
}

function methodDefinition(method, serviceName, options, full) {
  const req = method.resolvedRequestType;
  const res = method.resolvedResponseType;
  const serialize = (cls) =>
    function serialize(arg) {
      if (Array.isArray(arg)) throw new Error(`Failed to serialize message: expected object with ${cls.name} structure, got array instead`);
      return cls.encode(cls.fromObject(arg)).finish();
    };
  const deserialize = (cls) =>
    function deserialize(buf) {
      return cls.toObject(cls.decode(buf), options);
    };
  const def = {
    path: `/${serviceName}/${method.name}`,
    requestStream: !!method.requestStream,
    responseStream: !!method.responseStream,
    requestSerialize: serialize(req),
    requestDeserialize: deserialize(req),
    responseSerialize: serialize(res),
    responseDeserialize: deserialize(res),
    originalName: camelCase(method.name),
    options: methodOptions(method.parsedOptions),
  };
  lazy(def, 'requestType', () => full()[serviceName][method.name].requestType);
  lazy(def, 'responseType', () => full()[serviceName][method.name].responseType);
  return def;
}

/** proto-loader's `fromJSON(json, options)`, descriptors made on demand. */
exports.fromJSON = function fromJSON(json, options = {}) {
  const root = Protobuf.Root.fromJSON(json);
  root.resolveAll();
  const full = fullDefinitions(root, options);
  const def = {};
  for (const [name, obj] of handledObjects(root, '')) {
    if (obj instanceof Protobuf.Service) {
      const service = {};
      for (const method of obj.methodsArray) service[method.name] = methodDefinition(method, name, options, full);
      def[name] = service;
    } else {
      def[name] = messageDefinition(name, obj instanceof Protobuf.Type ? 'Protocol Buffer 3 DescriptorProto' : 'Protocol Buffer 3 EnumDescriptorProto', full);
    }
  }
  return def;
};
