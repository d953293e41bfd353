/**
 * The endpoint manager (Felix's `endpoint_mgr`): the chains of each local endpoint and the
 * dispatch maps that send an interface's traffic to them.
 *
 * - Workloads with the same policy list in a direction share one chain (`fwp_<hash>`: from them,
 *   their egress; `twp_<hash>`: to them, ingress), so the ruleset grows with the distinct policy
 *   lists, not with endpoints × policies. A workload costs an element in the from-/to-workload
 *   maps (interface → shared chain) and its source nets in the anti-spoofing sets. A shared
 *   chain goes when its last user does. One interface has one owner: a second endpoint claiming
 *   it is ignored until the first lets go.
 * - Host endpoints are rendered together (one per interface; `*` for every interface, whose
 *   chains are jumped to from the fixed chains rather than through a map). Whether a wildcard
 *   endpoint exists shapes the fixed chains, so that is reported.
 */
import type { DataplaneUpdate, HostEndpointPlan, WorkloadEndpointPlan } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import type { Family } from '../../net/mod.ts';
import { DispatchMaps, policyListChain, workloadSourceSet, workloadSourceSetType, type InterfaceChainKind } from './names.ts';
import {
  policyListKey,
  renderHostEndpointChains,
  renderPolicyListChain,
  workloadSources,
  type WildcardChains,
} from './render-chains.ts';
import type { NftTable } from './table.ts';

/** What one workload was rendered as: its interface and the shared chains its map elements name. */
interface RenderedWorkload {
  iface: string;
  from: string;
  to: string;
}

/** One shared policy-list chain. */
interface PolicyList {
  plan: Pick<WorkloadEndpointPlan, 'tiers' | 'profiles'>;
  dir: 'ingress' | 'egress';
  /** The workloads whose map elements name it. */
  users: Set<string>;
  /** The policies and profiles it jumps to. */
  policies: Set<string>;
  /** The chains rendered for it (itself and its tiers' dispatch chains). */
  chains: string[];
  /** False when it must be rendered again (settings, or a guard of one of its policies changed). */
  current: boolean;
}

const LIST_OWNER = 'list:';

/** Renders the graph's local workload and host endpoints into the table. */
export class EndpointManager implements Manager {
  readonly #table: NftTable;
  readonly #workloads = new Map<string, WorkloadEndpointPlan>();
  readonly #dirtyWorkloads = new Set<string>();
  /** key → what it was rendered as. */
  readonly #renderedWorkloads = new Map<string, RenderedWorkload>();
  /** shared policy-list chain → what it was rendered from and who uses it. */
  readonly #lists = new Map<string, PolicyList>();
  /** interface → its allowed source elements (`"<if>" . <net>`), per family. */
  readonly #sources = new Map<string, Record<Family, string[]>>();
  #sourcesDirty = true;
  /** interface → the workload that owns it. */
  readonly #interfaceOwner = new Map<string, string>();
  readonly #hostEndpoints = new Map<string, HostEndpointPlan>();
  #hostEndpointsDirty = true;
  #renderedHostChains = new Set<string>();
  #renderedHostEntries = new Map<string, Set<string>>(); // map → keys
  #wildcard: WildcardChains = {};
  #wildcardChanged = false;
  /**
   * Shared chain names by tier plan list, then by direction and profiles: the graph hands the
   * workloads with the same policies one tier plan list, so a cold start's 2,000 lookups (1,000
   * workloads, two directions) make and hash ~200 list keys instead of 2,000 (each a JSON text of
   * up to 50 policies).
   */
  readonly #listNames = new WeakMap<WorkloadEndpointPlan['tiers'], Map<string, string>>();

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
    for (const list of this.#lists.values()) list.current = false;
    this.#sourcesDirty = true;
    this.#hostEndpointsDirty = true;
  }

  /** The guards of these policies changed: the lists that dispatch on them are rendered again. */
  policyGuardsChanged(keys: ReadonlySet<string>): void {
    if (keys.size === 0) return;
    for (const list of this.#lists.values()) {
      if (!list.current) continue;
      for (const key of list.policies) {
        if (keys.has(key)) {
          list.current = false;
          break;
        }
      }
    }
  }

  completeDeferredWork(): void {
    this.#renderWorkloads();
    if (this.#hostEndpointsDirty) {
      this.#wildcardChanged = this.#renderHostEndpoints() || this.#wildcardChanged;
      this.#hostEndpointsDirty = false;
    }
  }

  #renderWorkloads(): void {
    if (this.#dirtyWorkloads.size > 0) {
      this.#takeBackMoved();
      this.#table.ensureMaps();
      for (const key of [...this.#dirtyWorkloads].sort()) this.#renderWorkload(key);
      this.#dirtyWorkloads.clear();
    }
    for (const [name, list] of this.#lists) {
      if (list.users.size === 0) this.#dropList(name, list);
      else if (!list.current) this.#renderList(name, list);
    }
    if (this.#sourcesDirty) this.#renderSources();
  }

  #renderWorkload(key: string): void {
    const table = this.#table;
    const ep = this.#workloads.get(key);
    if (!ep) return;
    const owner = this.#interfaceOwner.get(ep.interfaceName);
    if (owner !== undefined && owner !== key && this.#workloads.get(owner)?.interfaceName === ep.interfaceName) {
      table.warn(`workload ${key} uses interface ${ep.interfaceName}, already used by ${owner}; ignoring it`);
      return;
    }
    if (!table.settings.interfacePrefixes.some((p) => ep.interfaceName.startsWith(p))) {
      table.warn(`workload ${key}: interface ${ep.interfaceName} lacks a workload prefix, so its traffic is not dispatched to its chains`);
    }
    this.#interfaceOwner.set(ep.interfaceName, key);
    const from = this.#useList(ep, 'egress', key);
    const to = this.#useList(ep, 'ingress', key);
    const old = this.#renderedWorkloads.get(key);
    if (old && old.from !== from) this.#lists.get(old.from)?.users.delete(key);
    if (old && old.to !== to) this.#lists.get(old.to)?.users.delete(key);
    table.desired.setMapElement(DispatchMaps.fromWorkload, ep.interfaceName, `goto ${from}`);
    table.desired.setMapElement(DispatchMaps.toWorkload, ep.interfaceName, `goto ${to}`);
    const src = workloadSources(ep, (m) => table.warn(m));
    const quoted = JSON.stringify(ep.interfaceName.replace(/["\\]/g, ''));
    const elements = { 4: src.v4.map((n) => `${quoted} . ${n}`), 6: src.v6.map((n) => `${quoted} . ${n}`) };
    const prev = this.#sources.get(ep.interfaceName);
    if (!prev || prev[4].join() !== elements[4].join() || prev[6].join() !== elements[6].join()) {
      this.#sources.set(ep.interfaceName, elements);
      this.#sourcesDirty = true;
    }
    this.#renderedWorkloads.set(key, { iface: ep.interfaceName, from, to });
  }

  /** The shared chain of `ep`'s policy list in `dir` (rendered at the end of the flush when new). */
  #useList(ep: WorkloadEndpointPlan, dir: 'ingress' | 'egress', key: string): string {
    const name = this.#listName(ep, dir);
    let list = this.#lists.get(name);
    if (!list) {
      const policies = new Set([...ep.tiers.flatMap((t) => t[dir]), ...ep.profiles]);
      list = { plan: { tiers: ep.tiers, profiles: ep.profiles }, dir, users: new Set(), policies, chains: [], current: false };
      this.#lists.set(name, list);
    }
    list.users.add(key);
    return name;
  }

  /** The shared chain of `ep`'s policy list in `dir` (its name: the hash of {@link policyListKey}). */
  #listName(ep: WorkloadEndpointPlan, dir: 'ingress' | 'egress'): string {
    // The profiles joined by line feeds: remembered only when no name holds one (no two lists share a text).
    const memo = !ep.profiles.some((p) => p.includes('\n'));
    const byRest = memo ? this.#listNames.get(ep.tiers) : undefined;
    const rest = memo ? `${dir}\n${ep.profiles.join('\n')}` : '';
    let name = byRest?.get(rest);
    if (name === undefined) {
      name = policyListChain(dir === 'egress' ? 'fw' : 'tw', policyListKey(ep, dir));
      if (memo) {
        if (byRest === undefined) this.#listNames.set(ep.tiers, new Map([[rest, name]]));
        else byRest.set(rest, name);
      }
    }
    return name;
  }

  #renderList(name: string, list: PolicyList): void {
    const table = this.#table;
    const refs = table.emptyRefs();
    const chains = renderPolicyListChain(list.plan, list.dir, name, table.context(refs));
    for (const chain of chains) table.putChain(chain);
    const names = new Set(chains.map((c) => c.name));
    for (const old of list.chains) if (!names.has(old)) table.dropChain(old);
    list.chains = [...names];
    table.setOwnerRefs(`${LIST_OWNER}${name}`, refs);
    list.current = true;
    table.onListRendered?.(list.chains);
  }

  /** Withdraws a shared chain nobody uses any more. */
  #dropList(name: string, list: PolicyList): void {
    for (const chain of list.chains) this.#table.dropChain(chain);
    this.#table.setOwnerRefs(`${LIST_OWNER}${name}`, this.#table.emptyRefs());
    this.#lists.delete(name);
  }

  /** Writes the anti-spoofing sets (both families always exist: the dispatch chain names them). */
  #renderSources(): void {
    for (const family of [4, 6] as const) {
      const elements = new Set<string>();
      for (const e of this.#sources.values()) for (const x of e[family]) elements.add(x);
      this.#table.desired.setSet({ name: workloadSourceSet(family), type: workloadSourceSetType(family), flags: ['interval'], elements });
    }
    this.#sourcesDirty = false;
  }

  /** Takes back what changed interface, policy list or went away, before the current plans are rendered. */
  #takeBackMoved(): void {
    const table = this.#table;
    for (const key of this.#dirtyWorkloads) {
      const old = this.#renderedWorkloads.get(key);
      if (old === undefined) continue;
      const ep = this.#workloads.get(key);
      if (ep && ep.interfaceName === old.iface) continue; // same interface: its elements are overwritten
      this.#lists.get(old.from)?.users.delete(key);
      this.#lists.get(old.to)?.users.delete(key);
      table.desired.deleteMapElement(DispatchMaps.fromWorkload, old.iface);
      table.desired.deleteMapElement(DispatchMaps.toWorkload, old.iface);
      if (this.#sources.delete(old.iface)) this.#sourcesDirty = true;
      this.#renderedWorkloads.delete(key);
      if (this.#interfaceOwner.get(old.iface) === key) {
        this.#interfaceOwner.delete(old.iface);
        // A workload that was ignored for sharing this interface may take it over now.
        for (const [other, plan] of this.#workloads) if (plan.interfaceName === old.iface) this.#dirtyWorkloads.add(other);
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
