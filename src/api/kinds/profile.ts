/**
 * Profile: rules and labels that endpoints inherit by listing the profile (`profile.go`). The
 * Kubernetes integration makes `kns.<namespace>` and `ksa.<namespace>.<serviceaccount>` ones.
 */
import { z } from 'zod';
import { labelsSchema } from '../common.ts';
import type { KindDefinition } from '../kind.ts';
import type { Resource } from '../resource.ts';
import { specOf } from './policy-fields.ts';
import { checkResourceName, joinAndTruncate } from './policy-values.ts';
import { httpNotEnforced, type Rule, rulesSchema, validateRules } from './rule.ts';

export interface ProfileSpec {
  ingress?: Rule[];
  egress?: Rule[];
  /** Labels every endpoint using the profile inherits (its own labels win on conflict). */
  labelsToApply?: Record<string, string>;
}

export const profileSpecSchema = specOf(
  z.strictObject({
    ingress: rulesSchema.optional(),
    egress: rulesSchema.optional(),
    labelsToApply: labelsSchema.optional(),
  }),
);

function labelsCell(res: Resource): string {
  const labels = (res.spec as ProfileSpec | undefined)?.labelsToApply ?? {};
  return joinAndTruncate(Object.entries(labels).map(([k, v]) => `${k}=${v}`).sort(), ',');
}

export const profileKind: KindDefinition = {
  kind: 'Profile',
  plural: 'profiles',
  namespaced: false,
  aliases: ['profile', 'profiles', 'pro', 'pros'],
  specSchema: profileSpecSchema,
  checkName: checkResourceName,
  warnings: httpNotEnforced,
  validate: (res) => {
    const spec = (res.spec ?? {}) as ProfileSpec;
    return [...validateRules(spec.ingress, 'spec.ingress'), ...validateRules(spec.egress, 'spec.egress')];
  },
  columns: [],
  wideColumns: [{ header: 'LABELS', value: labelsCell }],
};
