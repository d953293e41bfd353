/**
 * A model snapshot: the state a stream of {@link DataplaneUpdate} messages describes, collected
 * the way a dataplane would apply them. The evaluator (evaluate.ts) runs packets against it;
 * tests compare it with expectations; the dataplane's own tests can use it as the reference.
 */
import type {
  CompiledPolicy,
  DataplaneSettings,
  DataplaneUpdate,
  HostEndpointPlan,
  IpSetKind,
  RouteSpec,
  WorkloadEndpointPlan,
} from './model.ts';

/** One IP set's state. */
export interface IpSetState {
  kind: IpSetKind;
  members: Set<string>;
}

/** Collects dataplane updates into the state they describe. */
export class ModelSnapshot {
  settings: DataplaneSettings | undefined;
  readonly ipSets = new Map<string, IpSetState>();
  readonly policies = new Map<string, CompiledPolicy>();
  readonly workloads = new Map<string, WorkloadEndpointPlan>();
  readonly hostEndpoints = new Map<string, HostEndpointPlan>();
  readonly routes = new Map<string, RouteSpec>();
  inSync = false;

  /** Applies one update. Throws when it breaks the contract (a delta for an unknown set). */
  apply(update: DataplaneUpdate): void {
    switch (update.type) {
      case 'settings':
        this.settings = update.settings;
        return;
      case 'ipset-update':
        this.ipSets.set(update.id, { kind: update.kind, members: new Set(update.members) });
        return;
      case 'ipset-delta': {
        const set = this.ipSets.get(update.id);
        if (set === undefined) throw new Error(`ipset-delta for unknown IP set ${update.id}`);
        for (const m of update.removed) set.members.delete(m);
        for (const m of update.added) set.members.add(m);
        return;
      }
      case 'ipset-remove':
        this.ipSets.delete(update.id);
        return;
      case 'policy-update':
        this.policies.set(update.policy.key, update.policy);
        return;
      case 'policy-remove':
        this.policies.delete(update.key);
        return;
      case 'workload-update':
        this.workloads.set(update.endpoint.key, update.endpoint);
        return;
      case 'workload-remove':
        this.workloads.delete(update.key);
        return;
      case 'host-endpoint-update':
        this.hostEndpoints.set(update.endpoint.key, update.endpoint);
        return;
      case 'host-endpoint-remove':
        this.hostEndpoints.delete(update.key);
        return;
      case 'route-update':
        this.routes.set(update.route.dst, update.route);
        return;
      case 'route-remove':
        this.routes.delete(update.dst);
        return;
      case 'in-sync':
        this.inSync = true;
        return;
    }
  }

  /** Applies a batch in order. */
  applyAll(updates: Iterable<DataplaneUpdate>): this {
    for (const u of updates) this.apply(u);
    return this;
  }

  /**
   * Checks the references the contract promises: every set a policy names exists, every policy
   * and profile an endpoint names exists. Returns the problems found (empty when consistent).
   */
  checkReferences(): string[] {
    const problems: string[] = [];
    for (const policy of this.policies.values()) {
      for (const rule of [...policy.ingress, ...policy.egress]) {
        for (const side of [rule.match.src, rule.match.dst]) {
          for (const id of [...(side.ipSets ?? []), ...(side.notIpSets ?? []), ...(side.namedPortIpSets ?? []), ...(side.notNamedPortIpSets ?? [])]) {
            if (!this.ipSets.has(id)) problems.push(`${policy.key} refers to missing IP set ${id}`);
          }
        }
      }
    }
    const endpoints: Array<{ key: string; tiers: WorkloadEndpointPlan['tiers']; profiles: string[] }> = [
      ...this.workloads.values(),
      ...[...this.hostEndpoints.values()].map((h) => ({
        key: h.key,
        tiers: [...h.tiers, ...h.untrackedTiers, ...h.preDnatTiers, ...h.forwardTiers],
        profiles: h.profiles,
      })),
    ];
    for (const ep of endpoints) {
      for (const tier of ep.tiers) {
        for (const key of [...tier.ingress, ...tier.egress]) {
          if (!this.policies.has(key)) problems.push(`${ep.key} refers to missing policy ${key}`);
        }
      }
      for (const key of ep.profiles) if (!this.policies.has(key)) problems.push(`${ep.key} refers to missing profile ${key}`);
    }
    return problems;
  }
}
