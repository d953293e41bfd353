/**
 * The settings resolver: the one place the agent's parameters are resolved, with Calico's
 * precedence (Felix's `config_params.go`), lowest first:
 *
 *   1. built-in defaults                       (the table in src/api/felix-params.ts)
 *   2. FelixConfiguration `default`            (datastore, cluster-wide)
 *   3. FelixConfiguration `node.<hostname>`    (datastore, this host)
 *   4. the config file (`--config-file`)       (read by the agent, src/agent/config.ts)
 *   5. the environment: `FELIX_<NAME>`, then `MARGAY_<NAME>` (MARGAY_ wins)
 *   6. command-line flags of `margay agent`    (`--hostname`, `--netns`, `--state-dir`)
 *
 * The local layers (4–6) are given at construction; the datastore layers arrive as the graph
 * dispatches FelixConfigurations. From the resolved configuration and the IP pools it derives
 * the {@link DataplaneSettings} the dataplane receives (Felix's config batcher), so that what
 * the agent logs and reports is what the dataplane programs.
 *
 * Pure: no I/O.
 */
import {
  type AgentConfig,
  convertValue,
  defaultConfig,
  expectedValue,
  interfacePrefixes,
  PARAM_NAMES,
  paramNamed,
  PARAMS,
  type ParamName,
} from '../api/mod.ts';
import { MargayError } from '../errors/mod.ts';
import type { DataplaneSettings } from './model.ts';
import { canonicalCidr, canonicalIp } from '../net/mod.ts';

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

/** The local layers (file, environment, flags), read once at start, and what reading them found. */
export interface LocalConfig {
  layers: ConfigLayer[];
  warnings: string[];
}

/** The resolved configuration and where each value came from. */
export interface ResolvedConfig {
  config: AgentConfig;
  sources: Record<ParamName, ConfigSource>;
  /** Problems that did not stop resolution (bad datastore values, unknown keys). */
  warnings: string[];
}

function describeSource(source: ConfigSource, key: string): string {
  if (source.startsWith('env:') || source.startsWith('flag:')) return source.slice(source.indexOf(':') + 1);
  if (source.startsWith('file:')) return `${source.slice(5)}: ${key}`;
  return `FelixConfiguration ${source.slice('felixconfiguration/'.length)}: spec.${key}`;
}

/** The datastore layer of a FelixConfiguration spec (`default` or `node.<hostname>`). */
export function felixConfigurationLayer(name: string, spec: Record<string, unknown> | undefined): ConfigLayer {
  const source: ConfigSource = name === 'default' ? 'felixconfiguration/default' : `felixconfiguration/${name as `node.${string}`}`;
  const values: Partial<Record<ParamName, unknown>> = {};
  for (const [key, value] of Object.entries(spec ?? {})) {
    const param = paramNamed(key);
    if (param === undefined || PARAMS[param].local) continue;
    values[param] = value;
  }
  return { source, values };
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
  const warnings: string[] = [];
  for (const layer of layers) {
    const fromDatastore = layer.source.startsWith('felixconfiguration/');
    for (const [key, raw] of Object.entries(layer.values) as [ParamName, unknown][]) {
      if (fromDatastore && PARAMS[key].local) continue;
      const value = convertValue(key, raw);
      if (value === undefined) {
        const message = `${describeSource(layer.source, key)}: must be ${expectedValue(key)} (got ${JSON.stringify(raw)})`;
        if (fromDatastore) {
          warnings.push(`${message}; ignored`);
          continue;
        }
        throw new MargayError('MARGAY_ERR_CONFIG', message);
      }
      config[key] = value;
      sources[key] = layer.source;
    }
  }
  return { config: config as unknown as AgentConfig, sources, warnings };
}

/** The IPPool fields the settings read. */
interface PoolFields {
  cidr?: string;
  natOutgoing?: boolean;
}

/** The dataplane's settings: the dataplane parameters of `config`, and the pools. */
export function dataplaneSettings(config: AgentConfig, pools: Iterable<PoolFields> = []): DataplaneSettings {
  const allPools = new Set<string>();
  const natPools = new Set<string>();
  for (const pool of pools) {
    const cidr = typeof pool.cidr === 'string' ? canonicalCidr(pool.cidr) : undefined;
    if (cidr === undefined) continue;
    allPools.add(cidr);
    if (pool.natOutgoing === true) natPools.add(cidr);
  }
  return {
    interfacePrefixes: interfacePrefixes(config.interfacePrefix),
    defaultEndpointToHostAction: config.defaultEndpointToHostAction,
    failsafeInbound: structuredClone(config.failsafeInboundHostPorts),
    failsafeOutbound: structuredClone(config.failsafeOutboundHostPorts),
    ipv6Enabled: config.ipv6Support,
    natOutgoingPools: [...natPools].sort(),
    allPools: [...allPools].sort(),
    logPrefix: config.logPrefix,
    ...(openstackActive(config) ? { openstack: openstackSettings(config) } : {}),
  };
}

/**
 * True when this is an OpenStack host (Felix's `OpenstackActive`): the cluster type says so, the
 * metadata server is not the default one, or `tap` is a workload interface prefix.
 */
export function openstackActive(config: AgentConfig): boolean {
  if (config.clusterType.toLowerCase().includes('openstack')) return true;
  if (config.metadataAddr !== '' && config.metadataAddr !== '127.0.0.1') return true;
  if (config.metadataPort !== 0 && config.metadataPort !== 8775) return true;
  return interfacePrefixes(config.interfacePrefix).includes('tap');
}

function openstackSettings(config: AgentConfig): { metadataAddr?: string; metadataPort: number } {
  const addr = config.metadataAddr.trim();
  // Felix takes a name and resolves it; Margay takes an IPv4 address ('' or `none`: no metadata rules).
  return /^[0-9.]+$/.test(addr) && canonicalIp(addr) !== undefined ? { metadataAddr: canonicalIp(addr)!, metadataPort: config.metadataPort } : { metadataPort: config.metadataPort };
}

/** The dataplane settings of a host nobody configured (before the first `settings` update). */
export function defaultDataplaneSettings(): DataplaneSettings {
  return dataplaneSettings(defaultConfig());
}

/** Told about changes; see {@link SettingsResolver.subscribe}. */
export interface SettingsListener {
  /** The dataplane settings changed (or are announced). */
  onSettings?(settings: DataplaneSettings): void;
  /** Parameters whose resolved value changed with a FelixConfiguration. */
  onConfigChanged?(changed: ParamName[], resolved: ResolvedConfig): void;
}

/** Options of {@link SettingsResolver}. */
export interface SettingsResolverOptions {
  /** The file, environment and flag layers (default none: datastore and defaults only). */
  local?: LocalConfig;
  /** The hostname when no layer sets one (the machine's name); selects `node.<hostname>`. */
  defaultHostname?: string;
}

/** Resolves the configuration and the dataplane settings, and reports each change. */
export class SettingsResolver {
  readonly #local: LocalConfig;
  readonly #defaultHostname: string;
  readonly #listeners: SettingsListener[] = [];
  readonly #pools = new Map<string, PoolFields>();
  #global: ConfigLayer | undefined;
  #node: ConfigLayer | undefined;
  #nodeConfigName: string;
  #resolved: ResolvedConfig;
  #settings: DataplaneSettings;
  #settingsText: string;

  /** Throws MARGAY_ERR_CONFIG when a local layer holds a bad value. */
  constructor(options: SettingsResolverOptions = {}) {
    this.#local = options.local ?? { layers: [], warnings: [] };
    this.#defaultHostname = options.defaultHostname ?? '';
    this.#resolved = this.#resolve();
    // The hostname is local: no FelixConfiguration can change which node.<hostname> applies.
    this.#nodeConfigName = `node.${this.#resolved.config.felixHostname}`;
    this.#settings = dataplaneSettings(this.#resolved.config);
    this.#settingsText = JSON.stringify(this.#settings);
  }

  /** The resolved configuration now, with the source of each value. */
  get current(): ResolvedConfig {
    return this.#resolved;
  }

  /** The dataplane settings now. */
  get settings(): DataplaneSettings {
    return this.#settings;
  }

  /** Adds a listener (the graph for the settings, the agent for configuration changes). */
  subscribe(listener: SettingsListener): void {
    this.#listeners.push(listener);
  }

  /** Reports the current settings whether or not they changed (the initial state). */
  announce(): void {
    for (const l of this.#listeners) l.onSettings?.(this.#settings);
  }

  /**
   * A FelixConfiguration by name (spec undefined: deleted); only `default` and this node's are
   * used. Returns the parameters whose resolved value changed.
   */
  onFelixConfigurationUpdate(name: string, spec: Record<string, unknown> | undefined): ParamName[] {
    const layer = spec === undefined ? undefined : felixConfigurationLayer(name, spec);
    if (name === 'default') this.#global = layer;
    else if (name === this.#nodeConfigName) this.#node = layer;
    else return [];
    const before = this.#resolved.config;
    this.#resolved = this.#resolve();
    const changed = PARAM_NAMES.filter((n) => JSON.stringify(before[n]) !== JSON.stringify(this.#resolved.config[n]));
    if (changed.length > 0) {
      for (const l of this.#listeners) l.onConfigChanged?.(changed, this.#resolved);
      this.#recomputeSettings();
    }
    return changed;
  }

  /** An IPPool by name (undefined: deleted). */
  onPoolUpdate(name: string, spec: Record<string, unknown> | undefined): void {
    if (spec === undefined) this.#pools.delete(name);
    else this.#pools.set(name, spec as PoolFields);
    this.#recomputeSettings();
  }

  #recomputeSettings(): void {
    const next = dataplaneSettings(this.#resolved.config, this.#pools.values());
    const text = JSON.stringify(next);
    if (text === this.#settingsText) return;
    this.#settings = next;
    this.#settingsText = text;
    for (const l of this.#listeners) l.onSettings?.(next);
  }

  #resolve(): ResolvedConfig {
    const layers = [this.#global, this.#node, ...this.#local.layers].filter((l): l is ConfigLayer => l !== undefined);
    const resolved = resolveConfig(layers, { defaultHostname: this.#defaultHostname });
    resolved.warnings.unshift(...this.#local.warnings);
    return resolved;
  }
}
