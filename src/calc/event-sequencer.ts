/**
 * The event sequencer: buffers what the graph computes, coalesces it, and hands the dataplane
 * one ordered batch per {@link EventSequencer.flush} (Felix's `EventSequencer`).
 *
 * Coalescing:
 * - Per key, only the latest state is kept; an add followed by a remove within one flush never
 *   reaches the dataplane, and an update that leaves an object as it was last sent is dropped.
 * - IP-set member churn becomes one `ipset-delta` per set (a member added then removed cancels
 *   out); a set created (or re-created) since the last flush is sent whole as `ipset-update`.
 *
 * Order of one batch (the contract in model.ts):
 *   settings → ipset-update → ipset-delta → policy-update → workload-update,
 *   host-endpoint-update → route-update → vxlan-update → route-remove → workload-remove, host-endpoint-remove
 *   → policy-remove → ipset-remove → in-sync (once, after the first full batch).
 * Within a group, messages are sorted by key, so a batch is deterministic.
 *
 * Nothing is emitted before {@link EventSequencer.onInSync}: until then flush() returns `[]` and
 * keeps buffering, so the first batch after in-sync is the complete state.
 *
 * Broken invariants (a member for an unknown set) throw, as Felix panics: they are bugs.
 */
import type {
  CompiledPolicyCallbacks,
  EndpointPlanCallbacks,
  IpSetCallbacks,
  RouteCallbacks,
  SettingsCallbacks,
  VxlanCallbacks,
} from './callbacks.ts';
import type {
  CompiledPolicy,
  DataplaneSettings,
  DataplaneUpdate,
  HostEndpointPlan,
  IpSetKind,
  RouteSpec,
  VxlanPlan,
  WorkloadEndpointPlan,
} from './model.ts';
import { addToSetMap } from '../selector/mod.ts';

/**
 * Keyed objects: pending updates and removes, and the object last sent of each key. Objects are
 * never changed once handed over (their producers build a new one for every update), so the one
 * last sent still says what was sent; the dataplane keeps the same objects, so keeping them costs
 * nothing, where a JSON text of each (the first flush of a cold start: 6,000 of them) cost a
 * `JSON.stringify` per object and its text's memory. Two objects are compared as texts only when
 * a key is updated again.
 */
class KeyedBuffer<T> {
  readonly pendingUpdates = new Map<string, T>();
  readonly pendingRemoves = new Set<string>();
  /** key → the object last sent. */
  readonly sent = new Map<string, T>();

  update(key: string, value: T): void {
    this.pendingRemoves.delete(key);
    this.pendingUpdates.set(key, value);
  }

  remove(key: string): void {
    this.pendingUpdates.delete(key);
    if (this.sent.has(key)) this.pendingRemoves.add(key);
  }

  /** The pending updates that differ from what was sent, in key order; records them as sent. */
  takeUpdates(): T[] {
    const out: T[] = [];
    for (const key of [...this.pendingUpdates.keys()].sort()) {
      const value = this.pendingUpdates.get(key) as T;
      const last = this.sent.get(key);
      // The same object again is unchanged (never mutated once sent): no texts to compare.
      if (last === value) continue;
      if (last !== undefined && JSON.stringify(last) === JSON.stringify(value)) continue;
      this.sent.set(key, value);
      out.push(value);
    }
    this.pendingUpdates.clear();
    return out;
  }

  /** The pending removes, in key order; forgets them as sent. */
  takeRemoves(): string[] {
    const out = [...this.pendingRemoves].sort();
    for (const key of out) this.sent.delete(key);
    this.pendingRemoves.clear();
    return out;
  }

  get pendingCount(): number {
    return this.pendingUpdates.size + this.pendingRemoves.size;
  }
}

/** Buffers and orders the graph's output. Implements every callback interface that ends at the dataplane. */
export class EventSequencer
  implements IpSetCallbacks, CompiledPolicyCallbacks, EndpointPlanCallbacks, RouteCallbacks, SettingsCallbacks, VxlanCallbacks
{
  #inSync = false;
  #inSyncSent = false;

  #pendingSettings: DataplaneSettings | undefined;
  #sentSettings: string | undefined;
  #pendingVxlan: VxlanPlan | undefined;

  /** Sets created since the last flush (or never sent), with their full membership. */
  readonly #addedSets = new Map<string, { kind: IpSetKind; members: Set<string> }>();
  readonly #sentSets = new Set<string>();
  readonly #removedSets = new Set<string>();
  readonly #addedMembers = new Map<string, Set<string>>();
  readonly #removedMembers = new Map<string, Set<string>>();

  readonly #policies = new KeyedBuffer<CompiledPolicy>();
  readonly #workloads = new KeyedBuffer<WorkloadEndpointPlan>();
  readonly #hostEndpoints = new KeyedBuffer<HostEndpointPlan>();
  readonly #routes = new KeyedBuffer<RouteSpec>();

  // ---------------------------------------------------------------------------------------------
  // Inputs

  /** The datastore snapshot is complete: the next flush sends the full state, then `in-sync`. */
  onInSync(): void {
    this.#inSync = true;
  }

  /** True once {@link onInSync} has been called. */
  get inSync(): boolean {
    return this.#inSync;
  }

  onSettings(settings: DataplaneSettings): void {
    this.#pendingSettings = settings;
  }

  /** A new VXLAN plan (the resolver reports only changed ones); the latest one wins. */
  onVxlanPlan(plan: VxlanPlan): void {
    this.#pendingVxlan = plan;
  }

  onIpSetAdded(id: string, kind: IpSetKind): void {
    if (this.#sentSets.has(id) && !this.#removedSets.has(id)) throw new Error(`IP set ${id} added twice`);
    this.#removedSets.delete(id);
    this.#addedMembers.delete(id);
    this.#removedMembers.delete(id);
    this.#addedSets.set(id, { kind, members: new Set() });
  }

  onIpSetRemoved(id: string): void {
    const sent = this.#sentSets.has(id);
    if (!sent && !this.#addedSets.has(id)) throw new Error(`unknown IP set ${id} removed`);
    this.#addedSets.delete(id);
    this.#addedMembers.delete(id);
    this.#removedMembers.delete(id);
    if (sent) this.#removedSets.add(id);
  }

  onIpSetMemberAdded(id: string, member: string): void {
    const added = this.#addedSets.get(id);
    if (added !== undefined) {
      added.members.add(member);
      return;
    }
    this.#checkSent(id);
    const removed = this.#removedMembers.get(id);
    if (removed?.delete(member) === true) {
      if (removed.size === 0) this.#removedMembers.delete(id);
      return;
    }
    addToSetMap(this.#addedMembers, id, member);
  }

  onIpSetMemberRemoved(id: string, member: string): void {
    const added = this.#addedSets.get(id);
    if (added !== undefined) {
      added.members.delete(member);
      return;
    }
    this.#checkSent(id);
    const addedMembers = this.#addedMembers.get(id);
    if (addedMembers?.delete(member) === true) {
      if (addedMembers.size === 0) this.#addedMembers.delete(id);
      return;
    }
    addToSetMap(this.#removedMembers, id, member);
  }

  #checkSent(id: string): void {
    if (!this.#sentSets.has(id) || this.#removedSets.has(id)) throw new Error(`member change for unknown IP set ${id}`);
  }

  onPolicyUpdate(policy: CompiledPolicy): void {
    this.#policies.update(policy.key, policy);
  }

  onPolicyRemove(key: string): void {
    this.#policies.remove(key);
  }

  onWorkloadUpdate(plan: WorkloadEndpointPlan): void {
    this.#workloads.update(plan.key, plan);
  }

  onWorkloadRemove(key: string): void {
    this.#workloads.remove(key);
  }

  onHostEndpointUpdate(plan: HostEndpointPlan): void {
    this.#hostEndpoints.update(plan.key, plan);
  }

  onHostEndpointRemove(key: string): void {
    this.#hostEndpoints.remove(key);
  }

  onRouteUpdate(route: RouteSpec): void {
    this.#routes.update(route.dst, route);
  }

  onRouteRemove(dst: string): void {
    this.#routes.remove(dst);
  }

  /** Number of buffered changes (for metrics and tests). */
  get pendingCount(): number {
    let members = 0;
    for (const s of this.#addedMembers.values()) members += s.size;
    for (const s of this.#removedMembers.values()) members += s.size;
    return (
      (this.#pendingSettings !== undefined ? 1 : 0) +
      (this.#pendingVxlan !== undefined ? 1 : 0) +
      this.#addedSets.size +
      this.#removedSets.size +
      members +
      this.#policies.pendingCount +
      this.#workloads.pendingCount +
      this.#hostEndpoints.pendingCount +
      this.#routes.pendingCount
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /** The coalesced, ordered batch since the last flush; `[]` before in-sync. */
  flush(): DataplaneUpdate[] {
    if (!this.#inSync) return [];
    const out: DataplaneUpdate[] = [];

    if (this.#pendingSettings !== undefined) {
      const text = JSON.stringify(this.#pendingSettings);
      if (text !== this.#sentSettings) {
        this.#sentSettings = text;
        out.push({ type: 'settings', settings: this.#pendingSettings });
      }
      this.#pendingSettings = undefined;
    }

    for (const id of [...this.#addedSets.keys()].sort()) {
      const set = this.#addedSets.get(id)!;
      out.push({ type: 'ipset-update', id, kind: set.kind, members: [...set.members].sort() });
      this.#sentSets.add(id);
    }
    this.#addedSets.clear();

    const deltaIds = new Set([...this.#addedMembers.keys(), ...this.#removedMembers.keys()]);
    for (const id of [...deltaIds].sort()) {
      const added = [...(this.#addedMembers.get(id) ?? [])].sort();
      const removed = [...(this.#removedMembers.get(id) ?? [])].sort();
      out.push({ type: 'ipset-delta', id, added, removed });
    }
    this.#addedMembers.clear();
    this.#removedMembers.clear();

    for (const policy of this.#policies.takeUpdates()) out.push({ type: 'policy-update', policy });
    for (const endpoint of this.#workloads.takeUpdates()) out.push({ type: 'workload-update', endpoint });
    for (const endpoint of this.#hostEndpoints.takeUpdates()) out.push({ type: 'host-endpoint-update', endpoint });
    for (const route of this.#routes.takeUpdates()) out.push({ type: 'route-update', route });
    if (this.#pendingVxlan !== undefined) {
      out.push({ type: 'vxlan-update', plan: this.#pendingVxlan });
      this.#pendingVxlan = undefined;
    }

    for (const dst of this.#routes.takeRemoves()) out.push({ type: 'route-remove', dst });
    for (const key of this.#workloads.takeRemoves()) out.push({ type: 'workload-remove', key });
    for (const key of this.#hostEndpoints.takeRemoves()) out.push({ type: 'host-endpoint-remove', key });
    for (const key of this.#policies.takeRemoves()) out.push({ type: 'policy-remove', key });

    for (const id of [...this.#removedSets].sort()) {
      out.push({ type: 'ipset-remove', id });
      this.#sentSets.delete(id);
    }
    this.#removedSets.clear();

    if (!this.#inSyncSent) {
      this.#inSyncSent = true;
      out.push({ type: 'in-sync' });
    }
    return out;
  }
}
