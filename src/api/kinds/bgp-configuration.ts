/**
 * BGPConfiguration: cluster-wide (`default`) or per-node (`node.<name>`) BGP settings.
 * Validation follows Calico's v3 validator (`validateBGPConfigurationSpec`) and the CRD rules
 * (mesh-only fields, enums); defaults are the CRD defaults the datastore stores.
 */
import { z } from 'zod';
import { asNumberSchema, checkSubdomainName, LOG_LEVELS } from '../common.ts';
import { isMasked, parseIpNet } from '../../net/mod.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import {
  bgpPasswordSchema,
  checkCommunityValue,
  enumOf,
  goDurationSchema,
  intRange,
  ipSchemaOf,
  issue,
  netSchemaOf,
  normalizeAsNumber,
  portNumber,
  specOf,
  withSpec,
} from './infra-common.ts';

export const PROGRAM_CLUSTER_ROUTES = ['Disabled', 'Enabled', 'EnabledIPIPOnly', 'EnabledNoEncapOnly'] as const;

const IGNORED_INTERFACE = /^[a-zA-Z0-9_.*-]{1,15}$/;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `{cidr}` blocks for service advertisement: a masked CIDR or a bare address. */
const serviceBlock = lazy(() => z.strictObject({ cidr: netSchemaOf({ allowBareIp: true, masked: true }).optional() }));

const communitySchema = lazy(() => z.strictObject({
  name: z.string().optional(),
  value: z.string().optional(),
}));

const prefixAdvertisementSchema = lazy(() => z.strictObject({
  cidr: z.string().optional(),
  communities: z.array(z.string()).optional(),
}));

const specSchema = lazy(() => z.strictObject({
  logSeverityScreen: enumOf(LOG_LEVELS).optional(),
  nodeToNodeMeshEnabled: z.boolean().optional(),
  asNumber: asNumberSchema.optional(),
  serviceLoadBalancerIPs: z.array(serviceBlock()).optional(),
  serviceExternalIPs: z.array(serviceBlock()).optional(),
  serviceClusterIPs: z.array(serviceBlock()).optional(),
  serviceLoadBalancerAggregation: enumOf(['Enabled', 'Disabled'] as const).optional(),
  communities: z.array(communitySchema()).optional(),
  prefixAdvertisements: z.array(prefixAdvertisementSchema()).optional(),
  listenPort: portNumber().optional(),
  nodeMeshPassword: bgpPasswordSchema.optional(),
  nodeMeshMaxRestartTime: goDurationSchema.optional(),
  bindMode: enumOf(['None', 'NodeIP'] as const).optional(),
  ignoredInterfaces: z
    .array(z.string().refine((s) => s !== '*' && IGNORED_INTERFACE.test(s), {
      message: "must be an interface name (at most 15 of [a-zA-Z0-9_.*-], '*' may be used as a wildcard but not alone)",
    }))
    .optional(),
  localWorkloadPeeringIPV4: ipSchemaOf(4).optional(),
  localWorkloadPeeringIPV6: ipSchemaOf(6).optional(),
  programClusterRoutes: enumOf(PROGRAM_CLUSTER_ROUTES).optional(),
  ipv4NormalRoutePriority: intRange(1, 2147483646).optional(),
  ipv6NormalRoutePriority: intRange(1, 2147483646).optional(),
}));

interface Community {
  name?: string;
  value?: string;
}

function validate(res: Resource): FieldIssue[] {
  const spec = specOf(res);
  const issues: FieldIssue[] = [];
  if (spec.nodeToNodeMeshEnabled === false) {
    if (spec.nodeMeshPassword !== undefined) {
      issues.push(issue('spec.nodeMeshPassword', 'nodeMeshPassword cannot be set when nodeToNodeMeshEnabled is false'));
    }
    if (spec.nodeMeshMaxRestartTime !== undefined) {
      issues.push(issue('spec.nodeMeshMaxRestartTime', 'nodeMeshMaxRestartTime cannot be set when nodeToNodeMeshEnabled is false'));
    }
  }
  const communities = (spec.communities ?? []) as Community[];
  communities.forEach((c, i) => {
    if (!c.name) issues.push(issue(`spec.communities[${i}].name`, 'a community name is required'));
    else if (!NAME.test(c.name) || c.name.length > 253) {
      issues.push(issue(`spec.communities[${i}].name`, `invalid community name ${JSON.stringify(c.name)} (lower case alphanumeric characters, '-' or '.')`));
    }
    if (!c.value) issues.push(issue(`spec.communities[${i}].value`, 'a community value is required'));
    else {
      const problem = checkCommunityValue(c.value);
      if (problem) issues.push(issue(`spec.communities[${i}].value`, problem));
    }
  });
  const advertisements = (spec.prefixAdvertisements ?? []) as { cidr?: string; communities?: string[] }[];
  if (communities.length > 0 && advertisements.length === 0) {
    issues.push(issue('spec.communities', 'communities are defined but not used in prefixAdvertisements'));
  }
  const names = new Set(communities.map((c) => c.name).filter((n): n is string => !!n));
  advertisements.forEach((pa, i) => {
    if (!pa.cidr) issues.push(issue(`spec.prefixAdvertisements[${i}].cidr`, 'a CIDR is required'));
    else {
      const net = parseIpNet(pa.cidr, { allowBareIp: true });
      if (!net || !isMasked(net)) issues.push(issue(`spec.prefixAdvertisements[${i}].cidr`, `invalid CIDR value ${JSON.stringify(pa.cidr)}`));
    }
    if (!pa.communities || pa.communities.length === 0) {
      issues.push(issue(`spec.prefixAdvertisements[${i}].communities`, 'at least one community is required'));
    }
    (pa.communities ?? []).forEach((value, j) => {
      const path = `spec.prefixAdvertisements[${i}].communities[${j}]`;
      if (/^\d+:\d+(:\d+)?$/.test(value)) {
        const problem = checkCommunityValue(value);
        if (problem) issues.push(issue(path, problem));
      } else if (!names.has(value)) {
        issues.push(issue(path, `community ${JSON.stringify(value)} is not a valid value (aa:nn or aa:nn:mm) and is not defined in spec.communities`));
      }
    });
  });
  return issues;
}

function applyDefaults(res: Resource): Resource {
  const spec: Record<string, unknown> = { ...specOf(res) };
  if (spec.logSeverityScreen === undefined || spec.logSeverityScreen === '') spec.logSeverityScreen = 'Info';
  spec.serviceLoadBalancerAggregation ??= 'Enabled';
  spec.programClusterRoutes ??= 'EnabledNoEncapOnly';
  if (spec.asNumber !== undefined) spec.asNumber = normalizeAsNumber(spec.asNumber);
  return withSpec(res, spec);
}

export const bgpConfigurationKind: KindDefinition = {
  kind: 'BGPConfiguration',
  plural: 'bgpconfigurations',
  namespaced: false,
  aliases: ['bgpconfig', 'bgpconfigs'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkSubdomainName,
  validate,
  applyDefaults,
  columns: [
    { header: 'LOGSEVERITY', value: (r) => String(specOf(r).logSeverityScreen ?? '') },
    { header: 'MESHENABLED', value: (r) => (specOf(r).nodeToNodeMeshEnabled === undefined ? '-' : String(specOf(r).nodeToNodeMeshEnabled)) },
    { header: 'ASNUMBER', value: (r) => (specOf(r).asNumber === undefined ? '-' : String(specOf(r).asNumber)) },
  ],
  wideColumns: [],
};
