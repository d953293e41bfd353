/**
 * The settings resolver (Felix's config batcher, for the settings the dataplane model carries):
 * {@link DataplaneSettings} from Felix's defaults, then FelixConfiguration `default`, then
 * FelixConfiguration `node.<hostname>` (each field of the more specific one wins when set), plus
 * the IP pools (natOutgoing pools, all pools). The config file and environment layers of
 * Calico's precedence are the agent's to apply on top.
 */
import type { SettingsCallbacks } from './callbacks.ts';
import type { DataplaneSettings, FailsafePort } from './model.ts';
import { canonicalCidr } from '../net/mod.ts';
import { DEFAULT_LOG_PREFIX } from './rule-scanner.ts';

/** Felix's `FailsafeInboundHostPorts` default. */
export const DEFAULT_FAILSAFE_INBOUND: readonly FailsafePort[] = Object.freeze([
  { protocol: 'tcp', port: 22 },
  { protocol: 'udp', port: 68 },
  { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 },
  { protocol: 'tcp', port: 2380 },
  { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 },
  { protocol: 'tcp', port: 6666 },
  { protocol: 'tcp', port: 6667 },
]);

/** Felix's `FailsafeOutboundHostPorts` default. */
export const DEFAULT_FAILSAFE_OUTBOUND: readonly FailsafePort[] = Object.freeze([
  { protocol: 'udp', port: 53 },
  { protocol: 'udp', port: 67 },
  { protocol: 'tcp', port: 179 },
  { protocol: 'tcp', port: 2379 },
  { protocol: 'tcp', port: 2380 },
  { protocol: 'tcp', port: 5473 },
  { protocol: 'tcp', port: 6443 },
  { protocol: 'tcp', port: 6666 },
  { protocol: 'tcp', port: 6667 },
]);

/** The FelixConfiguration fields this resolver reads. */
interface FelixFields {
  interfacePrefix?: string;
  defaultEndpointToHostAction?: string;
  failsafeInboundHostPorts?: Array<{ protocol?: string; port: number; net?: string }>;
  failsafeOutboundHostPorts?: Array<{ protocol?: string; port: number; net?: string }>;
  ipv6Support?: boolean;
  logPrefix?: string;
}

/** The IPPool fields this resolver reads. */
interface PoolFields {
  cidr?: string;
  natOutgoing?: boolean;
}

function endpointToHostAction(value: string | undefined): DataplaneSettings['defaultEndpointToHostAction'] {
  switch (value?.toLowerCase()) {
    case 'accept':
      return 'Accept';
    case 'return':
      return 'Return';
    default:
      return 'Drop';
  }
}

function failsafePorts(list: FelixFields['failsafeInboundHostPorts'], fallback: readonly FailsafePort[]): FailsafePort[] {
  if (!Array.isArray(list)) return fallback.map((p) => ({ ...p }));
  const out: FailsafePort[] = [];
  for (const entry of list) {
    const protocol = (entry.protocol ?? 'TCP').toLowerCase();
    if ((protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') || typeof entry.port !== 'number') continue;
    const port: FailsafePort = { protocol, port: entry.port };
    if (entry.net !== undefined && entry.net !== '') {
      const net = canonicalCidr(entry.net);
      if (net !== undefined) port.net = net;
    }
    out.push(port);
  }
  return out;
}

/** Resolves {@link DataplaneSettings} and reports each change. */
export class SettingsResolver {
  readonly #nodeConfigName: string | undefined;
  readonly #out: SettingsCallbacks;
  #global: FelixFields | undefined;
  #node: FelixFields | undefined;
  readonly #pools = new Map<string, PoolFields>();
  #current: DataplaneSettings;
  #currentText: string;

  /** `hostname` selects the per-node FelixConfiguration `node.<hostname>` (none when undefined). */
  constructor(hostname: string | undefined, out: SettingsCallbacks) {
    this.#nodeConfigName = hostname !== undefined && hostname !== '' ? `node.${hostname}` : undefined;
    this.#out = out;
    this.#current = this.#compute();
    this.#currentText = JSON.stringify(this.#current);
  }

  /** The settings now. */
  get current(): DataplaneSettings {
    return this.#current;
  }

  /** A FelixConfiguration by name (undefined: deleted); only `default` and this node's are used. */
  onFelixConfigurationUpdate(name: string, spec: Record<string, unknown> | undefined): void {
    if (name === 'default') this.#global = spec as FelixFields | undefined;
    else if (name === this.#nodeConfigName) this.#node = spec as FelixFields | undefined;
    else return;
    this.#recompute();
  }

  /** An IPPool by name (undefined: deleted). */
  onPoolUpdate(name: string, spec: Record<string, unknown> | undefined): void {
    if (spec === undefined) this.#pools.delete(name);
    else this.#pools.set(name, spec as PoolFields);
    this.#recompute();
  }

  /** Reports the current settings whether or not they changed (the initial state). */
  announce(): void {
    this.#out.onSettings(this.#current);
  }

  #recompute(): void {
    const next = this.#compute();
    const text = JSON.stringify(next);
    if (text === this.#currentText) return;
    this.#current = next;
    this.#currentText = text;
    this.#out.onSettings(next);
  }

  #compute(): DataplaneSettings {
    const pick = <K extends keyof FelixFields>(field: K): FelixFields[K] | undefined => this.#node?.[field] ?? this.#global?.[field];
    const prefixes = (pick('interfacePrefix') ?? 'cali')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const allPools = new Set<string>();
    const natPools = new Set<string>();
    for (const pool of this.#pools.values()) {
      const cidr = typeof pool.cidr === 'string' ? canonicalCidr(pool.cidr) : undefined;
      if (cidr === undefined) continue;
      allPools.add(cidr);
      if (pool.natOutgoing === true) natPools.add(cidr);
    }
    return {
      interfacePrefixes: prefixes.length > 0 ? prefixes : ['cali'],
      defaultEndpointToHostAction: endpointToHostAction(pick('defaultEndpointToHostAction')),
      failsafeInbound: failsafePorts(pick('failsafeInboundHostPorts'), DEFAULT_FAILSAFE_INBOUND),
      failsafeOutbound: failsafePorts(pick('failsafeOutboundHostPorts'), DEFAULT_FAILSAFE_OUTBOUND),
      ipv6Enabled: pick('ipv6Support') ?? true,
      natOutgoingPools: [...natPools].sort(),
      allPools: [...allPools].sort(),
      logPrefix: pick('logPrefix') ?? DEFAULT_LOG_PREFIX,
    };
  }
}
