/**
 * The nftables manager: consumes {@link DataplaneUpdate}s (recording them and marking what they
 * touch as dirty), and on {@link NftablesManager.flush} re-renders only the dirty IP sets,
 * policies, endpoints and fixed chains into the {@link DesiredState}. The driver then diffs the
 * dirty names against the kernel.
 *
 * Robustness against a caller that breaks the ordering contract: a chain or set that a rule
 * refers to but nobody defines (a policy not yet sent, an IP set already removed) is created empty
 * as a placeholder, so the transaction stays valid. An empty policy chain matches nothing (the
 * end-of-tier drop applies) and an empty set matches no address, so a missing piece fails closed
 * for allow rules.
 */
import type {
  CompiledPolicy,
  DataplaneSettings,
  DataplaneUpdate,
  HostEndpointPlan,
  IpSetKind,
  WorkloadEndpointPlan,
} from '../../calc/model.ts';
import { canonicalIp, disjointNets, type Family } from '../../net/mod.ts';
import {
  DispatchMaps,
  interfaceChain,
  ipSetName,
  natSetName,
  policyChain,
  setFlags,
  setType,
  type InterfaceChainKind,
  type SetKind,
} from './names.ts';
import {
  ALL_DISPATCH_MAPS,
  renderHostEndpointChains,
  renderPolicyChains,
  renderStaticChains,
  renderWorkloadChains,
  type ChainRenderContext,
  type WildcardChains,
} from './render-chains.ts';
import { PORT_PROTOCOLS_SET } from './render-rules.ts';
import { DEFAULT_MARKS, DEFAULT_SETTINGS, validateMarks, type MarkBits } from './settings.ts';
import { DesiredState, type ChainSpec, type DirtyNames } from './state.ts';

/** Options of {@link NftablesManager}. */
export interface NftablesManagerOptions {
  marks?: MarkBits;
  /** Called with a one-line message when input is ignored or repaired. */
  warn?: (message: string) => void;
}

/** What one owner's chains refer to: policy chains, and IP sets by id. */
interface Refs {
  chains: Set<string>;
  ipSetIds: Set<string>;
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, udplite: 136 };

/** Parses an ip-port member `<ip>,<proto>:<port>` into its family and canonical set element. */
export function ipPortElement(member: string): { family: Family; element: string } | undefined {
  const comma = member.lastIndexOf(',');
  if (comma < 0) return undefined;
  const ip = canonicalIp(member.slice(0, comma));
  const m = /^([a-zA-Z]+|\d{1,3}):(\d{1,5})$/.exec(member.slice(comma + 1).trim());
  if (!ip || !m) return undefined;
  const protoText = (m[1] as string).toLowerCase();
  const proto = /^\d+$/.test(protoText) ? Number(protoText) : PROTOCOLS[protoText];
  const port = Number(m[2]);
  if (proto === undefined || proto > 255 || port > 65535) return undefined;
  return { family: ip.includes(':') ? 6 : 4, element: `${ip} . ${proto} . ${port}` };
}

/**
 * Turns the members of an IP set into the elements of one family's named set. Net members that
 * are all single addresses give a plain set of addresses; any shorter prefix makes it an interval
 * set of CIDRs (or `interval` forces one).
 */
export function setElements(
  kind: SetKind,
  members: Iterable<string>,
  family: Family,
  options: { warn?: (m: string) => void; interval?: boolean } = {},
): { elements: Set<string>; interval: boolean } {
  if (kind === 'net') {
    const c = disjointNets(members);
    for (const bad of c.invalid) options.warn?.(`ignoring invalid IP set member ${JSON.stringify(bad)}`);
    const cidrs = family === 4 ? c.v4 : c.v6;
    const full = `/${family === 4 ? 32 : 128}`;
    const interval = options.interval === true || cidrs.some((x) => !x.endsWith(full));
    return { elements: new Set(interval ? cidrs : cidrs.map((x) => x.slice(0, -full.length))), interval };
  }
  const out = new Set<string>();
  for (const m of members) {
    const e = ipPortElement(m);
    if (!e) options.warn?.(`ignoring invalid ip-port member ${JSON.stringify(m)}`);
    else if (e.family === family) out.add(e.element);
  }
  return { elements: out, interval: false };
}

/** Records dataplane updates and renders them into the desired table contents. */
export class NftablesManager {
  readonly desired = new DesiredState();
  readonly marks: MarkBits;
  private readonly warnFn: ((message: string) => void) | undefined;

  private settings: DataplaneSettings = DEFAULT_SETTINGS;
  private settingsDirty = true;
  private readonly ipSets = new Map<string, { kind: IpSetKind; members: Set<string> }>();
  private readonly dirtyIpSets = new Set<string>();
  private readonly policies = new Map<string, CompiledPolicy>();
  private readonly dirtyPolicies = new Set<string>();
  private readonly workloads = new Map<string, WorkloadEndpointPlan>();
  private readonly dirtyWorkloads = new Set<string>();
  private readonly hostEndpoints = new Map<string, HostEndpointPlan>();
  private hostEndpointsDirty = true;

  // What has been rendered, by owner, so it can be taken back.
  private readonly renderedIpSets = new Map<string, string[]>();
  private readonly renderedWorkloads = new Map<string, string>(); // key → interface
  private readonly interfaceOwner = new Map<string, string>(); // interface → workload key
  private renderedHostChains = new Set<string>();
  private renderedHostEntries = new Map<string, Set<string>>(); // map → keys
  private renderedStaticSets = new Set<string>();
  private wildcard: WildcardChains = {};

  // References from rendered chains to policy chains (for placeholders) and to IP sets (so that
  // the policies using a set are re-rendered when one of its families becomes empty or not).
  private readonly ownedChains = new Set<string>();
  private readonly touchedChains = new Set<string>();
  private readonly refsByOwner = new Map<string, Refs>();
  private readonly chainRefCount = new Map<string, number>();
  private readonly ipSetUsers = new Map<string, Set<string>>();
  /**
   * Kind, and per family with members whether it needs an interval set, per IP set id (a named set
   * exists only for families with members; its name says plain or interval).
   */
  private readonly ipSetShape = new Map<string, { kind: SetKind; families: Map<Family, boolean> }>();

  constructor(options: NftablesManagerOptions = {}) {
    this.marks = options.marks ?? DEFAULT_MARKS;
    validateMarks(this.marks);
    this.warnFn = options.warn;
  }

  /** The settings in force. */
  get currentSettings(): DataplaneSettings {
    return this.settings;
  }

  /** Workload endpoint keys whose chains changed since the last flush (for status reporting). */
  pendingWorkloads(): string[] {
    return [...this.dirtyWorkloads];
  }

  /** Records one update; nothing is rendered until {@link flush}. */
  onUpdate(u: DataplaneUpdate): void {
    switch (u.type) {
      case 'settings':
        this.settings = u.settings;
        this.settingsDirty = true;
        break;
      case 'ipset-update':
        this.ipSets.set(u.id, { kind: u.kind, members: new Set(u.members) });
        this.dirtyIpSets.add(u.id);
        break;
      case 'ipset-delta': {
        let set = this.ipSets.get(u.id);
        if (!set) {
          this.warn(`delta for unknown IP set ${u.id}; creating it`);
          const sample = u.added[0] ?? '';
          set = { kind: sample.includes(',') ? 'ip-port' : 'net', members: new Set() };
          this.ipSets.set(u.id, set);
        }
        for (const m of u.removed) set.members.delete(m);
        for (const m of u.added) set.members.add(m);
        this.dirtyIpSets.add(u.id);
        break;
      }
      case 'ipset-remove':
        this.ipSets.delete(u.id);
        this.dirtyIpSets.add(u.id);
        break;
      case 'policy-update':
        this.policies.set(u.policy.key, u.policy);
        this.dirtyPolicies.add(u.policy.key);
        break;
      case 'policy-remove':
        this.policies.delete(u.key);
        this.dirtyPolicies.add(u.key);
        break;
      case 'workload-update':
        this.workloads.set(u.endpoint.key, u.endpoint);
        this.dirtyWorkloads.add(u.endpoint.key);
        break;
      case 'workload-remove':
        this.workloads.delete(u.key);
        this.dirtyWorkloads.add(u.key);
        break;
      case 'host-endpoint-update':
        this.hostEndpoints.set(u.endpoint.key, u.endpoint);
        this.hostEndpointsDirty = true;
        break;
      case 'host-endpoint-remove':
        this.hostEndpoints.delete(u.key);
        this.hostEndpointsDirty = true;
        break;
      case 'route-update':
      case 'route-remove':
      case 'in-sync':
        break;
    }
  }

  /** True when some recorded update has not been rendered yet. */
  hasPendingWork(): boolean {
    return (
      this.settingsDirty ||
      this.hostEndpointsDirty ||
      this.dirtyIpSets.size > 0 ||
      this.dirtyPolicies.size > 0 ||
      this.dirtyWorkloads.size > 0
    );
  }

  /** Renders everything dirty into the desired state and returns the names that changed. */
  flush(): DirtyNames {
    if (this.settingsDirty) {
      for (const id of [...this.ipSets.keys(), ...this.renderedIpSets.keys()]) this.dirtyIpSets.add(id);
      for (const key of this.policies.keys()) this.dirtyPolicies.add(key);
      for (const key of [...this.workloads.keys(), ...this.renderedWorkloads.keys()]) this.dirtyWorkloads.add(key);
      this.hostEndpointsDirty = true;
    }
    for (const id of this.dirtyIpSets) this.renderIpSet(id);
    this.dirtyIpSets.clear();
    for (const key of this.dirtyPolicies) this.renderPolicy(key);
    this.dirtyPolicies.clear();
    this.renderWorkloads();
    let staticsDirty = this.settingsDirty;
    if (this.hostEndpointsDirty) {
      staticsDirty = this.renderHostEndpoints() || staticsDirty;
      this.hostEndpointsDirty = false;
    }
    if (staticsDirty) this.renderStatics();
    this.settingsDirty = false;
    this.resolvePlaceholders();
    return this.desired.takeDirty();
  }

  private warn(message: string): void {
    this.warnFn?.(message);
  }

  private families(): Family[] {
    return this.settings.ipv6Enabled ? [4, 6] : [4];
  }

  /** A render context that records the references of one owner. */
  private context(refs: Refs): ChainRenderContext {
    return {
      marks: this.marks,
      families: this.families(),
      logPrefix: this.settings.logPrefix,
      warn: (m) => this.warn(m),
      setName: (kind, family, id) => {
        refs.ipSetIds.add(id);
        const shape = this.ipSetShape.get(id);
        const interval = shape?.families.get(family);
        if (!shape || shape.kind !== kind || interval === undefined) return undefined;
        return ipSetName(kind, family, id, interval);
      },
      policyChain: (direction, key) => {
        const name = policyChain(direction, key);
        refs.chains.add(name);
        return name;
      },
    };
  }

  private emptyRefs(): Refs {
    return { chains: new Set(), ipSetIds: new Set() };
  }

  /** Defines a chain Margay owns. */
  private putChain(spec: ChainSpec): void {
    this.ownedChains.add(spec.name);
    this.touchedChains.add(spec.name);
    this.desired.setChain(spec);
  }

  /** Withdraws a chain (it stays as an empty placeholder while something still jumps to it). */
  private dropChain(name: string): void {
    this.ownedChains.delete(name);
    this.touchedChains.add(name);
  }

  /** Replaces what one owner (a policy, a workload, the host endpoints) refers to. */
  private setOwnerRefs(owner: string, refs: Refs): void {
    const old = this.refsByOwner.get(owner);
    for (const c of refs.chains) this.bumpChain(c, 1);
    for (const id of refs.ipSetIds) {
      let users = this.ipSetUsers.get(id);
      if (!users) this.ipSetUsers.set(id, (users = new Set()));
      users.add(owner);
    }
    if (old) {
      for (const c of old.chains) this.bumpChain(c, -1);
      for (const id of old.ipSetIds) {
        if (refs.ipSetIds.has(id)) continue;
        const users = this.ipSetUsers.get(id);
        users?.delete(owner);
        if (users?.size === 0) this.ipSetUsers.delete(id);
      }
    }
    if (refs.chains.size > 0 || refs.ipSetIds.size > 0) this.refsByOwner.set(owner, refs);
    else this.refsByOwner.delete(owner);
  }

  private bumpChain(name: string, delta: number): void {
    const n = (this.chainRefCount.get(name) ?? 0) + delta;
    if (n > 0) this.chainRefCount.set(name, n);
    else this.chainRefCount.delete(name);
    this.touchedChains.add(name);
  }

  private resolvePlaceholders(): void {
    for (const name of this.touchedChains) {
      if (this.ownedChains.has(name)) continue;
      if (this.chainRefCount.has(name)) {
        this.warn(`chain ${name} is referenced but not defined; using an empty placeholder`);
        this.desired.setChain({ name, rules: [] });
      } else {
        this.desired.deleteChain(name);
      }
    }
    this.touchedChains.clear();
  }

  private renderIpSet(id: string): void {
    const entry = this.ipSets.get(id);
    const old = this.renderedIpSets.get(id) ?? [];
    const names: string[] = [];
    const families = new Map<Family, boolean>();
    if (entry) {
      const kind: SetKind = entry.kind;
      for (const family of this.families()) {
        const { elements, interval } = setElements(kind, entry.members, family, { warn: (m) => this.warn(`IP set ${id}: ${m}`) });
        if (elements.size === 0) continue;
        const name = ipSetName(kind, family, id, interval);
        this.desired.setSet({ name, type: setType(kind, family), flags: setFlags(kind, interval), elements });
        names.push(name);
        families.set(family, interval);
      }
    }
    for (const name of old) if (!names.includes(name)) this.desired.deleteSet(name);
    if (names.length > 0) this.renderedIpSets.set(id, names);
    else this.renderedIpSets.delete(id);
    // Rules using the set are written per family that has members: re-render them on a change.
    const before = this.ipSetShape.get(id);
    const same =
      (before === undefined && families.size === 0) ||
      (before !== undefined &&
        entry !== undefined &&
        before.kind === entry.kind &&
        before.families.size === families.size &&
        [...families].every(([f, interval]) => before.families.get(f) === interval));
    if (entry && families.size > 0) this.ipSetShape.set(id, { kind: entry.kind, families });
    else this.ipSetShape.delete(id);
    if (!same) {
      for (const owner of this.ipSetUsers.get(id) ?? []) {
        if (owner.startsWith('policy:')) this.dirtyPolicies.add(owner.slice('policy:'.length));
      }
    }
  }

  private renderPolicy(key: string): void {
    const ingressName = policyChain('ingress', key);
    const egressName = policyChain('egress', key);
    const policy = this.policies.get(key);
    const refs = this.emptyRefs();
    if (policy) {
      const { ingress, egress } = renderPolicyChains(policy, ingressName, egressName, this.context(refs));
      this.putChain(ingress);
      this.putChain(egress);
    } else {
      this.dropChain(ingressName);
      this.dropChain(egressName);
    }
    this.setOwnerRefs(`policy:${key}`, refs);
  }

  private renderWorkloads(): void {
    if (this.dirtyWorkloads.size === 0) return;
    // First take back what changed interface or went away, then render the current plans.
    for (const key of this.dirtyWorkloads) {
      const oldIface = this.renderedWorkloads.get(key);
      const ep = this.workloads.get(key);
      if (oldIface === undefined || (ep && ep.interfaceName === oldIface)) continue;
      this.dropChain(interfaceChain('fw', oldIface));
      this.dropChain(interfaceChain('tw', oldIface));
      this.desired.deleteMapElement(DispatchMaps.fromWorkload, oldIface);
      this.desired.deleteMapElement(DispatchMaps.toWorkload, oldIface);
      this.setOwnerRefs(`workload:${key}`, this.emptyRefs());
      this.renderedWorkloads.delete(key);
      if (this.interfaceOwner.get(oldIface) === key) {
        this.interfaceOwner.delete(oldIface);
        // A workload that was ignored for sharing this interface may take it over now.
        for (const [other, plan] of this.workloads) if (plan.interfaceName === oldIface) this.dirtyWorkloads.add(other);
      }
    }
    this.ensureMaps();
    for (const key of [...this.dirtyWorkloads].sort()) {
      const ep = this.workloads.get(key);
      if (!ep) continue;
      const owner = this.interfaceOwner.get(ep.interfaceName);
      if (owner !== undefined && owner !== key && this.workloads.get(owner)?.interfaceName === ep.interfaceName) {
        this.warn(`workload ${key} uses interface ${ep.interfaceName}, already used by ${owner}; ignoring it`);
        continue;
      }
      if (!this.settings.interfacePrefixes.some((p) => ep.interfaceName.startsWith(p))) {
        this.warn(`workload ${key}: interface ${ep.interfaceName} lacks a workload prefix, so its traffic is not dispatched to its chains`);
      }
      this.interfaceOwner.set(ep.interfaceName, key);
      const refs = this.emptyRefs();
      const { from, to } = renderWorkloadChains(ep, this.context(refs));
      this.putChain(from);
      this.putChain(to);
      this.setOwnerRefs(`workload:${key}`, refs);
      this.desired.setMapElement(DispatchMaps.fromWorkload, ep.interfaceName, `goto ${from.name}`);
      this.desired.setMapElement(DispatchMaps.toWorkload, ep.interfaceName, `goto ${to.name}`);
      this.renderedWorkloads.set(key, ep.interfaceName);
    }
    this.dirtyWorkloads.clear();
  }

  private ensureMaps(): void {
    for (const map of ALL_DISPATCH_MAPS) this.desired.defineMap(map, 'ifname');
  }

  /** Re-renders all host endpoints; returns true when the wildcard chains changed. */
  private renderHostEndpoints(): boolean {
    this.ensureMaps();
    const byInterface = new Map<string, HostEndpointPlan>();
    for (const ep of [...this.hostEndpoints.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
      const prev = byInterface.get(ep.interfaceName);
      if (prev) {
        this.warn(`host endpoints ${prev.key} and ${ep.key} share interface ${ep.interfaceName}; using ${prev.key}`);
        continue;
      }
      byInterface.set(ep.interfaceName, ep);
    }
    const chains = new Set<string>();
    const entries = new Map<string, Set<string>>();
    const wildcard: WildcardChains = {};
    const refs = this.emptyRefs();
    const ctx = this.context(refs);
    for (const [iface, ep] of byInterface) {
      for (const hc of renderHostEndpointChains(ep, ctx)) {
        this.putChain(hc.chain);
        chains.add(hc.chain.name);
        if (iface === '*') {
          wildcard[hc.kind as InterfaceChainKind] = true;
        } else {
          this.desired.setMapElement(hc.map, iface, `goto ${hc.chain.name}`);
          let keys = entries.get(hc.map);
          if (!keys) entries.set(hc.map, (keys = new Set()));
          keys.add(iface);
        }
      }
    }
    for (const name of this.renderedHostChains) if (!chains.has(name)) this.dropChain(name);
    for (const [map, keys] of this.renderedHostEntries) {
      for (const key of keys) if (!entries.get(map)?.has(key)) this.desired.deleteMapElement(map, key);
    }
    this.setOwnerRefs('host-endpoints', refs);
    this.renderedHostChains = chains;
    this.renderedHostEntries = entries;
    const changed = JSON.stringify(Object.keys(wildcard).sort()) !== JSON.stringify(Object.keys(this.wildcard).sort());
    this.wildcard = wildcard;
    return changed;
  }

  private renderStatics(): void {
    this.ensureMaps();
    for (const chain of renderStaticChains(this.settings, this.wildcard, this.context(this.emptyRefs()))) this.putChain(chain);
    const sets = new Set<string>();
    for (const family of this.families()) {
      for (const [which, cidrs] of [
        ['nat-pools', this.settings.natOutgoingPools],
        ['all-pools', this.settings.allPools],
      ] as const) {
        const name = natSetName(which, family);
        const { elements } = setElements('net', cidrs, family, { warn: (m) => this.warn(`pools: ${m}`), interval: true });
        this.desired.setSet({ name, type: setType('net', family), flags: setFlags('net', true), elements });
        sets.add(name);
      }
    }
    this.desired.setSet({ name: PORT_PROTOCOLS_SET, type: 'inet_proto', flags: [], elements: new Set(['6', '17', '33', '132', '136']) });
    sets.add(PORT_PROTOCOLS_SET);
    for (const name of this.renderedStaticSets) if (!sets.has(name)) this.desired.deleteSet(name);
    this.renderedStaticSets = sets;
  }
}
