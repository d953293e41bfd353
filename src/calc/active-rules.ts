/**
 * The active-rules calculator (Felix's `ActiveRulesCalculator`): which policies and profiles
 * the local endpoints use.
 *
 * - Every policy's selector is filed in a {@link LabelIndex} over the local endpoints only
 *   (with their profiles as label parents), so its cost follows the local endpoints, not the
 *   cluster. A policy is active while it matches at least one local endpoint; it is reported
 *   active (with its data, for the rule scanner) on the first match and inactive after the last.
 * - Matches go to the policy resolver by group: the policies that share a selector (a cold start's
 *   5,000 policies share ~100) are one group of the index, and an endpoint starting or stopping to
 *   match it is one report, not one per policy (1,000 reports instead of 50,000 at a cold start);
 *   a policy joining or leaving a group is reported as a change of the group. Whether a policy is
 *   active is the index's member count of its selector: no count of its own per policy.
 * - A policy whose tier does not exist is never applied (Calico requires the tier; such a
 *   policy is kept and takes effect as soon as its tier is created).
 * - A profile is active while at least one local endpoint lists it. A profile that is listed but
 *   missing from the datastore is reported as a deny-everything stand-in, as Felix does.
 */
import { LabelIndex, type SelectorGroup } from '../selector/mod.ts';
import type { ActiveRulesCallbacks, PolicyMatchCallbacks } from './callbacks.ts';
import type { EndpointData } from './endpoint-data.ts';
import type { EndpointId } from './ids.ts';
import { missingProfileData, type PolicyData, type ProfileData, samePolicyContent, sameProfileContent } from './policy-data.ts';

/** Decides which policies and profiles are in use on this host. */
export class ActiveRulesCalculator {
  readonly #rules: ActiveRulesCallbacks;
  readonly #matches: PolicyMatchCallbacks;
  readonly #index: LabelIndex;

  readonly #policies = new Map<string, PolicyData>();
  readonly #policiesByTier = new Map<string, Set<string>>();
  readonly #tiers = new Set<string>();

  readonly #endpointProfiles = new Map<EndpointId, readonly string[]>();
  readonly #profiles = new Map<string, ProfileData>();
  /** profile name → number of local endpoints that list it. */
  readonly #profileRefs = new Map<string, number>();

  constructor(rules: ActiveRulesCallbacks, matches: PolicyMatchCallbacks) {
    this.#rules = rules;
    this.#matches = matches;
    this.#index = new LabelIndex({
      groups: {
        matchStarted: (group, endpointId) => this.#matchStarted(group, endpointId),
        matchStopped: (group, endpointId) => this.#matchStopped(group, endpointId),
        // Whether the policy is active is settled around the index's update (#file).
        idAdded: (group) => this.#matches.onGroupChanged(group),
        idRemoved: (group) => this.#matches.onGroupChanged(group),
      },
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Inputs

  /** A policy was created, changed (undefined: deleted). */
  onPolicyUpdate(key: string, policy: PolicyData | undefined): void {
    const old = this.#policies.get(key);
    if (old !== undefined && (policy === undefined || old.tier !== policy.tier)) {
      this.#policiesByTier.get(old.tier)?.delete(key);
    }
    if (policy === undefined) {
      this.#policies.delete(key);
      this.#file(key, undefined); // its group's change, then inactive
      return;
    }
    this.#policies.set(key, policy);
    let byTier = this.#policiesByTier.get(policy.tier);
    if (byTier === undefined) this.#policiesByTier.set(policy.tier, (byTier = new Set()));
    byTier.add(key);
    const stillActive = this.#file(key, this.#tiers.has(policy.tier) ? policy : undefined);
    // Still active with new content: the rule scanner recompiles it.
    if (stillActive && old !== undefined && !samePolicyContent(old, policy)) this.#rules.onPolicyActive(policy);
  }

  /** A tier was created or deleted: its policies start or stop applying. */
  onTierUpdate(name: string, exists: boolean): void {
    if (exists === this.#tiers.has(name)) return;
    if (exists) this.#tiers.add(name);
    else this.#tiers.delete(name);
    for (const key of this.#policiesByTier.get(name) ?? []) this.#file(key, exists ? this.#policies.get(key)! : undefined);
  }

  /** A profile was created, changed (undefined: deleted). */
  onProfileUpdate(name: string, profile: ProfileData | undefined): void {
    const old = this.#profiles.get(name);
    if (profile === undefined) {
      if (old === undefined) return;
      this.#profiles.delete(name);
      this.#index.deleteParent(name);
      if (this.#profileRefs.has(name)) this.#rules.onProfileActive(missingProfileData(name));
      return;
    }
    this.#profiles.set(name, profile);
    this.#index.updateParentLabels(name, profile.labels);
    if (this.#profileRefs.has(name) && (old === undefined || !sameProfileContent(old, profile))) {
      this.#rules.onProfileActive(profile);
    }
  }

  /** A local endpoint was created, changed (undefined: deleted or no longer local). */
  onEndpointUpdate(id: EndpointId, endpoint: EndpointData | undefined): void {
    const oldProfiles = this.#endpointProfiles.get(id) ?? [];
    const newProfiles = endpoint?.profiles ?? [];
    for (const name of newProfiles) if (!oldProfiles.includes(name)) this.#refProfile(name);
    if (endpoint === undefined) {
      this.#index.deleteItem(id);
      this.#endpointProfiles.delete(id);
    } else {
      this.#endpointProfiles.set(id, newProfiles);
      this.#index.updateItem(id, endpoint.labels, endpoint.profiles);
    }
    for (const name of oldProfiles) if (!newProfiles.includes(name)) this.#unrefProfile(name);
  }

  /** Re-files the policy selectors for the endpoint population now (call once the snapshot is in). */
  optimize(): void {
    this.#index.optimize();
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  /** Keys of the active policies (for metrics and tests). */
  activePolicies(): string[] {
    return [...this.#policies.keys()].filter((key) => this.#isActive(key)).sort();
  }

  /** Names of the active profiles. */
  activeProfiles(): string[] {
    return [...this.#profileRefs.keys()].sort();
  }

  /** Number of policy selectors filed (for metrics). */
  get selectorCount(): number {
    return this.#index.selectorCount;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /** Active: its selector matches a local endpoint (a policy whose tier is missing has none filed). */
  #isActive(key: string): boolean {
    return this.#index.memberCount(key) > 0;
  }

  /**
   * Files the policy's selector (or withdraws it: `policy` undefined) and reports whether that
   * made it active or inactive. Returns true when it was active before and still is.
   */
  #file(key: string, policy: PolicyData | undefined): boolean {
    const was = this.#isActive(key);
    if (policy !== undefined) this.#index.updateSelector(key, policy.selector);
    else this.#index.deleteSelector(key);
    const now = this.#isActive(key);
    if (now && !was) this.#rules.onPolicyActive(policy!);
    else if (was && !now) this.#rules.onPolicyInactive(key);
    return was && now;
  }

  /** A local endpoint matches a group's selector: its policies become active with the first. */
  #matchStarted(group: SelectorGroup, endpointId: string): void {
    if (group.members.size === 1) group.ids.forEach((key) => this.#rules.onPolicyActive(this.#policies.get(key)!));
    this.#matches.onGroupMatch(group, endpointId);
  }

  #matchStopped(group: SelectorGroup, endpointId: string): void {
    this.#matches.onGroupMatchStopped(group, endpointId);
    if (group.members.size === 0) group.ids.forEach((key) => this.#rules.onPolicyInactive(key));
  }

  #refProfile(name: string): void {
    const n = this.#profileRefs.get(name) ?? 0;
    this.#profileRefs.set(name, n + 1);
    if (n === 0) this.#rules.onProfileActive(this.#profiles.get(name) ?? missingProfileData(name));
  }

  #unrefProfile(name: string): void {
    const n = (this.#profileRefs.get(name) ?? 1) - 1;
    if (n > 0) {
      this.#profileRefs.set(name, n);
      return;
    }
    this.#profileRefs.delete(name);
    const profile = this.#profiles.get(name) ?? missingProfileData(name);
    this.#rules.onProfileInactive(profile.key);
  }
}
