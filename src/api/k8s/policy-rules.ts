/**
 * A Kubernetes NetworkPolicy read from the API server, converted rule by rule, as Calico's
 * kube-controllers converts it: a rule the conversion cannot express (fields it does not know,
 * values outside what Calico accepts) is dropped and reported, the others are kept. The policy's
 * selector and types always stay, so the pods it selects stay isolated: what cannot be converted
 * narrows access, never widens it.
 *
 * When the policy as a whole cannot be converted (a podSelector Calico cannot express), the result
 * still isolates: every Kubernetes pod of the namespace is selected, with no rules, and that is
 * reported too. Only an object that is not a NetworkPolicy at all (no name) is refused.
 */
import { z } from 'zod';
import type { FieldIssue, Resource } from '../resource.ts';
import { ResourceValidationError, validateResource, zodIssues } from '../validate.ts';
import { K8S_NETWORK_POLICY_NAME_PREFIX, k8sRuleToCalico, k8sSelectorToCalico, LABEL_ORCHESTRATOR, networkPolicyToCalico } from './network-policy.ts';
import { egressRuleSchema, ingressRuleSchema, labelSelectorSchema, policyTypesSchema, type KubernetesNetworkPolicy } from './schemas.ts';

/** A rule left out of the converted policy. */
export interface DroppedRule {
  /** `ingress` / `egress` with the rule's index in the Kubernetes policy, or `policy` for the whole. */
  direction: 'ingress' | 'egress' | 'policy';
  index: number;
  /** The field path and what is wrong with it. */
  reason: string;
}

/** The converted policy and what had to be left out. */
export interface RuleByRuleConversion {
  resource: Resource;
  dropped: DroppedRule[];
}

const envelopeSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional(), uid: z.string().optional(), creationTimestamp: z.string().nullable().optional() }),
  spec: z
    .looseObject({
      podSelector: z.unknown().optional(),
      policyTypes: z.unknown().optional(),
      ingress: z.array(z.unknown()).nullable().optional(),
      egress: z.array(z.unknown()).nullable().optional(),
    })
    .optional(),
});

type Rule = z.infer<typeof ingressRuleSchema> | z.infer<typeof egressRuleSchema>;

function describe(issues: FieldIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

/** The types the policy applies to, from the rules as written (before any is dropped). */
function typesOf(policyTypes: unknown, egressCount: number): ('Ingress' | 'Egress')[] {
  const parsed = policyTypesSchema.safeParse(policyTypes);
  const given = parsed.success ? parsed.data ?? [] : ['Ingress' as const, 'Egress' as const]; // unreadable: isolate both ways
  if (given.length > 0) return given;
  return egressCount > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** Where a v3 validation issue points: `spec.ingress[3]…` → ['ingress', 3]. */
function ruleOfIssue(path: string): { direction: 'ingress' | 'egress'; index: number } | undefined {
  const m = /^spec\.(ingress|egress)\[(\d+)\]/.exec(path);
  return m ? { direction: m[1] as 'ingress' | 'egress', index: Number(m[2]) } : undefined;
}

/**
 * Converts a NetworkPolicy from the Kubernetes API rule by rule (module comment).
 * @throws {ResourceValidationError} only when the object has no usable name.
 */
export function convertNetworkPolicyRuleByRule(obj: unknown): RuleByRuleConversion {
  const env = envelopeSchema.safeParse(obj);
  if (!env.success) throw new ResourceValidationError(zodIssues(env.error, []), { kind: 'NetworkPolicy' });
  const { metadata } = env.data;
  const spec = env.data.spec ?? {};
  const rawIngress = spec.ingress ?? [];
  const rawEgress = spec.egress ?? [];
  const dropped: DroppedRule[] = [];
  const keep = { ingress: [] as { index: number; rule: Rule }[], egress: [] as { index: number; rule: Rule }[] };
  const parseRules = (direction: 'ingress' | 'egress', raw: unknown[]): void => {
    const schema = direction === 'ingress' ? ingressRuleSchema : egressRuleSchema;
    raw.forEach((r, index) => {
      const parsed = schema.safeParse(r);
      if (parsed.success) keep[direction].push({ index, rule: parsed.data });
      else dropped.push({ direction, index, reason: describe(zodIssues(parsed.error, ['spec', direction, index])) });
    });
  };
  parseRules('ingress', rawIngress);
  parseRules('egress', rawEgress);
  const policyTypes = typesOf(spec.policyTypes, rawEgress.length);
  const selector = labelSelectorSchema.nullable().optional().safeParse(spec.podSelector);

  const base = { apiVersion: 'networking.k8s.io/v1' as const, kind: 'NetworkPolicy' as const, metadata };
  for (;;) {
    const k8s = {
      ...base,
      spec: {
        podSelector: selector.success ? selector.data ?? {} : {},
        policyTypes,
        ingress: keep.ingress.map((k) => k.rule as z.infer<typeof ingressRuleSchema>),
        egress: keep.egress.map((k) => k.rule as z.infer<typeof egressRuleSchema>),
      },
    } as KubernetesNetworkPolicy;
    let problem: FieldIssue[];
    if (!selector.success) {
      problem = zodIssues(selector.error, ['spec', 'podSelector']);
    } else {
      try {
        return { resource: validateResource(networkPolicyToCalico(k8s)), dropped };
      } catch (err) {
        if (!(err instanceof ResourceValidationError)) throw err;
        problem = err.issues;
      }
    }
    // Drop the Kubernetes rules whose converted rules failed; if the problem is elsewhere, isolate.
    const bad = new Set<string>();
    for (const issue of problem) {
      const at = ruleOfIssue(issue.path);
      if (!at) return isolateOnly(metadata, policyTypes, dropped, describe(problem));
      const owner = owningRule(keep[at.direction], at.direction, at.index);
      if (!owner) return isolateOnly(metadata, policyTypes, dropped, describe(problem));
      if (!bad.has(`${at.direction}/${owner.index}`)) {
        bad.add(`${at.direction}/${owner.index}`);
        dropped.push({ direction: at.direction, index: owner.index, reason: describe([issue]) });
      }
    }
    keep.ingress = keep.ingress.filter((k) => !bad.has(`ingress/${k.index}`));
    keep.egress = keep.egress.filter((k) => !bad.has(`egress/${k.index}`));
  }
}

/** The Kubernetes rule (among those kept) that produced the converted rule at `calicoIndex`. */
function owningRule(kept: { index: number; rule: Rule }[], direction: 'ingress' | 'egress', calicoIndex: number): { index: number } | undefined {
  let seen = 0;
  for (const k of kept) {
    const peers = 'from' in k.rule ? k.rule.from : 'to' in k.rule ? k.rule.to : undefined;
    seen += k8sRuleToCalico(peers, k.rule.ports, direction === 'ingress').length;
    if (calicoIndex < seen) return k;
  }
  return undefined;
}

/** The fallback: every Kubernetes pod of the namespace isolated in the policy's directions, no rules. */
function isolateOnly(metadata: z.infer<typeof envelopeSchema>['metadata'], types: string[], dropped: DroppedRule[], reason: string): RuleByRuleConversion {
  dropped.push({ direction: 'policy', index: 0, reason: `${reason} (the policy isolates every pod of its namespace, with no rules)` });
  const resource = validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: { name: `${K8S_NETWORK_POLICY_NAME_PREFIX}${metadata.name}`, namespace: metadata.namespace ?? 'default' },
    spec: { tier: 'default', order: 1000, selector: k8sSelectorToCalico(null, 'pod') || `${LABEL_ORCHESTRATOR} == 'k8s'`, types },
  });
  return { resource, dropped };
}
