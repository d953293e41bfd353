/**
 * IPReservation: addresses and CIDRs that Calico IPAM must never hand out automatically.
 * `reservedCIDRs` takes CIDRs or plain addresses (Calico's `cidrs` validator), as a set.
 */
import { z } from 'zod';
import { checkSubdomainName } from '../common.ts';
import { parseCidrOrIp } from '../../net/mod.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { issue, specOf } from './infra-common.ts';

const specSchema = lazy(() => z.strictObject({
  reservedCIDRs: z
    .array(z.string().refine((s) => parseCidrOrIp(s) !== undefined, { message: 'must be a CIDR (a.b.c.d/n, x::/n) or an IP address' }))
    .optional(),
}));

function validate(res: Resource): FieldIssue[] {
  const cidrs = (specOf(res).reservedCIDRs ?? []) as string[];
  const seen = new Set<string>();
  const issues: FieldIssue[] = [];
  cidrs.forEach((c, i) => {
    if (seen.has(c)) issues.push(issue(`spec.reservedCIDRs[${i}]`, `duplicate entry ${JSON.stringify(c)}`));
    seen.add(c);
  });
  return issues;
}

/** calicoctl joins the CIDRs with commas and truncates the cell to 80 characters. */
function cidrsCell(res: Resource): string {
  const text = ((specOf(res).reservedCIDRs ?? []) as string[]).join(',');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export const ipReservationKind: KindDefinition = {
  kind: 'IPReservation',
  plural: 'ipreservations',
  namespaced: false,
  aliases: ['reservation', 'reservations'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkSubdomainName,
  validate,
  columns: [],
  wideColumns: [{ header: 'CIDRS', value: cidrsCell }],
};
