/**
 * CalicoNodeStatus: asks a node's agent to report its BGP daemon, peer and route status into
 * `status` every `updatePeriodSeconds`. Mirrors Calico's `CalicoNodeStatusSpec` (every spec field
 * is required) and its status types.
 */
import { z } from 'zod';
import { checkSubdomainName } from '../common.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { enumOf, intRange, issue, specOf } from './infra-common.ts';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const NODE_STATUS_CLASSES = ['Agent', 'BGP', 'Routes'] as const;

const specSchema = lazy(() => z.strictObject({
  node: z.string({ message: 'the node name is required' }).refine((s) => NAME.test(s), { message: "must be a node name (lower case alphanumeric characters, '-' or '.')" }),
  classes: z.array(enumOf(NODE_STATUS_CLASSES), { message: 'classes is required (a list of Agent, BGP, Routes)' }),
  updatePeriodSeconds: intRange(0, 86400),
}));

const daemonStatus = lazy(() => z.strictObject({
  state: enumOf(['Ready', 'NotReady'] as const).optional(),
  version: z.string().optional(),
  routerID: z.string().optional(),
  lastBootTime: z.string().optional(),
  lastReconfigurationTime: z.string().optional(),
}));

const peer = lazy(() => z.strictObject({
  peerIP: z.string().optional(),
  type: enumOf(['NodeMesh', 'NodePeer', 'GlobalPeer'] as const).optional(),
  state: enumOf(['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established', 'Close'] as const).optional(),
  since: z.string().optional(),
}));

const route = lazy(() => z.strictObject({
  type: enumOf(['FIB', 'RIB'] as const).optional(),
  destination: z.string().optional(),
  gateway: z.string().optional(),
  interface: z.string().optional(),
  learnedFrom: z
    .strictObject({
      sourceType: enumOf(['Kernel', 'Static', 'Direct', 'NodeMesh', 'BGPPeer'] as const).optional(),
      peerIP: z.string().optional(),
    })
    .optional(),
}));

const statusSchema = lazy(() => z.strictObject({
  lastUpdated: z.string().nullable().optional(),
  agent: z.strictObject({ birdV4: daemonStatus().optional(), birdV6: daemonStatus().optional() }).optional(),
  bgp: z
    .strictObject({
      numberEstablishedV4: z.number().int().optional(),
      numberNotEstablishedV4: z.number().int().optional(),
      numberEstablishedV6: z.number().int().optional(),
      numberNotEstablishedV6: z.number().int().optional(),
      peersV4: z.array(peer()).optional(),
      peersV6: z.array(peer()).optional(),
    })
    .optional(),
  routes: z.strictObject({ routesV4: z.array(route()).optional(), routesV6: z.array(route()).optional() }).optional(),
}));

function validate(res: Resource): FieldIssue[] {
  const classes = (specOf(res).classes ?? []) as string[];
  const seen = new Set<string>();
  const issues: FieldIssue[] = [];
  classes.forEach((c, i) => {
    if (seen.has(c)) issues.push(issue(`spec.classes[${i}]`, `class "${c}" is listed more than once`));
    seen.add(c);
  });
  return issues;
}

export const calicoNodeStatusKind: KindDefinition = {
  kind: 'CalicoNodeStatus',
  plural: 'caliconodestatuses',
  namespaced: false,
  aliases: ['nodestatus', 'nodestatuses'],
  get specSchema() {
    return specSchema();
  },
  get statusSchema() {
    return statusSchema();
  },
  checkName: checkSubdomainName,
  validate,
  columns: [{ header: 'NODE', value: (r) => String(specOf(r).node ?? '') }],
  wideColumns: [{ header: 'CLASSES', value: (r) => ((specOf(r).classes ?? []) as string[]).join(',') }],
};
