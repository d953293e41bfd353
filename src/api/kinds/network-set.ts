/**
 * NetworkSet (namespaced) and GlobalNetworkSet: named lists of CIDRs that rule selectors match
 * by label (`networkset.go`, `globalnetworkset.go`, `validateNetworkSet`).
 */
import { z } from 'zod';
import type { Column, KindDefinition } from '../kind.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { formatPath } from '../field-path.ts';
import { cidrOrIpSchema, specOf } from './policy-fields.ts';
import { checkResourceName, joinAndTruncate } from './policy-values.ts';

export interface NetworkSetSpec {
  /** CIDRs or bare addresses (a bare address is a /32 or /128). */
  nets?: string[];
}

export type GlobalNetworkSetSpec = NetworkSetSpec;

/** The label Calico reserves for mapping a namespace into its internal model. */
export const RESERVED_NAMESPACE_LABEL = 'projectcalico.org/namespace';

export const networkSetSpecSchema = specOf(z.strictObject({ nets: z.array(cidrOrIpSchema).optional() }));

function validateNetworkSet(res: Resource): FieldIssue[] {
  if (res.metadata.labels && RESERVED_NAMESPACE_LABEL in res.metadata.labels) {
    return [{ path: formatPath(['metadata', 'labels', RESERVED_NAMESPACE_LABEL]), message: `${RESERVED_NAMESPACE_LABEL} is not a valid label name (it is reserved)` }];
  }
  return [];
}

const netsColumn: Column = {
  header: 'NETS',
  value: (r) => joinAndTruncate((r.spec as NetworkSetSpec | undefined)?.nets ?? [], ',', 80),
};

export const networkSetKind: KindDefinition = {
  kind: 'NetworkSet',
  plural: 'networksets',
  namespaced: true,
  aliases: ['networkset', 'networksets', 'netsets'],
  specSchema: networkSetSpecSchema,
  checkName: checkResourceName,
  validate: validateNetworkSet,
  columns: [],
  wideColumns: [netsColumn],
};

export const globalNetworkSetKind: KindDefinition = {
  kind: 'GlobalNetworkSet',
  plural: 'globalnetworksets',
  namespaced: false,
  aliases: ['globalnetworkset', 'globalnetworksets', 'gnetsets'],
  specSchema: networkSetSpecSchema,
  checkName: checkResourceName,
  validate: validateNetworkSet,
  columns: [],
  wideColumns: [netsColumn],
};
