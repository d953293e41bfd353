/**
 * The agent's configuration, resolved with Calico's precedence (Felix's `config_params.go`),
 * lowest first:
 *
 *   1. built-in defaults
 *   2. FelixConfiguration `default`            (datastore, cluster-wide)
 *   3. FelixConfiguration `node.<hostname>`    (datastore, this host)
 *   4. the config file (`--config-file`)       (INI-like, see {@link parseConfigFile})
 *   5. the environment: `FELIX_<NAME>`, then `MARGAY_<NAME>` (MARGAY_ wins)
 *   6. command-line flags of `margay agent`    (`--hostname`, `--netns`, `--state-dir`)
 *
 * Every parameter is known by its FelixConfiguration field name (`healthPort`); the file and
 * the environment match names case-insensitively (`HealthPort = 9099`, `FELIX_HEALTHPORT=9099`).
 * Parameters marked `local` (the hostname, the netns, the state directory and the flush
 * tuning) cannot come from the datastore: they are needed before it is read, or are Margay's own.
 *
 * Pure: no I/O here except {@link readConfigFile}, which only reads the named file.
 */
import { readFileSync } from 'node:fs';
import { FELIX_CONFIG_FIELDS } from '../api/kinds/felix-configuration.ts';
import type { FailsafePort } from '../calc/model.ts';
import { MargayError } from '../errors/mod.ts';
import type { LogLevel } from '../log/mod.ts';

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
  /** Wait this long after the first change before a flush, so that a burst becomes one flush. */
  dataplaneFlushDelay: number;
  /** Leaky bucket of flushes: at most this many in a row ... */
  dataplaneFlushBurst: number;
  /** ... then one per this interval. */
  dataplaneFlushInterval: number;
  /** Dataplane settings overlays (only when set in the file, the environment or a flag; see below). */
  interfacePrefix: string;
  defaultEndpointToHostAction: 'Drop' | 'Accept' | 'Return';
  failsafeInboundHostPorts: FailsafePort[];
  failsafeOutboundHostPorts: FailsafePort[];
  ipv6Support: boolean;
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
  /**
   * A dataplane setting that the calculation graph already resolves from the datastore layers:
   * the agent overlays it only when the file, the environment or a flag sets it.
   */
  dataplaneSetting?: boolean;
}

const s = 1000;

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
  dataplaneFlushDelay: { type: 'duration', default: 10, local: true },
  dataplaneFlushBurst: { type: 'int', default: 10, local: true },
  dataplaneFlushInterval: { type: 'duration', default: 100, local: true },
  interfacePrefix: { type: 'string', default: 'cali', dataplaneSetting: true },
  defaultEndpointToHostAction: { type: 'endpointToHost', default: 'Drop', dataplaneSetting: true },
  failsafeInboundHostPorts: { type: 'failsafe', default: [], dataplaneSetting: true },
  failsafeOutboundHostPorts: { type: 'failsafe', default: [], dataplaneSetting: true },
  ipv6Support: { type: 'bool', default: true, dataplaneSetting: true },
  logPrefix: { type: 'string', default: 'calico-packet', dataplaneSetting: true },
};

const PARAM_NAMES = Object.keys(PARAMS) as ParamName[];
const BY_LOWER = new Map<string, ParamName>(PARAM_NAMES.map((n) => [n.toLowerCase(), n]));
/** Felix's names of the two parameters whose Margay names differ. */
BY_LOWER.set('hostname', 'felixHostname');
const FELIX_FIELDS_LOWER = new Set(FELIX_CONFIG_FIELDS.map((f) => f.toLowerCase()));

/** Where a value came from. */
export type ConfigSource =
  | 'default'
  | 'felixconfiguration/default'
  | `felixconfiguration/node.${string}`
  | `file:${string}`
  | `env:${string}`
  | `flag:${string}`;

/** Raw values of one layer: parameter → value as found (string from file/env, JSON from a resource). */
export interface ConfigLayer {
  source: ConfigSource;
  values: Partial<Record<ParamName, unknown>>;
}

/** The resolved configuration and where each value came from. */
export interface ResolvedConfig {
  config: AgentConfig;
  sources: Record<ParamName, ConfigSource>;
  /** Dataplane settings set by the file, the environment or flags (to overlay on the graph's). */
  dataplaneOverrides: Partial<AgentConfig>;
  /** Problems that did not stop resolution (bad datastore values, unknown keys). */
  warnings: string[];
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

const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|us|µs|ns|s|m|h)/g;
const DURATION_UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/**
 * Parses a duration: a Go/Kubernetes duration string (`90s`, `1m30s`, `500ms`) or a bare number
 * of seconds (Felix's environment and file form, e.g. `FELIX_ROUTEREFRESHINTERVAL=90`).
 * Returns milliseconds, or undefined when the text is neither.
 */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  if (/^[0-9]+(\.[0-9]+)?$/.test(t)) return Math.round(Number(t) * 1000);
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(DURATION_PART)) {
    if (m.index !== consumed) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    consumed += m[0].length;
  }
  return consumed === t.length ? Math.round(total) : undefined;
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
    if (first < 0) return undefined;
    const protocol = item.slice(0, first).toLowerCase();
    const portText = item.slice(last + 1);
    const net = first === last ? undefined : item.slice(first + 1, last);
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') return undefined;
    if (!/^[0-9]+$/.test(portText) || Number(portText) > 65535) return undefined;
    const port: FailsafePort = { protocol, port: Number(portText) };
    if (net !== undefined && net !== '') port.net = net;
    out.push(port);
  }
  return out;
}

function failsafeFromJson(value: unknown): FailsafePort[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: FailsafePort[] = [];
  for (const entry of value as Array<{ protocol?: unknown; port?: unknown; net?: unknown }>) {
    const protocol = typeof entry?.protocol === 'string' ? entry.protocol.toLowerCase() : 'tcp';
    if ((protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') || typeof entry.port !== 'number') return undefined;
    const port: FailsafePort = { protocol, port: entry.port };
    if (typeof entry.net === 'string' && entry.net !== '') port.net = entry.net;
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

/** Converts one raw value to the parameter's type; undefined when it does not fit. */
export function convertValue(name: ParamName, raw: unknown): AgentConfig[ParamName] | undefined {
  const def = PARAMS[name];
  switch (def.type) {
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

function describeSource(source: ConfigSource, key: string): string {
  if (source.startsWith('env:') || source.startsWith('flag:')) return source.slice(source.indexOf(':') + 1);
  if (source.startsWith('file:')) return `${source.slice(5)}: ${key}`;
  return `FelixConfiguration ${source.slice('felixconfiguration/'.length)}: spec.${key}`;
}

// -------------------------------------------------------------------------------------------------
// Layers

/** The datastore layer of a FelixConfiguration spec (`default` or `node.<hostname>`). */
export function felixConfigurationLayer(name: string, spec: Record<string, unknown> | undefined): ConfigLayer {
  const source: ConfigSource = name === 'default' ? 'felixconfiguration/default' : `felixconfiguration/${name as `node.${string}`}`;
  const values: Partial<Record<ParamName, unknown>> = {};
  for (const [key, value] of Object.entries(spec ?? {})) {
    const param = BY_LOWER.get(key.toLowerCase());
    if (param === undefined || PARAMS[param].local) continue;
    values[param] = value;
  }
  return { source, values };
}

/**
 * Parses a config file in Felix's INI-like form (`/etc/calico/felix.cfg`):
 *
 * ```
 * # comment (also ;)
 * [global]
 * LogSeverityScreen = Debug
 * HealthPort = 9199
 * FailsafeInboundHostPorts = tcp:22, udp:68
 * ```
 *
 * Section headers are accepted and ignored; keys are parameter names, case-insensitive; values
 * may be quoted. A key that names a FelixConfiguration field Margay does not use is reported as
 * a warning; any other unknown key is an error naming the file and the line.
 */
export function parseConfigFile(text: string, file: string): { layer: ConfigLayer; warnings: string[] } {
  const values: Partial<Record<ParamName, unknown>> = {};
  const warnings: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (/^\[[^\]]*\]$/.test(line)) return;
    const eq = line.search(/[=:]/);
    if (eq <= 0) {
      throw new MargayError('MARGAY_ERR_CONFIG', `${file}:${i + 1}: expected "Name = value", got ${JSON.stringify(line)}`);
    }
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    const param = BY_LOWER.get(key.toLowerCase());
    if (param === undefined) {
      if (FELIX_FIELDS_LOWER.has(key.toLowerCase())) {
        warnings.push(`${file}:${i + 1}: ${key} is a Felix parameter Margay does not use; ignored`);
        return;
      }
      throw new MargayError('MARGAY_ERR_CONFIG', `${file}:${i + 1}: unknown parameter ${JSON.stringify(key)} (see docs/agent.md for the parameters)`);
    }
    values[param] = value;
  });
  return { layer: { source: `file:${file}`, values }, warnings };
}

/** Reads and parses a config file (see {@link parseConfigFile}). */
export function readConfigFile(file: string): { layer: ConfigLayer; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new MargayError('MARGAY_ERR_CONFIG', `${file}: cannot read the agent configuration file: ${reason}`);
  }
  return parseConfigFile(text, file);
}

/**
 * The environment layers: `FELIX_<NAME>` and then `MARGAY_<NAME>` (upper-case parameter name),
 * plus each parameter's aliases (NODENAME, MARGAY_HOSTNAME for the hostname). Other variables
 * are ignored (calico/node sets many FELIX_* ones Margay does not use).
 */
export function environmentLayers(env: NodeJS.ProcessEnv): { layers: ConfigLayer[]; warnings: string[] } {
  const layers: ConfigLayer[] = [];
  const warnings: string[] = [];
  for (const prefix of ['FELIX_', 'MARGAY_']) {
    for (const name of PARAM_NAMES) {
      const candidates = [`${prefix}${name.toUpperCase()}`];
      if (name === 'felixHostname') candidates.push(`${prefix}HOSTNAME`);
      for (const variable of candidates) {
        const value = env[variable];
        if (value !== undefined && value !== '') layers.push({ source: `env:${variable}`, values: { [name]: value } });
      }
    }
  }
  for (const name of PARAM_NAMES) {
    for (const variable of PARAMS[name].envAliases ?? []) {
      const value = env[variable];
      if (value !== undefined && value !== '') layers.push({ source: `env:${variable}`, values: { [name]: value } });
    }
  }
  // NODENAME is Calico's; MARGAY_HOSTNAME is more specific and comes last (wins).
  layers.sort((a, b) => envRank(a.source) - envRank(b.source));
  return { layers, warnings };
}

function envRank(source: ConfigSource): number {
  if (source === 'env:NODENAME') return 0;
  if (source.startsWith('env:FELIX_')) return 1;
  return 2;
}

/** Flags of `margay agent`, as layers (highest precedence). */
export function flagLayers(flags: { hostname?: string; netns?: string; stateDir?: string }): ConfigLayer[] {
  const layers: ConfigLayer[] = [];
  if (flags.hostname !== undefined) layers.push({ source: 'flag:--hostname', values: { felixHostname: flags.hostname } });
  if (flags.netns !== undefined) layers.push({ source: 'flag:--netns', values: { netns: flags.netns } });
  if (flags.stateDir !== undefined) layers.push({ source: 'flag:--state-dir', values: { stateDir: flags.stateDir } });
  return layers;
}

/** The built-in defaults. `hostname` fills the hostname default (the machine's name). */
export function defaultConfig(hostname = ''): AgentConfig {
  const out = {} as Record<ParamName, unknown>;
  for (const name of PARAM_NAMES) {
    const v = PARAMS[name].default;
    out[name] = Array.isArray(v) ? v.map((p) => ({ ...p })) : v;
  }
  out.felixHostname = hostname;
  return out as unknown as AgentConfig;
}

/**
 * Applies layers, lowest first, over the defaults. A bad value in the file, the environment or
 * a flag throws MARGAY_ERR_CONFIG naming where it is and what is allowed; a bad value in a
 * FelixConfiguration (already validated by the API, so rare) is a warning and is skipped, so
 * that one bad resource cannot stop every agent.
 */
export function resolveConfig(layers: readonly ConfigLayer[], options: { defaultHostname?: string } = {}): ResolvedConfig {
  const config = defaultConfig(options.defaultHostname) as unknown as Record<ParamName, unknown>;
  const sources = Object.fromEntries(PARAM_NAMES.map((n) => [n, 'default'])) as Record<ParamName, ConfigSource>;
  const dataplaneOverrides: Partial<Record<ParamName, unknown>> = {};
  const warnings: string[] = [];
  for (const layer of layers) {
    const fromDatastore = layer.source.startsWith('felixconfiguration/');
    for (const [key, raw] of Object.entries(layer.values) as [ParamName, unknown][]) {
      const def = PARAMS[key];
      if (fromDatastore && def.local) continue;
      const value = convertValue(key, raw);
      if (value === undefined) {
        const message = `${describeSource(layer.source, key)}: must be ${EXPECTED[def.type]} (got ${JSON.stringify(raw)})`;
        if (fromDatastore) {
          warnings.push(`${message}; ignored`);
          continue;
        }
        throw new MargayError('MARGAY_ERR_CONFIG', message);
      }
      config[key] = value;
      sources[key] = layer.source;
      if (def.dataplaneSetting && !fromDatastore) dataplaneOverrides[key] = value;
    }
  }
  return {
    config: config as unknown as AgentConfig,
    sources,
    dataplaneOverrides: dataplaneOverrides as Partial<AgentConfig>,
    warnings,
  };
}

/**
 * The local layers (file, environment, flags), read once at start. The datastore layers are
 * added as FelixConfigurations arrive; see {@link ConfigTracker}.
 */
export interface LocalConfig {
  layers: ConfigLayer[];
  warnings: string[];
}

/** Reads the local layers: the config file (when given), the environment and the flags. */
export function loadLocalConfig(options: {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  flags?: { hostname?: string; netns?: string; stateDir?: string };
}): LocalConfig {
  const env = options.env ?? process.env;
  const layers: ConfigLayer[] = [];
  const warnings: string[] = [];
  const file = options.configFile ?? env.MARGAY_CONFIG_FILE;
  if (file) {
    const parsed = readConfigFile(file);
    layers.push(parsed.layer);
    warnings.push(...parsed.warnings);
  }
  const fromEnv = environmentLayers(env);
  layers.push(...fromEnv.layers);
  warnings.push(...fromEnv.warnings);
  if (options.flags) layers.push(...flagLayers(options.flags));
  return { layers, warnings };
}

/** The parameters whose change the agent applies without restarting anything. */
export const LIVE_PARAMS: readonly ParamName[] = [
  'logSeverityScreen',
  'nftablesRefreshInterval',
  'routeRefreshInterval',
  'reportingInterval',
  'reportingTTL',
  'endpointReportingEnabled',
  'endpointReportingDelay',
];

/**
 * Keeps the datastore layers (FelixConfiguration `default` and `node.<hostname>`) and resolves
 * the whole stack on demand.
 */
export class ConfigTracker {
  readonly #local: LocalConfig;
  readonly #defaultHostname: string;
  #global: ConfigLayer | undefined;
  #node: ConfigLayer | undefined;
  #hostname: string;
  #current: ResolvedConfig;

  constructor(local: LocalConfig, options: { defaultHostname?: string } = {}) {
    this.#local = local;
    this.#defaultHostname = options.defaultHostname ?? '';
    this.#current = this.#resolve();
    this.#hostname = this.#current.config.felixHostname;
  }

  /** The resolved configuration now. */
  get current(): ResolvedConfig {
    return this.#current;
  }

  /**
   * A FelixConfiguration changed (spec undefined: deleted). Returns the parameters whose
   * resolved value changed (empty when the resource is not `default` or this node's).
   */
  onFelixConfiguration(name: string, spec: Record<string, unknown> | undefined): ParamName[] {
    if (name === 'default') this.#global = spec === undefined ? undefined : felixConfigurationLayer(name, spec);
    else if (name === `node.${this.#hostname}`) this.#node = spec === undefined ? undefined : felixConfigurationLayer(name, spec);
    else return [];
    const before = this.#current.config;
    this.#current = this.#resolve();
    return PARAM_NAMES.filter((n) => JSON.stringify(before[n]) !== JSON.stringify(this.#current.config[n]));
  }

  #resolve(): ResolvedConfig {
    const layers = [this.#global, this.#node, ...this.#local.layers].filter((l): l is ConfigLayer => l !== undefined);
    const resolved = resolveConfig(layers, { defaultHostname: this.#defaultHostname });
    resolved.warnings.unshift(...this.#local.warnings);
    return resolved;
  }
}
