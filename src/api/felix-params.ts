/**
 * The agent's parameters: one table of every parameter Margay uses, with its type and its
 * default (Felix's, `felix/config/config_params.go`, except where noted), and the conversion of a
 * raw value (text from a file or the environment, JSON from a FelixConfiguration) to its type.
 * Every other place that needs a default reads it here; how the layers are stacked (datastore,
 * file, environment, flags) is the settings resolver's job (src/calc/settings-resolver.ts).
 *
 * Every parameter is known by its FelixConfiguration field name (`healthPort`); the file and the
 * environment match names case-insensitively (`HealthPort = 9099`, `FELIX_HEALTHPORT=9099`).
 * Parameters marked `local` (the hostname, the netns, the state directory and the flush tuning)
 * cannot come from the datastore: they are needed before it is read, or are Margay's own.
 *
 * Pure.
 */
import type { LogLevel } from '../log/mod.ts';

export type { LogLevel };
import { canonicalCidr } from '../net/mod.ts';
import { parseGoDuration } from './kinds/infra-common.ts';

/** A host port that stays open whatever host-endpoint policy says. */
export interface FailsafePort {
  protocol: 'tcp' | 'udp' | 'sctp';
  port: number;
  /** Only from/to this net (normalised CIDR), when set. */
  net?: string;
}

/** The resolved configuration of one agent. Durations are in milliseconds. */
export interface AgentConfig {
  /** This host's name: selects `node.<hostname>` and the local endpoints. */
  felixHostname: string;
  /** Run the kernel work inside this named network namespace ('' = the agent's own). */
  netns: string;
  /** Where the agent keeps its files. */
  stateDir: string;
  logSeverityScreen: LogLevel;
  healthEnabled: boolean;
  healthHost: string;
  healthPort: number;
  prometheusMetricsEnabled: boolean;
  prometheusMetricsHost: string;
  prometheusMetricsPort: number;
  prometheusProcessMetricsEnabled: boolean;
  /** Full dataplane resync (read the kernel, repair drift) period; 0 disables. */
  nftablesRefreshInterval: number;
  /** Route resync period; 0 disables. The dataplane resyncs at the smaller of the two. */
  routeRefreshInterval: number;
  /** A dataplane apply or resync running longer than this makes the agent not live. */
  dataplaneWatchdogTimeout: number;
  /** Host status report period. */
  reportingInterval: number;
  /** Lifetime of the host status key (it vanishes when the agent stops reporting). */
  reportingTTL: number;
  endpointReportingEnabled: boolean;
  /** Endpoint status writes are coalesced over this delay. */
  endpointReportingDelay: number;
  openstackRegion: string;
  /** Felix's cluster type (`CLUSTER_TYPE`, e.g. `openstack,bgp`): `openstack` turns on the OpenStack special cases. */
  clusterType: string;
  /** OpenStack's metadata server, reached by VMs at 169.254.169.254:80 ('' or `none`: no metadata special case). */
  metadataAddr: string;
  metadataPort: number;
  /** Wait this long after a change that finds the flush loop idle (default 0: flush at once). */
  dataplaneFlushDelay: number;
  /** In a storm (changes arriving during flushes), at most this many follow-up flushes in a row ... */
  dataplaneFlushBurst: number;
  /** ... then one per this interval. A change that finds the loop idle is never throttled. */
  dataplaneFlushInterval: number;
  /** Workload interface name prefixes, comma-separated (`cali`); the first names new interfaces. */
  interfacePrefix: string;
  /** What happens to traffic from a workload to the host itself after its egress policy. */
  defaultEndpointToHostAction: 'Drop' | 'Accept' | 'Return';
  failsafeInboundHostPorts: FailsafePort[];
  failsafeOutboundHostPorts: FailsafePort[];
  ipv6Support: boolean;
  /** Log prefix base for Log rules and drops. */
  logPrefix: string;
}

/** The names of the parameters. */
export type ParamName = keyof AgentConfig;

type ParamType = 'string' | 'bool' | 'port' | 'int' | 'duration' | 'loglevel' | 'failsafe' | 'endpointToHost';

interface ParamDef {
  type: ParamType;
  default: AgentConfig[ParamName];
  /** Only from the file, the environment or flags, never from a FelixConfiguration. */
  local?: boolean;
  /** Extra environment variable names, highest priority last (e.g. NODENAME). */
  envAliases?: string[];
}

const s = 1000;

const failsafe = (text: string): FailsafePort[] =>
  text.split(' ').map((item) => {
    const [protocol, port] = item.split(':') as [FailsafePort['protocol'], string];
    return { protocol, port: Number(port) };
  });

/** Every parameter with its type and default. Margay's defaults differ from Felix's where noted. */
export const PARAMS: { readonly [K in ParamName]: ParamDef } = {
  felixHostname: { type: 'string', default: '', local: true, envAliases: ['NODENAME'] },
  netns: { type: 'string', default: '', local: true },
  stateDir: { type: 'string', default: '/var/lib/margay', local: true },
  logSeverityScreen: { type: 'loglevel', default: 'info' },
  healthEnabled: { type: 'bool', default: true },
  // Felix: "localhost". Loopback by address, so that no resolver is involved.
  healthHost: { type: 'string', default: '127.0.0.1' },
  healthPort: { type: 'port', default: 9099 },
  // Felix: false and "" (all addresses). Margay serves metrics by default, on loopback.
  prometheusMetricsEnabled: { type: 'bool', default: true },
  prometheusMetricsHost: { type: 'string', default: '127.0.0.1' },
  prometheusMetricsPort: { type: 'port', default: 9091 },
  prometheusProcessMetricsEnabled: { type: 'bool', default: true },
  nftablesRefreshInterval: { type: 'duration', default: 90 * s },
  routeRefreshInterval: { type: 'duration', default: 90 * s },
  dataplaneWatchdogTimeout: { type: 'duration', default: 90 * s },
  reportingInterval: { type: 'duration', default: 30 * s },
  reportingTTL: { type: 'duration', default: 90 * s },
  // Felix: false. Margay reports endpoint status by default (writes are coalesced and batched).
  endpointReportingEnabled: { type: 'bool', default: true },
  endpointReportingDelay: { type: 'duration', default: 1 * s },
  openstackRegion: { type: 'string', default: '' },
  clusterType: { type: 'string', default: '', local: true, envAliases: ['CLUSTER_TYPE'] },
  metadataAddr: { type: 'string', default: '127.0.0.1' },
  metadataPort: { type: 'port', default: 8775 },
  dataplaneFlushDelay: { type: 'duration', default: 0, local: true },
  dataplaneFlushBurst: { type: 'int', default: 10, local: true },
  dataplaneFlushInterval: { type: 'duration', default: 100, local: true },
  interfacePrefix: { type: 'string', default: 'cali' },
  defaultEndpointToHostAction: { type: 'endpointToHost', default: 'Drop' },
  failsafeInboundHostPorts: { type: 'failsafe', default: failsafe('tcp:22 udp:68 tcp:179 tcp:2379 tcp:2380 tcp:5473 tcp:6443 tcp:6666 tcp:6667') },
  failsafeOutboundHostPorts: { type: 'failsafe', default: failsafe('udp:53 udp:67 tcp:179 tcp:2379 tcp:2380 tcp:5473 tcp:6443 tcp:6666 tcp:6667') },
  ipv6Support: { type: 'bool', default: true },
  logPrefix: { type: 'string', default: 'calico-packet' },
};

/** Every parameter name, in table order. */
export const PARAM_NAMES = Object.keys(PARAMS) as ParamName[];

const BY_LOWER = new Map<string, ParamName>(PARAM_NAMES.map((n) => [n.toLowerCase(), n]));
// Felix's name of the one parameter whose Margay name differs.
BY_LOWER.set('hostname', 'felixHostname');

/** The parameter a FelixConfiguration field, file key or variable suffix names (case-insensitive). */
export function paramNamed(name: string): ParamName | undefined {
  return BY_LOWER.get(name.toLowerCase());
}

/** The built-in defaults (fresh copies). `hostname` fills the hostname default (the machine's name). */
export function defaultConfig(hostname = ''): AgentConfig {
  const out = {} as Record<ParamName, unknown>;
  for (const name of PARAM_NAMES) out[name] = structuredClone(PARAMS[name].default);
  out.felixHostname = hostname;
  return out as unknown as AgentConfig;
}

/**
 * The workload interface prefixes of an `interfacePrefix` value (`cali,tap` → both); the
 * default's when the value names none.
 */
export function interfacePrefixes(value?: string): string[] {
  const split = (text: string) => text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const list = value === undefined ? [] : split(value);
  return list.length > 0 ? list : split(PARAMS.interfacePrefix.default as string);
}

/** The prefix new workload interfaces get: the first of {@link interfacePrefixes}. */
export function firstInterfacePrefix(value?: string): string {
  return interfacePrefixes(value)[0]!;
}

// -------------------------------------------------------------------------------------------------
// Value parsing

const LOG_LEVELS: Record<string, LogLevel> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

/**
 * Parses a duration: a Go/Kubernetes duration string (`90s`, `1m30s`, `500ms`) or a bare number
 * of seconds (Felix's environment and file form, e.g. `FELIX_ROUTEREFRESHINTERVAL=90`).
 * Returns milliseconds, or undefined when the text is neither (or negative).
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const seconds = /^[-+]/.test(t) ? undefined : parseGoDuration(t);
  return seconds === undefined ? undefined : Math.round(seconds * 1000);
}

function failsafePort(protocolText: string, port: unknown, net: unknown): FailsafePort | undefined {
  const protocol = protocolText.toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  const out: FailsafePort = { protocol, port };
  if (net === undefined || net === '') return out;
  const canonical = typeof net === 'string' ? canonicalCidr(net) : undefined;
  if (canonical === undefined) return undefined;
  out.net = canonical;
  return out;
}

/**
 * Parses failsafe ports in Felix's text form: a comma-separated list of `proto:port` or
 * `proto:net:port` (`tcp:22, udp:68, tcp:10.0.0.0/8:6443`), or `none`/empty for no ports.
 */
export function parseFailsafeText(text: string): FailsafePort[] | undefined {
  const t = text.trim();
  if (t === '' || t.toLowerCase() === 'none') return [];
  const out: FailsafePort[] = [];
  for (const item of t.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const first = item.indexOf(':');
    const last = item.lastIndexOf(':');
    const portText = item.slice(last + 1);
    if (first < 0 || !/^[0-9]+$/.test(portText)) return undefined;
    const port = failsafePort(item.slice(0, first), Number(portText), first === last ? undefined : item.slice(first + 1, last));
    if (port === undefined) return undefined;
    out.push(port);
  }
  return out;
}

/** Failsafe ports as a FelixConfiguration holds them (`[{protocol: TCP, port: 22, net?}]`; protocol defaults to TCP). */
function failsafeFromJson(value: unknown): FailsafePort[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: FailsafePort[] = [];
  for (const entry of value as Array<{ protocol?: unknown; port?: unknown; net?: unknown } | null>) {
    const protocol = typeof entry?.protocol === 'string' ? entry.protocol : 'tcp';
    const port = entry ? failsafePort(protocol, entry.port, entry.net) : undefined;
    if (port === undefined) return undefined;
    out.push(port);
  }
  return out;
}

function parseBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  switch (value.trim().toLowerCase()) {
    case 'true':
    case '1':
    case 'yes':
    case 'on':
      return true;
    case 'false':
    case '0':
    case 'no':
    case 'off':
      return false;
    default:
      return undefined;
  }
}

function parseInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^-?[0-9]+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

const EXPECTED: Record<ParamType, string> = {
  string: 'a string',
  bool: 'true or false',
  port: 'a port number between 0 and 65535',
  int: 'a non-negative integer',
  duration: 'a duration such as 90s, 500ms or 1m30s, or a number of seconds',
  loglevel: 'one of Trace, Debug, Info, Warning, Error, Fatal',
  failsafe: 'a list such as "tcp:22, udp:68, tcp:10.0.0.0/8:6443" (or "none")',
  endpointToHost: 'one of Drop, Accept, Return',
};

/** What a parameter accepts, in words (for error messages). */
export function expectedValue(name: ParamName): string {
  return EXPECTED[PARAMS[name].type];
}

/** Converts one raw value to the parameter's type; undefined when it does not fit. */
export function convertValue(name: ParamName, raw: unknown): AgentConfig[ParamName] | undefined {
  switch (PARAMS[name].type) {
    case 'string':
      return typeof raw === 'string' ? raw.trim() : undefined;
    case 'bool':
      return parseBool(raw);
    case 'port': {
      const n = parseInteger(raw);
      return n !== undefined && n >= 0 && n <= 65535 ? n : undefined;
    }
    case 'int': {
      const n = parseInteger(raw);
      return n !== undefined && n >= 0 ? n : undefined;
    }
    case 'duration':
      if (typeof raw === 'number') return raw >= 0 ? Math.round(raw * 1000) : undefined;
      return typeof raw === 'string' ? parseDuration(raw) : undefined;
    case 'loglevel':
      return typeof raw === 'string' ? LOG_LEVELS[raw.trim().toLowerCase()] : undefined;
    case 'failsafe':
      return typeof raw === 'string' ? parseFailsafeText(raw) : failsafeFromJson(raw);
    case 'endpointToHost': {
      if (typeof raw !== 'string') return undefined;
      const v = raw.trim().toLowerCase();
      return v === 'drop' ? 'Drop' : v === 'accept' ? 'Accept' : v === 'return' ? 'Return' : undefined;
    }
  }
}
