/**
 * WorkloadEndpoint: one interface of a pod, container or VM (`libcalico-go/lib/apis/internalapi/
 * workloadendpoint.go`, `validateWorkloadEndpointSpec`). Its name is built from the spec:
 * `<node>-<orchestrator>-<workload>-<endpoint>` with each `-` inside a part doubled
 * (`libcalico-go/lib/names/workloadendpoint.go`).
 */
import { z } from 'zod';
import type { Column, KindDefinition } from '../kind.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { endpointPortNameSchema, interfaceNameSchema } from './host-endpoint.ts';
import {
  cidrOrIpSchema,
  ipAddressSchema,
  netOrIpSchema,
  portNumberSchema,
  portProtocolSchema,
  resourceNameSchema,
  specOf,
} from './policy-fields.ts';
import { dscpSchema } from './infra-common.ts';
import { isContainerId, isValidMac } from './workload-endpoint-values.ts';
import { quickWorkloadEndpointSpec } from './workload-endpoint-quick.ts';
import { checkResourceName } from './policy-values.ts';
import type { Protocol } from './rule.ts';
import { cidrContainsIp, ipFamily, parseCidrOrIp, parseIp } from '../../net/mod.ts';

export { isContainerId, isValidMac };

export interface WorkloadEndpointPort {
  name?: string;
  protocol: Protocol;
  port: number;
  hostPort?: number;
  hostIP?: string;
}

export interface IPNAT {
  internalIP: string;
  externalIP: string;
}

export interface QoSControls {
  ingressBandwidth?: number;
  ingressBurst?: number;
  ingressPeakrate?: number;
  ingressMinburst?: number;
  egressBandwidth?: number;
  egressBurst?: number;
  egressPeakrate?: number;
  egressMinburst?: number;
  ingressPacketRate?: number;
  ingressPacketBurst?: number;
  egressPacketRate?: number;
  egressPacketBurst?: number;
  ingressMaxConnections?: number;
  egressMaxConnections?: number;
  dscp?: number | string;
}

export interface WorkloadEndpointSpec {
  orchestrator?: string;
  workload?: string;
  node?: string;
  containerID?: string;
  pod?: string;
  endpoint?: string;
  serviceAccountName?: string;
  /** The endpoint's addresses, each a /32 or /128. */
  ipNetworks?: string[];
  ipNATs?: IPNAT[];
  ipv4Gateway?: string;
  ipv6Gateway?: string;
  profiles?: string[];
  interfaceName: string;
  mac?: string;
  ports?: WorkloadEndpointPort[];
  allowSpoofedSourcePrefixes?: string[];
  qosControls?: QoSControls;
}

/** The label Calico sets on every stored WorkloadEndpoint to its namespace. */
export const NAMESPACE_LABEL = 'projectcalico.org/namespace';
/** The label Calico sets on every stored WorkloadEndpoint to its orchestrator. */
export const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';

const int64 = z.number({ error: 'must be an integer' }).int({ error: 'must be an integer' });

const qosControlsSchema = z.strictObject({
  ingressBandwidth: int64.optional(),
  ingressBurst: int64.optional(),
  ingressPeakrate: int64.optional(),
  ingressMinburst: int64.optional(),
  egressBandwidth: int64.optional(),
  egressBurst: int64.optional(),
  egressPeakrate: int64.optional(),
  egressMinburst: int64.optional(),
  ingressPacketRate: int64.optional(),
  ingressPacketBurst: int64.optional(),
  egressPacketRate: int64.optional(),
  egressPacketBurst: int64.optional(),
  ingressMaxConnections: int64.optional(),
  egressMaxConnections: int64.optional(),
  dscp: dscpSchema.optional(),
});

export const workloadEndpointSpecSchema = specOf(
  z.strictObject({
    orchestrator: resourceNameSchema.optional(),
    workload: resourceNameSchema.optional(),
    node: resourceNameSchema.optional(),
    containerID: z
      .string()
      .refine(isContainerId, { error: 'must be letters, digits and inner dashes (a container ID)' })
      .optional(),
    pod: resourceNameSchema.optional(),
    endpoint: resourceNameSchema.optional(),
    serviceAccountName: resourceNameSchema.optional(),
    ipNetworks: z.array(netOrIpSchema).optional(),
    ipNATs: z.array(z.strictObject({ internalIP: ipAddressSchema, externalIP: ipAddressSchema })).optional(),
    ipv4Gateway: z.string().refine((s) => ipFamily(s) === 4, { error: 'must be an IPv4 address' }).optional(),
    ipv6Gateway: z.string().refine((s) => ipFamily(s) === 6, { error: 'must be an IPv6 address' }).optional(),
    profiles: z.array(resourceNameSchema).optional(),
    interfaceName: interfaceNameSchema,
    mac: z.string().refine(isValidMac, { error: (iss) => `must be a MAC address such as ee:ee:ee:ee:ee:ee (got ${JSON.stringify(iss.input)})` }).optional(),
    ports: z
      .array(
        z.strictObject({
          name: z.union([z.literal(''), endpointPortNameSchema]).optional(),
          protocol: portProtocolSchema,
          port: portNumberSchema,
          hostPort: z.number().int().min(0).max(65535, { error: 'hostPort must be between 0 and 65535' }).optional(),
          hostIP: z.union([z.literal(''), netOrIpSchema]).optional(),
        }),
      )
      .optional(),
    allowSpoofedSourcePrefixes: z.array(cidrOrIpSchema).optional(),
    qosControls: qosControlsSchema.optional(),
  }),
);

/** Doubles each `-` in a name part (parts may not begin or end with one). */
export function escapeNamePart(part: string): string {
  return part.replaceAll('-', '--');
}

/** The identifiers that make up a WorkloadEndpoint name, by orchestrator. */
function nameSegments(spec: WorkloadEndpointSpec): Array<{ field: keyof WorkloadEndpointSpec; value: string | undefined }> {
  const node = { field: 'node' as const, value: spec.node };
  const orch = { field: 'orchestrator' as const, value: spec.orchestrator };
  const endpoint = { field: 'endpoint' as const, value: spec.endpoint };
  switch (spec.orchestrator) {
    case 'k8s':
      return [node, orch, { field: 'pod', value: spec.pod }, endpoint];
    case 'cni':
      return [node, orch, { field: 'containerID', value: spec.containerID }, endpoint];
    case 'libnetwork':
      return [node, orch, orch, endpoint];
    default:
      return [node, orch, { field: 'workload', value: spec.workload }, endpoint];
  }
}

/**
 * Builds the name Calico requires for a WorkloadEndpoint (`CalculateWorkloadEndpointName`), or
 * returns the problems with the identifiers.
 */
export function workloadEndpointName(spec: WorkloadEndpointSpec): { name: string } | { issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const parts: string[] = [];
  for (const seg of nameSegments(spec)) {
    const path = `spec.${seg.field}`;
    if (!seg.value) {
      if (!issues.some((i) => i.path === path)) issues.push({ path, message: 'is required: it is part of the WorkloadEndpoint name' });
      continue;
    }
    if (seg.value.startsWith('-')) issues.push({ path, message: "must not begin with a '-'" });
    else if (seg.value.endsWith('-')) issues.push({ path, message: "must not end with a '-'" });
    parts.push(escapeNamePart(seg.value));
  }
  return issues.length > 0 ? { issues } : { name: parts.join('-') };
}

function validateWorkloadEndpoint(res: Resource): FieldIssue[] {
  const spec = (res.spec ?? {}) as unknown as WorkloadEndpointSpec;
  const issues: FieldIssue[] = [];
  const networks = (spec.ipNetworks ?? []).map((n) => parseCidrOrIp(n)!);
  networks.forEach((n, i) => {
    if (n.prefix !== (n.family === 4 ? 32 : 128)) {
      issues.push({ path: `spec.ipNetworks[${i}]`, message: 'IP network contains multiple addresses (only /32 and /128 are supported)' });
    }
  });
  const nats = spec.ipNATs ?? [];
  nats.forEach((nat, i) => {
    if (ipFamily(nat.internalIP) !== ipFamily(nat.externalIP)) {
      issues.push({ path: `spec.ipNATs[${i}].externalIP`, message: 'mismatched IP versions (internalIP and externalIP must be the same family)' });
    }
  });
  for (let i = 0; i < nats.length; i++) {
    const nat = nats[i]!;
    const internal = parseIp(nat.internalIP);
    if (internal === undefined || !networks.some((n) => cidrContainsIp(n, internal))) {
      issues.push({ path: `spec.ipNATs[${i}].internalIP`, message: 'NAT is not in the endpoint networks (ipNetworks)' });
      break;
    }
  }
  (spec.ports ?? []).forEach((p, i) => {
    if (!p.name && !p.hostPort) {
      issues.push({ path: `spec.ports[${i}].name`, message: 'a port name is required when no hostPort is given' });
    }
  });
  const expected = workloadEndpointName(spec);
  if ('issues' in expected) {
    issues.push(...expected.issues);
  } else if (expected.name !== res.metadata.name) {
    issues.push({
      path: 'metadata.name',
      message: `the WorkloadEndpoint name does not match the identifiers in its spec: expected name ${expected.name}`,
    });
  }
  return issues;
}

/** The columns of `get -o ps`, shown first by `-o wide` too. */
const WEP_COLUMNS: Column[] = [
  { header: 'WORKLOAD', value: (r) => workloadCell(r) },
  { header: 'NODE', value: (r) => wepSpec(r).node ?? '' },
  { header: 'NETWORKS', value: (r) => (wepSpec(r).ipNetworks ?? []).join(',') },
  { header: 'INTERFACE', value: (r) => wepSpec(r).interfaceName ?? '' },
];

export const workloadEndpointKind: KindDefinition = {
  kind: 'WorkloadEndpoint',
  plural: 'workloadendpoints',
  namespaced: true,
  aliases: ['workloadendpoint', 'workloadendpoints', 'wep', 'weps'],
  specSchema: workloadEndpointSpecSchema,
  quickSpec: quickWorkloadEndpointSpec,
  checkName: checkResourceName,
  validate: validateWorkloadEndpoint,
  applyDefaults: (res) => {
    const spec = wepSpec(res);
    const labels: Record<string, string> = {
      ...(res.metadata.labels ?? {}),
      [NAMESPACE_LABEL]: res.metadata.namespace ?? 'default',
      [ORCHESTRATOR_LABEL]: spec.orchestrator ?? '',
    };
    return { ...res, metadata: { ...res.metadata, labels } };
  },
  columns: WEP_COLUMNS,
  wideColumns: [
    ...WEP_COLUMNS,
    { header: 'PROFILES', value: (r) => (wepSpec(r).profiles ?? []).join(',') },
    { header: 'NATS', value: (r) => (wepSpec(r).ipNATs ?? []).map((n) => `{${n.internalIP} ${n.externalIP}}`).join(',') },
  ],
};

function wepSpec(res: Resource): Partial<WorkloadEndpointSpec> {
  return (res.spec ?? {}) as Partial<WorkloadEndpointSpec>;
}

function workloadCell(res: Resource): string {
  const spec = wepSpec(res);
  return spec.workload || spec.pod || '';
}
