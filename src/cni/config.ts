/**
 * The network configuration a runtime hands the plugin on stdin, parsed and checked once. Keys
 * follow Calico's CNI plugin (`mtu`, `ipam.assign_ipv4`, `ipam.ipv4_pools`, …) plus CNI's
 * conventions (`args.cni.labels`, `runtimeConfig.ips`/`mac`, `cni.dev/valid-attachments` for
 * GC). Calico's Kubernetes keys (`kubernetes`, `policy`) are read by kubernetes.ts from `raw`;
 * `feature_control.ip_addrs_no_ipam` here. Keys Margay does not use (Calico's datastore
 * settings, …) are ignored, as the specification asks.
 */
import { CniCode, CniError, compareVersions, isSupportedVersion, SUPPORTED_VERSIONS, type CniVersion } from './spec.ts';
import { tooDeep } from '../api/mod.ts';
import { quote } from '../errors/mod.ts';

/** Deepest nesting of a network configuration. */
const MAX_CNI_NESTING = 512;

/** The IPAM types the agent serves itself (no plugin is executed for them). */
export const BUILTIN_IPAM_TYPES = ['margay-ipam', 'calico-ipam'] as const;

/** The `ipam` section. */
export interface IpamSection {
  type: string;
  /** True when the agent assigns the addresses itself (`margay-ipam` or `calico-ipam`). */
  builtin: boolean;
  assignIpv4: boolean;
  assignIpv6: boolean;
  ipv4Pools?: string[];
  ipv6Pools?: string[];
  /** `ipam.routes` (IPAM plugin results carry them). */
  routes: { dst: string; gw?: string }[];
}

/** A `cni.dev/valid-attachments` entry (GC). */
export interface Attachment {
  containerID: string;
  ifname: string;
}

/** A parsed network configuration. */
export interface NetConf {
  cniVersion: CniVersion;
  name: string;
  type: string;
  /** 0 when not set (the agent's default applies). */
  mtu: number;
  ipam: IpamSection;
  /** Namespace of WorkloadEndpoints for containers that are not Kubernetes pods (default `default`). */
  namespace: string;
  /** Profiles to put on the endpoint instead of the defaults (Margay extension). */
  profiles?: string[];
  /** Labels for the endpoint: `args.cni.labels`, then `runtimeConfig.labels` (Margay extension). */
  labels: Record<string, string>;
  /** `nodename`: must match the agent's node when set. */
  nodename?: string;
  /** Addresses asked for through `runtimeConfig.ips` (the `ips` capability). */
  requestedIps: string[];
  /** `runtimeConfig.mac` (the `mac` capability). */
  requestedMac?: string;
  /** `dns`, copied into results. */
  dns?: Record<string, unknown>;
  /** `prevResult`, as given. */
  prevResult?: unknown;
  /** `feature_control.ip_addrs_no_ipam`: pods may bring their own addresses (Calico's annotation ipAddrsNoIpam). */
  ipAddrsNoIpam: boolean;
  /** GC: the attachments the runtime still has; undefined when the key is absent. */
  validAttachments?: Attachment[];
  /** The configuration as received (passed on to delegated IPAM plugins). */
  raw: Record<string, unknown>;
  /** The configuration's text as received. */
  text: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;
const LABEL_VALUE = /^([a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?)?$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function bad(path: string, message: string): CniError {
  return new CniError(CniCode.INVALID_NETWORK_CONFIG, `invalid network configuration: ${path}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Calico writes booleans as strings ("true"); accept both. */
function flag(v: unknown, path: string, dflt: boolean): boolean {
  if (v === undefined || v === null || v === '') return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw bad(path, `must be true or false (got ${quote(v)})`);
}

function stringList(v: unknown, path: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw bad(path, 'must be a list of non-empty strings');
  return v as string[];
}

function labelsFrom(v: unknown, path: string, into: Record<string, string>): void {
  if (v === undefined || v === null) return;
  const put = (key: unknown, value: unknown, at: string): void => {
    if (typeof key !== 'string' || key.length > 317 || !LABEL_KEY.test(key)) throw bad(`${at}.key`, `${quote(key)} is not a valid label key`);
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
      throw bad(`${at}.value`, `${quote(value)} is not a valid label value (63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)`);
    }
    into[key] = value;
  };
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      if (!isObject(item)) throw bad(`${path}[${i}]`, 'must be an object with key and value');
      put(item.key, item.value, `${path}[${i}]`);
    });
  } else if (isObject(v)) {
    for (const [k, value] of Object.entries(v)) put(k, value, `${path}.${k}`);
  } else {
    throw bad(path, 'must be a list of {key, value} or an object of labels');
  }
}

function parseIpam(v: unknown): IpamSection {
  if (v === undefined || v === null) {
    return { type: 'margay-ipam', builtin: true, assignIpv4: true, assignIpv6: false, routes: [] };
  }
  if (!isObject(v)) throw bad('ipam', 'must be an object');
  const type = v.type ?? 'margay-ipam';
  if (typeof type !== 'string' || type === '' || type.includes('/')) throw bad('ipam.type', 'must be the name of an IPAM plugin');
  const builtin = (BUILTIN_IPAM_TYPES as readonly string[]).includes(type);
  const section: IpamSection = {
    type,
    builtin,
    assignIpv4: flag(v.assign_ipv4, 'ipam.assign_ipv4', true),
    assignIpv6: flag(v.assign_ipv6, 'ipam.assign_ipv6', false),
    routes: [],
  };
  if (builtin && !section.assignIpv4 && !section.assignIpv6) throw bad('ipam', 'assign_ipv4 and assign_ipv6 are both false: no address would be assigned');
  const pools4 = stringList(v.ipv4_pools, 'ipam.ipv4_pools');
  const pools6 = stringList(v.ipv6_pools, 'ipam.ipv6_pools');
  if (pools4) section.ipv4Pools = pools4;
  if (pools6) section.ipv6Pools = pools6;
  if (v.routes !== undefined) {
    if (!Array.isArray(v.routes)) throw bad('ipam.routes', 'must be a list of {dst, gw}');
    section.routes = v.routes.map((r, i) => {
      if (!isObject(r) || typeof r.dst !== 'string') throw bad(`ipam.routes[${i}]`, 'must be an object with a dst');
      return typeof r.gw === 'string' ? { dst: r.dst, gw: r.gw } : { dst: r.dst };
    });
  }
  return section;
}

function parseAttachments(v: unknown): Attachment[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad('cni.dev/valid-attachments', 'must be a list of {containerID, ifname}');
  return v.map((a, i) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw bad(`cni.dev/valid-attachments[${i}]`, 'must be an object with containerID and ifname');
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}

/**
 * Parses the configuration text.
 * @throws {CniError} 6 when it is not a JSON object, 1 for an unsupported cniVersion, 7 for any
 *   other problem.
 */
export function parseNetConf(text: string): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CniError(CniCode.DECODE_FAILURE, `the network configuration is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(raw)) throw new CniError(CniCode.DECODE_FAILURE, 'the network configuration must be a JSON object');
  // The thin client refuses the same depth (native/cni-client.c MAX_DEPTH).
  if (tooDeep(raw, MAX_CNI_NESTING) !== undefined) throw new CniError(CniCode.DECODE_FAILURE, `the network configuration is nested more than ${MAX_CNI_NESTING} levels deep`);
  const version = raw.cniVersion;
  if (version === undefined || version === '') throw bad('cniVersion', 'is required');
  if (!isSupportedVersion(version)) {
    throw new CniError(
      CniCode.INCOMPATIBLE_VERSION,
      `incompatible CNI version ${quote(version)}: Margay supports ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  if (typeof raw.name !== 'string' || !NAME.test(raw.name)) {
    throw bad('name', `must be letters, digits, '_', '.' or '-', starting with a letter or digit (got ${quote(raw.name)})`);
  }
  const mtu = raw.mtu ?? 0;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || (mtu !== 0 && (mtu < 68 || mtu > 65535))) {
    throw bad('mtu', `must be a whole number between 68 and 65535, or 0 for the default (got ${quote(raw.mtu)})`);
  }
  const conf: NetConf = {
    cniVersion: version,
    name: raw.name,
    type: typeof raw.type === 'string' ? raw.type : '',
    mtu,
    ipam: parseIpam(raw.ipam),
    namespace: 'default',
    labels: {},
    requestedIps: [],
    ipAddrsNoIpam: false,
    raw,
    text,
  };
  if (raw.feature_control !== undefined) {
    if (!isObject(raw.feature_control)) throw bad('feature_control', 'must be an object');
    conf.ipAddrsNoIpam = flag(raw.feature_control.ip_addrs_no_ipam, 'feature_control.ip_addrs_no_ipam', false);
  }
  if (raw.namespace !== undefined) {
    if (typeof raw.namespace !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(raw.namespace) || raw.namespace.length > 63) {
      throw bad('namespace', `must be a namespace name (got ${quote(raw.namespace)})`);
    }
    conf.namespace = raw.namespace;
  }
  const profiles = stringList(raw.profiles, 'profiles');
  if (profiles) conf.profiles = profiles;
  if (raw.nodename !== undefined && raw.nodename !== '') {
    if (typeof raw.nodename !== 'string') throw bad('nodename', 'must be a string');
    conf.nodename = raw.nodename;
  }
  if (raw.args !== undefined) {
    if (!isObject(raw.args)) throw bad('args', 'must be an object');
    const cni = raw.args.cni;
    if (cni !== undefined) {
      if (!isObject(cni)) throw bad('args.cni', 'must be an object');
      labelsFrom(cni.labels, 'args.cni.labels', conf.labels);
    }
  }
  if (raw.runtimeConfig !== undefined) {
    if (!isObject(raw.runtimeConfig)) throw bad('runtimeConfig', 'must be an object');
    const rc = raw.runtimeConfig;
    labelsFrom(rc.labels, 'runtimeConfig.labels', conf.labels);
    const ips = stringList(rc.ips, 'runtimeConfig.ips');
    if (ips) conf.requestedIps = ips.map((ip) => ip.replace(/\/\d+$/, ''));
    if (rc.mac !== undefined) {
      if (typeof rc.mac !== 'string' || !MAC.test(rc.mac)) throw bad('runtimeConfig.mac', `must be a MAC address (got ${quote(rc.mac)})`);
      conf.requestedMac = rc.mac.toLowerCase();
    }
  }
  if (raw.dns !== undefined) {
    if (!isObject(raw.dns)) throw bad('dns', 'must be an object');
    conf.dns = raw.dns;
  }
  if (raw.prevResult !== undefined) conf.prevResult = raw.prevResult;
  const attachments = parseAttachments(raw['cni.dev/valid-attachments']);
  if (attachments) conf.validAttachments = attachments;
  return conf;
}

/** True when the configuration's version is at least `v`. */
export function atLeast(conf: Pick<NetConf, 'cniVersion'>, v: string): boolean {
  return compareVersions(conf.cniVersion, v) >= 0;
}
