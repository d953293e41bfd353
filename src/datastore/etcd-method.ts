/**
 * A method added to one of etcd3's gRPC client classes beside etcd3's own: the same path and
 * request encoder, another decoder for the responses (etcd3 has no option for a method's decoder).
 * etcd-range.ts (ranges, transactions) and etcd-watch.ts (watch streams) add theirs this way.
 */

/**
 * Adds `added` to the class of `client` (a gRPC service client of etcd3's): etcd3's `method` with
 * `decode` for its responses, made by the grpc-js call `request` (`makeUnaryRequest` for a unary
 * call, `makeBidiStreamRequest` for a stream), taking the arguments etcd3's own method takes after
 * the path and the encoders. Returns false when the class is not as expected (another etcd3 or
 * grpc-js): the caller then uses etcd3's own method.
 */
export function addDecodingMethod(
  client: object,
  method: string,
  added: string,
  request: 'makeUnaryRequest' | 'makeBidiStreamRequest',
  decode: (buf: Buffer) => unknown,
): boolean {
  const proto = Object.getPrototypeOf(client) as Record<string, unknown>;
  if (proto[added] !== undefined) return true;
  const own = proto[method] as { path?: unknown; requestSerialize?: unknown } | undefined;
  if (typeof own?.path !== 'string' || typeof own.requestSerialize !== 'function' || typeof proto[request] !== 'function') return false;
  const { path, requestSerialize } = own;
  proto[added] = function (this: Record<string, (...args: unknown[]) => unknown>, ...args: unknown[]): unknown {
    return this[request]!(path, requestSerialize, decode, ...args);
  };
  return true;
}
