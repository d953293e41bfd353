/**
 * CNI results: one internal shape, printed in the form of the request's version (0.3.x/0.4.0
 * carry `version` in each IP configuration; 1.x do not, and 1.1.0 adds `mtu` to interfaces), and
 * read back from any version (a `prevResult`, a delegated IPAM plugin's answer).
 */
import { CniCode, CniError, compareVersions, type CniVersion } from './spec.ts';

/** An interface of a result. */
export interface ResultInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The network namespace path, for interfaces inside the container. */
  sandbox?: string;
}

/** An address of a result. */
export interface ResultIp {
  /** With prefix length: `10.244.0.5/32`. */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

/** A route of a result. */
export interface ResultRoute {
  dst: string;
  gw?: string;
}

/** A result, independent of version. */
export interface CniResult {
  interfaces: ResultInterface[];
  ips: ResultIp[];
  routes: ResultRoute[];
  dns?: Record<string, unknown>;
}

/** 4 or 6, from an address with or without prefix. */
export function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** The result as the request's version prints it. */
export function formatResult(result: CniResult, version: CniVersion): Record<string, unknown> {
  const legacy = compareVersions(version, '1.0.0') < 0;
  const withMtu = compareVersions(version, '1.1.0') >= 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces.length > 0) {
    out.interfaces = result.interfaces.map((i) => {
      const o: Record<string, unknown> = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (withMtu && i.mtu) o.mtu = i.mtu;
      if (i.sandbox) o.sandbox = i.sandbox;
      return o;
    });
  }
  out.ips = result.ips.map((ip) => {
    const o: Record<string, unknown> = {};
    if (legacy) o.version = String(familyOf(ip.address));
    if (ip.interface !== undefined) o.interface = ip.interface;
    o.address = ip.address;
    if (ip.gateway) o.gateway = ip.gateway;
    return o;
  });
  if (result.routes.length > 0) out.routes = result.routes.map((r) => (r.gw ? { dst: r.dst, gw: r.gw } : { dst: r.dst }));
  out.dns = result.dns ?? {};
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a result of any supported version (a prevResult, or what a delegated plugin printed).
 * @throws {CniError} 6 when it is not a result.
 */
export function parseResult(value: unknown, what = 'result'): CniResult {
  const fail = (why: string): CniError => new CniError(CniCode.DECODE_FAILURE, `cannot read the ${what}: ${why}`);
  if (!isObject(value)) throw fail('not a JSON object');
  const result: CniResult = { interfaces: [], ips: [], routes: [] };
  if (value.interfaces !== undefined) {
    if (!Array.isArray(value.interfaces)) throw fail('interfaces is not a list');
    for (const i of value.interfaces) {
      if (!isObject(i) || typeof i.name !== 'string') throw fail('an interface has no name');
      const iface: ResultInterface = { name: i.name };
      if (typeof i.mac === 'string') iface.mac = i.mac;
      if (typeof i.mtu === 'number') iface.mtu = i.mtu;
      if (typeof i.sandbox === 'string') iface.sandbox = i.sandbox;
      result.interfaces.push(iface);
    }
  }
  if (value.ips !== undefined) {
    if (!Array.isArray(value.ips)) throw fail('ips is not a list');
    for (const ip of value.ips) {
      if (!isObject(ip) || typeof ip.address !== 'string' || !ip.address.includes('/')) throw fail('an IP configuration has no address/prefix');
      const out: ResultIp = { address: ip.address };
      if (typeof ip.gateway === 'string') out.gateway = ip.gateway;
      if (typeof ip.interface === 'number') out.interface = ip.interface;
      result.ips.push(out);
    }
  }
  // 0.2.0-style results (ip4/ip6) are not produced by any plugin Margay delegates to.
  if (value.routes !== undefined) {
    if (!Array.isArray(value.routes)) throw fail('routes is not a list');
    for (const r of value.routes) {
      if (!isObject(r) || typeof r.dst !== 'string') throw fail('a route has no dst');
      result.routes.push(typeof r.gw === 'string' ? { dst: r.dst, gw: r.gw } : { dst: r.dst });
    }
  }
  if (isObject(value.dns)) result.dns = value.dns;
  return result;
}
