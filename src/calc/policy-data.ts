/**
 * What the graph keeps of a NetworkPolicy, GlobalNetworkPolicy, Profile or Tier: the selector
 * that decides which endpoints a policy applies to (already rewritten the way Calico rewrites
 * it), its place in the ordering, and its rules (compiled later, only while it is active).
 */
import type { GlobalNetworkPolicySpec, NetworkPolicySpec, ProfileSpec, Rule, TierSpec } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { ClearingMemo2 } from '../memo/mod.ts';
import { parseSelector, type Selector } from '../selector/mod.ts';
import { globalPolicyKey, namespacedPolicyKey, profileKey } from './ids.ts';
import { globalPolicySelectorText, networkPolicySelectorText } from './selector-rewrite.ts';

/** The tier a policy is in when it does not say. */
export const DEFAULT_TIER = 'default';

/** A NetworkPolicy or GlobalNetworkPolicy. */
export interface PolicyData {
  /** `np/<ns>/<name>` or `gnp/<name>`. */
  key: string;
  /** The ordering tie-break: Felix's policy name (`<ns>/<name>` or `<name>`). */
  sortName: string;
  /** The NetworkPolicy's namespace; undefined for a GlobalNetworkPolicy. */
  namespace: string | undefined;
  tier: string;
  /** `Infinity` when unset (last). */
  order: number;
  /** The endpoints it applies to. */
  selector: Selector;
  ingress: boolean;
  egress: boolean;
  doNotTrack: boolean;
  preDNAT: boolean;
  applyOnForward: boolean;
  ingressRules: readonly Rule[];
  egressRules: readonly Rule[];
}

/** A Profile: rules, and labels its endpoints inherit. */
export interface ProfileData {
  /** `pro/<name>`. */
  key: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  ingressRules: readonly Rule[];
  egressRules: readonly Rule[];
  /** True for a profile an endpoint names but the datastore lacks: it denies everything, as in Calico. */
  missing: boolean;
}

/** A Tier's place in the ordering. */
export interface TierData {
  name: string;
  /** `Infinity` when unset (last). */
  order: number;
  defaultAction: 'Deny' | 'Pass';
}

function rules(list: unknown): Rule[] {
  return Array.isArray(list) ? (list as Rule[]) : [];
}

function policyTypes(spec: NetworkPolicySpec): { ingress: boolean; egress: boolean } {
  const types = spec.types;
  if (types !== undefined && types.length > 0) return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
  // Calico's default: [Ingress] unless there are only egress rules; both when both.
  const hasEgress = rules(spec.egress).length > 0;
  const hasIngress = rules(spec.ingress).length > 0;
  return { ingress: !hasEgress || hasIngress, egress: hasEgress };
}

/**
 * The selectors of NetworkPolicies without a serviceAccountSelector (nearly all), by namespace,
 * then by their own selector: a cold start built and looked up the same ~100 combined texts for
 * 5,000 policies. Bounded: cleared when full.
 */
const namespacedSelectors = new ClearingMemo2<string, string, Selector>(4096);

function networkPolicySelector(namespace: string, selector: string | undefined): Selector {
  const own = selector ?? '';
  let found = namespacedSelectors.get(namespace, own);
  if (found === undefined) {
    found = parseSelector(networkPolicySelectorText(namespace, selector, undefined)); // throws for a bad selector: nothing kept
    namespacedSelectors.set(namespace, own, found);
  }
  return found;
}

/**
 * A NetworkPolicy (namespace given) or GlobalNetworkPolicy from its stored resource.
 * @throws {SelectorParseError} when a selector does not parse (the caller drops the policy).
 */
export function policyData(namespace: string | undefined, name: string, res: Resource): PolicyData {
  const spec = (res.spec ?? {}) as GlobalNetworkPolicySpec;
  const global = namespace === undefined;
  const selector = global
    ? parseSelector(globalPolicySelectorText(spec.selector, spec.namespaceSelector, spec.serviceAccountSelector))
    : spec.serviceAccountSelector === undefined && (spec.selector === undefined || typeof spec.selector === 'string')
      ? networkPolicySelector(namespace, spec.selector)
      : parseSelector(networkPolicySelectorText(namespace, spec.selector, spec.serviceAccountSelector));
  const { ingress, egress } = policyTypes(spec);
  const tier = spec.tier !== undefined && spec.tier !== '' ? spec.tier : DEFAULT_TIER;
  const doNotTrack = global && spec.doNotTrack === true;
  const preDNAT = global && spec.preDNAT === true;
  // Calico marks every namespaced policy applyOnForward.
  const applyOnForward = global ? spec.applyOnForward === true : true;
  const ingressRules = rules(spec.ingress);
  const egressRules = rules(spec.egress);
  return {
    key: global ? globalPolicyKey(name) : namespacedPolicyKey(namespace, name),
    sortName: global ? name : `${namespace}/${name}`,
    namespace,
    tier,
    order: typeof spec.order === 'number' ? spec.order : Infinity,
    selector,
    ingress,
    egress,
    doNotTrack,
    preDNAT,
    applyOnForward,
    ingressRules,
    egressRules,
  };
}

/** A Profile from its stored resource. */
export function profileData(name: string, res: Resource): ProfileData {
  const spec = (res.spec ?? {}) as ProfileSpec;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.labelsToApply ?? {})) if (typeof v === 'string') labels[k] = v;
  const ingressRules = rules(spec.ingress);
  const egressRules = rules(spec.egress);
  return {
    key: profileKey(name),
    name,
    labels,
    ingressRules,
    egressRules,
    missing: false,
  };
}

/** The stand-in for a profile that endpoints name but that does not exist: deny both ways. */
export function missingProfileData(name: string): ProfileData {
  const deny: Rule[] = [{ action: 'Deny' }];
  return { key: profileKey(name), name, labels: {}, ingressRules: deny, egressRules: deny, missing: true };
}

/**
 * True when two versions of a policy compile to the same rules (rules, namespace, tier, flags).
 * Compared when a policy changes, not kept as a text per policy: a cold start makes 5,000 of them
 * and compares none.
 */
export function samePolicyContent(a: PolicyData, b: PolicyData): boolean {
  return (
    a.namespace === b.namespace &&
    a.tier === b.tier &&
    a.doNotTrack === b.doNotTrack &&
    a.preDNAT === b.preDNAT &&
    a.applyOnForward === b.applyOnForward &&
    sameRules(a.ingressRules, b.ingressRules) &&
    sameRules(a.egressRules, b.egressRules)
  );
}

/** True when two versions of a profile compile to the same rules. */
export function sameProfileContent(a: ProfileData, b: ProfileData): boolean {
  return a.missing === b.missing && sameRules(a.ingressRules, b.ingressRules) && sameRules(a.egressRules, b.egressRules);
}

function sameRules(a: readonly Rule[], b: readonly Rule[]): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** A Tier from its stored resource (defaultAction Deny unless it says Pass). */
export function tierData(name: string, res: Resource): TierData {
  const spec = (res.spec ?? {}) as TierSpec;
  return {
    name,
    order: typeof spec.order === 'number' ? spec.order : Infinity,
    defaultAction: spec.defaultAction === 'Pass' ? 'Pass' : 'Deny',
  };
}
