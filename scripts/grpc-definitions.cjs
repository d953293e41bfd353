// What the agent bundle (scripts/bundle.mjs) gives etcd3 in place of @grpc/proto-loader: the gRPC
// package definition of etcd's protos, parsed at build time (protobufjs JSON), as proto-loader's
// `fromJSON` makes it, but without the protobuf descriptors of every message and file that
// proto-loader builds and encodes for gRPC reflection (a client never reads them). Those cost
// ~30 ms of every agent start, and loading proto-loader ~15 ms more (its descriptor extension and
// the common Google protos); here they are made only if something reads them (`type`,
// `fileDescriptorProtos`, a method's `requestType` and `responseType`: non-enumerable, so that gRPC's
// `makeClientConstructor`, which copies a method's attributes, does not make them). The protobufjs
// root itself (its types, and the constructor protobufjs generates for each: ~12 ms of every
// start) is made at the first request or response that goes through protobufjs: the agent's
// ranges, watches and transactions have their own codecs (src/datastore), so not before it is ready.
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

/**
 * The services, messages and enums of a protobufjs JSON namespace (`nested`), by full name, in
 * order, as protobufjs reads them (Namespace#addJSON): `fields` a message, `values` an enum,
 * `methods` a service, `id` a field (none here), anything else a namespace, whose own are listed.
 */
function handledObjects(obj, parentName) {
  const out = [];
  for (const [key, nested] of Object.entries(obj.nested || {})) {
    const name = parentName === '' ? key : `${parentName}.${key}`;
    if (nested.fields !== undefined || nested.values !== undefined || nested.methods !== undefined) out.push([name, nested]);
    else if (nested.id === undefined) out.push(...handledObjects(nested, name));
  }
  return out;
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
function fullDefinitions(json, options) {
  let full;
  return () => (full ??= require('@grpc/proto-loader').fromJSON(json, options));
}

function messageDefinition(fullName, format, full) {
  const def = { format };
  lazy(def, 'type', () => full()[fullName].type);
  lazy(def, 'fileDescriptorProtos', () => full()[fullName].fileDescriptorProtos);
  return def;
}

/** A method's definition from its JSON; its codecs find its types in `root()` at their first use. */
function methodDefinition(name, json, serviceName, root, options, full) {
  let method;
  const resolved = () => (method ??= root().lookupService(serviceName).methods[name]);
  const serialize = (type) =>
    function serialize(arg) {
      const cls = resolved()[type];
      if (Array.isArray(arg)) throw new Error(`Failed to serialize message: expected object with ${cls.name} structure, got array instead`);
      return cls.encode(cls.fromObject(arg)).finish();
    };
  const deserialize = (type) =>
    function deserialize(buf) {
      const cls = resolved()[type];
      return cls.toObject(cls.decode(buf), options);
    };
  const def = {
    path: `/${serviceName}/${name}`,
    requestStream: !!json.requestStream,
    responseStream: !!json.responseStream,
    requestSerialize: serialize('resolvedRequestType'),
    requestDeserialize: deserialize('resolvedRequestType'),
    responseSerialize: serialize('resolvedResponseType'),
    responseDeserialize: deserialize('resolvedResponseType'),
    originalName: camelCase(name),
    options: methodOptions(json.parsedOptions),
  };
  lazy(def, 'requestType', () => full()[serviceName][name].requestType);
  lazy(def, 'responseType', () => full()[serviceName][name].responseType);
  return def;
}

/** proto-loader's `fromJSON(json, options)`, the protobufjs root and the descriptors made on demand. */
exports.fromJSON = function fromJSON(json, options = {}) {
  let root;
  const made = () => {
    if (root === undefined) {
      root = Protobuf.Root.fromJSON(json);
      root.resolveAll();
    }
    return root;
  };
  const full = fullDefinitions(json, options);
  const def = {};
  for (const [name, obj] of handledObjects(json, '')) {
    if (obj.methods !== undefined) {
      const service = {};
      for (const [method, methodJson] of Object.entries(obj.methods)) service[method] = methodDefinition(method, methodJson, name, made, options, full);
      def[name] = service;
    } else {
      def[name] = messageDefinition(name, obj.fields !== undefined ? 'Protocol Buffer 3 DescriptorProto' : 'Protocol Buffer 3 EnumDescriptorProto', full);
    }
  }
  return def;
};
