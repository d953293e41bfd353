/**
 * The calculation graph: datastore updates in, {@link DataplaneUpdate} batches out. Pure: no
 * I/O, no timers, no clock; the agent feeds it syncer events and calls {@link CalcGraph.flush}
 * when it wants a batch (after each syncer batch, say, rate-limited as it likes).
 *
 * ```ts
 * const graph = buildCalcGraph({ hostname: 'node-1' });
 * syncer = new Syncer(ds, '/calico/', (events) => {
 *   graph.onSyncerEvents(events);
 *   const batch = graph.flush(); // [] until in-sync; then the full state, then deltas
 *   if (batch.length > 0) dataplane.apply(batch);
 * });
 * ```
 *
 * How the nodes are wired (Felix's `NewCalculationGraph`), in two stages.
 *
 * Stage 1, dispatch: each update goes to the nodes that consume its kind.
 *
 * ```
 *  onUpdate(key, value) · onSyncerEvents(events) · onInSync()
 *    │
 *    ▼
 *  Dispatcher (by kind; staged policies and unknown keys are dropped)
 *    ├─ WorkloadEndpoint, HostEndpoint ──▶ LocalEndpointFilter
 *    │                                       ├─ every endpoint ─────▶ IpSetMemberIndex
 *    │                                       └─ local endpoints ─┬──▶ ActiveRulesCalculator
 *    │                                          (all, in mode    ├──▶ PolicyResolver
 *    │                                           'all')          └──▶ RouteResolver (mode 'local')
 *    ├─ NetworkPolicy, GlobalNetworkPolicy ──▶ ActiveRulesCalculator (selector, rules)
 *    │                                     └─▶ PolicyResolver (tier, order, types)
 *    ├─ Tier ──────────────────────────────▶ ActiveRulesCalculator (exists?), PolicyResolver
 *    ├─ Profile ───────────────────────────▶ ActiveRulesCalculator (rules, labels)
 *    │                                     └─▶ IpSetMemberIndex (labels)
 *    ├─ NetworkSet, GlobalNetworkSet ──────▶ IpSetMemberIndex
 *    ├─ FelixConfiguration, IPPool ────────▶ SettingsResolver
 *    ├─ IPPool, Node ──────────────────────▶ VxlanResolver (mode 'local')
 *    └─ IPAM block ────────────────────────▶ RouteResolver, VxlanResolver (mode 'local')
 * ```
 *
 * Stage 2, calculation: the nodes feed each other and end at the sequencer.
 *
 * ```
 *  ActiveRulesCalculator ─(policy/profile active)─▶ RuleScanner ─(IP set active)─▶ IpSetMemberIndex
 *           │                                            │     ▲                           │
 *  (policy ⇄ endpoint matches)                 (compiled │     │ (log prefix)              │ (sets,
 *           ▼                                  policies) │  SettingsResolver               │ members)
 *     PolicyResolver                                     │     │ (settings)                │
 *           │ (endpoint plans, at flush)                 │     │       RouteResolver       │
 *           │                                            ▼     ▼           │ (routes)      │
 *           └─────────────────────────────────────▶ EventSequencer ◀───────┴───────────────┘
 *                                                        ▲ (VXLAN plan, at flush)
 *                                                   VxlanResolver
 *                                                        │ coalesce, order, gate on in-sync
 *                                                        ▼
 *                                                 flush(): DataplaneUpdate[]
 * ```
 */
import { BUILTIN_TIERS, type Resource } from '../api/mod.ts';
import type { SyncerEvent } from '../datastore/mod.ts';
import { ActiveRulesCalculator } from './active-rules.ts';
import { Dispatcher, type ResourceRef } from './dispatcher.ts';
import { hostEndpointData, networkSetData, workloadEndpointData } from './endpoint-data.ts';
import { EventSequencer } from './event-sequencer.ts';
import { globalPolicyKey, hostEndpointId, namespacedPolicyKey, networkSetId, workloadId } from './ids.ts';
import { IpSetMemberIndex } from './ipset-members.ts';
import { LocalEndpointFilter, type LocalityMode } from './local-endpoint-filter.ts';
import type { DataplaneSettings, DataplaneUpdate } from './model.ts';
import { policyData, profileData, tierData, type TierData } from './policy-data.ts';
import { PolicyResolver } from './policy-resolver.ts';
import { type IpamBlockValue, RouteResolver } from './route-resolver.ts';
import { RuleScanner } from './rule-scanner.ts';
import { SettingsResolver } from './settings-resolver.ts';
import { VxlanResolver } from './vxlan-resolver.ts';

/** Options of {@link buildCalcGraph}. */
export interface CalcGraphOptions {
  /** This host's name: `spec.node` of its endpoints, `host:<hostname>` block affinity, `node.<hostname>` config. */
  hostname: string;
  /**
   * `local` (default): the agent's view, only this host's endpoints, with routes.
   * `all`: every endpoint is treated as local and no routes are computed (policy trace/matrix).
   */
  mode?: LocalityMode;
  /** Told about input the graph cannot use (an unparseable value or selector); the input is treated as deleted. */
  onWarning?: (message: string, key: string) => void;
  /**
   * The settings resolver to feed FelixConfigurations and pools to (the agent's, which holds its
   * file, environment and flag layers); default a new one with the datastore layers only.
   */
  settings?: SettingsResolver;
  /**
   * The built-in tiers (`kube-admin`, `default`, `kube-baseline`) exist without a Tier resource
   * (default true): a resource overrides one, deleting it brings the built-in back. Calico's API
   * server creates them, but a writer that puts policies straight into the datastore (the
   * OpenStack driver) never does, and its policies would then apply nowhere (issue 16).
   */
  builtinTiers?: boolean;
}

/** Counters for metrics. */
export interface CalcGraphStats {
  localEndpoints: number;
  activePolicies: number;
  activeProfiles: number;
  ipSets: number;
  policySelectors: number;
  indexedItems: number;
}

/** The calculation graph's public face. */
export interface CalcGraph {
  /**
   * One datastore update: a v3 resource key with its parsed {@link Resource}, or an IPAM block
   * key with its parsed JSON value; `undefined` deletes. Unknown keys are ignored.
   */
  onUpdate(key: string, value: unknown): void;
  /** The datastore snapshot is complete. */
  onInSync(): void;
  /** A batch of syncer events (values are JSON text; parsed here). Status events are ignored. */
  onSyncerEvents(events: readonly SyncerEvent[]): void;
  /** The coalesced, ordered updates since the last flush; `[]` before in-sync. */
  flush(): DataplaneUpdate[];
  /** True once in-sync has been received. */
  readonly inSync: boolean;
  /** The settings resolved so far. */
  readonly settings: DataplaneSettings;
  /** Counters for metrics. */
  stats(): CalcGraphStats;
}

class Graph implements CalcGraph {
  readonly #dispatcher: Dispatcher;
  readonly #sequencer: EventSequencer;
  readonly #resolver: PolicyResolver;
  readonly #vxlan: VxlanResolver | undefined;
  readonly #settings: SettingsResolver;
  readonly #optimize: () => void;
  readonly #stats: () => CalcGraphStats;
  readonly #warn: (message: string, key: string) => void;

  constructor(
    parts: {
      dispatcher: Dispatcher;
      sequencer: EventSequencer;
      resolver: PolicyResolver;
      vxlan: VxlanResolver | undefined;
      settings: SettingsResolver;
      /** Re-files the label indexes' selectors once the snapshot is loaded. */
      optimize: () => void;
    },
    stats: () => CalcGraphStats,
    warn: (message: string, key: string) => void,
  ) {
    this.#dispatcher = parts.dispatcher;
    this.#sequencer = parts.sequencer;
    this.#resolver = parts.resolver;
    this.#vxlan = parts.vxlan;
    this.#settings = parts.settings;
    this.#optimize = parts.optimize;
    this.#stats = stats;
    this.#warn = warn;
  }

  onUpdate(key: string, value: unknown): void {
    this.#dispatcher.dispatch(key, value);
  }

  onInSync(): void {
    if (this.#sequencer.inSync) return;
    // Selectors filed while the snapshot streamed in were filed against a partial population.
    this.#optimize();
    this.#sequencer.onInSync();
  }

  onSyncerEvents(events: readonly SyncerEvent[]): void {
    for (const ev of events) {
      switch (ev.type) {
        case 'update': {
          let value: unknown;
          try {
            value = JSON.parse(ev.kv.value);
          } catch (err) {
            this.#warn(`value is not JSON: ${(err as Error).message}`, ev.kv.key);
            value = undefined;
          }
          this.onUpdate(ev.kv.key, value);
          break;
        }
        case 'delete':
          this.onUpdate(ev.key, undefined);
          break;
        case 'in-sync':
          this.onInSync();
          break;
        case 'status':
          break;
      }
    }
  }

  flush(): DataplaneUpdate[] {
    if (!this.#sequencer.inSync) return [];
    this.#resolver.flush();
    this.#vxlan?.flush();
    return this.#sequencer.flush();
  }

  get inSync(): boolean {
    return this.#sequencer.inSync;
  }

  get settings(): DataplaneSettings {
    return this.#settings.settings;
  }

  stats(): CalcGraphStats {
    return this.#stats();
  }
}

/** Builds and wires the calculation graph (see the diagram at the top of this file). */
export function buildCalcGraph(options: CalcGraphOptions): CalcGraph {
  const mode = options.mode ?? 'local';
  const warn = options.onWarning ?? (() => {});

  // Sinks first, then the nodes that feed them.
  const sequencer = new EventSequencer();
  const ipSets = new IpSetMemberIndex(sequencer);
  const scanner = new RuleScanner(ipSets, sequencer);
  const resolver = new PolicyResolver(sequencer);
  const activeRules = new ActiveRulesCalculator(scanner, resolver);
  const routes = new RouteResolver(options.hostname, sequencer);
  const vxlan = mode === 'local' ? new VxlanResolver(options.hostname, sequencer) : undefined;
  const settings = options.settings ?? new SettingsResolver({ defaultHostname: options.hostname });
  settings.subscribe({
    onSettings: (s) => {
      scanner.setLogPrefix(s.logPrefix);
      sequencer.onSettings(s);
    },
  });
  settings.announce();

  const local = mode === 'local' ? [activeRules, resolver, routes] : [activeRules, resolver];
  const endpoints = new LocalEndpointFilter(options.hostname, mode, [ipSets], local);

  const dispatcher = new Dispatcher();
  /** Converts a resource, or warns and treats it as deleted. */
  const convert = <T>(ref: ResourceRef, res: Resource | undefined, fn: (res: Resource) => T): T | undefined => {
    if (res === undefined) return undefined;
    try {
      return fn(res);
    } catch (err) {
      const ns = ref.namespace !== undefined ? `${ref.namespace}/` : '';
      warn(`cannot use ${ref.plural} ${ns}${ref.name}: ${(err as Error).message}`, `${ref.plural}/${ns}${ref.name}`);
      return undefined;
    }
  };

  dispatcher.register('workloadendpoints', (ref, res, key) => {
    const ns = ref.namespace ?? 'default';
    endpoints.onEndpointUpdate(workloadId(ns, ref.name), convert(ref, res, (r) => workloadEndpointData(ns, ref.name, r)), key);
  });
  dispatcher.register('hostendpoints', (ref, res, key) => {
    endpoints.onEndpointUpdate(hostEndpointId(ref.name), convert(ref, res, (r) => hostEndpointData(ref.name, r)), key);
  });
  dispatcher.register('networkpolicies', (ref, res) => {
    const ns = ref.namespace ?? 'default';
    const data = convert(ref, res, (r) => policyData(ns, ref.name, r));
    const key = namespacedPolicyKey(ns, ref.name);
    activeRules.onPolicyUpdate(key, data);
    resolver.onPolicyUpdate(key, data);
  });
  dispatcher.register('globalnetworkpolicies', (ref, res) => {
    const data = convert(ref, res, (r) => policyData(undefined, ref.name, r));
    const key = globalPolicyKey(ref.name);
    activeRules.onPolicyUpdate(key, data);
    resolver.onPolicyUpdate(key, data);
  });
  const builtinTiers = options.builtinTiers ?? true;
  const builtinTier = (name: string): TierData | undefined => {
    const t = builtinTiers ? BUILTIN_TIERS.find((b) => b.name === name) : undefined;
    return t && { name, order: t.order, defaultAction: t.defaultAction === 'Pass' ? 'Pass' : 'Deny' };
  };
  const onTier = (name: string, data: TierData | undefined): void => {
    activeRules.onTierUpdate(name, data !== undefined);
    resolver.onTierUpdate(name, data);
  };
  for (const t of BUILTIN_TIERS) onTier(t.name, builtinTier(t.name));
  dispatcher.register('tiers', (ref, res) => onTier(ref.name, convert(ref, res, (r) => tierData(ref.name, r)) ?? builtinTier(ref.name)));
  dispatcher.register('profiles', (ref, res) => {
    const data = convert(ref, res, (r) => profileData(ref.name, r));
    ipSets.onParentUpdate(ref.name, data?.labels);
    activeRules.onProfileUpdate(ref.name, data);
  });
  dispatcher.register('networksets', (ref, res) => {
    const id = networkSetId(ref.namespace ?? 'default', ref.name);
    ipSets.onNetworkSetUpdate(id, convert(ref, res, (r) => networkSetData(id, ref.namespace ?? 'default', r)));
  });
  dispatcher.register('globalnetworksets', (ref, res) => {
    const id = networkSetId(undefined, ref.name);
    ipSets.onNetworkSetUpdate(id, convert(ref, res, (r) => networkSetData(id, undefined, r)));
  });
  dispatcher.register('felixconfigurations', (ref, res) => {
    settings.onFelixConfigurationUpdate(ref.name, res?.spec ?? (res !== undefined ? {} : undefined));
  });
  dispatcher.register('ippools', (ref, res) => {
    settings.onPoolUpdate(ref.name, res?.spec);
    vxlan?.onPoolUpdate(ref.name, res);
  });
  if (vxlan !== undefined) {
    dispatcher.register('nodes', (ref, res) => vxlan.onNodeUpdate(ref.name, res));
    dispatcher.registerBlocks((key, block) => {
      routes.onBlockUpdate(key, typeof block === 'object' && block !== null ? (block as IpamBlockValue) : undefined);
      vxlan.onBlockUpdate(key, block);
    });
  }

  const stats = (): CalcGraphStats => ({
    localEndpoints: endpoints.localCount,
    activePolicies: activeRules.activePolicies().length,
    activeProfiles: activeRules.activeProfiles().length,
    ipSets: ipSets.setCount,
    policySelectors: activeRules.selectorCount,
    indexedItems: ipSets.itemCount,
  });

  const optimize = (): void => {
    activeRules.optimize();
    ipSets.optimize();
  };
  return new Graph({ dispatcher, sequencer, resolver, vxlan, settings, optimize }, stats, warn);
}
