/**
 * A method added to one of etcd3's gRPC client classes beside etcd3's own: the same path, another
 * decoder for the responses (etcd3 has no option for a method's decoder), and etcd3's request
 * encoder or one that writes the requests it knows and leaves the others to etcd3's.
 * etcd-range.ts (ranges, transactions) and etcd-watch.ts (watch streams) add theirs this way.
 */

/**
 * Adds `added` to the class of `client` (a gRPC service client of etcd3's): etcd3's `method` with
 * `decode` for its responses, made by the grpc-js call `request` (`makeUnaryRequest` for a unary
 * call, `makeBidiStreamRequest` for a stream), taking the arguments etcd3's own method takes after
 * the path and the encoders. With `encode`, a request is written by it, or by etcd3's encoder when
 * it returns undefined. Returns false when the class is not as expected (another etcd3 or
 * grpc-js): the caller then uses etcd3's own method.
 */
export function addDecodingMethod(
  client: object,
  method: string,
  added: string,
  request: 'makeUnaryRequest' | 'makeBidiStreamRequest',
  decode: (buf: Buffer) => unknown,
  encode?: (req: unknown) => Buffer | undefined,
): boolean {
  const proto = Object.getPrototypeOf(client) as Record<string, unknown>;
  if (proto[added] !== undefined) return true;
  const own = proto[method] as { path?: unknown; requestSerialize?: unknown } | undefined;
  if (typeof own?.path !== 'string' || typeof own.requestSerialize !== 'function' || typeof proto[request] !== 'function') return false;
  const path = own.path;
  const etcd3Encode = own.requestSerialize as (req: unknown) => Buffer;
  const serialize = encode === undefined ? etcd3Encode : (req: unknown): Buffer => encode(req) ?? etcd3Encode(req);
  proto[added] = function (this: Record<string, (...args: unknown[]) => unknown>, ...args: unknown[]): unknown {
    return this[request]!(path, serialize, decode, ...args);
  };
  return true;
}
