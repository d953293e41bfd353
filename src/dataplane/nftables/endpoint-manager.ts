/**
 * The endpoint manager (Felix's `endpoint_mgr`): the chains of each local endpoint and the
 * dispatch maps that send an interface's traffic to them.
 *
 * - A workload gets `fw-<if>` (from the workload: its egress) and `tw-<if>` (to it: ingress),
 *   and an element in the from-/to-workload maps. One interface has one owner: a second endpoint
 *   claiming it is ignored until the first lets go.
 * - Host endpoints are rendered together (one per interface; `*` for every interface, whose
 *   chains are jumped to from the fixed chains rather than through a map). Whether a wildcard
 *   endpoint exists shapes the fixed chains, so that is reported.
 */
import type { DataplaneUpdate, HostEndpointPlan, WorkloadEndpointPlan } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import { DispatchMaps, interfaceChain, type InterfaceChainKind } from './names.ts';
import { renderHostEndpointChains, renderWorkloadChains, type WildcardChains } from './render-chains.ts';
import type { NftTable } from './table.ts';

/** Renders the graph's local workload and host endpoints into the table. */
export class EndpointManager implements Manager {
  readonly #table: NftTable;
  readonly #workloads = new Map<string, WorkloadEndpointPlan>();
  readonly #dirtyWorkloads = new Set<string>();
  /** key → the interface its chains were rendered for. */
  readonly #renderedWorkloads = new Map<string, string>();
  /** interface → the workload that owns it. */
  readonly #interfaceOwner = new Map<string, string>();
  readonly #hostEndpoints = new Map<string, HostEndpointPlan>();
  #hostEndpointsDirty = true;
  #renderedHostChains = new Set<string>();
  #renderedHostEntries = new Map<string, Set<string>>(); // map → keys
  #wildcard: WildcardChains = {};
  #wildcardChanged = false;

  constructor(table: NftTable) {
    this.#table = table;
  }

  /** True when some endpoint waits to be rendered. */
  get pending(): boolean {
    return this.#hostEndpointsDirty || this.#dirtyWorkloads.size > 0;
  }

  /** Workload endpoint keys whose chains changed since the last render (for status reporting). */
  pendingWorkloads(): string[] {
    return [...this.#dirtyWorkloads];
  }

  /** Which wildcard host endpoint chains exist (the fixed chains jump to them). */
  get wildcard(): WildcardChains {
    return this.#wildcard;
  }

  /** True (once) when the wildcard chains changed in the last render. */
  takeWildcardChanged(): boolean {
    const changed = this.#wildcardChanged;
    this.#wildcardChanged = false;
    return changed;
  }

  onUpdate(u: DataplaneUpdate): void {
    switch (u.type) {
      case 'workload-update':
        this.#workloads.set(u.endpoint.key, u.endpoint);
        this.#dirtyWorkloads.add(u.endpoint.key);
        break;
      case 'workload-remove':
        this.#workloads.delete(u.key);
        this.#dirtyWorkloads.add(u.key);
        break;
      case 'host-endpoint-update':
        this.#hostEndpoints.set(u.endpoint.key, u.endpoint);
        this.#hostEndpointsDirty = true;
        break;
      case 'host-endpoint-remove':
        this.#hostEndpoints.delete(u.key);
        this.#hostEndpointsDirty = true;
        break;
      default:
        break;
    }
  }

  /** Every endpoint must be rendered again (the settings changed). */
  markAllDirty(): void {
    for (const key of [...this.#workloads.keys(), ...this.#renderedWorkloads.keys()]) this.#dirtyWorkloads.add(key);
    this.#hostEndpointsDirty = true;
  }

  completeDeferredWork(): void {
    this.#renderWorkloads();
    if (this.#hostEndpointsDirty) {
      this.#wildcardChanged = this.#renderHostEndpoints() || this.#wildcardChanged;
      this.#hostEndpointsDirty = false;
    }
  }

  #renderWorkloads(): void {
    if (this.#dirtyWorkloads.size === 0) return;
    this.#takeBackMoved();
    const table = this.#table;
    table.ensureMaps();
    for (const key of [...this.#dirtyWorkloads].sort()) {
      const ep = this.#workloads.get(key);
      if (!ep) continue;
      const owner = this.#interfaceOwner.get(ep.interfaceName);
      if (owner !== undefined && owner !== key && this.#workloads.get(owner)?.interfaceName === ep.interfaceName) {
        table.warn(`workload ${key} uses interface ${ep.interfaceName}, already used by ${owner}; ignoring it`);
        continue;
      }
      if (!table.settings.interfacePrefixes.some((p) => ep.interfaceName.startsWith(p))) {
        table.warn(`workload ${key}: interface ${ep.interfaceName} lacks a workload prefix, so its traffic is not dispatched to its chains`);
      }
      this.#interfaceOwner.set(ep.interfaceName, key);
      const refs = table.emptyRefs();
      const { from, to } = renderWorkloadChains(ep, table.context(refs));
      table.putChain(from);
      table.putChain(to);
      table.setOwnerRefs(`workload:${key}`, refs);
      table.desired.setMapElement(DispatchMaps.fromWorkload, ep.interfaceName, `goto ${from.name}`);
      table.desired.setMapElement(DispatchMaps.toWorkload, ep.interfaceName, `goto ${to.name}`);
      this.#renderedWorkloads.set(key, ep.interfaceName);
    }
    this.#dirtyWorkloads.clear();
  }

  /** Takes back what changed interface or went away, before the current plans are rendered. */
  #takeBackMoved(): void {
    const table = this.#table;
    for (const key of this.#dirtyWorkloads) {
      const oldIface = this.#renderedWorkloads.get(key);
      const ep = this.#workloads.get(key);
      if (oldIface === undefined || (ep && ep.interfaceName === oldIface)) continue;
      table.dropChain(interfaceChain('fw', oldIface));
      table.dropChain(interfaceChain('tw', oldIface));
      table.desired.deleteMapElement(DispatchMaps.fromWorkload, oldIface);
      table.desired.deleteMapElement(DispatchMaps.toWorkload, oldIface);
      table.setOwnerRefs(`workload:${key}`, table.emptyRefs());
      this.#renderedWorkloads.delete(key);
      if (this.#interfaceOwner.get(oldIface) === key) {
        this.#interfaceOwner.delete(oldIface);
        // A workload that was ignored for sharing this interface may take it over now.
        for (const [other, plan] of this.#workloads) if (plan.interfaceName === oldIface) this.#dirtyWorkloads.add(other);
      }
    }
  }

  /** Re-renders all host endpoints; returns true when the wildcard chains changed. */
  #renderHostEndpoints(): boolean {
    const table = this.#table;
    table.ensureMaps();
    const byInterface = new Map<string, HostEndpointPlan>();
    for (const ep of [...this.#hostEndpoints.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      const prev = byInterface.get(ep.interfaceName);
      if (prev) {
        table.warn(`host endpoints ${prev.key} and ${ep.key} share interface ${ep.interfaceName}; using ${prev.key}`);
        continue;
      }
      byInterface.set(ep.interfaceName, ep);
    }
    const chains = new Set<string>();
    const entries = new Map<string, Set<string>>();
    const wildcard: WildcardChains = {};
    const refs = table.emptyRefs();
    const ctx = table.context(refs);
    for (const [iface, ep] of byInterface) {
      for (const hc of renderHostEndpointChains(ep, ctx)) {
        table.putChain(hc.chain);
        chains.add(hc.chain.name);
        if (iface === '*') {
          wildcard[hc.kind as InterfaceChainKind] = true;
        } else {
          table.desired.setMapElement(hc.map, iface, `goto ${hc.chain.name}`);
          let keys = entries.get(hc.map);
          if (!keys) entries.set(hc.map, (keys = new Set()));
          keys.add(iface);
        }
      }
    }
    for (const name of this.#renderedHostChains) if (!chains.has(name)) table.dropChain(name);
    for (const [map, keys] of this.#renderedHostEntries) {
      for (const key of keys) if (!entries.get(map)?.has(key)) table.desired.deleteMapElement(map, key);
    }
    table.setOwnerRefs('host-endpoints', refs);
    this.#renderedHostChains = chains;
    this.#renderedHostEntries = entries;
    const changed = JSON.stringify(Object.keys(wildcard).sort()) !== JSON.stringify(Object.keys(this.#wildcard).sort());
    this.#wildcard = wildcard;
    return changed;
  }
}
