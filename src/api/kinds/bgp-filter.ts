/**
 * BGPFilter: ordered import/export rules for BGP peerings (by CIDR, prefix length, interface,
 * source, peer type, community, AS path prefix, priority), with an action and optional route
 * operations. Validation follows Calico's v3 validator and the BGPFilter CRD rules.
 */
import { z } from 'zod';
import { asNumberSchema, checkSubdomainName } from '../common.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { checkCommunityValue, enumOf, intRange, issue, netSchemaOf, normalizeAsNumber, specOf, withSpec } from './infra-common.ts';

const INTERFACE = /^[a-zA-Z0-9_.*-]{1,15}$/;

const communityValue = lazy(() => z.string().superRefine((s, ctx) => {
  const problem = checkCommunityValue(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}));

const operationSchema = lazy(() => z
  .strictObject({
    addCommunity: z.strictObject({ value: communityValue() }).optional(),
    prependASPath: z.strictObject({ prefix: z.array(asNumberSchema).min(1).max(10) }).optional(),
    setPriority: z.strictObject({ value: intRange(1, 2147483646) }).optional(),
  })
  .superRefine((op, ctx) => {
    const set = [op.addCommunity, op.prependASPath, op.setPriority].filter((v) => v !== undefined).length;
    if (set !== 1) ctx.addIssue({ code: 'custom', message: `exactly one operation must be set (addCommunity, prependASPath or setPriority; got ${set})` });
  }));

function ruleSchema(family: 4 | 6) {
  const max = family === 4 ? 32 : 128;
  return z.strictObject({
    cidr: netSchemaOf({ family, masked: true, allowBareIp: true }).optional(),
    prefixLength: z.strictObject({ min: intRange(0, max).optional(), max: intRange(0, max).optional() }).optional(),
    source: enumOf(['RemotePeers'] as const).optional(),
    interface: z.string().refine((s) => INTERFACE.test(s), { message: "must be an interface name pattern (at most 15 of [a-zA-Z0-9_.*-], '*' is a wildcard)" }).optional(),
    matchOperator: enumOf(['Equal', 'NotEqual', 'In', 'NotIn'] as const).optional(),
    peerType: enumOf(['eBGP', 'iBGP'] as const).optional(),
    communities: z.strictObject({ values: z.array(communityValue()).min(1).max(1) }).optional(),
    asPathPrefix: z.array(asNumberSchema).optional(),
    priority: intRange(1, 2147483646).optional(),
    action: enumOf(['Accept', 'Reject'] as const),
    operations: z.array(operationSchema()).min(1).max(10).optional(),
  });
}

const specSchema = lazy(() => z.strictObject({
  exportV4: z.array(ruleSchema(4)).optional(),
  importV4: z.array(ruleSchema(4)).optional(),
  exportV6: z.array(ruleSchema(6)).optional(),
  importV6: z.array(ruleSchema(6)).optional(),
}));

interface Rule {
  cidr?: string;
  matchOperator?: string;
  prefixLength?: { min?: number; max?: number };
  source?: string;
  action: string;
  operations?: unknown[];
}

function validate(res: Resource): FieldIssue[] {
  const spec = specOf(res);
  const issues: FieldIssue[] = [];
  for (const list of ['exportV4', 'importV4', 'exportV6', 'importV6'] as const) {
    const rules = (spec[list] ?? []) as Rule[];
    rules.forEach((rule, i) => {
      const path = `spec.${list}[${i}]`;
      const hasCidr = !!rule.cidr;
      const hasOp = !!rule.matchOperator;
      if (hasCidr && !hasOp) issues.push(issue(`${path}.matchOperator`, 'cidr and matchOperator must both be set or both be empty (cidr is set)'));
      if (hasOp && !hasCidr) issues.push(issue(`${path}.cidr`, 'cidr and matchOperator must both be set or both be empty (matchOperator is set)'));
      if (rule.prefixLength !== undefined && !hasCidr) issues.push(issue(`${path}.prefixLength`, 'cidr is required when prefixLength is set'));
      if (rule.operations !== undefined && rule.operations.length > 0 && rule.action !== 'Accept') {
        issues.push(issue(`${path}.operations`, 'operations may only be used with action Accept'));
      }
      if (list.startsWith('import') && rule.source) {
        issues.push(issue(`${path}.source`, 'source is not applicable to import rules'));
      }
    });
  }
  return issues;
}

function applyDefaults(res: Resource): Resource {
  const spec: Record<string, unknown> = { ...specOf(res) };
  for (const list of ['exportV4', 'importV4', 'exportV6', 'importV6'] as const) {
    const rules = spec[list] as Record<string, unknown>[] | undefined;
    if (!rules) continue;
    spec[list] = rules.map((rule) => {
      const out: Record<string, unknown> = { ...rule };
      if (Array.isArray(out.asPathPrefix)) out.asPathPrefix = out.asPathPrefix.map(normalizeAsNumber);
      if (Array.isArray(out.operations)) {
        out.operations = (out.operations as Record<string, unknown>[]).map((op) => {
          const prepend = op.prependASPath as { prefix?: unknown[] } | undefined;
          return prepend?.prefix ? { ...op, prependASPath: { ...prepend, prefix: prepend.prefix.map(normalizeAsNumber) } } : op;
        });
      }
      return out;
    });
  }
  return withSpec(res, spec);
}

function count(res: Resource, lists: string[]): string {
  const spec = specOf(res);
  return String(lists.reduce((n, l) => n + ((spec[l] as unknown[] | undefined)?.length ?? 0), 0));
}

export const bgpFilterKind: KindDefinition = {
  kind: 'BGPFilter',
  plural: 'bgpfilters',
  namespaced: false,
  aliases: ['bgpf', 'bgpfs', 'bf', 'bfs'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkSubdomainName,
  validate,
  applyDefaults,
  columns: [
    { header: 'NUMEXPORT', value: (r) => count(r, ['exportV4', 'exportV6']) },
    { header: 'NUMIMPORT', value: (r) => count(r, ['importV4', 'importV6']) },
  ],
  wideColumns: [],
};
