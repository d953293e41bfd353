/**
 * The policy kinds: NetworkPolicy, GlobalNetworkPolicy and their staged variants, plus
 * StagedKubernetesNetworkPolicy (a Kubernetes NetworkPolicy spec with a staged action).
 * Validation follows Calico's `validateNetworkPolicy(Spec)`, `validateGlobalNetworkPolicy(Spec)`
 * and the staged variants; defaults follow Calico's policy defaulting (types inferred from the
 * rules, tier `default`, the `projectcalico.org/tier` label).
 */
import { z } from 'zod';
import { checkLabelKey, checkLabelValue, selectorSchema } from '../common.ts';
import type { Column, KindDefinition, ResourceReference } from '../kind.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { enumOf, resourceNameSchema, specOf } from './policy-fields.ts';
import { cidrContainsCidr, parseCidr } from '../../net/mod.ts';
import { checkPortName, checkResourceName, formatGoFloat } from './policy-values.ts';
import { httpNotEnforced, mentionsGlobal, type PolicyType, type Rule, rulesSchema, validateRules } from './rule.ts';

/** The label Calico puts on every tiered policy so that policies can be listed by tier. */
export const TIER_LABEL = 'projectcalico.org/tier';
export const DEFAULT_TIER = 'default';

export type StagedAction = 'Set' | 'Delete' | 'Learn' | 'Ignore';
export type PerformanceHint = 'AssumeNeededOnEveryNode';

export interface NetworkPolicySpec {
  /** Always present after defaults (`default` when not given). */
  tier?: string;
  /** Unset means "last" (infinite order). */
  order?: number;
  ingress?: Rule[];
  egress?: Rule[];
  selector?: string;
  /** Always present after defaults (inferred from the rules when not given). */
  types?: PolicyType[];
  serviceAccountSelector?: string;
  performanceHints?: PerformanceHint[];
}

export interface GlobalNetworkPolicySpec extends NetworkPolicySpec {
  namespaceSelector?: string;
  doNotTrack?: boolean;
  preDNAT?: boolean;
  applyOnForward?: boolean;
}

export interface StagedNetworkPolicySpec extends NetworkPolicySpec {
  stagedAction?: StagedAction;
}

export interface StagedGlobalNetworkPolicySpec extends GlobalNetworkPolicySpec {
  stagedAction?: StagedAction;
}

/** Kubernetes `metav1.LabelSelector`. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}

/** Kubernetes `networking/v1` NetworkPolicyPort. */
export interface K8sNetworkPolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

/** Kubernetes `networking/v1` NetworkPolicyPeer. */
export interface K8sNetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface StagedKubernetesNetworkPolicySpec {
  stagedAction?: StagedAction;
  podSelector?: LabelSelector;
  ingress?: Array<{ ports?: K8sNetworkPolicyPort[]; from?: K8sNetworkPolicyPeer[] }>;
  egress?: Array<{ ports?: K8sNetworkPolicyPort[]; to?: K8sNetworkPolicyPeer[] }>;
  policyTypes?: PolicyType[];
}

// ---------------------------------------------------------------------------------------------
// Names.
// ---------------------------------------------------------------------------------------------

const LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const SUBDOMAIN_FMT = `${LABEL_FMT}(\\.${LABEL_FMT})*`;
const NETWORK_POLICY_NAME = new RegExp(`^((${LABEL_FMT})(\\.${LABEL_FMT})?|((?:knp|ossg)\\.default\\.(${SUBDOMAIN_FMT})))$`);
const GLOBAL_NETWORK_POLICY_NAME = new RegExp(`^(${LABEL_FMT}\\.)?${LABEL_FMT}$`);

function tooLong(name: string): string | undefined {
  return name.length > 253 ? `name is too long by ${name.length - 253} bytes (at most 253 characters)` : undefined;
}

/**
 * Calico's `networkPolicyNameRegex`: a DNS-1123 label, or two labels joined by one dot
 * (`tier.name`), or a `knp.default.`/`ossg.default.` prefixed subdomain.
 */
export function checkNetworkPolicyName(name: string): string | undefined {
  if (name.length === 0) return 'a name is required';
  const long = tooLong(name);
  if (long) return long;
  if (!NETWORK_POLICY_NAME.test(name)) {
    return "name must consist of lower case alphanumeric characters or '-', with at most one '.' (regex: " +
      `${LABEL_FMT}(\\.${LABEL_FMT})?)`;
  }
  return undefined;
}

/** Calico's `globalNetworkPolicyNameRegex`: a DNS-1123 label, optionally `prefix.` another one. */
export function checkGlobalNetworkPolicyName(name: string): string | undefined {
  if (name.length === 0) return 'a name is required';
  const long = tooLong(name);
  if (long) return long;
  if (!GLOBAL_NETWORK_POLICY_NAME.test(name)) {
    return "name must consist of lower case alphanumeric characters or '-', with at most one '.' (regex: " +
      `(${LABEL_FMT}\\.)?${LABEL_FMT})`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Schemas.
// ---------------------------------------------------------------------------------------------

const policyTypeSchema = enumOf(['Ingress', 'Egress']);
const stagedActionSchema = enumOf(['Set', 'Delete', 'Learn', 'Ignore']);
const performanceHintSchema = enumOf(['AssumeNeededOnEveryNode']);
const orderSchema = z.number({ error: 'order must be a number' }).refine(Number.isFinite, { error: 'order must be a finite number' });

const commonPolicyFields = {
  tier: resourceNameSchema.optional(),
  order: orderSchema.optional(),
  selector: selectorSchema.optional(),
  types: z.array(policyTypeSchema).optional(),
  ingress: rulesSchema.optional(),
  egress: rulesSchema.optional(),
  serviceAccountSelector: selectorSchema.optional(),
  performanceHints: z.array(performanceHintSchema).optional(),
};

const globalPolicyFields = {
  ...commonPolicyFields,
  namespaceSelector: selectorSchema.optional(),
  doNotTrack: z.boolean().optional(),
  preDNAT: z.boolean().optional(),
  applyOnForward: z.boolean().optional(),
};

export const networkPolicySpecSchema = specOf(z.strictObject(commonPolicyFields));
export const globalNetworkPolicySpecSchema = specOf(z.strictObject(globalPolicyFields));
export const stagedNetworkPolicySpecSchema = specOf(z.strictObject({ stagedAction: stagedActionSchema.optional(), ...commonPolicyFields }));
export const stagedGlobalNetworkPolicySpecSchema = specOf(z.strictObject({ stagedAction: stagedActionSchema.optional(), ...globalPolicyFields }));

const labelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: enumOf(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

const k8sPortSchema = z.strictObject({
  protocol: enumOf(['TCP', 'UDP', 'SCTP']).optional(),
  port: z.union([z.number(), z.string()], { error: 'port must be a number or a port name' }).optional(),
  endPort: z.number({ error: 'endPort must be a number' }).int().optional(),
});

const k8sPeerSchema = z.strictObject({
  podSelector: labelSelectorSchema.optional(),
  namespaceSelector: labelSelectorSchema.optional(),
  ipBlock: z.strictObject({ cidr: z.string(), except: z.array(z.string()).optional() }).optional(),
});

export const stagedKubernetesNetworkPolicySpecSchema = specOf(
  z.strictObject({
    stagedAction: stagedActionSchema.optional(),
    podSelector: labelSelectorSchema.optional(),
    ingress: z.array(z.strictObject({ ports: z.array(k8sPortSchema).optional(), from: z.array(k8sPeerSchema).optional() })).optional(),
    egress: z.array(z.strictObject({ ports: z.array(k8sPortSchema).optional(), to: z.array(k8sPeerSchema).optional() })).optional(),
    policyTypes: z.array(policyTypeSchema).optional(),
  }),
);

// ---------------------------------------------------------------------------------------------
// Cross-field checks.
// ---------------------------------------------------------------------------------------------

function specOfResource<T>(res: Resource): T {
  return (res.spec ?? {}) as T;
}

function validateTypes(types: PolicyType[] | undefined): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  (types ?? []).forEach((t, i) => {
    if (seen.has(t)) issues.push({ path: `spec.types[${i}]`, message: `'${t}' type specified more than once` });
    seen.add(t);
  });
  return issues;
}

function validatePerformanceHints(hints: PerformanceHint[] | undefined): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const seen = new Set<string>();
  (hints ?? []).forEach((h, i) => {
    if (seen.has(h)) issues.push({ path: `spec.performanceHints[${i}]`, message: `'${h}' is listed more than once` });
    seen.add(h);
  });
  return issues;
}

/** Calico's `validateNetworkPolicySpec` (plus the rule checks every policy gets). */
function validatePolicySpec(spec: GlobalNetworkPolicySpec, global: boolean): FieldIssue[] {
  const issues: FieldIssue[] = [];
  issues.push(...validateTypes(spec.types));
  issues.push(...validateRules(spec.ingress, 'spec.ingress'));
  issues.push(...validateRules(spec.egress, 'spec.egress'));
  (spec.egress ?? []).forEach((r, i) => {
    if (r.source?.services) {
      issues.push({ path: `spec.egress[${i}].source.services`, message: 'services are not allowed in an egress rule source' });
    }
    if (r.http) issues.push({ path: `spec.egress[${i}].http`, message: 'HTTP match is not allowed in egress rules' });
    if (global && r.destination?.services && !r.destination.services.namespace) {
      issues.push({ path: `spec.egress[${i}].destination.services.namespace`, message: 'must specify a namespace (service names are namespaced)' });
    }
  });
  (spec.ingress ?? []).forEach((r, i) => {
    if (r.destination?.services) {
      issues.push({ path: `spec.ingress[${i}].destination.services`, message: 'services are not allowed in an ingress rule destination' });
    }
    if (global && r.source?.services && !r.source.services.namespace) {
      issues.push({ path: `spec.ingress[${i}].source.services.namespace`, message: 'must specify a namespace (service names are namespaced)' });
    }
  });
  const GLOBAL_MSG = 'global() can only be used in an EntityRule namespaceSelector';
  if (mentionsGlobal(spec.selector)) issues.push({ path: 'spec.selector', message: GLOBAL_MSG });
  if (mentionsGlobal(spec.serviceAccountSelector)) issues.push({ path: 'spec.serviceAccountSelector', message: GLOBAL_MSG });
  if (global && mentionsGlobal(spec.namespaceSelector)) issues.push({ path: 'spec.namespaceSelector', message: GLOBAL_MSG });
  issues.push(...validatePerformanceHints(spec.performanceHints));

  if (global) {
    if (spec.doNotTrack && spec.preDNAT) {
      issues.push({ path: 'spec.preDNAT', message: 'preDNAT and doNotTrack cannot both be true' });
    }
    if (spec.preDNAT && (spec.egress ?? []).length > 0) {
      issues.push({ path: 'spec.egress', message: 'a preDNAT policy cannot have any egress rules' });
    }
    if (spec.preDNAT && (spec.types ?? []).includes('Egress')) {
      issues.push({ path: 'spec.types', message: "a preDNAT policy cannot have the 'Egress' type" });
    }
    if (!spec.applyOnForward && (spec.doNotTrack || spec.preDNAT)) {
      issues.push({ path: 'spec.applyOnForward', message: 'applyOnForward must be true if either preDNAT or doNotTrack is true' });
    }
  }
  return issues;
}

/** With stagedAction Delete, every spec field but tier (and the action) must be unset. */
function validateStagedDelete(spec: Record<string, unknown>, keep: string[]): FieldIssue[] {
  const set = Object.entries(spec).filter(([k, v]) => {
    if (keep.includes(k)) return false;
    if (v === undefined || v === false || v === '') return false;
    if (Array.isArray(v) && v.length === 0) return false;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) return false;
    return true;
  });
  if (set.length === 0) return [];
  return set.map(([k]) => ({
    path: `spec.${k}`,
    message: `must be unset when stagedAction is Delete (only ${keep.filter((f) => f !== 'stagedAction').join(', ') || 'stagedAction'} may be given)`,
  }));
}

// ---------------------------------------------------------------------------------------------
// Defaults.
// ---------------------------------------------------------------------------------------------

/** Calico's `defaultPolicyTypesField`: [Ingress] unless there are egress rules; both if both. */
export function inferPolicyTypes(ingress: Rule[] | undefined, egress: Rule[] | undefined): PolicyType[] {
  if ((egress ?? []).length === 0) return ['Ingress'];
  if ((ingress ?? []).length === 0) return ['Egress'];
  return ['Ingress', 'Egress'];
}

/** A tiered policy needs its tier to exist, as in Calico. */
function tierReference(res: Resource): ResourceReference[] {
  const tier = (res.spec as { tier?: string } | undefined)?.tier ?? DEFAULT_TIER;
  return [{ kind: 'Tier', name: tier, path: 'spec.tier' }];
}

function withTierLabel(res: Resource, tier: string): Resource['metadata'] {
  return { ...res.metadata, labels: { ...(res.metadata.labels ?? {}), [TIER_LABEL]: tier } };
}

function defaultTieredPolicy(res: Resource): Resource {
  const spec = { ...specOfResource<StagedGlobalNetworkPolicySpec>(res) };
  spec.tier = spec.tier || DEFAULT_TIER;
  if (spec.stagedAction === 'Delete') {
    // Calico clears types on a staged delete rather than inferring them.
    delete spec.types;
  } else if (!spec.types || spec.types.length === 0) {
    spec.types = inferPolicyTypes(spec.ingress, spec.egress);
  }
  return { ...res, metadata: withTierLabel(res, spec.tier), spec: spec as Record<string, unknown> };
}

/** A staged policy's defaults: a tiered policy's, and stagedAction Set (the CRD's default). */
function defaultStagedPolicy(res: Resource): Resource {
  const out = defaultTieredPolicy(res);
  return { ...out, spec: { stagedAction: 'Set', ...out.spec } };
}

// ---------------------------------------------------------------------------------------------
// Columns.
// ---------------------------------------------------------------------------------------------

/** A spec field as calicoctl's template prints it (`<nil>` for an unset pointer such as order). */
function orderCell(res: Resource): string {
  const order = (res.spec as NetworkPolicySpec | undefined)?.order;
  return order === undefined ? '<nil>' : formatGoFloat(order);
}

const tierColumn: Column = { header: 'TIER', value: (r) => String((r.spec as NetworkPolicySpec | undefined)?.tier ?? '') };
const orderColumn: Column = { header: 'ORDER', value: orderCell };
const selectorColumn: Column = { header: 'SELECTOR', value: (r) => String((r.spec as NetworkPolicySpec | undefined)?.selector ?? '') };

// ---------------------------------------------------------------------------------------------
// Kubernetes NetworkPolicy spec checks (StagedKubernetesNetworkPolicy).
// ---------------------------------------------------------------------------------------------

function validateLabelSelector(sel: LabelSelector | undefined, path: string): FieldIssue[] {
  if (!sel) return [];
  const issues: FieldIssue[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    const kp = checkLabelKey(k);
    if (kp) issues.push({ path: `${path}.matchLabels.${k}`, message: kp });
    const vp = checkLabelValue(v);
    if (vp) issues.push({ path: `${path}.matchLabels.${k}`, message: vp });
  }
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const kp = checkLabelKey(e.key);
    if (kp) issues.push({ path: `${at}.key`, message: kp });
    const values = e.values ?? [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0) {
      issues.push({ path: `${at}.values`, message: `must be specified when operator is ${e.operator}` });
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0) {
      issues.push({ path: `${at}.values`, message: `may not be specified when operator is ${e.operator}` });
    }
    values.forEach((v, j) => {
      const vp = checkLabelValue(v);
      if (vp) issues.push({ path: `${at}.values[${j}]`, message: vp });
    });
  });
  return issues;
}

function validateK8sPorts(ports: K8sNetworkPolicyPort[] | undefined, path: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  (ports ?? []).forEach((p, i) => {
    const at = `${path}[${i}]`;
    if (typeof p.port === 'number') {
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        issues.push({ path: `${at}.port`, message: 'must be a port number between 1 and 65535' });
      }
    } else if (typeof p.port === 'string') {
      const problem = checkPortName(p.port);
      if (problem) issues.push({ path: `${at}.port`, message: problem });
    }
    if (p.endPort !== undefined) {
      if (typeof p.port !== 'number') {
        issues.push({ path: `${at}.endPort`, message: 'may only be given with a numeric port' });
      } else if (p.endPort < p.port || p.endPort > 65535) {
        issues.push({ path: `${at}.endPort`, message: `must be between port (${p.port}) and 65535` });
      }
    }
  });
  return issues;
}

function validateK8sPeers(peers: K8sNetworkPolicyPeer[] | undefined, path: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  (peers ?? []).forEach((peer, i) => {
    const at = `${path}[${i}]`;
    const selectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
    if (!selectors && !peer.ipBlock) {
      issues.push({ path: at, message: 'must specify a peer: podSelector, namespaceSelector or ipBlock' });
    }
    if (selectors && peer.ipBlock) {
      issues.push({ path: `${at}.ipBlock`, message: 'may not be combined with podSelector or namespaceSelector' });
    }
    issues.push(...validateLabelSelector(peer.podSelector, `${at}.podSelector`));
    issues.push(...validateLabelSelector(peer.namespaceSelector, `${at}.namespaceSelector`));
    if (peer.ipBlock) {
      const cidr = parseCidr(peer.ipBlock.cidr);
      if (!cidr) {
        issues.push({ path: `${at}.ipBlock.cidr`, message: `must be a valid CIDR (got ${JSON.stringify(peer.ipBlock.cidr)})` });
      } else {
        (peer.ipBlock.except ?? []).forEach((ex, j) => {
          const e = parseCidr(ex);
          if (!e) {
            issues.push({ path: `${at}.ipBlock.except[${j}]`, message: `must be a valid CIDR (got ${JSON.stringify(ex)})` });
          } else if (e.family !== cidr.family || e.prefix <= cidr.prefix || !cidrContainsCidr(cidr, e)) {
            issues.push({ path: `${at}.ipBlock.except[${j}]`, message: `must be a strict subset of cidr ${peer.ipBlock!.cidr}` });
          }
        });
      }
    }
  });
  return issues;
}

function validateK8sPolicySpec(spec: StagedKubernetesNetworkPolicySpec): FieldIssue[] {
  const issues: FieldIssue[] = [];
  issues.push(...validateLabelSelector(spec.podSelector, 'spec.podSelector'));
  (spec.ingress ?? []).forEach((r, i) => {
    issues.push(...validateK8sPorts(r.ports, `spec.ingress[${i}].ports`));
    issues.push(...validateK8sPeers(r.from, `spec.ingress[${i}].from`));
  });
  (spec.egress ?? []).forEach((r, i) => {
    issues.push(...validateK8sPorts(r.ports, `spec.egress[${i}].ports`));
    issues.push(...validateK8sPeers(r.to, `spec.egress[${i}].to`));
  });
  const seen = new Set<string>();
  (spec.policyTypes ?? []).forEach((t, i) => {
    if (seen.has(t)) issues.push({ path: `spec.policyTypes[${i}]`, message: `'${t}' type specified more than once` });
    seen.add(t);
  });
  return issues;
}

/** Renders a label selector the way `kubectl` shows one (`role=db,tier in (a,b)`). */
export function formatLabelSelector(sel: LabelSelector | undefined): string {
  if (!sel) return '<none>';
  const parts = Object.entries(sel.matchLabels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${(e.values ?? []).join(',')})`);
  }
  return parts.length === 0 ? '<none>' : parts.join(',');
}

// ---------------------------------------------------------------------------------------------
// Kind definitions.
// ---------------------------------------------------------------------------------------------

/** What differs between the four tiered policy kinds; everything else they share. */
interface TieredPolicyKindOptions {
  kind: string;
  plural: string;
  aliases: string[];
  specSchema: z.ZodType;
  /** GlobalNetworkPolicy and its staged twin: cluster-scoped, with the host-endpoint flags. */
  global: boolean;
  /** Staged kinds: a `stagedAction: Delete` carries nothing but its tier. */
  staged: boolean;
}

function tieredPolicyKind(options: TieredPolicyKindOptions): KindDefinition {
  const { global, staged } = options;
  return {
    kind: options.kind,
    plural: options.plural,
    namespaced: !global,
    aliases: options.aliases,
    specSchema: options.specSchema,
    checkName: global ? checkGlobalNetworkPolicyName : checkNetworkPolicyName,
    validate: (res) => {
      const spec = specOfResource<StagedGlobalNetworkPolicySpec>(res);
      if (staged && spec.stagedAction === 'Delete') {
        return validateStagedDelete({ ...spec, types: undefined }, ['stagedAction', 'tier']);
      }
      return validatePolicySpec(spec, global);
    },
    applyDefaults: staged ? defaultStagedPolicy : defaultTieredPolicy,
    references: tierReference,
    warnings: httpNotEnforced,
    columns: [tierColumn],
    wideColumns: [orderColumn, selectorColumn],
  };
}

export const networkPolicyKind = tieredPolicyKind({
  kind: 'NetworkPolicy',
  plural: 'networkpolicies',
  aliases: ['networkpolicy', 'networkpolicies', 'policy', 'np', 'policies', 'pol', 'pols'],
  specSchema: networkPolicySpecSchema,
  global: false,
  staged: false,
});

export const globalNetworkPolicyKind = tieredPolicyKind({
  kind: 'GlobalNetworkPolicy',
  plural: 'globalnetworkpolicies',
  aliases: ['globalnetworkpolicy', 'globalnetworkpolicies', 'gnp', 'gnps'],
  specSchema: globalNetworkPolicySpecSchema,
  global: true,
  staged: false,
});

export const stagedNetworkPolicyKind = tieredPolicyKind({
  kind: 'StagedNetworkPolicy',
  plural: 'stagednetworkpolicies',
  aliases: ['stagednetworkpolicy', 'stagednetworkpolicies', 'stagedpolicy', 'snp', 'stagedpolicies', 'spol', 'spols'],
  specSchema: stagedNetworkPolicySpecSchema,
  global: false,
  staged: true,
});

export const stagedGlobalNetworkPolicyKind = tieredPolicyKind({
  kind: 'StagedGlobalNetworkPolicy',
  plural: 'stagedglobalnetworkpolicies',
  aliases: ['stagedglobalnetworkpolicy', 'stagedglobalnetworkpolicies', 'sgnp', 'sgnps'],
  specSchema: stagedGlobalNetworkPolicySpecSchema,
  global: true,
  staged: true,
});

export const stagedKubernetesNetworkPolicyKind: KindDefinition = {
  kind: 'StagedKubernetesNetworkPolicy',
  plural: 'stagedkubernetesnetworkpolicies',
  namespaced: true,
  aliases: [
    'stagedkubernetesnetworkpolicy', 'stagedkubernetesnetworkpolicies', 'stagedkubernetespolicy', 'sknp',
    'stagedkubernetespolicies', 'skpol', 'skpols',
  ],
  specSchema: stagedKubernetesNetworkPolicySpecSchema,
  checkName: checkResourceName,
  validate: (res) => {
    const spec = specOfResource<StagedKubernetesNetworkPolicySpec>(res);
    if (spec.stagedAction === 'Delete') return validateStagedDelete({ ...spec }, ['stagedAction']);
    return validateK8sPolicySpec(spec);
  },
  applyDefaults: (res) => {
    const spec = { ...specOfResource<StagedKubernetesNetworkPolicySpec>(res) };
    spec.stagedAction ??= 'Set';
    return { ...res, spec: spec as Record<string, unknown> };
  },
  columns: [],
  wideColumns: [{ header: 'PODSELECTOR', value: (r) => formatLabelSelector((r.spec as StagedKubernetesNetworkPolicySpec | undefined)?.podSelector) }],
};
