/**
 * Tier: an ordered group of policies (`api/pkg/apis/projectcalico/v3/tier.go`, `validateTier`).
 * Names are single DNS labels (no dots: they prefix policy names); the three built-in tiers have
 * fixed orders and default actions.
 */
import { z } from 'zod';
import type { Column, KindDefinition } from '../kind.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { enumOf, specOf } from './policy-fields.ts';
import { formatGoFloat } from './policy-values.ts';

export type TierDefaultAction = 'Deny' | 'Pass';

export interface TierSpec {
  /** Unset means "last". */
  order?: number;
  /** Always present after defaults (`Deny`). */
  defaultAction?: TierDefaultAction;
}

/** The built-in tiers: name, fixed order and required default action. */
export const BUILTIN_TIERS: ReadonlyArray<{ name: string; order: number; defaultAction: TierDefaultAction }> = [
  { name: 'kube-admin', order: 1_000, defaultAction: 'Pass' },
  { name: 'default', order: 1_000_000, defaultAction: 'Deny' },
  { name: 'kube-baseline', order: 10_000_000, defaultAction: 'Pass' },
];

const TIER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Calico's `tierNameRegex` (a DNS-1123 label: no dots) and the 63-character label limit. */
export function checkTierName(name: string): string | undefined {
  if (name.length === 0) return 'a name is required';
  if (name.length > 63) return `name is too long by ${name.length - 63} bytes (a tier name is at most 63 characters)`;
  if (!TIER_NAME.test(name)) {
    return "name must consist of lower case alphanumeric characters or '-' and contain no '.' (regex: [a-z0-9]([-a-z0-9]*[a-z0-9])?)";
  }
  return undefined;
}

export const tierSpecSchema = specOf(
  z.strictObject({
    order: z.number({ error: 'order must be a number' }).refine(Number.isFinite, { error: 'order must be a finite number' }).optional(),
    defaultAction: enumOf(['Deny', 'Pass']).optional(),
  }),
);

function validateTier(res: Resource): FieldIssue[] {
  const spec = (res.spec ?? {}) as TierSpec;
  const builtin = BUILTIN_TIERS.find((t) => t.name === res.metadata.name);
  if (!builtin) return [];
  const issues: FieldIssue[] = [];
  if (spec.order !== builtin.order) {
    issues.push({ path: 'spec.order', message: `${builtin.name} tier order must be ${builtin.order}` });
  }
  const action = spec.defaultAction ?? 'Deny';
  if (action !== builtin.defaultAction) {
    issues.push({ path: 'spec.defaultAction', message: `the '${builtin.name}' tier must have default action '${builtin.defaultAction}'` });
  }
  return issues;
}

const ORDER_COLUMN: Column = { header: 'ORDER', value: (r) => orderCell(r) };

export const tierKind: KindDefinition = {
  kind: 'Tier',
  plural: 'tiers',
  namespaced: false,
  aliases: ['tier', 'tiers'],
  specSchema: tierSpecSchema,
  checkName: checkTierName,
  validate: validateTier,
  builtins: () =>
    BUILTIN_TIERS.map((t) => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'Tier',
      metadata: { name: t.name },
      spec: { order: t.order, defaultAction: t.defaultAction },
    })),
  applyDefaults: (res) => {
    const spec = { ...((res.spec ?? {}) as TierSpec) };
    spec.defaultAction ??= 'Deny';
    return { ...res, spec: spec as Record<string, unknown> };
  },
  columns: [ORDER_COLUMN],
  wideColumns: [ORDER_COLUMN],
};

function orderCell(res: Resource): string {
  const order = (res.spec as TierSpec | undefined)?.order;
  return order === undefined ? '<nil>' : formatGoFloat(order);
}
