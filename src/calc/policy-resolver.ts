/**
 * The policy resolver (Felix's `PolicyResolver` and `PolicySorter`): for each local endpoint,
 * the tiers in order and, in each, the policies that apply to it in order; then the endpoint's
 * plan for the dataplane.
 *
 * - Tiers are ordered by (order, name), policies within a tier by (order, name); an unset order
 *   sorts last (as +Infinity). The name tie-break is Felix's policy name: `<namespace>/<name>`
 *   for a NetworkPolicy, `<name>` for a GlobalNetworkPolicy.
 * - Which policies apply comes from the active-rules calculator's match reports, by group: the
 *   policies that share a selector are one {@link SelectorGroup} of its label index, and an
 *   endpoint's policies are the ids of the groups it matches (a cold start: 1,000 endpoints
 *   matching one group of 50 policies each, 1,000 reports where there were 50,000). The resolver
 *   keeps each endpoint's groups and each group's endpoints, and every policy's ordering data
 *   (cheap) so that a reorder re-plans only the endpoints of the group holding the policy (rare;
 *   a new or deleted policy's endpoints are marked by its group's change, which comes first).
 * - Work is deferred: changes mark endpoints dirty and {@link PolicyResolver.flush} plans each
 *   dirty endpoint once (the graph flushes it only after in-sync, so the initial snapshot is
 *   planned once, not once per update).
 */
import type { EndpointPlanCallbacks, PolicyMatchCallbacks, PolicyOrderCallbacks } from './callbacks.ts';
import type { EndpointData } from './endpoint-data.ts';
import { hostEndpointPlan, type ResolvedTier, workloadPlan } from './endpoint-plan.ts';
import { type EndpointId, planKey } from './ids.ts';
import type { PolicyData, TierData } from './policy-data.ts';
import type { SelectorGroup } from '../selector/mod.ts';

function compareNumbers(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders tiers and policies per local endpoint and emits endpoint plans. */
export class PolicyResolver implements PolicyMatchCallbacks, PolicyOrderCallbacks {
  readonly #out: EndpointPlanCallbacks;

  readonly #policies = new Map<string, PolicyData>();
  readonly #tiers = new Map<string, TierData>();
  readonly #endpoints = new Map<EndpointId, EndpointData>();
  /** endpoint → the groups whose selectors it matches (its policies: their ids). */
  readonly #endpointGroups = new Map<EndpointId, Set<SelectorGroup>>();
  /** group → the endpoints matching it, and a number for {@link ResolvedCache}'s hash. */
  readonly #groups = new Map<SelectorGroup, { n: number; endpoints: Set<EndpointId> }>();
  #groupSerial = 0;
  readonly #dirty = new Set<EndpointId>();

  constructor(out: EndpointPlanCallbacks) {
    this.#out = out;
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs

  /** Any policy (undefined: deleted); only its ordering data and types matter here. */
  onPolicyUpdate(key: string, policy: PolicyData | undefined): void {
    const old = this.#policies.get(key);
    if (policy === undefined) this.#policies.delete(key);
    else this.#policies.set(key, policy);
    // New and deleted policies: their group's change (before this) marked their endpoints.
    if (old === undefined || policy === undefined || sameOrdering(old, policy)) return;
    for (const [group, g] of this.#groups) if (group.ids.has(key)) this.#markAll(g.endpoints);
  }

  /** A tier (undefined: deleted). */
  onTierUpdate(name: string, tier: TierData | undefined): void {
    const old = this.#tiers.get(name);
    if (tier === undefined) this.#tiers.delete(name);
    else this.#tiers.set(name, tier);
    if (old !== undefined && tier !== undefined && old.order === tier.order && old.defaultAction === tier.defaultAction) return;
    for (const [group, g] of this.#groups) {
      for (const key of group.ids) {
        if (this.#policies.get(key)?.tier === name) {
          this.#markAll(g.endpoints);
          break;
        }
      }
    }
  }

  /** A local endpoint (undefined: deleted or no longer local). */
  onEndpointUpdate(id: EndpointId, endpoint: EndpointData | undefined): void {
    if (endpoint === undefined) this.#endpoints.delete(id);
    else this.#endpoints.set(id, endpoint);
    this.#dirty.add(id);
  }

  onGroupMatch(group: SelectorGroup, endpointId: EndpointId): void {
    let groups = this.#endpointGroups.get(endpointId);
    if (groups === undefined) this.#endpointGroups.set(endpointId, (groups = new Set()));
    groups.add(group);
    let g = this.#groups.get(group);
    if (g === undefined) this.#groups.set(group, (g = { n: ++this.#groupSerial, endpoints: new Set() }));
    g.endpoints.add(endpointId);
    // A group with no policy yet (being filed) changes nothing until one joins (onGroupChanged).
    if (group.ids.size > 0) this.#dirty.add(endpointId);
  }

  onGroupMatchStopped(group: SelectorGroup, endpointId: EndpointId): void {
    const groups = this.#endpointGroups.get(endpointId);
    groups?.delete(group);
    if (groups?.size === 0) this.#endpointGroups.delete(endpointId);
    const g = this.#groups.get(group);
    g?.endpoints.delete(endpointId);
    if (g?.endpoints.size === 0) this.#groups.delete(group);
    if (group.ids.size > 0) this.#dirty.add(endpointId);
  }

  onGroupChanged(group: SelectorGroup): void {
    const g = this.#groups.get(group);
    if (g !== undefined) this.#markAll(g.endpoints);
  }

  #markAll(endpoints: ReadonlySet<EndpointId>): void {
    endpoints.forEach((id) => this.#dirty.add(id));
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /** Plans every dirty endpoint (or reports its removal). Returns how many were planned. */
  flush(): number {
    const n = this.#dirty.size;
    // Endpoints with the same groups get the same tiers: ordered once per flush (a cold start
    // plans 1,000 endpoints with 100 distinct lists of 50 policies). Nothing changes during it.
    const resolved = new ResolvedCache((group) => this.#groups.get(group)?.n ?? 0);
    for (const id of this.#dirty) this.#send(id, resolved);
    this.#dirty.clear();
    return n;
  }

  /** The ordered tiers that apply to a local endpoint now (for tests and tracing). */
  resolve(id: EndpointId): ResolvedTier[] {
    const groups = this.#endpointGroups.get(id);
    if (groups === undefined || groups.size === 0) return [];
    return this.#order(groups);
  }

  /** The tiers of the policies of `groups` (each policy is in one group: no duplicates). */
  #order(groups: ReadonlySet<SelectorGroup>): ResolvedTier[] {
    const byTier = new Map<string, PolicyData[]>();
    for (const group of groups) {
      for (const key of group.ids) {
        const policy = this.#policies.get(key);
        if (policy === undefined || !this.#tiers.has(policy.tier)) continue;
        let list = byTier.get(policy.tier);
        if (list === undefined) byTier.set(policy.tier, (list = []));
        list.push(policy);
      }
    }
    const tiers = [...byTier.keys()].map((name) => this.#tiers.get(name)!);
    tiers.sort((a, b) => compareNumbers(a.order, b.order) || compareText(a.name, b.name));
    return tiers.map((tier) => ({
      tier,
      policies: byTier.get(tier.name)!.sort((a, b) => compareNumbers(a.order, b.order) || compareText(a.sortName, b.sortName)),
    }));
  }

  /** Number of local endpoints known. */
  get endpointCount(): number {
    return this.#endpoints.size;
  }

  #send(id: EndpointId, resolved: ResolvedCache): void {
    const ep = this.#endpoints.get(id);
    const workload = id.startsWith('wep/');
    if (ep === undefined) {
      if (workload) this.#out.onWorkloadRemove(planKey(id));
      else this.#out.onHostEndpointRemove(planKey(id));
      return;
    }
    const groups = this.#endpointGroups.get(id);
    const tiers = groups === undefined || groups.size === 0 ? NO_TIERS : resolved.get(groups, () => this.#order(groups));
    if (workload) this.#out.onWorkloadUpdate(workloadPlan(ep, tiers));
    else this.#out.onHostEndpointUpdate(hostEndpointPlan(ep, tiers));
  }
}

/** The tiers of an endpoint no policy applies to (shared; only read). */
const NO_TIERS: readonly ResolvedTier[] = Object.freeze([]);

function sameOrdering(a: PolicyData, b: PolicyData): boolean {
  return (
    a.tier === b.tier &&
    a.order === b.order &&
    a.ingress === b.ingress &&
    a.egress === b.egress &&
    a.doNotTrack === b.doNotTrack &&
    a.preDNAT === b.preDNAT &&
    a.applyOnForward === b.applyOnForward
  );
}

/**
 * Ordered tiers by the set of groups they were ordered from, for one flush: found by an
 * order-independent hash of the groups' numbers, then compared group by group (endpoints with the
 * same groups have the same policies; nothing changes during a flush). The results are shared,
 * and only read (the plans copy what they keep).
 */
class ResolvedCache {
  readonly #byHash = new Map<number, Array<{ groups: ReadonlySet<SelectorGroup>; tiers: ResolvedTier[] }>>();
  readonly #number: (group: SelectorGroup) => number;

  constructor(number: (group: SelectorGroup) => number) {
    this.#number = number;
  }

  get(groups: ReadonlySet<SelectorGroup>, order: () => ResolvedTier[]): ResolvedTier[] {
    let h = groups.size;
    // forEach, not for...of: no iterator objects in code that runs once per endpoint at a cold start.
    groups.forEach((g) => {
      h = (h + Math.imul(this.#number(g), 0x9e3779b1)) | 0;
    });
    let list = this.#byHash.get(h);
    if (list === undefined) this.#byHash.set(h, (list = []));
    for (const e of list) if (sameGroups(e.groups, groups)) return e.tiers;
    const tiers = order();
    list.push({ groups, tiers });
    return tiers;
  }
}

function sameGroups(a: ReadonlySet<SelectorGroup>, b: ReadonlySet<SelectorGroup>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const g of a) if (!b.has(g)) return false;
  return true;
}
